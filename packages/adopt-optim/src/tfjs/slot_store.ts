/**
 * The optimizer state of the TensorFlow.js optimizers, kept per variable by name: each variable's
 * slots (m, v, ...) and step counter, bound to its shape; saved as named weights (getWeights) and
 * restored from them (setWeights) with every entry checked before anything changes. The step
 * runner (./named_state_optimizer.ts) owns one.
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptimizerArgumentError } from '../validate.js';
import { readOffWebgpu } from '../backends/webgpu_moves.js';

/** A gradient or weight with its name (tfjs-core uses this shape but does not export it). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** The state of one variable. */
export interface VariableState {
  /** Steps applied to this variable so far. */
  step: number;
  /** Slot name (m, v, ...) to its tensor, same shape as the variable. */
  slots: Map<string, tf.Variable>;
  /** Loaded by setWeights and not yet claimed by a live variable. */
  restored: boolean;
}

const STEP_SUFFIX = 'step';
const ITERATIONS_NAME = 'iter';
/**
 * getWeights writes a marker weight `optimizer:<className>` (an int32 scalar, the state format
 * version): setWeights refuses another optimizer's state by it. Weights saved before the marker
 * existed have none and are accepted on their structure alone.
 */
const CLASS_PREFIX = 'optimizer:';
/**
 * The marker's value. 2: 8-bit codes `<variable>/qm`, `/qv` are saved in the variable's shape (so
 * their state is bound to it, as float32 slots are); 1 (adopt-optim 0.2, and weights without a
 * marker): 1-D, padded to a multiple of 4, which did not tell 5 elements from 8 (issue 21).
 */
export const STATE_FORMAT_VERSION = 2;
/** The largest step count state can hold: counters are saved as int32 (getWeights, the Trainer, exportState). */
export const MAX_STEP_COUNT = 2 ** 31 - 1;

/** Throws, before a step, if a count already at MAX_STEP_COUNT would step on (its saved int32 would wrap). */
export function checkStepCount(owner: string, variable: string, count: number): void {
  if (count >= MAX_STEP_COUNT) {
    throw new OptimizerArgumentError(
      `${owner}: variable "${variable}" is at step ${count}, the most its saved int32 ` +
        `counters hold (${MAX_STEP_COUNT}); one more step could not be saved or restored. Nothing was changed.`,
    );
  }
}

/** The format version of saved weights: their marker's value (1 without a marker); a newer one is refused. */
export async function stateFormatOf(owner: string, weights: readonly NamedTensor[]): Promise<number> {
  const marker = weights.find((w) => typeof w?.name === 'string' && w.name.startsWith(CLASS_PREFIX));
  if (
    marker === undefined ||
    marker.tensor == null ||
    typeof marker.tensor.data !== 'function' ||
    marker.tensor.isDisposed
  )
    return 1;
  const value = (await marker.tensor.data())[0];
  if (marker.tensor.size !== 1 || !(value === 1 || value === STATE_FORMAT_VERSION)) {
    throw new OptimizerArgumentError(
      `${owner}: the marker "${marker.name}" holds format ${String(value)}; this adopt-optim reads formats 1 and ${STATE_FORMAT_VERSION} ` +
        '(was it saved by a newer version?). Nothing was changed.',
    );
  }
  return value;
}
/** Classes whose state means the same thing: each can continue from the other's. */
const STATE_KIND: Record<string, string> = {
  'adopt-optim/ADOPT': 'adopt',
  'adopt-optim/Adam': 'adam',
  'adopt-optim/AdamW': 'adam',
  'adopt-optim/AMSGrad': 'amsgrad',
};
/** Slots that hold squared gradients: never negative. */
const NON_NEGATIVE_SLOTS = new Set(['v', 'vmax']);

/** Saved state, checked and read, ready to replace the live state (SlotStore.parse). */
export interface ParsedState {
  iterations: number;
  groups: Map<string, Map<string, tf.Tensor>>;
  steps: Map<string, number>;
}

/**
 * State a variable keeps outside the slots (the 8-bit codes, ./lowbit_store.ts): asked whether restored
 * state fits a renamed variable, and told when that variable claims it.
 */
export interface ExternalState {
  /** Whether the state restored under `savedName` fits `variable` (its shape, or its size where no shape is known). */
  fits(savedName: string, variable: tf.Variable): boolean;
  /** The state restored under `from` now belongs to the variable named `to`. */
  rename(from: string, to: string): void;
}

export class SlotStore {
  private readonly states = new Map<string, VariableState>();

  constructor(
    private readonly slotNames: readonly string[],
    private readonly displayName: () => string,
    private readonly external?: ExternalState,
  ) {}

