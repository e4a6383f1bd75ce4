/**
 * Ready-made optimizers of the framework-free core, each a named chain of the pieces in
 * ./transform.ts.
 *
 *   const opt = adopt(1e-3);
 *   const state = opt.init(params);          // plain data: typed arrays and step counters
 *   opt.step(params, grads, state);          // params updated in place; grads untouched
 *   state.adopt.v                            // ADOPT's second moment
 *
 * One state per parameter array: keep a state for each array you optimise.
 *
 * `step` runs a single-pass WebAssembly SIMD kernel (src/kernels) unless `fused: false`; the
 * chain of transformations is the reference it is tested against, and `update` always runs it.
 * With `fused`, `init` puts the moments of arrays of 64 K elements or more in a WebAssembly
 * memory of their own (still plain Float32Arrays), so the kernel updates them where they lie.
 */
import { clipInto, clips, normScales, sumOfSquares, type GradientClipping } from '../gradient_clipping.js';
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
import { gradientInRange, NonFiniteGradientError, OptimizerArgumentError } from '../validate.js';
import { maxLearningRate } from '../schedules.js';
import { adamKernelArgs, adoptKernelArgs } from '../rules/scalars.js';
import { allocateResidentState, ArrayKernels } from '../kernels/array_kernels.js';
import { adamCall, adoptCall, kernelPlan } from '../codegen/modules.js';
import { flagsOf, type Rule } from '../rules/rule.js';
import { pickScaling } from '../rules/options.js';
import { ADOPT, ADOPT_OPTIONS } from '../rules/adopt.js';
import { ADAM, ADAM_OPTIONS } from '../rules/adam.js';
import {
  allocateMoments,
  dequantizeMoments,
  lowBitStep,
  momentsLength,
  momentsFormat,
  quantizeMoments,
  stepSeed,
  type Int4Moments,
  type Int8Moments,
} from '../kernels/lowbit_arrays.js';
import { codeBytes, lowBitFormat, paddedLength, type LowBitFormat } from '../formats/state_formats.js';
import { learningRateAt } from '../schedules.js';
import { checkClipValue } from '../validate.js';
import { checkMomentArrays, checkMomentValues } from './convert_checks.js';
import {
  addDecayedWeights,
  applyUpdates,
  checkFloat32Array,
  namedChain,
  scale,
  scaleByAdam,
  scaleByAdopt,
  scaleByLearningRate,
  type AdamState,
  type AdoptState,
  type GradientTransformation,
  type LearningRateState,
} from './transform.js';

export type { LearningRate } from '../hyperparams.js';

/** A core optimizer: a GradientTransformation with its resolved hyperparameters and `step`, which updates params in place (fused where it can). */
export interface CoreOptimizer<H, S> extends GradientTransformation<S> {
  /** The resolved hyperparameters. */
  readonly hyperparams: H;
  /**
   * One step in place on `params`; `grads` is not modified. Checks the lengths and, unless
   * `nonFinite` is 'off', that every gradient is finite, before changing anything.
   * Returns false when the step was skipped (`nonFinite: 'skip'` and a non-finite gradient).
   */
  step(params: Float32Array, grads: Float32Array, state: S): boolean;
}

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

/**
 * The 8-bit state of one array (docs/ALGORITHM.md §11): codes of m and of sqrt(v) with one float32
 * scale per block of 256, in place of the Float32Arrays m and v. `state.adopt` / `state.adam` of
 * an optimizer made with `stateDtype: 'int8'` has this type.
 */
export interface Int8State extends Int8Moments {
  t: number;
}

/**
 * The 4-bit state of one array (docs/ALGORITHM.md §12): packed codes of m and of sqrt(v), two per
 * byte, with one float32 scale per block of 128. `state.adopt` / `state.adam` of an optimizer made
 * with `stateDtype: 'int4'` has this type.
 */
export interface Int4State extends Int4Moments {
  t: number;
}

/**
 * The bfloat16 state of one array (docs/ALGORITHM.md §13): the 16-bit codes of m and of v (the upper halves of
 * their float32s), two little-endian bytes per element, no scales (`mScale`, `vScale` are empty).
 * `state.adopt` / `state.adam` of an optimizer made with `stateDtype: 'bfloat16'` has this type.
 */
export interface Bfloat16State {
  qm: Uint8Array;
  qv: Uint8Array;
  mScale: Float32Array;
  vScale: Float32Array;
  t: number;
}

/** 8-bit, 4-bit or bfloat16 state. */
export type LowBitState = Int8State | Int4State | Bfloat16State;

function describeKind(value: unknown): string {
  return value === null || typeof value !== 'object'
    ? String(value)
    : `an object with keys ${Object.keys(value).join(', ')}`;
}

