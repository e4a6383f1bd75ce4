/**
 * Base class of our TensorFlow.js optimizers, the step runner: checks every gradient, applies the
 * non-finite policy, lets the dispatcher (src/dispatch.ts) choose the kernels, and runs each
 * variable's update (those that can share one kernel call first, in one: updateMany); its state is kept per
 * variable, by variable name, in a SlotStore (./slot_store.ts).
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
import { checkLearningRate, type LearningRate, type NonFinitePolicy } from '../hyperparams.js';
import { learningRateAt, scheduleConfig, scheduleFromConfig } from '../schedules.js';
import { NonFiniteGradientError, OptimizerArgumentError, OUT_OF_RANGE, warnOnce } from '../validate.js';
import type { FusedKernels } from '../backends/tfjs_fused.js';
import type { GpuFusedKernels } from '../backends/gpu_kernels.js';
import { GPU_ENTRY, gpuEntryMissing, isGpuBackend, stepKernels, type StepPath } from '../dispatch.js';
import { clips, normScales, sumOfSquares, type GradientClipping } from '../gradient_clipping.js';
import { clipByNormWithOps } from './clip_ops.js';
import type { GpuFiniteGuard } from './gpu_nonfinite.js';
import { checkGradients, firstNonFinite } from './gradient_checks.js';
import { heldOnWebgpu, readOffWebgpu, stateOnWebgpuError } from '../backends/webgpu_moves.js';
import type { LowBitStore } from './lowbit_store.js';
import { gpuPiecesIfLoaded, LOWBIT_ENTRY, lowBitElsewhere, lowBitPiecesIfLoaded } from './extensions.js';
import { LOW_BIT_FORMATS } from '../formats/state_formats.js';
import { checkStepCount, SlotStore, type NamedTensor, type VariableState } from './slot_store.js';
import type { FirstSteps } from './gpu_first_steps.js';
import { backendSafeEpsilon } from './epsilon.js';

export type { NamedTensor, VariableState } from './slot_store.js';

/** One variable of a step, for updateMany: its gradient, its state (count before the step) and its clipping factor. */
export interface StepItem {
  readonly variable: tf.Variable;
  readonly gradient: tf.Tensor;
  readonly state: VariableState;
  readonly gradScale: number;
}

/** The base class of every optimizer here: per-variable state kept by name, checked before any change. */
export abstract class NamedStateOptimizer extends tf.Optimizer {
  /** Names of the per-variable slots, e.g. ['m', 'v']. */
  protected abstract readonly slotNames: readonly string[];
  /** Name used in error messages, e.g. 'ADOPT'. */
  protected abstract readonly displayName: string;

  private learningRate_: LearningRate;
  private store: SlotStore | undefined;
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
   * With `stateDtype: 'int8'` the moments live here, outside the slots (./lowbit_store.ts): getWeights
   * appends their codes and scales, setWeights takes 8-bit or float32 entries, dispose frees them.
   * Set by the subclass's constructor; null for float32 state.
   */
  protected lowBit: LowBitStore | null = null;
  /** The factor clipping by norm puts on the gradient of the variable being stepped (src/gradient_clipping.ts); 1 otherwise. */
  protected gradScale = 1;
  /** The GPU non-finite check (./gpu_nonfinite.ts, `import 'adopt-optim/gpu'`), made when first needed. */
  private guard_: GpuFiniteGuard | null = null;
  /** `nonFinite: 'skip'` on a GPU: first steps awaiting their verdict, redone if skipped (./gpu_first_steps.ts). */
  private firstSteps_: FirstSteps | null = null;

  protected constructor(learningRate: LearningRate, nonFinite: NonFinitePolicy, fused: boolean) {
    super();
    this.learningRate_ = learningRate;
    this.warnIfUnsaveable(learningRate);
    this.nonFinite = nonFinite;
    this.fused = fused;
    this.iterations_ = 0;
  }

