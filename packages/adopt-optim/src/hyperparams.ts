/**
 * Options, defaults and validation for every optimizer, shared by the framework-free core
 * (`src/core`) and the TensorFlow.js optimizers (`src/tfjs`), so both reject the same inputs
 * with the same messages.
 */
import { defaultClip, type ClipSchedule } from './clip.js';
import { learningRateAt, type Schedule } from './schedules.js';
import {
  checkBeta, checkBoolean, checkClipSchedule, checkKnownKeys, checkNonNegative, checkOneOf,
  OptimizerArgumentError,
} from './validate.js';

/** What to do when a gradient holds NaN or Infinity. */
export type NonFinitePolicy = 'throw' | 'skip' | 'off';
export const NON_FINITE_POLICIES: readonly NonFinitePolicy[] = ['throw', 'skip', 'off'];

export interface AdoptOptions {
  /** Momentum coefficient. Default 0.9. */
  beta1?: number;
  /** Second-moment coefficient. Default 0.9999 (not Adam's 0.999). */
  beta2?: number;
  /** Floor on sqrt(v), not an addend. Default 1e-6. */
  epsilon?: number;
  /** Weight decay. Default 0. */
  weightDecay?: number;
  /** true: AdamW-style decoupled decay; false: L2 added to the gradient. Default false. */
  decoupled?: boolean;
  /** Clip schedule c(t); null gives the unclipped ADOPT. Default t => t ** 0.25. */
  clip?: ClipSchedule | null;
  /** Maximize the objective instead of minimizing it. Default false. */
  maximize?: boolean;
  /** NaN or Infinity in a gradient: throw (default), skip the whole step, or do not check. */
  nonFinite?: NonFinitePolicy;
  /** Use the single-pass kernels where available (wasm and cpu backends, the core). Default true. */
  fused?: boolean;
}

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  /** Added to sqrt(v̂). */
  epsilon?: number;
  weightDecay?: number;
  decoupled?: boolean;
  maximize?: boolean;
  nonFinite?: NonFinitePolicy;
  fused?: boolean;
}

/** A learning rate: a number, or a schedule (a function of the step: 0, 1, 2, ...). */
export type LearningRate = number | Schedule;

export interface AdoptHyperparams {
  learningRate: LearningRate;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  decoupled: boolean;
  clip: ClipSchedule | null;
  maximize: boolean;
  nonFinite: NonFinitePolicy;
  fused: boolean;
}

export interface AdamHyperparams {
  learningRate: LearningRate;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  decoupled: boolean;
  /** Divide by the running maximum of v (AMSGrad). */
  amsgrad: boolean;
  maximize: boolean;
  nonFinite: NonFinitePolicy;
  fused: boolean;
}

export const ADOPT_DEFAULTS = {
  learningRate: 1e-3, beta1: 0.9, beta2: 0.9999, epsilon: 1e-6, weightDecay: 0,
  decoupled: false, clip: defaultClip, maximize: false, nonFinite: 'throw', fused: true,
} as const satisfies AdoptHyperparams;

/** PyTorch's defaults: `torch.optim.Adam`, `AdamW` and `Adam(amsgrad=True)`. */
export const ADAM_DEFAULTS = {
  learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0,
  decoupled: false, amsgrad: false, maximize: false, nonFinite: 'throw', fused: true,
} as const satisfies AdamHyperparams;
export const ADAMW_DEFAULTS = { ...ADAM_DEFAULTS, weightDecay: 1e-2, decoupled: true } as const;
export const AMSGRAD_DEFAULTS = { ...ADAM_DEFAULTS, amsgrad: true } as const;

const ADOPT_KEYS = ['beta1', 'beta2', 'epsilon', 'weightDecay', 'decoupled', 'clip', 'maximize', 'nonFinite', 'fused'];
const ADAM_KEYS = ['beta1', 'beta2', 'epsilon', 'weightDecay', 'decoupled', 'maximize', 'nonFinite', 'fused'];

function checkOptionsObject(owner: string, options: unknown): Record<string, unknown> {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new OptimizerArgumentError(`${owner}: invalid options ${String(options)}; expected an object.`);
  }
  return options as Record<string, unknown>;
}

function pick<T>(options: Record<string, unknown>, key: string, fallback: T): unknown {
  return options[key] === undefined ? fallback : options[key];
}

/** A number >= 0, or a schedule whose value at step 0 is one. */
export function checkLearningRate(owner: string, learningRate: unknown): LearningRate {
  if (typeof learningRate === 'function') {
    learningRateAt(owner, learningRate as Schedule, 0);
    return learningRate as Schedule;
  }
  return checkNonNegative(owner, 'learningRate', learningRate);
}

export function resolveAdopt(owner: string, learningRate: unknown, options?: AdoptOptions): AdoptHyperparams {
  const o = checkOptionsObject(owner, options);
  checkKnownKeys(owner, o, ADOPT_KEYS);
  const d = ADOPT_DEFAULTS;
  return {
    learningRate: checkLearningRate(owner, learningRate === undefined ? d.learningRate : learningRate),
    beta1: checkBeta(owner, 'beta1', pick(o, 'beta1', d.beta1)),
    beta2: checkBeta(owner, 'beta2', pick(o, 'beta2', d.beta2)),
    epsilon: checkNonNegative(owner, 'epsilon', pick(o, 'epsilon', d.epsilon)),
    weightDecay: checkNonNegative(owner, 'weightDecay', pick(o, 'weightDecay', d.weightDecay)),
    decoupled: checkBoolean(owner, 'decoupled', pick(o, 'decoupled', d.decoupled)),
    clip: checkClipSchedule(owner, pick(o, 'clip', d.clip)),
    maximize: checkBoolean(owner, 'maximize', pick(o, 'maximize', d.maximize)),
    nonFinite: checkOneOf(owner, 'nonFinite', pick(o, 'nonFinite', d.nonFinite), NON_FINITE_POLICIES),
    fused: checkBoolean(owner, 'fused', pick(o, 'fused', d.fused)),
  };
}

export function resolveAdam(
  owner: string, learningRate: unknown, options: AdamOptions | undefined,
  defaults: AdamHyperparams,
): AdamHyperparams {
  const o = checkOptionsObject(owner, options);
  checkKnownKeys(owner, o, ADAM_KEYS);
  const d = defaults;
  return {
    learningRate: checkLearningRate(owner, learningRate === undefined ? d.learningRate : learningRate),
    beta1: checkBeta(owner, 'beta1', pick(o, 'beta1', d.beta1)),
    beta2: checkBeta(owner, 'beta2', pick(o, 'beta2', d.beta2)),
    epsilon: checkNonNegative(owner, 'epsilon', pick(o, 'epsilon', d.epsilon)),
    weightDecay: checkNonNegative(owner, 'weightDecay', pick(o, 'weightDecay', d.weightDecay)),
    decoupled: checkBoolean(owner, 'decoupled', pick(o, 'decoupled', d.decoupled)),
    amsgrad: d.amsgrad,
    maximize: checkBoolean(owner, 'maximize', pick(o, 'maximize', d.maximize)),
    nonFinite: checkOneOf(owner, 'nonFinite', pick(o, 'nonFinite', d.nonFinite), NON_FINITE_POLICIES),
    fused: checkBoolean(owner, 'fused', pick(o, 'fused', d.fused)),
  };
}
