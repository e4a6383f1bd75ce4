/**
 * Base class of our TensorFlow.js optimizers: state kept per variable, by variable name.
 *
 * tfjs's own Adam keys its moments by the position of a gradient in the list it is given, so a
 * call with a different subset or order of variables mixes their moments up. Here every variable
 * has its own slots (m, v, ...) and its own step counter, found by name. A variable seen for the
 * first time starts at step 0 whenever it arrives (ADOPT then initialises its v).
 *
 * Every check (unknown variable, shape, dtype, NaN/Infinity, state whose shape is not the
 * variable's) runs on all gradients before any parameter or state changes, so a rejected step
 * leaves everything as it was. setWeights likewise checks everything, copies, then swaps; a
 * disposed optimizer refuses every step, getWeights and setWeights.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap } from '@tensorflow/tfjs-core';

/** A gradient or weight with its name (tfjs-core uses this shape but does not export it). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}
import { checkLearningRate, type LearningRate, type NonFinitePolicy } from '../hyperparams.js';
import { learningRateAt, scheduleConfig, scheduleFromConfig } from '../schedules.js';
import { NonFiniteGradientError, OptimizerArgumentError } from '../validate.js';
import type { FusedKernels } from '../kernels/tfjs_fused.js';
import type { GpuFusedKernels } from '../kernels/gpu_fused.js';
import { stepKernels } from '../dispatch.js';
import { GpuFiniteGuard, isGpuBackend } from './gpu_nonfinite.js';
import { setWeightsWithInt8, type Int8Store } from './state8.js';

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

/** Per backend: whether an epsilon survives a round trip through it (see backendSafeEpsilon). */
const epsilonSurvives = new WeakMap<object, Map<number, boolean>>();
const ITERATIONS_NAME = 'iter';
/**
 * getWeights writes a marker weight `optimizer:<className>` (an int32 scalar, the state format
 * version): setWeights refuses another optimizer's state by it. Weights saved before the marker
 * existed have none and are accepted on their structure alone.
 */
const CLASS_PREFIX = 'optimizer:';
const STATE_FORMAT_VERSION = 1;
/** Classes whose state means the same thing: each can continue from the other's. */
const STATE_KIND: Record<string, string> = {
  'adopt-optim/ADOPT': 'adopt',
  'adopt-optim/Adam': 'adam',
  'adopt-optim/AdamW': 'adam',
  'adopt-optim/AMSGrad': 'amsgrad',
};
/** Backends that store and compute in float32: epsilon always survives (§7.1). */
const FLOAT32_BACKENDS = new Set(['webgpu', 'cpu', 'wasm', 'tensorflow']);
/** Slots that hold squared gradients: never negative. */
const NON_NEGATIVE_SLOTS = new Set(['v', 'vmax']);

export abstract class NamedStateOptimizer extends tf.Optimizer {
  /** Names of the per-variable slots, e.g. ['m', 'v']. */
  protected abstract readonly slotNames: readonly string[];
  /** Name used in error messages, e.g. 'ADOPT'. */
  protected abstract readonly displayName: string;

  private learningRate_: LearningRate;
  private readonly states = new Map<string, VariableState>();
  /** Set by dispose(): every later step, getWeights or setWeights throws. */
  private disposed = false;
  /**
   * Tensors handed out by getWeights (counters and copies of the slots), disposed by the next
   * step, getWeights or dispose, so saving never leaks.
   */
  private handedOut: tf.Tensor[] = [];
  /** Number of steps skipped because a gradient was not finite (`nonFinite: 'skip'`). */
  skippedSteps = 0;
  readonly nonFinite: NonFinitePolicy;
  /** Whether single-pass kernels are used where the backend allows (wasm, cpu). */
  readonly fused: boolean;
  /** The kernels for the step in progress, or null: tfjs ops. Set by applyGradients. */
  protected kernels: FusedKernels | null = null;
  /**
   * On webgl/webgpu with a nonFinite policy other than 'off': this step's verdict, a bool scalar
   * on the GPU (false when a gradient is not finite). Every write of the step honours it (see
   * `commit`; the GPU kernels take it as an input). Null elsewhere. docs/ALGORITHM.md §6.3.
   */
  protected stepOk: tf.Tensor | null = null;
  /**
   * With `stateDtype: 'int8'` the moments live here, outside the slots (./state8.ts): getWeights
   * appends their codes and scales, setWeights takes 8-bit or float32 entries, dispose frees them.
   * Set by the subclass's constructor; null for float32 state.
   */
  protected int8: Int8Store | null = null;
  private readonly guard: GpuFiniteGuard;