  /** The state saved under a name, if any. */
  get(name: string): VariableState | undefined {
    return this.states.get(name);
  }

  /**
   * State is bound to a variable by name and shape: a variable disposed and re-created under the
   * same name with another shape, or state restored for another model, must not be stepped with
   * it (the fused kernels would read and write past the end of m and v).
   */
  checkBinding(variable: tf.Variable, state: VariableState): void {
    for (const slot of this.slotNames) {
      const tensor = state.slots.get(slot)!;
      if (!tf.util.arraysEqual(tensor.shape, variable.shape) || tensor.dtype !== variable.dtype) {
        throw new OptimizerArgumentError(
          `${this.displayName()}: the optimizer state of variable "${variable.name}" (slot "${slot}") has shape ` +
            `[${tensor.shape}] ${tensor.dtype} but the variable has shape [${variable.shape}] ${variable.dtype}; ` +
            'was the variable re-created with another shape, or the state restored for another model? ' +
            "Nothing was changed. Use a new optimizer, or setWeights() the saved state without this variable's entries.",
        );
      }
    }
  }

  /** The state a variable would use, without claiming or creating anything. */
  peek(variable: tf.Variable): VariableState | undefined {
    return this.states.get(variable.name) ?? this.findRestored(variable)?.[1];
  }

  /** The name the variable's state is kept under: its own, or the saved name of restored state it will claim. */
  nameOf(variable: tf.Variable): string {
    return this.states.has(variable.name) ? variable.name : (this.findRestored(variable)?.[0] ?? variable.name);
  }

  stateFor(variable: tf.Variable): VariableState {
    let state = this.states.get(variable.name);
    const restored = state === undefined ? this.findRestored(variable) : undefined;
    if (restored !== undefined) {
      state = restored[1];
      this.states.delete(restored[0]);
      this.states.set(variable.name, state);
      this.external?.rename(restored[0], variable.name);
    }
    if (state === undefined) {
      state = {
        step: 0,
        slots: new Map(this.slotNames.map((s) => [s, tf.tidy(() => tf.zerosLike(variable).variable(false))])),
        restored: false,
      };
      this.states.set(variable.name, state);
    }
    state.restored = false;
    return state;
  }

  /**
   * tfjs-layers makes variable names unique per process: a model loaded beside the one that was
   * saved names its kernel "dense/kernel_3" where the saved state says "dense/kernel" or
   * "dense/kernel_2". Restored, unclaimed state is matched to such a variable when exactly one entry
   * fits: the same name once tfjs's `_<N>` suffix is removed from both, and the same shape (the
   * slots'; for state outside the slots, 8-bit codes, as `external` says).
   */
  private findRestored(variable: tf.Variable): [string, VariableState] | undefined {
    const base = variable.name.replace(/_\d+$/, '');
    const found: [string, VariableState][] = [];
    for (const [name, state] of this.states) {
      if (!state.restored || name === variable.name || name.replace(/_\d+$/, '') !== base) continue;
      const shape = state.slots.values().next().value?.shape;
      const fits =
        shape === undefined ? this.external?.fits(name, variable) === true : tf.util.arraysEqual(shape, variable.shape);
      if (fits) found.push([name, state]);
    }
    return found.length === 1 ? found[0] : undefined;
  }

  /**
   * `iter`, the marker `optimizer:<className>`, then for each variable `<name>/<slot>` and
   * `<name>/step`. The slots are copies: what is read from them never changes, whatever the
   * backend (the fused kernels update the live slots in place).
   */
  /** Reads asynchronously the slots held on webgpu while another backend is active (../backends/webgpu_moves.ts). */
  async readOffWebgpu(): Promise<void> {
    await readOffWebgpu([...this.states.values()].flatMap((s) => [...s.slots.values()]));
  }

  weights(iterations: number, className: string): NamedTensor[] {
    const weights: NamedTensor[] = [
      { name: ITERATIONS_NAME, tensor: tf.scalar(iterations, 'int32') },
      { name: `${CLASS_PREFIX}${className}`, tensor: tf.scalar(STATE_FORMAT_VERSION, 'int32') },
    ];
    for (const [name, state] of this.states) {
      for (const slot of this.slotNames) {
        const copy = tf.tidy(() => tf.mul(state.slots.get(slot)!, 1)); // a new buffer (tf.clone shares on cpu)
        weights.push({ name: `${name}/${slot}`, tensor: copy });
      }
      weights.push({ name: `${name}/${STEP_SUFFIX}`, tensor: tf.scalar(state.step, 'int32') });
    }
    return weights;
  }

