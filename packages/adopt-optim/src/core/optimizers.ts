/**
 * Ready-made optimizers of the framework-free core, each a named chain of the pieces in
 * ./transform.ts and ./scaling.ts, stepped by ./core_step.ts (low-bit state: ./lowbit_state.ts).
 *
 *   const opt = adopt(1e-3);
 *   const state = opt.init(params);          // plain data: typed arrays and step counters
 *   opt.step(params, grads, state);          // params updated in place; grads untouched
 *   state.adopt.v                            // ADOPT's second moment
 *
 * One state per parameter array; a list or record of arrays (a tree, ./tree.ts) gets a state per array in
 * the same structure, and `step(tree, gradTree, stateTree)` steps them all, in one kernel call per pack:
 *
 *   const state = opt.init({ w, b });         // { w: state of w, b: state of b }
 *   opt.step({ w, b }, { w: gw, b: gb }, state);
 *
 * `step` runs a single-pass WebAssembly SIMD kernel (src/kernels) unless `fused: false`; the
 * chain of transformations is the reference it is tested against, and `update` always runs it.
 * With `fused`, `init` puts the moments of arrays of 64 K elements or more in a WebAssembly
 * memory of their own (still plain Float32Arrays), so the kernel updates them where they lie.
 */
import {
  ADAM_HYPERPARAMS,
  ADAMW_HYPERPARAMS,
  AMSGRAD_HYPERPARAMS,
  resolveAdam,
  resolveAdopt,
  type AdamHyperparams,
  type AdamOptions,
  type AdoptHyperparams,
  type AdoptOptions,
  type LearningRate,
} from '../hyperparams.js';
import { maxLearningRate } from '../schedules.js';
import { adamKernelArgs, adoptKernelArgs } from '../rules/scalars.js';
import { allocateResidentState, ArrayKernels } from '../kernels/array_kernels.js';
import { adamCall, adoptCall, kernelPlan } from '../codegen/modules.js';
import { flagsOf, type Rule } from '../rules/rule.js';
import { pickScaling } from '../rules/options.js';
import { ADOPT, ADOPT_OPTIONS } from '../rules/adopt.js';
import { ADAM, ADAM_OPTIONS } from '../rules/adam.js';
import { lowBitStep, stepSeed } from '../kernels/lowbit_arrays.js';
import { threadHooks } from '../kernels/thread_hooks.js'; // threads (core/threads.ts): the hooks marked "threads:"
import { lowBitFormat } from '../formats/state_formats.js';
import { buildCoreOptimizer, type CoreOptimizer, type FusedEntry, type FusedStep } from './core_step.js';
import { scaleByAdam, scaleByAdopt, type AdamState, type AdoptState } from './scaling.js';
import {
  addDecayedWeights,
  checkFloat32Array,
  namedChain,
  scale,
  scaleByLearningRate,
  type GradientTransformation,
  type LearningRateState,
} from './transform.js';

export type { LearningRate } from '../hyperparams.js';
export type { CoreOptimizer } from './core_step.js';
export {
  dequantizeState,
  quantizeState,
  type Bfloat16State,
  type Int4State,
  type Int8State,
  type LowBitState,
} from './lowbit_state.js';
import { lowBitTransform, type LowBitState } from './lowbit_state.js';

/** The state of core.adopt: its scaleByAdopt state, the decoupled decay\'s count (corrected decay), and the learning rate\'s count. */
export interface AdoptCoreState {
  adopt: AdoptState;
  /** {count} with correctedWeightDecay (§10.3), else null. */
  decoupledDecay?: LearningRateState | null;
  learningRate: LearningRateState;
}

/** The state of core.adam, adamw and amsgrad: its scaleByAdam state and the counts of its decay and learning rate. */
export interface AdamCoreState {
  adam: AdamState;
  /** {count} with correctedWeightDecay (§10.3), else null. */
  decoupledDecay?: LearningRateState | null;
  learningRate: LearningRateState;
}

/** The decoupled-decay piece of a preset: plain, or corrected (§10.3), or nothing. */
function decoupledDecayPiece(h: {
  decoupled: boolean;
  weightDecay: number;
  correctedWeightDecay: boolean;
  learningRate: LearningRate;
}) {
  if (!h.decoupled) return identity;
  return h.correctedWeightDecay
    ? addDecayedWeights(h.weightDecay, { correctedWeightDecay: true, learningRate: h.learningRate })
    : addDecayedWeights(h.weightDecay);
}

/** Advances the corrected decay's own count in a fused step, as the chain would. */
function advanceDecayCount(state: { decoupledDecay?: LearningRateState | null }): void {
  if (state.decoupledDecay != null) state.decoupledDecay.count++;
}

