/**
 * Options, defaults and validation for every optimizer, shared by the framework-free core
 * (`src/core`) and the TensorFlow.js optimizers (`src/tfjs`), so both reject the same inputs
 * with the same messages.
 */
import { defaultClip, type ClipSchedule } from './clip.js';
import { learningRateAt, maxLearningRate, type Schedule } from './schedules.js';
import {
  checkBeta, checkBoolean, checkClipSchedule, checkKnownKeys, checkNonNegative, checkOneOf, checkPositive,
  OptimizerArgumentError,
} from './validate.js';

/** What to do when a gradient holds NaN or Infinity. */
export type NonFinitePolicy = 'throw' | 'skip' | 'off';
export const NON_FINITE_POLICIES: readonly NonFinitePolicy[] = ['throw', 'skip', 'off'];

/** How m and v are stored: float32, or block-wise 8-bit codes with a float32 scale per 256 (§11). */
export type StateDtype = 'float32' | 'int8';
export const STATE_DTYPES: readonly StateDtype[] = ['float32', 'int8'];

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
  /** optax's Nesterov form: update with b1 * m + (1 - b1) * n instead of m (docs/ALGORITHM.md §10.1). Default false. */
  nesterov?: boolean;
  /** timm's cautious update: zero it where m * g <= 0, rescale by 1 / max(mean(mask), 1e-3) per tensor (§10.2). Default false. */
  caution?: boolean;
  /** timm's corrected decoupled decay: lr² / lrMax in place of lr (§10.3); needs `decoupled: true`. Default false. */
  correctedWeightDecay?: boolean;
  /** 'int8': m and sqrt(v) in block-wise 8-bit codes, ~2 bytes per parameter instead of 8 (§11). Default 'float32'. */
  stateDtype?: StateDtype;
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
  /** timm's cautious update (docs/ALGORITHM.md §10.2). Default false. */
  caution?: boolean;
  /** timm's corrected decoupled decay, lr² / lrMax (§10.3); needs `decoupled: true`. Default false. */
  correctedWeightDecay?: boolean;
  /** 'int8': block-wise 8-bit m and sqrt(v) (§11; Adam and AdamW, not AMSGrad). Default 'float32'. */
  stateDtype?: StateDtype;
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
  nesterov: boolean;
  caution: boolean;
  correctedWeightDecay: boolean;
  stateDtype: StateDtype;
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
  caution: boolean;
  correctedWeightDecay: boolean;
  stateDtype: StateDtype;
}

/** The learning rate every optimizer here uses when none is given (PyTorch's Adam default). */
export const DEFAULT_LEARNING_RATE = 1e-3;

/*
 * The published defaults hold exactly the keys of the options object (the learning rate is the
 * positional argument, see DEFAULT_LEARNING_RATE; AMSGrad is a separate optimizer, not an
 * option), so `adopt(1e-3, {...ADOPT_DEFAULTS, beta2: 0.99})` is a valid call.
 * `satisfies Required<...>` keeps the two in step: a default for every option, and no other key.
 */
export const ADOPT_DEFAULTS = {
  beta1: 0.9, beta2: 0.9999, epsilon: 1e-6, weightDecay: 0,
  decoupled: false, clip: defaultClip, maximize: false, nonFinite: 'throw', fused: true,
  nesterov: false, caution: false, correctedWeightDecay: false, stateDtype: 'float32',
} as const satisfies Required<AdoptOptions>;

/** PyTorch's defaults: `torch.optim.Adam`, `AdamW` and `Adam(amsgrad=True)`. */
export const ADAM_DEFAULTS = {
  beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0,
  decoupled: false, maximize: false, nonFinite: 'throw', fused: true,
  caution: false, correctedWeightDecay: false, stateDtype: 'float32',
} as const satisfies Required<AdamOptions>;
export const ADAMW_DEFAULTS = { ...ADAM_DEFAULTS, weightDecay: 1e-2, decoupled: true } as const;
export const AMSGRAD_DEFAULTS = { ...ADAM_DEFAULTS } as const;

/** The full hyperparameters of the Adam family's three members (internal: not options). */
export const ADAM_HYPERPARAMS: AdamHyperparams = { ...ADAM_DEFAULTS, learningRate: DEFAULT_LEARNING_RATE, amsgrad: false };
export const ADAMW_HYPERPARAMS: AdamHyperparams = { ...ADAMW_DEFAULTS, learningRate: DEFAULT_LEARNING_RATE, amsgrad: false };
export const AMSGRAD_HYPERPARAMS: AdamHyperparams = { ...AMSGRAD_DEFAULTS, learningRate: DEFAULT_LEARNING_RATE, amsgrad: true };

type Checker = (owner: string, name: string, value: unknown) => unknown;