  protected constructor(learningRate: LearningRate, nonFinite: NonFinitePolicy, fused: boolean) {
    super();
    this.learningRate_ = learningRate;
    this.nonFinite = nonFinite;
    this.fused = fused;
    this.iterations_ = 0;
    this.guard = new GpuFiniteGuard(nonFinite, {
      displayName: () => this.displayName,
      rollBack: (iterations, stepsByName) => {
        this.iterations_ -= iterations;
        for (const [name, count] of stepsByName) {
          const state = this.states.get(name);
          if (state !== undefined) state.step = Math.max(0, state.step - count);
        }
      },
      countSkipped: () => {
        this.skippedSteps++;
      },
    });
  }

  /**
   * Resolves when every step applied so far has been checked for non-finite gradients; rejects
   * with the NonFiniteGradientError of a refused step (`nonFinite: 'throw'`). On webgl and webgpu
   * the check runs on the GPU and is reported asynchronously (docs/ALGORITHM.md §6.3): await this
   * to know that the steps so far were applied, and to have `skippedSteps` up to date. On the
   * other backends the check is synchronous and this resolves at once.
   */
  async checkFinite(): Promise<void> {
    await this.guard.check();
  }

  /**
   * `target.assign(value)`, or, on a GPU backend with a non-finite check, `ok ? value : target`
   * computed on the GPU, so that a step with a non-finite gradient changes nothing (§6.3).
   */
  protected commit(target: tf.Variable, value: tf.Tensor): void {
    target.assign(this.stepOk === null ? value : tf.where(this.stepOk, value, target));
  }

  /** The learning rate of the next step (the schedule's value at `iterations`, if there is one). */
  get learningRate(): number {
    return learningRateAt(this.displayName, this.learningRate_, this.iterations);
  }

  /** Sets a constant rate or a schedule, a function of the step (see `cosineDecay` and others). */
  set learningRate(value: LearningRate) {
    this.learningRate_ = checkLearningRate(this.displayName, value);
  }

  /** The schedule, or null when the learning rate is a constant. */
  get schedule(): ((step: number) => number) | null {
    return typeof this.learningRate_ === 'function' ? this.learningRate_ : null;
  }

  /**
   * Throws if the update of this variable at this step would be invalid (for example a clip
   * schedule returning a negative bound). Called for every variable before any is updated.
   */
  protected checkStep(_variable: tf.Variable, _step: number): void {}

  /** Update one variable, inside a `tidy`. `state.step` is this variable's count before the step. */
  protected abstract updateVariable(variable: tf.Variable, gradient: tf.Tensor, state: VariableState): void;

  /** Throws if dispose() was called: a disposed optimizer has lost its state and must not restart silently. */
  private checkUsable(method: string): void {
    if (this.disposed) {
      throw new OptimizerArgumentError(
        `${this.displayName}.${method}: this optimizer was disposed and its state released; ` +
          'create a new optimizer (and setWeights() it from saved state to continue).',
      );
    }
  }