/** The learning rate at a step count (already validated by the chain's check). */
function rateAt(lr: LearningRate): (count: number) => number {
  return typeof lr === 'number' ? () => lr : lr;
}

const identity: GradientTransformation<null> = { init: () => null, update() {} };

/** The rules' kernel arguments as a phase call's scalars (their flags ride along, as the low-bit kernels read them). */
type Scalars = Record<string, number>;
const adoptScalars = (...a: Parameters<typeof adoptKernelArgs>) => adoptKernelArgs(...a) as unknown as Scalars;
const adamScalars = (...a: Parameters<typeof adamKernelArgs>) => adamKernelArgs(...a) as unknown as Scalars;

/** The float32 part of a core optimizer, declared: its rule, its piece of the chain, and the step's scalars. */
interface Float32Family {
  readonly owner: string;
  readonly rule: Rule;
  /** The chain member holding the rule's state (`state.adopt`, `state.adam`): the rule's slots and `t`. */
  readonly key: 'adopt' | 'adam';
  /** The rule as the chain's scaling piece (scaleByAdopt, scaleByAdam). */
  readonly piece: GradientTransformation<unknown>;
  /** The phase's float64 scalars (rules/scalars.ts) at the learning rate `lr` and the count `t` before the step. */
  scalars(lr: number, t: number): Record<string, number>;
}

/** The hyperparameters every float32 core optimizer reads (resolved by src/hyperparams.ts). */
interface Float32Hyperparams {
  learningRate: LearningRate;
  nonFinite: string;
  fused: boolean;
  maximize: boolean;
  decoupled: boolean;
  weightDecay: number;
  correctedWeightDecay: boolean;
}

/** The state every float32 core optimizer keeps beside its rule's: the counts of its decay and learning rate. */
interface Float32State {
  decoupledDecay?: LearningRateState | null;
  learningRate: LearningRateState;
}

/**
 * A core optimizer with float32 state built from its rule: the rule's slots (per its options) are the state's
 * arrays and the fused kernel's, its init phase runs at the first step where it has one; the chain
 * (sign, L2, the rule's piece, decoupled decay, learning rate; §3.4) is the reference `update` runs.
 */
/** threads: a low-bit phase across the threads where the state is theirs, else lowBitStep. */
const runLowBit: typeof lowBitStep = (call, p, g, s, seed) => {
  if (!threadHooks.current?.lowBit(call, p, g, s, seed)) lowBitStep(call, p, g, s, seed);
};

function float32Optimizer<H extends Float32Hyperparams, S extends Float32State>(
  h: H,
  family: Float32Family,
): CoreOptimizer<H, S> {
  const { owner, rule, key } = family;
  const flags = flagsOf(rule, h as unknown as Record<string, unknown>);
  const slots = rule.slots(flags);
  const plan = kernelPlan(rule, flags);
  const rate = rateAt(h.learningRate);
  type RuleArrays = Record<string, Float32Array> & { t: number };
  const stateOf = (state: S) => (state as unknown as Record<string, RuleArrays>)[key]!;
  const entryOf = (p: Float32Array, g: Float32Array, state: S) => {
    const s = stateOf(state);
    const t = s.t;
    const phase = t === 0 && plan.init !== undefined ? 'init' : 'step';
    const call = { plan, phase, scalars: family.scalars(rate(state.learningRate.count), t) } as const;
    const done = () => {
      s.t = t + 1; // after the kernel: a refusal there leaves the counter as it was
      advanceDecayCount(state);
      state.learningRate.count++;
    };
    return { entry: { call, p, g, slots: slots.map((n) => s[n]!) }, done };
  };
  // threads: a threaded state's leaf is not put in the one table call: fusedStep runs it across the threads
  const fusedEntry: FusedEntry<S> = (p, g, state) => {
    const row = entryOf(p, g, state);
    return threadHooks.current?.owns(row.entry.slots[0]) ? null : row;
  };
  const fusedStep: FusedStep<S> = (p, g, state) => {
    const k = ArrayKernels.get();
    if (k === null) return false;
    const row = entryOf(p, g, state);
    const arrays = [...row.entry.slots];
    if (!threadHooks.current?.float32(row.entry.call, p, g, arrays)) k.run(row.entry.call, p, g, arrays); // threads:
    row.done();
    return true;
  };
  const chain = namedChain({
    sign: h.maximize ? scale(-1) : identity,
    l2: h.decoupled ? identity : addDecayedWeights(h.weightDecay),
    [key]: family.piece,
    decoupledDecay: decoupledDecayPiece(h),
    learningRate: scaleByLearningRate(h.learningRate),
  }) as unknown as GradientTransformation<S>;
  const init = chain.init;
  chain.init = (params) => {
    checkFloat32Array(`${owner}.init`, 'params', params);
    const state = init(params);
    // large arrays in a WebAssembly memory of their own: the kernel updates them where they lie
    const resident = h.fused
      ? (threadHooks.current?.slots(params.length, slots.length) ?? allocateResidentState(params.length, slots.length))
      : null; // threads: shared state where they are on
    if (resident !== null) slots.forEach((n, i) => void (stateOf(state)[n] = resident[i]!));
    return state;
  };
  return buildCoreOptimizer(owner, h, chain, fusedStep, fusedEntry);
}