/** The transformation of an optimizer with low-bit state: init and check; `update` (the chain) is refused. */
function lowBitTransform<S extends { learningRate: LearningRateState; decoupledDecay?: LearningRateState | null }>(
  owner: string,
  key: 'adopt' | 'adam',
  h: { learningRate: LearningRate; correctedWeightDecay: boolean },
  clip: ((t: number) => number) | null,
  format: LowBitFormat,
): GradientTransformation<S> {
  const bits = `${format.bits}-bit`;
  const check = (state: S, params: Float32Array, updates?: Float32Array): void => {
    const s = (state as Record<string, unknown> | null)?.[key] as Partial<LowBitState> | undefined;
    const ok =
      s !== undefined &&
      s !== null &&
      s.qm instanceof (format.bits === 8 ? Int8Array : Uint8Array) &&
      s.qv instanceof Uint8Array &&
      s.mScale instanceof Float32Array &&
      s.vScale instanceof Float32Array &&
      Number.isInteger(s.t) &&
      s.t! >= 0 &&
      typeof state.learningRate?.count === 'number';
    if (!ok) {
      throw new OptimizerArgumentError(
        `${owner}: invalid state.${key} ${describeKind(s)}; expected the ${bits} state that init made ({qm, qv, mScale, vScale, t}).`,
      );
    }
    const made = momentsFormat(s as LowBitState);
    if (made !== undefined && made !== format) {
      throw new OptimizerArgumentError(
        `${owner}: state.${key} holds ${made.bits}-bit state; this optimizer keeps ${bits} state. Nothing was changed.`,
      );
    }
    const length = updates?.length ?? params.length;
    // the exact length where init made the state (the padded code count alone admits up to 15 more elements)
    const madeFor = momentsLength(s as LowBitState);
    if (
      s.qm!.length !== codeBytes(format, paddedLength(format, length)) ||
      (madeFor !== undefined && madeFor !== length)
    ) {
      throw new OptimizerArgumentError(
        `${owner}: the gradient has length ${length} but the ${bits} state was made for ${madeFor ?? `about ${(s.qm!.length * 8) / format.bits}`} elements; ` +
          'pass the state that init made for these params. Nothing was changed.',
      );
    }
    learningRateAt(owner, h.learningRate, state.learningRate.count);
    if (key === 'adopt' && s.t! > 0 && clip !== null) checkClipValue(owner, clip(s.t!), s.t!);
  };
  return {
    init(params) {
      checkFloat32Array(`${owner}.init`, 'params', params);
      const moments = allocateMoments(format, params.length);
      if (moments === null) {
        throw new OptimizerArgumentError(
          `${owner}.init: stateDtype '${format.dtype}' needs WebAssembly SIMD, which is not available here.`,
        );
      }
      return {
        [key]: { ...moments, t: 0 },
        decoupledDecay: h.correctedWeightDecay ? { count: 0 } : null,
        learningRate: { count: 0 },
      } as unknown as S;
    },
    update() {
      throw new OptimizerArgumentError(
        `${owner}.update: the chain of transformations works on float32 state; with stateDtype '${format.dtype}' call step(params, grads, state).`,
      );
    },
    check,
  };
}

/** The format of a low-bit state made by init, or a clear refusal. */
function formatOfState(owner: string, s: LowBitState): LowBitFormat {
  const f = momentsFormat(s);
  if (f === undefined)
    throw new OptimizerArgumentError(
      `${owner}: the low-bit state was not made by an optimizer's init (its arrays must stay the ones init returned).`,
    );
  return f;
}

/**
 * Loads float32 moments into low-bit state (§11.4, §12.4), e.g. to continue a float32 run with
 * `stateDtype: 'int8'` or `'int4'`: `from` is `state.adopt` / `state.adam` of a float32 optimizer,
 * `to` the one of a low-bit optimizer's `init` for the same params. m and sqrt(v) are rounded to
 * the nearest code; a non-zero v never decodes to 0. The step count is copied.
 */
export function quantizeState(from: { m: Float32Array; v: Float32Array; t: number }, to: LowBitState): void {
  const f = formatOfState('quantizeState', to);
  const { m, v } = checkMomentArrays('quantizeState', 'from', from, momentsLength(to)!, f.bits);
  checkMomentValues('quantizeState', m, v);
  quantizeMoments(m, v, to, f);
  to.t = from.t;
}