  override applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
    this.checkUsable('applyGradients');
    this.guard.throwPending(); // a step refused on the GPU since the last call (§6.3)
    const pairs = this.checkGradients(variableGradients);
    for (const [variable] of pairs) {
      const state = this.peekState(variable);
      if (state !== undefined) this.checkBinding(variable, state);
    }
    void this.learningRate; // a schedule returning a bad rate throws here, before anything changes
    for (const [variable] of pairs) this.checkStep(variable, this.peekState(variable)?.step ?? 0);
    this.kernels = stepKernels(this.fused); // the dispatcher's choice for this step (src/dispatch.ts)
    const onGpu = isGpuBackend(tf.getBackend());
    if (pairs.length > 0 && this.nonFinite !== 'off' && !onGpu) {
      const bad = this.firstNonFinite(pairs);
      if (bad !== undefined) {
        if (this.nonFinite === 'skip') {
          this.skippedSteps++;
          return;
        }
        throw new NonFiniteGradientError(
          `${this.displayName}: the gradient of variable "${bad}" holds NaN or Infinity at step ` +
            `${this.iterations}; parameters and optimizer state were left unchanged. ` +
            "Pass {nonFinite: 'skip'} to skip such steps instead.",
          bad, this.iterations,
        );
      }
    }
    // Everything checked: the step goes ahead. What the last getWeights handed out expires now.
    if (pairs.length > 0) this.disposeHandedOut();
    const gpuKernels = this.kernels !== null && 'beginStep' in this.kernels ? (this.kernels as GpuFusedKernels) : null;
    this.stepOk = pairs.length > 0 && this.nonFinite !== 'off' && onGpu
      ? this.guard.begin(this.iterations, pairs, gpuKernels === null ? undefined : (gs) => gpuKernels.gradientFlags(gs))
      : null;
    gpuKernels?.beginStep(this.stepOk);
    try {
      for (const [variable, gradient] of pairs) {
        const state = this.stateFor(variable);
        tf.tidy(() => this.updateVariable(variable, gradient, state));
        state.step++;
      }
    } finally {
      gpuKernels?.endStep();
      this.stepOk?.dispose();
      this.stepOk = null;
    }
    this.incrementIterations();
  }

  /**
   * Like tf.Optimizer.minimize, but refuses a disposed optimizer before computing gradients, and
   * disposes the gradients and the cost when the step is refused (no tensor leaks).
   */
  override minimize(f: () => tf.Scalar, returnCost = false, varList?: tf.Variable[]): tf.Scalar | null {
    this.checkUsable('minimize');
    const { value, grads } = this.computeGradients(f, varList);
    try {
      this.applyGradients(varList != null ? varList.map((v) => ({ name: v.name, tensor: grads[v.name]! })) : grads);
    } catch (error) {
      value.dispose();
      throw error;
    } finally {
      tf.dispose(grads);
    }
    if (returnCost) return value;
    value.dispose();
    return null;
  }

  /**
   * State is bound to a variable by name and shape: a variable disposed and re-created under the
   * same name with another shape, or state restored for another model, must not be stepped with
   * it (the fused kernels would read and write past the end of m and v).
   */
  private checkBinding(variable: tf.Variable, state: VariableState): void {
    for (const slot of this.slotNames) {
      const tensor = state.slots.get(slot)!;
      if (!tf.util.arraysEqual(tensor.shape, variable.shape) || tensor.dtype !== variable.dtype) {
        throw new OptimizerArgumentError(
          `${this.displayName}: the optimizer state of variable "${variable.name}" (slot "${slot}") has shape ` +
            `[${tensor.shape}] ${tensor.dtype} but the variable has shape [${variable.shape}] ${variable.dtype}; ` +
            'was the variable re-created with another shape, or the state restored for another model? ' +
            'Nothing was changed. Use a new optimizer, or setWeights() the saved state without this variable\'s entries.',
        );
      }
    }
  }

  /** Resolves names to variables and checks every gradient; throws before anything changes. */
  private checkGradients(variableGradients: NamedTensorMap | NamedTensor[]): [tf.Variable, tf.Tensor][] {
    const entries: [string, tf.Tensor | null | undefined][] = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor])
      : Object.entries(variableGradients);
    const registered = tf.engine().registeredVariables;
    const seen = new Set<string>();
    const pairs: [tf.Variable, tf.Tensor][] = [];
    for (const [name, gradient] of entries) {
      if (gradient == null) continue; // no gradient for this variable: leave it, as tfjs does
      const variable = registered[name];
      if (variable === undefined) {
        throw new OptimizerArgumentError(
          `${this.displayName}: a gradient names the unknown variable "${name}"; ` +
            'expected the name of a live tf.Variable.',
        );
      }
      if (seen.has(name)) {
        throw new OptimizerArgumentError(`${this.displayName}: two gradients name the variable "${name}".`);
      }
      seen.add(name);
      if (!tf.util.arraysEqual(gradient.shape, variable.shape)) {
        throw new OptimizerArgumentError(
          `${this.displayName}: the gradient of "${name}" has shape [${gradient.shape}] ` +
            `but the variable has shape [${variable.shape}].`,
        );
      }
      if (variable.dtype !== 'float32' || gradient.dtype !== 'float32') {
        throw new OptimizerArgumentError(
          `${this.displayName}: the gradient of "${name}" has dtype ${gradient.dtype} and the variable ` +
            `${variable.dtype}; expected float32 for both.`,
        );
      }
      if (gradient.isDisposed) {
        throw new OptimizerArgumentError(`${this.displayName}: the gradient of "${name}" is disposed.`);
      }
      pairs.push([variable, gradient]);
    }
    return pairs;
  }

  /** Name of the first variable whose gradient is not finite; one readback for all of them. */
  private firstNonFinite(all: [tf.Variable, tf.Tensor][]): string | undefined {
    // empty gradients hold nothing to check (and tf.sum of an empty tensor is garbage on wasm)
    const pairs = all.filter(([, g]) => g.size > 0);
    if (pairs.length === 0) return undefined;
    const k = this.kernels;
    if (k !== null && k.accepts(pairs.map(([, g]) => g))) {
      return pairs.find(([, g]) => !k.allFinite(g))?.[0].name; // one read of each gradient, no tensors
    }
    // sum(g * 0) is 0 when every element is finite and NaN otherwise; it runs on every backend.
    const flags = tf.tidy(() => tf.stack(pairs.map(([, g]) => tf.sum(tf.mul(g, 0)))));
    const values = flags.dataSync();
    flags.dispose();
    const index = values.findIndex((x) => x !== 0);
    return index < 0 ? undefined : pairs[index]![0].name;
  }

  /** The state a variable would use, without claiming or creating anything. */
  private peekState(variable: tf.Variable): VariableState | undefined {
    return this.states.get(variable.name) ?? this.findRestored(variable)?.[1];
  }

  private stateFor(variable: tf.Variable): VariableState {
    let state = this.states.get(variable.name);
    const restored = state === undefined ? this.findRestored(variable) : undefined;
    if (restored !== undefined) {
      state = restored[1];
      this.states.delete(restored[0]);
      this.states.set(variable.name, state);
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
   * saved names its kernel "dense/kernel_1" where the saved state says "dense/kernel". Restored,
   * unclaimed state is matched to such a variable when exactly one entry fits by name and shape.
   */
  private findRestored(variable: tf.Variable): [string, VariableState] | undefined {
    const match = /^(.*)_\d+$/.exec(variable.name);
    if (match === null) return undefined;
    const state = this.states.get(match[1]!);
    if (state === undefined || !state.restored) return undefined;
    const shape = state.slots.values().next().value?.shape;
    if (shape === undefined || !tf.util.arraysEqual(shape, variable.shape)) return undefined;
    return [match[1]!, state];
  }

  private disposeHandedOut(): void {
    tf.dispose(this.handedOut);
    this.handedOut = [];
  }

  /**
   * `iter`, the marker `optimizer:<className>`, then for each variable `<name>/<slot>` and
   * `<name>/step`. The slots are copies: what is read from them never changes, whatever the
   * backend (the fused kernels update the live slots in place). The tensors stay owned by the
   * optimizer: read them before the next step, getWeights or dispose, which dispose them.
   */
  override async getWeights(): Promise<NamedTensor[]> {
    this.checkUsable('getWeights');
    await this.guard.settle(); // counters of steps refused on the GPU are rolled back first (§6.3)
    this.checkUsable('getWeights');
    this.disposeHandedOut();
    const iter = tf.scalar(this.iterations, 'int32');
    const marker = tf.scalar(STATE_FORMAT_VERSION, 'int32');
    this.handedOut.push(iter, marker);
    const weights: NamedTensor[] = [
      { name: ITERATIONS_NAME, tensor: iter },
      { name: `${CLASS_PREFIX}${this.getClassName()}`, tensor: marker },
    ];
    for (const [name, state] of this.states) {
      for (const slot of this.slotNames) {
        const copy = tf.tidy(() => tf.mul(state.slots.get(slot)!, 1)); // a new buffer (tf.clone shares on cpu)
        this.handedOut.push(copy);
        weights.push({ name: `${name}/${slot}`, tensor: copy });
      }
      const step = tf.scalar(state.step, 'int32');
      this.handedOut.push(step);
      weights.push({ name: `${name}/${STEP_SUFFIX}`, tensor: step });
    }
    return this.int8 === null ? weights : [...weights, ...this.int8.weights()];
  }

  /**
   * Replaces the whole state with saved weights (as written by getWeights). Everything is checked
   * first: a name that is no slot of this optimizer, another optimizer's marker, a missing slot or
   * counter, a disposed tensor, a dtype or shape that differs between slots or from a live variable
   * of that name, a value that is not finite (or negative in v / vmax), a counter that is no
   * integer >= 0. Then the tensors are copied (the caller may dispose them, or pass getWeights()'s
   * own output back) and only then is the old state released: a refused call changes nothing.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    // With 8-bit state: 8-bit or float32 entries; with float32 state, 8-bit entries de-quantised (./state8.ts).
    return setWeightsWithInt8(`${this.displayName}.setWeights`, this.int8, weightValues, (w) => this.setSlotWeights(w));
  }

  /** setWeights for the float32 slots and the counters (8-bit entries already taken out by setWeightsWithInt8). */
  private async setSlotWeights(weightValues: NamedTensor[]): Promise<void> {
    this.checkUsable('setWeights');
    const owner = `${this.displayName}.setWeights`;
    if (!Array.isArray(weightValues)) {
      throw new OptimizerArgumentError(`${owner}: expected an array of {name, tensor} (the output of getWeights()); got ${typeof weightValues}.`);
    }
    const suffixes = [...this.slotNames, STEP_SUFFIX];
    const expectedNames = suffixes.map((s) => `"<variable>/${s}"`).join(', ');
    let iterations: number | undefined;
    let writer: string | undefined;
    const groups = new Map<string, Map<string, tf.Tensor>>();
    // The marker first: another optimizer's state is reported as such, not as a stray slot.
    for (const entry of weightValues) {
      const name = (entry as Partial<NamedTensor> | null)?.name;
      if (typeof name !== 'string' || !name.startsWith(CLASS_PREFIX)) continue;
      if (writer !== undefined) throw new OptimizerArgumentError(`${owner}: two optimizer markers, "${CLASS_PREFIX}${writer}" and "${name}".`);
      writer = name.slice(CLASS_PREFIX.length);
    }
    const className = this.getClassName();
    if (writer !== undefined && writer !== className &&
      (STATE_KIND[writer] === undefined || STATE_KIND[writer] !== STATE_KIND[className])) {
      throw new OptimizerArgumentError(
        `${owner}: the weights were saved by ${writer} (marker "${CLASS_PREFIX}${writer}"); ${className} cannot ` +
          'continue from another optimizer\'s state (its slots mean other things). Expected the output of ' +
          `getWeights() of an optimizer of this class.`,
      );
    }
    for (const [index, entry] of weightValues.entries()) {
      const { name, tensor } = (entry ?? {}) as Partial<NamedTensor>;
      if (typeof name !== 'string' || tensor == null || typeof tensor !== 'object' || typeof tensor.data !== 'function') {
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
    if (writer === undefined && groups.size > 0 &&
      [...groups.values()].every((g) => !g.has(STEP_SUFFIX) && this.slotNames.every((s) => g.has(s)))) {
      throw new OptimizerArgumentError(
        `${owner}: the weights have no per-variable step counter ("<variable>/${STEP_SUFFIX}") at all: they look like ` +
          `the state of a tfjs optimizer such as tf.train.adam, which ${this.displayName} cannot continue from. ` +
          'Expected the output of getWeights() of this optimizer.',
      );
    }
    if (iterations === undefined) {
      throw new OptimizerArgumentError(`${owner}: the weights have no "iter" counter; expected the output of getWeights().`);
    }
    const registered = tf.engine().registeredVariables;
    const steps = new Map<string, number>();
    for (const [variableName, group] of groups) {
      const missing = suffixes.filter((s) => !group.has(s));
      if (missing.length > 0) {
        const found = suffixes.filter((s) => group.has(s)).map((s) => `"${variableName}/${s}"`).join(', ');
        throw new OptimizerArgumentError(
          `${owner}: incomplete state for variable "${variableName}": found ${found} but not ` +
            `${missing.map((s) => `"${variableName}/${s}"`).join(', ')}; each variable needs ${expectedNames}.`,
        );
      }
      steps.set(variableName, await readCounter(owner, `${variableName}/${STEP_SUFFIX}`, group.get(STEP_SUFFIX)!));
      // no slots (8-bit state keeps its codes outside, src/tfjs/state8.ts): the live variable's shape
      const shape = this.slotNames.length > 0 ? group.get(this.slotNames[0]!)!.shape : registered[variableName]?.shape ?? [];
      for (const slot of this.slotNames) {
        const t = group.get(slot)!;
        if (t.dtype !== 'float32') {
          throw new OptimizerArgumentError(`${owner}: weight "${variableName}/${slot}" has dtype ${t.dtype}; expected float32.`);
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
      for (const slot of this.slotNames) await checkSlotValues(owner, `${variableName}/${slot}`, group.get(slot)!, NON_NEGATIVE_SLOTS.has(slot));
    }
    // All checked: copy (the caller may dispose what it passed in, or pass our own slots back),
    // then release the old state and swap. (dispose() may have run while the values were read.)
    // Steps still being checked on the GPU refer to the old state: their outcome is dropped.
    await this.guard.settle();
    this.checkUsable('setWeights');
    this.guard.reset();
    const fresh = new Map<string, VariableState>();
    try {
      for (const [variableName, group] of groups) {
        const slots = new Map<string, tf.Variable>();
        fresh.set(variableName, { step: steps.get(variableName)!, slots, restored: true });
        for (const slot of this.slotNames) {
          slots.set(slot, tf.tidy(() => tf.add(group.get(slot)!, 0).variable(false)));
        }
      }
    } catch (error) {
      for (const state of fresh.values()) tf.dispose([...state.slots.values()]);
      throw error;
    }
    this.disposeState();
    for (const [variableName, state] of fresh) this.states.set(variableName, state);
    this.iterations_ = iterations;
  }

  private disposeState(): void {
    for (const state of this.states.values()) tf.dispose([...state.slots.values()]);
    this.states.clear();
  }

  /** Names of the variables that have optimizer state. */
  get stateNames(): string[] {
    return [...this.states.keys()];
  }

  /** Step count of one variable's state (0 before its first step). */
  stepOf(variableName: string): number {
    return this.states.get(variableName)?.step ?? 0;
  }

  /** Releases the state. The optimizer cannot be used afterwards (as tfjs's own optimizers). */
  override dispose(): void {
    this.int8?.dispose();
    this.disposeState();
    this.disposeHandedOut();
    this.guard.reset();
    this.disposed = true;
  }

  /**
   * epsilon as the op-by-op path may use it. On a backend that computes in float16 (WebGL with
   * half-float textures on some devices) an epsilon of 1e-6 flushes to zero (0 / 0 = NaN where
   * v = 0) or overflows the division (g / 1e-6 > 65504); there it is raised to 1e-4. Whether that
   * happens is decided without reading anything back on webgl (float16 textures, i.e.
   * `WEBGL_RENDER_FLOAT32_ENABLED` false, raise it) and webgpu (float32 always); elsewhere it is
   * measured once per backend and epsilon (tfjs's floatPrecision() reads back synchronously, and
   * on webgpu a synchronous readback of a fresh tensor returned 0 or lost the device).
   */
  protected backendSafeEpsilon(epsilon: number): number {
    const name = tf.getBackend();
    if (name === 'webgl') return tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED') || epsilon === 0 ? epsilon : Math.max(epsilon, 1e-4);
    if (FLOAT32_BACKENDS.has(name)) return epsilon;
    const backend = tf.backend();
    let known = epsilonSurvives.get(backend);
    if (known === undefined) epsilonSurvives.set(backend, (known = new Map()));
    let survives = known.get(epsilon);
    if (survives === undefined) {
      // The update's own arithmetic, 0 / max(0, eps) and 1 / max(0, eps), on 1024 elements (WebGL
      // hands tensors under 128 elements to the CPU, which would hide float16 storage and math).
      const [zero, big] = tf.tidy(() => {
        const floor = tf.maximum(tf.zeros([2, 1024]), epsilon);
        const out = tf.div(tf.concat([tf.zeros([1, 1024]), tf.ones([1, 1024])]), floor).dataSync();
        return [out[0]!, out[1024]!];
      });
      survives = epsilon === 0 || (zero === 0 && Number.isFinite(big));
      known.set(epsilon, survives);
    }
    return survives ? epsilon : Math.max(epsilon, 1e-4);
  }

  /** Shared part of every config. A schedule is saved as its config (see src/schedules.ts). */
  protected baseConfig(): tf.serialization.ConfigDict {
    let learningRate: number | tf.serialization.ConfigDict = this.learningRate_ as number;
    if (typeof this.learningRate_ === 'function') {
      const config = scheduleConfig(this.learningRate_);
      if (config === undefined) {
        throw new OptimizerArgumentError(
          `${this.displayName}.getConfig: a custom learning-rate function cannot be saved. Use constant, ` +
            'linearWarmup, cosineDecay or stepDecay, or set a number before saving.',
        );
      }
      learningRate = { ...config };
    }
    return { learningRate, nonFinite: this.nonFinite, fused: this.fused };
  }

  /** The learning rate as written by baseConfig: a number or a schedule config. */
  protected static learningRateFromConfig(value: unknown): unknown {
    return value !== null && typeof value === 'object' ? scheduleFromConfig(value) : value;
  }
}

async function readCounter(owner: string, name: string, tensor: tf.Tensor): Promise<number> {
  const values = await tensor.data();
  const value = values[0];
  if (tensor.size !== 1 || typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new OptimizerArgumentError(`${owner}: weight "${name}" must be one integer >= 0; got [${Array.from(values)}].`);
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