/** The check of every option, by name: the same for the tfjs optimizers and the core. */
const CHECKS: Record<string, Checker> = {
  beta1: checkBeta,
  beta2: checkBeta,
  epsilon: checkPositive,
  weightDecay: checkNonNegative,
  decoupled: checkBoolean,
  amsgrad: checkBoolean,
  clip: (owner, _name, value) => checkClipSchedule(owner, value),
  maximize: checkBoolean,
  nonFinite: (owner, name, value) => checkOneOf(owner, name, value, NON_FINITE_POLICIES),
  fused: checkBoolean,
  nesterov: checkBoolean,
  caution: checkBoolean,
  correctedWeightDecay: checkBoolean,
  stateDtype: (owner, name, value) => checkOneOf(owner, name, value, STATE_DTYPES),
};

function checkOptionsObject(owner: string, options: unknown): Record<string, unknown> {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    const got = Array.isArray(options) ? `an array [${String(options)}]` : typeof options === 'string' ? JSON.stringify(options) : String(options);
    throw new OptimizerArgumentError(`${owner}: invalid options ${got}; expected an object.`);
  }
  return options as Record<string, unknown>;
}

/**
 * `options` checked against `defaults`: every key must be one of the defaults' keys, a missing
 * (or undefined) option takes its default, and every value passes the option's check.
 */
export function resolveOptions<R extends object>(owner: string, options: unknown, defaults: R): R {
  const o = checkOptionsObject(owner, options);
  const known = Object.keys(defaults);
  if (o['learningRate'] !== undefined && !known.includes('learningRate')) {
    throw new OptimizerArgumentError(
      `${owner}: unknown option "learningRate"; the learning rate is the first argument, not an option ` +
        `(options: ${known.join(', ')}).`,
    );
  }
  checkKnownKeys(owner, o, known);
  const resolved: Record<string, unknown> = {};
  for (const key of known) {
    const value = o[key] === undefined ? (defaults as Record<string, unknown>)[key] : o[key];
    resolved[key] = CHECKS[key]!(owner, key, value);
  }
  return resolved as R;
}

/** A number >= 0, or a schedule whose value at step 0 is one. */
export function checkLearningRate(owner: string, learningRate: unknown): LearningRate {
  if (typeof learningRate === 'function') {
    learningRateAt(owner, learningRate as Schedule, 0);
    return learningRate as Schedule;
  }
  return checkNonNegative(owner, 'learningRate', learningRate);
}

/**
 * Corrected weight decay (docs/ALGORITHM.md §10.3) scales decoupled decay, so it needs
 * `decoupled: true`, and a learning rate whose maximum is known and > 0 (`maxLearningRate`).
 */
export function checkCorrectedWeightDecay(
  owner: string, h: { correctedWeightDecay: boolean; decoupled: boolean; learningRate: LearningRate },
): void {
  if (!h.correctedWeightDecay) return;
  if (!h.decoupled) {
    throw new OptimizerArgumentError(
      `${owner}: correctedWeightDecay: true needs decoupled: true (it rescales decoupled weight decay, lr² / lrMax in place of lr; ` +
        'coupled L2 decay has no learning-rate factor to correct).',
    );
  }
  maxLearningRate(owner, h.learningRate);
}

export function resolveAdopt(owner: string, learningRate: unknown, options?: AdoptOptions): AdoptHyperparams {
  const rate = checkLearningRate(owner, learningRate === undefined ? DEFAULT_LEARNING_RATE : learningRate);
  const h = { learningRate: rate, ...resolveOptions<Required<AdoptOptions>>(owner, options, ADOPT_DEFAULTS) };
  checkCorrectedWeightDecay(owner, h);
  checkStateDtype(owner, h);
  return h;
}

/**
 * 8-bit state (§11) exists in the fused WebAssembly kernels only, and not with caution (its
 * counting pass would need the de-quantised moments twice) or AMSGrad (a third moment): refused
 * when the optimizer is built, with what to change.
 */
export function checkStateDtype(
  owner: string, h: { stateDtype: StateDtype; fused: boolean; caution: boolean; amsgrad?: boolean },
): void {
  if (h.stateDtype !== 'int8') return;
  const unsupported = !h.fused ? 'fused: false (the 8-bit state is implemented in the fused WebAssembly kernels only)'
    : h.caution ? 'caution: true' : h.amsgrad ? 'AMSGrad (its running maximum vmax)' : undefined;
  if (unsupported !== undefined) {
    throw new OptimizerArgumentError(
      `${owner}: stateDtype 'int8' is not supported yet with ${unsupported}; use stateDtype 'float32' for it.`,
    );
  }
}

export function resolveAdam(
  owner: string, learningRate: unknown, options: AdamOptions | undefined,
  defaults: AdamHyperparams,
): AdamHyperparams {
  const { learningRate: defaultRate, amsgrad, ...optionDefaults } = defaults;
  const rate = checkLearningRate(owner, learningRate === undefined ? defaultRate : learningRate);
  const h = { learningRate: rate, ...resolveOptions<Required<AdamOptions>>(owner, options, optionDefaults), amsgrad };
  checkCorrectedWeightDecay(owner, h);
  checkStateDtype(owner, h);
  return h;
}