  /**
   * Saved weights (as getWeights wrote them; 8-bit entries already taken out) checked and read:
   * a name that is no slot of this optimizer, another optimizer's marker, a missing slot or
   * counter, a disposed tensor, a dtype or shape that differs between slots or from a live variable
   * of that name, a value that is not finite (or negative in v / vmax), a counter that is no
   * integer >= 0 are refused. Nothing changes here.
   */
  async parse(owner: string, className: string, weightValues: NamedTensor[]): Promise<ParsedState> {
    if (!Array.isArray(weightValues)) {
      throw new OptimizerArgumentError(
        `${owner}: expected an array of {name, tensor} (the output of getWeights()); got ${typeof weightValues}.`,
      );
    }
    await stateFormatOf(owner, weightValues); // a format newer than this version reads is refused
    const suffixes = [...this.slotNames, STEP_SUFFIX];
    const expectedNames = suffixes.map((s) => `"<variable>/${s}"`).join(', ');
    let iterations: number | undefined;
    let writer: string | undefined;
    const groups = new Map<string, Map<string, tf.Tensor>>();
    // The marker first: another optimizer's state is reported as such, not as a stray slot.
    for (const entry of weightValues) {
      const name = (entry as Partial<NamedTensor> | null)?.name;
      if (typeof name !== 'string' || !name.startsWith(CLASS_PREFIX)) continue;
      if (writer !== undefined)
        throw new OptimizerArgumentError(`${owner}: two optimizer markers, "${CLASS_PREFIX}${writer}" and "${name}".`);
      writer = name.slice(CLASS_PREFIX.length);
    }
    if (
      writer !== undefined &&
      writer !== className &&
      (STATE_KIND[writer] === undefined || STATE_KIND[writer] !== STATE_KIND[className])
    ) {
      throw new OptimizerArgumentError(
        `${owner}: the weights were saved by ${writer} (marker "${CLASS_PREFIX}${writer}"); ${className} cannot ` +
          "continue from another optimizer's state (its slots mean other things). Expected the output of " +
          `getWeights() of an optimizer of this class.`,
      );
    }
    for (const [index, entry] of weightValues.entries()) {
      const { name, tensor } = (entry ?? {}) as Partial<NamedTensor>;
      if (
        typeof name !== 'string' ||
        tensor == null ||
        typeof tensor !== 'object' ||
        typeof tensor.data !== 'function'
      ) {
        throw new OptimizerArgumentError(`${owner}: weight ${index} is not a {name, tensor} pair with a tf.Tensor.`);
      }
      if (tensor.isDisposed) {
        throw new OptimizerArgumentError(`${owner}: the tensor of weight "${name}" is disposed; nothing was changed.`);
      }
      if (name === ITERATIONS_NAME) {
        if (iterations !== undefined) throw new OptimizerArgumentError(`${owner}: weight "${name}" appears twice.`);
        iterations = await readCounter(owner, name, tensor);
        continue;
      }
      if (name.startsWith(CLASS_PREFIX)) continue; // checked above
      const cut = name.lastIndexOf('/');
      const suffix = name.slice(cut + 1);
      if (cut <= 0 || !suffixes.includes(suffix)) {
        throw new OptimizerArgumentError(
          `${owner}: unexpected weight "${name}"; expected "iter" and, per variable, ${expectedNames}. ` +
            'Was it saved by another optimizer?',
        );
      }
      const variableName = name.slice(0, cut);
      const group = groups.get(variableName) ?? new Map<string, tf.Tensor>();
      if (group.has(suffix)) throw new OptimizerArgumentError(`${owner}: weight "${name}" appears twice.`);
      group.set(suffix, tensor);
      groups.set(variableName, group);
    }
    if (
      writer === undefined &&
      groups.size > 0 &&
      [...groups.values()].every((g) => !g.has(STEP_SUFFIX) && this.slotNames.every((s) => g.has(s)))
    ) {
      throw new OptimizerArgumentError(
        `${owner}: the weights have no per-variable step counter ("<variable>/${STEP_SUFFIX}") at all: they look like ` +
          `the state of a tfjs optimizer such as tf.train.adam, which ${this.displayName()} cannot continue from. ` +
          'Expected the output of getWeights() of this optimizer.',
      );
    }
    if (iterations === undefined) {
      throw new OptimizerArgumentError(
        `${owner}: the weights have no "iter" counter; expected the output of getWeights().`,
      );
    }
    const registered = tf.engine().registeredVariables;
    const steps = new Map<string, number>();
    for (const [variableName, group] of groups) {
      const missing = suffixes.filter((s) => !group.has(s));
      if (missing.length > 0) {
        const found = suffixes
          .filter((s) => group.has(s))
          .map((s) => `"${variableName}/${s}"`)
          .join(', ');
        throw new OptimizerArgumentError(
          `${owner}: incomplete state for variable "${variableName}": found ${found} but not ` +
            `${missing.map((s) => `"${variableName}/${s}"`).join(', ')}; each variable needs ${expectedNames}.`,
        );
      }
      steps.set(variableName, await readCounter(owner, `${variableName}/${STEP_SUFFIX}`, group.get(STEP_SUFFIX)!));
      // no slots (8-bit state keeps its codes outside, src/tfjs/lowbit_store.ts): the live variable's shape
      const shape =
        this.slotNames.length > 0 ? group.get(this.slotNames[0]!)!.shape : (registered[variableName]?.shape ?? []);
      for (const slot of this.slotNames) {
        const t = group.get(slot)!;
        if (t.dtype !== 'float32') {
          throw new OptimizerArgumentError(
            `${owner}: weight "${variableName}/${slot}" has dtype ${t.dtype}; expected float32.`,
          );
        }
        if (!tf.util.arraysEqual(t.shape, shape)) {
          throw new OptimizerArgumentError(
            `${owner}: weight "${variableName}/${slot}" has shape [${t.shape}] but "${variableName}/${this.slotNames[0]}" has [${shape}].`,
          );
        }
      }
      const live = registered[variableName];
      if (live !== undefined && !tf.util.arraysEqual(live.shape, shape)) {
        throw new OptimizerArgumentError(
          `${owner}: the saved state of "${variableName}" has shape [${shape}] but the variable has shape [${live.shape}]; nothing was changed.`,
        );
      }
      if (live !== undefined && live.dtype !== 'float32') {
        throw new OptimizerArgumentError(
          `${owner}: the saved state of "${variableName}" is float32 but the variable has dtype ${live.dtype}; nothing was changed.`,
        );
      }
    }
    for (const [variableName, group] of groups) {
      for (const slot of this.slotNames)
        await checkSlotValues(owner, `${variableName}/${slot}`, group.get(slot)!, NON_NEGATIVE_SLOTS.has(slot));
    }
    return { iterations, groups, steps };
  }