  /** The GPU non-finite check, or null where `import 'adopt-optim/gpu'` was not made (then no step was on it). */
  private get guard(): GpuFiniteGuard | null {
    const gpu = this.guard_ === null ? gpuPiecesIfLoaded() : null;
    if (gpu !== null) {
      this.guard_ = gpu.guard(this.nonFinite, {
        displayName: () => this.displayName,
        rollBack: (iterations, stepsByName) => {
          this.iterations_ -= iterations;
          for (const [name, count] of stepsByName) {
            const state = this.slots.get(name);
            if (state !== undefined) state.step = Math.max(0, state.step - count);
          }
        },
        countSkipped: () => {
          this.skippedSteps++;
        },
      });
      this.firstSteps_ = gpu.firstSteps();
    }
    return this.guard_;
  }

  /**
   * Resolves when every step applied so far has been checked for non-finite gradients; rejects
   * with the NonFiniteGradientError of a refused step (`nonFinite: 'throw'`). On webgl and webgpu
   * the check runs on the GPU and is reported asynchronously (docs/ALGORITHM.md §6.3): await this
   * to know that the steps so far were applied, and to have `skippedSteps` up to date. On the
   * other backends the check is synchronous and this resolves at once.
   */
  async checkFinite(): Promise<void> {
    await this.guard?.check();
  }

  /**
   * `target.assign(value)`, or, on a GPU backend with a non-finite check, `ok ? value : target`
   * computed on the GPU, so that a step with a non-finite gradient changes nothing (§6.3).
   */
  protected commit(target: tf.Variable, value: tf.Tensor): void {
    target.assign(this.stepOk === null ? value : tf.where(this.stepOk, value, target));
  }

  /** Where a variable's update ran, for `lastStepPaths` (called by the subclasses' updateVariable). */
  protected ranOn(path: StepPath): void {
    this.paths.add(path);
  }

  private paths = new Set<StepPath>();
  private lastPaths: readonly StepPath[] = [];

  /**
   * The paths the last step that changed anything ran on, one entry per distinct path: `'wasm'`,
   * `'cpu'` (fused WebAssembly), `'webgl'`, `'webgpu'` (fused shaders), `'int8'` / `'int4'` (low-bit state) or
   * `'ops'` (the rule as tfjs ops). Several where variables took different paths (a caution step on a
   * GPU runs as ops); empty before the first step. For display and diagnostics (src/dispatch.ts).
   */
  get lastStepPaths(): readonly StepPath[] {
    return this.lastPaths;
  }

  /**
   * Bytes of optimizer state held now: the moment tensors (4 bytes per element and slot), or, with
   * `stateDtype: 'int8'`, the codes (1 byte per element and moment, padded to 4) and their float32
   * scales (one per block of 256); with `'int4'`, half a byte per element and moment (padded to 16)
   * and a scale per block of 128. Step counters (a number per variable) are not counted.
   */
  get stateBytes(): number {
    return this.slots.bytes() + (this.lowBit?.stateBytes() ?? 0);
  }

  /** The learning rate of the next step (the schedule's value at `iterations`, if there is one). */
  get learningRate(): number {
    return learningRateAt(this.displayName, this.learningRate_, this.iterations);
  }

  /** Sets a constant rate or a schedule, a function of the step (see `cosineDecay` and others). */
  set learningRate(value: LearningRate) {
    this.learningRate_ = checkLearningRate(this.displayName, value);
    this.warnIfUnsaveable(value);
  }