/** The reverse of quantizeState (§11.4, §12.4): writes the de-quantised m and v and the step count into `to`. */
export function dequantizeState(from: LowBitState, to: { m: Float32Array; v: Float32Array; t: number }): void {
  const f = formatOfState('dequantizeState', from);
  checkMomentArrays('dequantizeState', 'to', to, momentsLength(from)!, f.bits);
  const { m, v } = dequantizeMoments(from, to.m.length, f);
  to.m.set(m);
  to.v.set(v);
  to.t = from.t;
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

/** A single-pass step with the same effect on params and state as the chain; false if unavailable. */
type FusedStep<S> = (params: Float32Array, grads: Float32Array, state: S) => boolean;

function build<H extends { nonFinite: string; fused: boolean }, S>(
  name: string,
  hyperparams: H,
  transform: GradientTransformation<S>,
  fusedStep: FusedStep<S>,
): CoreOptimizer<H, S> {
  let scratch = new Float32Array(0); // grown once, reused: no allocation per step
  let clipScratch = new Float32Array(0);
  let steps = 0;
  return {
    hyperparams,
    init: transform.init,
    update: transform.update,
    ...(transform.check ? { check: transform.check } : {}),
    step(params, grads, state) {
      checkFloat32Array(`${name}.step`, 'params', params);
      checkFloat32Array(`${name}.step`, 'grads', grads);
      if (params.length !== grads.length) {
        throw new OptimizerArgumentError(
          `${name}.step: grads has length ${grads.length} but params has length ${params.length}.`,
        );
      }
      const kernels = hyperparams.fused ? ArrayKernels.get() : null;
      if (hyperparams.nonFinite !== 'off' && !kernels?.allFinite(grads)) {
        for (let i = 0; i < grads.length; i++) {
          if (!gradientInRange(grads[i]!)) {
            if (hyperparams.nonFinite === 'skip') return false;
            throw new NonFiniteGradientError(
              `${name}.step: the gradient holds ${grads[i]} at index ${i} (step ${steps}); ` +
                "parameters and state were left unchanged. Pass nonFinite: 'skip' to skip such steps.",
              'params',
              steps,
            );
          }
        }
      }
      // gradient clipping (src/gradient_clipping.ts) into an array of its own: grads are never written. One array
      // per step here, so globalClipnorm clips as clipnorm does.
      let g = grads;
      const clipping = clippingOf(hyperparams);
      if (clips(clipping)) {
        transform.check?.(state, params, grads); // before anything is computed
        if (clipScratch.length < grads.length) clipScratch = new Float32Array(grads.length);
        g = clipScratch.subarray(0, grads.length);
        clipInto(g, grads, clipping, normScales(clipping, [sumOfSquares(grads)])[0]!);
      }
      if (kernels !== null) {
        transform.check?.(state, params, g); // a state made for other params, a bad schedule value
        if (fusedStep(params, g, state)) {
          steps++;
          return true;
        }
      }
      // the chain's update runs the same checks on every member before any changes its state
      if (scratch.length < grads.length) scratch = new Float32Array(grads.length);
      const updates = scratch.subarray(0, grads.length);
      updates.set(g);
      transform.update(updates, state, params, { noUpdate: false });
      applyUpdates(params, updates);
      steps++;
      return true;
    },
  };
}

/** The clipping options of resolved hyperparameters (src/gradient_clipping.ts). */
function clippingOf(h: object): Required<GradientClipping> {
  const o = h as GradientClipping;
  return { clipnorm: o.clipnorm ?? null, clipvalue: o.clipvalue ?? null, globalClipnorm: o.globalClipnorm ?? null };
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
  const fusedStep: FusedStep<S> = (p, g, state) => {
    const k = ArrayKernels.get();
    if (k === null) return false;
    const s = stateOf(state);
    const t = s.t;
    const phase = t === 0 && plan.init !== undefined ? 'init' : 'step';
    k.run(
      { plan, phase, scalars: family.scalars(rate(state.learningRate.count), t) },
      p,
      g,
      slots.map((n) => s[n]!),
    );
    s.t = t + 1; // after the kernel: a refusal there leaves the counter as it was
    advanceDecayCount(state);
    state.learningRate.count++;
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
    const resident = h.fused ? allocateResidentState(params.length, slots.length) : null;
    if (resident !== null) slots.forEach((n, i) => void (stateOf(state)[n] = resident[i]!));
    return state;
  };
  return build(owner, h, chain, fusedStep);
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
      lowBitStep(adoptCall(h, s.t === 0 ? 'init' : 'step', args), p, g, s, stepSeed(s.t));
      s.t++;
      advanceDecayCount(state);
      state.learningRate.count++;
      return true;
    };
    return build(
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
      lowBitStep(
        adamCall(h, adamKernelArgs(h, rate(state.learningRate.count), s.t + 1, lrMax)),
        p,
        g,
        s,
        stepSeed(s.t),
      );
      s.t++; // after the kernel: a refusal there leaves the counter as it was
      advanceDecayCount(state);
      state.learningRate.count++;
      return true;
    };
    return build(
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