  /**
   * Replaces the whole state with parsed weights: copied first (the caller may dispose what it
   * passed in, or pass our own slots back), then the old state released and swapped.
   */
  replace(parsed: ParsedState): void {
    const fresh = new Map<string, VariableState>();
    try {
      for (const [variableName, group] of parsed.groups) {
        const slots = new Map<string, tf.Variable>();
        fresh.set(variableName, { step: parsed.steps.get(variableName)!, slots, restored: true });
        for (const slot of this.slotNames) {
          slots.set(
            slot,
            tf.tidy(() => tf.add(group.get(slot)!, 0).variable(false)),
          );
        }
      }
    } catch (error) {
      for (const state of fresh.values()) tf.dispose([...state.slots.values()]);
      throw error;
    }
    this.dispose();
    for (const [variableName, state] of fresh) this.states.set(variableName, state);
  }

  dispose(): void {
    for (const state of this.states.values()) tf.dispose([...state.slots.values()]);
    this.states.clear();
  }

  /** Names of the variables that have state. */
  get names(): string[] {
    return [...this.states.keys()];
  }

  /** Bytes of the slot tensors (float32: 4 per element). */
  bytes(): number {
    let total = 0;
    for (const state of this.states.values()) for (const t of state.slots.values()) total += 4 * t.size;
    return total;
  }
}

async function readCounter(owner: string, name: string, tensor: tf.Tensor): Promise<number> {
  const values = await tensor.data();
  const value = values[0];
  // at most MAX_STEP_COUNT: getWeights saves counters as int32, so a larger one would come back wrapped
  if (
    tensor.size !== 1 ||
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < 0 ||
    value > MAX_STEP_COUNT
  ) {
    throw new OptimizerArgumentError(
      `${owner}: weight "${name}" must be one integer in [0, ${MAX_STEP_COUNT}] (saved as int32); ` +
        `got [${Array.from(values)}]. Nothing was changed.`,
    );
  }
  return value;
}

/** Every value finite and, for v / vmax, >= 0; names the first offending element. */
async function checkSlotValues(owner: string, name: string, tensor: tf.Tensor, nonNegative: boolean): Promise<void> {
  const values = await tensor.data();
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    if (!Number.isFinite(x) || (nonNegative && x < 0)) {
      throw new OptimizerArgumentError(
        `${owner}: weight "${name}" holds ${x} at index ${i}; expected finite values` +
          `${nonNegative ? ' >= 0 (a running mean of squared gradients)' : ''}. Nothing was changed.`,
      );
    }
  }
}