  /**
   * A custom learning-rate function cannot be saved by getConfig (so neither by model.save with
   * includeOptimizer): said when it is set, once per process, rather than only when saving fails.
   */
  private warnIfUnsaveable(rate: LearningRate): void {
    if (typeof rate === 'function' && scheduleConfig(rate) === undefined) {
      warnOnce(
        'learning-rate function',
        `adopt-optim: a custom learning-rate function cannot be saved with the optimizer (getConfig, ` +
          'model.save with includeOptimizer). To make it saveable use constant, linearWarmup, cosineDecay or stepDecay, or set a ' +
          'number before saving. (Shown once.)',
      );
    }
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

  /**
   * Steps, in as few kernel calls as it can, the variables that can share one (wasm and cpu: one table kernel
   * call for all; see FamilyOptimizer), and returns those it stepped; the rest go through updateVariable.
   * Called after every check, with each variable's count before the step; none by default.
   */
  protected updateMany(_items: readonly StepItem[]): ReadonlySet<tf.Variable> | null {
    return null;
  }

  /** Whether updateMany may take any variable of this step (its items are not even made otherwise). */
  protected takesMany(): boolean {
    return false;
  }

  /** Update one variable, inside a `tidy`. `state.step` is this variable's count before the step. */
  protected abstract updateVariable(variable: tf.Variable, gradient: tf.Tensor, state: VariableState): void;

  /**
   * The name the state's marker carries (`optimizer:<name>`): setWeights refuses state whose marker
   * names another optimizer. The class name; a rule optimizer adds its rule's name.
   */
  protected stateClassName(): string {
    return this.getClassName();
  }

  /** Each variable's slots and step counter, by name (./slot_store.ts); made once slotNames is set. */
  private get slots(): SlotStore {
    return (this.store ??= new SlotStore(this.slotNames, () => this.displayName, this.lowBit ?? undefined));
  }

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
    this.guard?.throwPending(); // a step refused on the GPU since the last call (§6.3)
    const pairs = checkGradients(this.displayName, variableGradients);
    for (const [variable] of pairs) {
      const state = this.slots.peek(variable);
      if (state !== undefined) this.slots.checkBinding(variable, state);
      // state (or p) left on webgpu would move by a synchronous read, which gets it wrong (../backends/webgpu_moves.ts)
      const slots = state === undefined ? [] : [...state.slots.values()];
      const held = slots.some(heldOnWebgpu) ? 'state' : heldOnWebgpu(variable) ? 'parameter' : null;
      if (held !== null) throw stateOnWebgpuError(this.displayName, held, variable.name);
    }
    void this.learningRate; // a schedule returning a bad rate throws here, before anything changes
    for (const [variable] of pairs) {
      const step = this.slots.peek(variable)?.step ?? 0;
      checkStepCount(this.displayName, variable.name, Math.max(step, this.iterations));
      this.checkStep(variable, step);
      this.lowBit?.check(variable, step, this.slots.nameOf(variable)); // low-bit state: where it is, bound to the shape
    }
    this.kernels = stepKernels(this.fused); // the dispatcher's choice for this step (src/dispatch.ts)
    const backend = tf.getBackend();
    const onGpu = isGpuBackend(backend);
    // without `import 'adopt-optim/gpu'` the check is synchronous: webgl stalls, webgpu cannot read back reliably
    const guard = onGpu && !gpuEntryMissing(backend) ? this.guard : null;
    if (pairs.length > 0 && this.nonFinite !== 'off' && onGpu && guard === null && backend === 'webgpu') {
      throw new OptimizerArgumentError(
        `${this.displayName}: nonFinite '${this.nonFinite}' on webgpu needs the GPU non-finite check, which comes ` +
          `with ${GPU_ENTRY} (a synchronous read of webgpu is not reliable, docs/ALGORITHM.md §6.3): add that ` +
          "import, or pass nonFinite: 'off'. Nothing was changed.",
      );
    }
    if (pairs.length > 0 && this.nonFinite !== 'off' && guard === null) {
      const bad = firstNonFinite(this.kernels, pairs);
      if (bad !== undefined) {
        if (this.nonFinite === 'skip') {
          this.skippedSteps++;
          return;
        }
        throw new NonFiniteGradientError(
          `${this.displayName}: the gradient of variable "${bad}" holds ${OUT_OF_RANGE} at step ` +
            `${this.iterations}; parameters and optimizer state were left unchanged. ` +
            "Pass {nonFinite: 'skip'} to skip such steps instead.",
          bad,
          this.iterations,
        );
      }
    }
    // Everything checked: the step goes ahead. What the last getWeights handed out expires now.
    if (pairs.length > 0) this.disposeHandedOut();
    const clipped = this.clipGradients(pairs, onGpu); // src/gradient_clipping.ts; nothing to do without clipping
    const gpuKernels = this.kernels !== null && 'beginStep' in this.kernels ? (this.kernels as GpuFusedKernels) : null;
    const made = this.guard; // (made with the GPU entry point, whatever the backend now)
    const firstSteps = this.firstSteps_;
    if (made !== null) firstSteps!.settle((name) => made.unreported(name)); // before this step's own verdict is issued
    this.stepOk =
      pairs.length > 0 && this.nonFinite !== 'off' && guard !== null
        ? guard.begin(this.iterations, pairs, gpuKernels === null ? undefined : (gs) => gpuKernels.gradientFlags(gs))
        : null;
    gpuKernels?.beginStep(this.stepOk);
    this.paths.clear();
    const ok = this.stepOk;
    const setVerdict = (verdict: tf.Tensor | null) => {
      this.stepOk = verdict;
      gpuKernels?.beginStep(verdict);
    };
    try {
      // variables that can share one kernel call take it first (issue 34 item 3; FamilyOptimizer.updateMany)
      const many =
        ok === null && clipped.pairs.length > 1 && this.takesMany()
          ? this.updateMany(
              clipped.pairs.map(([variable, gradient]) => ({
                variable,
                gradient,
                state: this.slots.stateFor(variable),
                gradScale: clipped.scales.get(variable) ?? 1,
              })),
            )
          : null;
      for (const variable of many ?? []) this.slots.stateFor(variable).step++; // stepped: counted at once
      for (const [variable, gradient] of clipped.pairs) {
        if (many?.has(variable) === true) continue;
        const state = this.slots.stateFor(variable);
        this.gradScale = clipped.scales.get(variable) ?? 1;
        const update = () => tf.tidy(() => this.updateVariable(variable, gradient, state));
        const redo = ok !== null && this.nonFinite === 'skip'; // a first step skipped on the GPU is redone
        if (redo) firstSteps!.step(variable.name, state, ok, update, setVerdict);
        else update();
        state.step++;
      }
    } finally {
      this.gradScale = 1;
      tf.dispose(clipped.made);
      gpuKernels?.endStep();
      this.stepOk?.dispose();
      this.stepOk = null;
      if (this.paths.size > 0) this.lastPaths = [...this.paths].sort();
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
   * Gradient clipping (src/gradient_clipping.ts), after every check. By norm on cpu and wasm: the sums of
   * squares in float64 (one read of each gradient, by the fused kernels where they accept it), the
   * scales kept for the subclasses to fold into the rule's sign (`gradScale`). On webgl and webgpu,
   * and for clipvalue: clipped gradients made with tfjs ops (no readback), disposed after the step.
   */
  private clipGradients(
    pairs: [tf.Variable, tf.Tensor][],
    onGpu: boolean,
  ): { pairs: [tf.Variable, tf.Tensor][]; scales: Map<tf.Variable, number>; made: tf.Tensor[] } {
    const h = this.gradientClipping();
    const scales = new Map<tf.Variable, number>();
    if (!clips(h) || pairs.length === 0) return { pairs, scales, made: [] };
    if (h.clipvalue !== null) {
      const c = h.clipvalue;
      const made = pairs.map(([, g]) => tf.clipByValue(g, -c, c));
      return { pairs: pairs.map(([v], i) => [v, made[i]!]), scales, made };
    }
    if (onGpu || !this.foldsGradientScale()) {
      const made = clipByNormWithOps(
        h,
        pairs.map(([, g]) => g),
      ); // ./clip_ops.ts: no readback
      return { pairs: pairs.map(([v], i) => [v, made[i]!]), scales, made };
    }
    const k = this.kernels;
    const sums = pairs.map(([, g]) =>
      k?.sumSquares !== undefined && k.accepts([g]) ? k.sumSquares(g) : sumOfSquares(g.dataSync()),
    );
    normScales(h, sums).forEach((s, i) => scales.set(pairs[i]![0], s));
    return { pairs, scales, made: [] };
  }

  /** The clipping options (null where a subclass has none: custom rules). */
  protected gradientClipping(): Required<GradientClipping> {
    const o = this as unknown as GradientClipping;
    return { clipnorm: o.clipnorm ?? null, clipvalue: o.clipvalue ?? null, globalClipnorm: o.globalClipnorm ?? null };
  }

  /** Whether updateVariable multiplies the gradient by `gradScale` (through the rule's sign). */
  protected foldsGradientScale(): boolean {
    return false;
  }

  /** Another backend active: slots and parameters held on webgpu read asynchronously (../backends/webgpu_moves.ts). */
  private async readOffWebgpu(names: readonly string[]): Promise<void> {
    const registered = tf.engine().registeredVariables;
    await Promise.all([this.slots.readOffWebgpu(), readOffWebgpu(names.flatMap((n) => registered[n] ?? []))]);
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
    await this.guard?.settle(); // counters of steps refused on the GPU are rolled back first (§6.3)
    this.checkUsable('getWeights');
    await this.readOffWebgpu(this.slots.names); // left on webgpu by a backend switch: read asynchronously (§6.3)
    this.checkUsable('getWeights');
    this.disposeHandedOut();
    const weights = this.slots.weights(this.iterations, this.stateClassName());
    // low-bit state is captured with the counters, now (its GPU reads resolve later); ours are handed out after
    const pending = this.lowBit?.weights();
    let lowBit: NamedTensor[] = [];
    try {
      if (pending !== undefined) lowBit = await pending; // the store owns these
    } catch (error) {
      tf.dispose(weights.map((w) => w.tensor));
      throw error;
    }
    this.handedOut.push(...weights.map((w) => w.tensor));
    return [...weights, ...lowBit];
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
    // With 8-bit state: 8-bit or float32 entries; with float32 state, 8-bit entries de-quantised (./lowbit_store.ts).
    const owner = `${this.displayName}.setWeights`;
    const lowBit = lowBitPiecesIfLoaded();
    if (lowBit !== null) return lowBit.setWeights(owner, this.lowBit, weightValues, (w) => this.setSlotWeights(w));
    const entry = Array.isArray(weightValues) ? weightValues.find((w) => isLowBitEntry(w?.name)) : undefined;
    if (entry !== undefined) {
      throw new OptimizerArgumentError(
        `${owner}: "${entry.name}" is low-bit state; reading it needs ${LOWBIT_ENTRY}${lowBitElsewhere()}. ` +
          'Nothing was changed.',
      );
    }
    return this.setSlotWeights(weightValues);
  }

  /** setWeights for the float32 slots and the counters (low-bit entries already taken out by setWeightsWithLowBit). */
  private async setSlotWeights(weightValues: NamedTensor[]): Promise<void> {
    this.checkUsable('setWeights');
    const parsed = await this.slots.parse(`${this.displayName}.setWeights`, this.stateClassName(), weightValues);
    await this.readOffWebgpu([...parsed.groups.keys()]); // their parameters, left on webgpu by a backend switch
    // All checked. (dispose() may have run while the values were read.) Steps still being checked
    // on the GPU refer to the old state: their outcome is dropped. Then copy and swap.
    await this.guard?.settle();
    this.checkUsable('setWeights');
    this.guard?.reset();
    this.firstSteps_?.reset();
    this.slots.replace(parsed);
    this.iterations_ = parsed.iterations;
  }

  /** Names of the variables that have optimizer state. */
  get stateNames(): string[] {
    return this.slots.names;
  }

  /** Step count of one variable's state (0 before its first step). */
  stepOf(variableName: string): number {
    return this.slots.get(variableName)?.step ?? 0;
  }

  /** Releases the state. The optimizer cannot be used afterwards (as tfjs's own optimizers). */
  override dispose(): void {
    this.lowBit?.dispose();
    this.slots.dispose();
    this.disposeHandedOut();
    this.guard?.reset();
    this.firstSteps_?.reset();
    this.disposed = true;
  }

  /** epsilon as the op-by-op path may use it on this backend (./epsilon.ts, §7.1). */
  protected backendSafeEpsilon(epsilon: number): number {
    return backendSafeEpsilon(epsilon);
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

/** Whether a saved weight's name is a low-bit format's entry (`<variable>/<suffix>`, src/formats/state_formats.ts). */
function isLowBitEntry(name: unknown): boolean {
  if (typeof name !== 'string') return false;
  const suffix = name.slice(name.lastIndexOf('/') + 1);
  return LOW_BIT_FORMATS.some((f) => f.names.includes(suffix));
}
