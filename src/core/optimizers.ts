/**
 * Ready-made optimizers of the framework-free core, each a chain of the pieces in ./transform.ts.
 *
 *   const opt = adopt(1e-3);
 *   const state = opt.init(params);          // plain data: typed arrays and step counters
 *   opt.step(params, grads, state);          // params updated in place; grads untouched
 *
 * One state per parameter array: keep a state for each array you optimise.
 */
import {
  ADAM_DEFAULTS, ADAMW_DEFAULTS, AMSGRAD_DEFAULTS, resolveAdam, resolveAdopt,
  type AdamHyperparams, type AdamOptions, type AdoptHyperparams, type AdoptOptions,
} from '../hyperparams.js';
import { NonFiniteGradientError, OptimizerArgumentError } from '../validate.js';
import {
  addDecayedWeights, applyUpdates, chain, scale, scaleByAdam, scaleByAdopt, scaleByLearningRate,
  type GradientTransformation,
} from './transform.js';

/** Options of the core optimizers: the tfjs options, and the learning rate may be a schedule. */
export type LearningRate = number | ((step: number) => number);

export interface CoreOptimizer<H> extends GradientTransformation<unknown[]> {
  /** The resolved hyperparameters. */
  readonly hyperparams: H;
  /**
   * One step in place on `params`. `grads` is not modified. Checks shapes and, unless
   * `nonFinite` is 'off', that every gradient is finite, before changing anything.
   * Returns false when the step was skipped (`nonFinite: 'skip'` and a non-finite gradient).
   */
  step(params: Float32Array, grads: Float32Array, state: unknown[]): boolean;
}

function build<H extends { nonFinite: string }>(
  name: string, hyperparams: H, transform: GradientTransformation<unknown[]>,
): CoreOptimizer<H> {
  let scratch = new Float32Array(0);
  let steps = 0;
  return {
    hyperparams,
    init: transform.init,
    update: transform.update,
    step(params, grads, state) {
      if (!(params instanceof Float32Array) || !(grads instanceof Float32Array)) {
        throw new OptimizerArgumentError(`${name}.step: params and grads must be Float32Arrays.`);
      }
      if (params.length !== grads.length) {
        throw new OptimizerArgumentError(
          `${name}.step: grads has length ${grads.length} but params has length ${params.length}.`,
        );
      }
      if (hyperparams.nonFinite !== 'off') {
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

function withLearningRate<H extends { learningRate: number }>(
  learningRate: LearningRate | undefined, resolve: (lr: number | undefined) => H,
): { hyperparams: H; lr: LearningRate } {
  if (typeof learningRate === 'function') return { hyperparams: resolve(undefined), lr: learningRate };
  const hyperparams = resolve(learningRate); // rejects anything but a number >= 0
  return { hyperparams, lr: hyperparams.learningRate };
}

/** ADOPT as in the official implementation; see ALGORITHM.md. */
export function adopt(learningRate?: LearningRate, options?: AdoptOptions): CoreOptimizer<AdoptHyperparams> {
  const { hyperparams: h, lr } = withLearningRate(learningRate, (l) => resolveAdopt('adopt', l, options));
  const parts: GradientTransformation<any>[] = [];
  if (h.maximize) parts.push(scale(-1));
  if (!h.decoupled) parts.push(addDecayedWeights(h.weightDecay));
  parts.push(scaleByAdopt(h));
  if (h.decoupled) parts.push(addDecayedWeights(h.weightDecay));
  parts.push(scaleByLearningRate(lr));
  return build('adopt', h, chain(...parts));
}

function adamFamily(
  owner: string, learningRate: LearningRate | undefined, options: AdamOptions | undefined,
  defaults: AdamHyperparams,
): CoreOptimizer<AdamHyperparams> {
  const { hyperparams: h, lr } = withLearningRate(learningRate, (l) => resolveAdam(owner, l, options, defaults));
  const parts: GradientTransformation<any>[] = [];
  if (h.maximize) parts.push(scale(-1));
  if (!h.decoupled) parts.push(addDecayedWeights(h.weightDecay));
  parts.push(scaleByAdam(h));
  if (h.decoupled) parts.push(addDecayedWeights(h.weightDecay));
  parts.push(scaleByLearningRate(lr));
  return build(owner, h, chain(...parts));
}

/** Adam (PyTorch defaults: beta2 0.999, eps 1e-8, L2 weight decay 0). */
export function adam(learningRate?: LearningRate, options?: AdamOptions): CoreOptimizer<AdamHyperparams> {
  return adamFamily('adam', learningRate, options, ADAM_DEFAULTS);
}

/** AdamW (PyTorch defaults: decoupled weight decay 1e-2). */
export function adamw(learningRate?: LearningRate, options?: AdamOptions): CoreOptimizer<AdamHyperparams> {
  return adamFamily('adamw', learningRate, options, ADAMW_DEFAULTS);
}

/** AMSGrad (PyTorch's `Adam(amsgrad=True)`). */
export function amsgrad(learningRate?: LearningRate, options?: AdamOptions): CoreOptimizer<AdamHyperparams> {
  return adamFamily('amsgrad', learningRate, options, AMSGRAD_DEFAULTS);
}
