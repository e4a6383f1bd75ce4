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
import {
  ADAM_HYPERPARAMS, ADAMW_HYPERPARAMS, AMSGRAD_HYPERPARAMS, resolveAdam, resolveAdopt,
  type AdamHyperparams, type AdamOptions, type AdoptHyperparams, type AdoptOptions, type LearningRate,
} from '../hyperparams.js';
import { NonFiniteGradientError, OptimizerArgumentError } from '../validate.js';
import { adamKernelArgs, adoptKernelArgs } from '../kernels/args.js';
import { allocateResidentState, ArrayKernels } from '../kernels/array_kernels.js';
import {
  addDecayedWeights, applyUpdates, checkFloat32Array, namedChain, scale, scaleByAdam, scaleByAdopt, scaleByLearningRate,
  type AdamState, type AdoptState, type GradientTransformation, type LearningRateState,
} from './transform.js';

export type { LearningRate } from '../hyperparams.js';

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

export interface AdoptCoreState {
  adopt: AdoptState;
  learningRate: LearningRateState;
}

export interface AdamCoreState {
  adam: AdamState;
  learningRate: LearningRateState;
}

/** A single-pass step with the same effect on params and state as the chain; false if unavailable. */
type FusedStep<S> = (params: Float32Array, grads: Float32Array, state: S) => boolean;

function build<H extends { nonFinite: string; fused: boolean }, S>(
  name: string, hyperparams: H, transform: GradientTransformation<S>, fusedStep: FusedStep<S>,
): CoreOptimizer<H, S> {
  let scratch = new Float32Array(0); // grown once, reused: no allocation per step
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
      if (hyperparams.nonFinite !== 'off' && !(kernels !== null && kernels.allFinite(grads))) {
        for (let i = 0; i < grads.length; i++) {
          if (!Number.isFinite(grads[i]!)) {
            if (hyperparams.nonFinite === 'skip') return false;
            throw new NonFiniteGradientError(
              `${name}.step: the gradient holds ${grads[i]} at index ${i} (step ${steps}); ` +
                "parameters and state were left unchanged. Pass nonFinite: 'skip' to skip such steps.",
              'params', steps,
            );
          }
        }
      }
      if (kernels !== null) {
        transform.check?.(state, params, grads); // a state made for other params, a bad schedule value
        if (fusedStep(params, grads, state)) {
          steps++;
          return true;
        }
      }
      // the chain's update runs the same checks on every member before any changes its state
      if (scratch.length < grads.length) scratch = new Float32Array(grads.length);
      const updates = scratch.subarray(0, grads.length);
      updates.set(grads);
      transform.update(updates, state, params, { noUpdate: false });
      applyUpdates(params, updates);
      steps++;
      return true;
    },
  };
}

/** The learning rate at a step count (already validated by the chain's check). */
function rateAt(lr: LearningRate): (count: number) => number {
  return typeof lr === 'number' ? () => lr : lr;
}

const identity: GradientTransformation<null> = { init: () => null, update() {} };

/** ADOPT as in the official implementation; see docs/ALGORITHM.md §2 (chain order: §3.4). */
export function adopt(
  learningRate?: LearningRate, options?: AdoptOptions,
): CoreOptimizer<AdoptHyperparams, AdoptCoreState> {
  const h = resolveAdopt('adopt', learningRate, options);
  const lr = h.learningRate;
  const rate = rateAt(lr);
  const fusedStep: FusedStep<AdoptCoreState> = (p, g, state) => {
    const k = ArrayKernels.get();
    if (k === null) return false;
    const s = state.adopt;
    const args = adoptKernelArgs(h, rate(state.learningRate.count), s.t > 0 && h.clip !== null ? h.clip(s.t) : Infinity);
    if (s.t === 0) k.adoptInit(p, g, s.v, args);
    else k.adoptStep(p, g, s.m, s.v, args);
    s.t++;
    state.learningRate.count++;
    return true;
  };
  const chain = namedChain({
    sign: h.maximize ? scale(-1) : identity,
    l2: h.decoupled ? identity : addDecayedWeights(h.weightDecay),
    adopt: scaleByAdopt({ beta1: h.beta1, beta2: h.beta2, epsilon: h.epsilon, clip: h.clip }),
    decoupledDecay: h.decoupled ? addDecayedWeights(h.weightDecay) : identity,
    learningRate: scaleByLearningRate(lr),
  });
  const init = chain.init;
  chain.init = (params) => {
    checkFloat32Array('adopt.init', 'params', params);
    const state = init(params);
    const resident = h.fused ? allocateResidentState(params.length, 2) : null;
    if (resident !== null) [state.adopt.m, state.adopt.v] = resident as [Float32Array, Float32Array];
    return state;
  };
  return build('adopt', h, chain, fusedStep);
}

function adamFamily(
  owner: string, learningRate: LearningRate | undefined, options: AdamOptions | undefined,
  defaults: AdamHyperparams,
): CoreOptimizer<AdamHyperparams, AdamCoreState> {
  const h = resolveAdam(owner, learningRate, options, defaults);
  const lr = h.learningRate;
  const rate = rateAt(lr);
  const fusedStep: FusedStep<AdamCoreState> = (p, g, state) => {
    const k = ArrayKernels.get();
    if (k === null) return false;
    const s = state.adam;
    s.t++;
    k.adamStep(p, g, s.m, s.v, s.vmax ?? null, adamKernelArgs(h, rate(state.learningRate.count), s.t));
    state.learningRate.count++;
    return true;
  };
  const chain = namedChain({
    sign: h.maximize ? scale(-1) : identity,
    l2: h.decoupled ? identity : addDecayedWeights(h.weightDecay),
    adam: scaleByAdam({ beta1: h.beta1, beta2: h.beta2, epsilon: h.epsilon, amsgrad: h.amsgrad }),
    decoupledDecay: h.decoupled ? addDecayedWeights(h.weightDecay) : identity,
    learningRate: scaleByLearningRate(lr),
  });
  const init = chain.init;
  chain.init = (params) => {
    checkFloat32Array(`${owner}.init`, 'params', params);
    const state = init(params);
    const resident = h.fused ? allocateResidentState(params.length, h.amsgrad ? 3 : 2) : null;
    if (resident !== null) {
      [state.adam.m, state.adam.v] = resident as [Float32Array, Float32Array];
      if (h.amsgrad) state.adam.vmax = resident[2]!;
    }
    return state;
  };
  return build(owner, h, chain, fusedStep);
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