/** ADOPT as in the official implementation; see docs/ALGORITHM.md §2 (chain order: §3.4). */
export function adopt(
  learningRate?: LearningRate,
  options?: AdoptOptions,
): CoreOptimizer<AdoptHyperparams, AdoptCoreState> {
  const h = resolveAdopt('adopt', learningRate, options);
  const lr = h.learningRate;
  const rate = rateAt(lr);
  const lrMax = h.correctedWeightDecay ? maxLearningRate('adopt', lr) : 1;
  if (h.stateDtype !== 'float32') {
    const lowBitFused: FusedStep<AdoptCoreState> = (p, g, state) => {
      const s = state.adopt as unknown as LowBitState;
      const args = adoptKernelArgs(
        h,
        rate(state.learningRate.count),
        s.t > 0 && h.clip !== null ? h.clip(s.t) : Infinity,
        lrMax,
      );
      runLowBit(adoptCall(h, s.t === 0 ? 'init' : 'step', args), p, g, s, stepSeed(s.t));
      s.t++;
      advanceDecayCount(state);
      state.learningRate.count++;
      return true;
    };
    return buildCoreOptimizer(
      'adopt',
      h,
      lowBitTransform<AdoptCoreState>('adopt', 'adopt', h, h.clip, lowBitFormat(h.stateDtype)),
      lowBitFused,
    );
  }
  return float32Optimizer(h, {
    owner: 'adopt',
    rule: ADOPT,
    key: 'adopt',
    piece: scaleByAdopt(pickScaling(ADOPT_OPTIONS, h)),
    scalars: (lrNow, t) => adoptScalars(h, lrNow, t > 0 && h.clip !== null ? h.clip(t) : Infinity, lrMax),
  });
}

function adamFamily(
  owner: string,
  learningRate: LearningRate | undefined,
  options: AdamOptions | undefined,
  defaults: AdamHyperparams,
): CoreOptimizer<AdamHyperparams, AdamCoreState> {
  const h = resolveAdam(owner, learningRate, options, defaults);
  const lr = h.learningRate;
  const rate = rateAt(lr);
  const lrMax = h.correctedWeightDecay ? maxLearningRate(owner, lr) : 1;
  if (h.stateDtype !== 'float32') {
    const lowBitFused: FusedStep<AdamCoreState> = (p, g, state) => {
      const s = state.adam as unknown as LowBitState;
      runLowBit(adamCall(h, adamKernelArgs(h, rate(state.learningRate.count), s.t + 1, lrMax)), p, g, s, stepSeed(s.t));
      s.t++; // after the kernel: a refusal there leaves the counter as it was
      advanceDecayCount(state);
      state.learningRate.count++;
      return true;
    };
    return buildCoreOptimizer(
      owner,
      h,
      lowBitTransform<AdamCoreState>(owner, 'adam', h, null, lowBitFormat(h.stateDtype)),
      lowBitFused,
    );
  }
  return float32Optimizer(h, {
    owner,
    rule: ADAM,
    key: 'adam',
    piece: scaleByAdam(pickScaling(ADAM_OPTIONS, h)),
    scalars: (lrNow, t) => adamScalars(h, lrNow, t + 1, lrMax),
  });
}

/** Adam (PyTorch defaults: beta2 0.999, eps 1e-8, L2 weight decay 0). */
export function adam(learningRate?: LearningRate, options?: AdamOptions) {
  return adamFamily('adam', learningRate, options, ADAM_HYPERPARAMS);
}

/** AdamW (PyTorch defaults: decoupled weight decay 1e-2). */
export function adamw(learningRate?: LearningRate, options?: AdamOptions) {
  return adamFamily('adamw', learningRate, options, ADAMW_HYPERPARAMS);
}

/** AMSGrad (PyTorch's `Adam(amsgrad=True)`). */
export function amsgrad(learningRate?: LearningRate, options?: AdamOptions) {
  return adamFamily('amsgrad', learningRate, options, AMSGRAD_HYPERPARAMS);
}
