/**
 * Resolving options for every optimizer, shared by the framework-free core (`src/core`) and the
 * TensorFlow.js optimizers (`src/tfjs`), so both reject the same inputs with the same messages.
 * The options themselves (defaults, checks, what a path cannot run) are declared by each rule:
 * src/rules/adopt.ts, src/rules/adam.ts, src/rules/options.ts.
 */
import { learningRateAt, MAX_LEARNING_RATE, maxLearningRate, type Schedule } from './schedules.js';
import { checkKnownKeys, checkNonNegative, OptimizerArgumentError } from './validate.js';
import { defaultsOf, incapability, type OptionSpecs, type StateDtype } from './rules/options.js';
import { ADOPT, ADOPT_OPTIONS, type AdoptOptions } from './rules/adopt.js';
import { ADAM, ADAM_OPTIONS, type AdamOptions } from './rules/adam.js';
import type { Rule } from './rules/rule.js';
import { checkGradientClipping } from './gradient_clipping.js';

export { NON_FINITE_POLICIES, STATE_DTYPES, type NonFinitePolicy, type StateDtype } from './rules/options.js';
export type { AdoptOptions } from './rules/adopt.js';
export type { AdamOptions } from './rules/adam.js';

/** A learning rate: a number, or a schedule (a function of the step: 0, 1, 2, ...). */
export type LearningRate = number | Schedule;

/** ADOPT's resolved options (every one present) and learning rate. */
export interface AdoptHyperparams extends Required<AdoptOptions> {
  learningRate: LearningRate;
}

/** The Adam family's resolved options and learning rate. */
export interface AdamHyperparams extends Required<AdamOptions> {
  learningRate: LearningRate;
  /** Divide by the running maximum of v (AMSGrad). */
  amsgrad: boolean;
}

/** The learning rate every optimizer here uses when none is given (PyTorch's Adam default). */
export const DEFAULT_LEARNING_RATE = 1e-3;

/**
 * ADOPT's default options. The published defaults hold exactly the keys of the options object (the learning rate is the
 * positional argument, see DEFAULT_LEARNING_RATE; AMSGrad is a separate optimizer, not an
 * option), so `adopt(1e-3, {...ADOPT_DEFAULTS, beta2: 0.99})` is a valid call. They are read off
 * the rules' option declarations.
 */
export const ADOPT_DEFAULTS = defaultsOf(ADOPT_OPTIONS) as Readonly<Required<AdoptOptions>>;

/** PyTorch's defaults: `torch.optim.Adam`, `AdamW` and `Adam(amsgrad=True)`. */
export const ADAM_DEFAULTS = defaultsOf(ADAM_OPTIONS) as Readonly<Required<AdamOptions>>;
/** AdamW's default options: Adam's with weightDecay 1e-2, decoupled. */
export const ADAMW_DEFAULTS = { ...ADAM_DEFAULTS, weightDecay: 1e-2, decoupled: true } as Readonly<
  Required<AdamOptions>
>;
/** AMSGrad's default options: Adam's. */
export const AMSGRAD_DEFAULTS = { ...ADAM_DEFAULTS } as Readonly<Required<AdamOptions>>;

/** The full hyperparameters of the Adam family's three members (internal: not options). */
export const ADAM_HYPERPARAMS: AdamHyperparams = {
  ...ADAM_DEFAULTS,
  learningRate: DEFAULT_LEARNING_RATE,
  amsgrad: false,
};
export const ADAMW_HYPERPARAMS: AdamHyperparams = {
  ...ADAMW_DEFAULTS,
  learningRate: DEFAULT_LEARNING_RATE,
  amsgrad: false,
};
export const AMSGRAD_HYPERPARAMS: AdamHyperparams = {
  ...AMSGRAD_DEFAULTS,
  learningRate: DEFAULT_LEARNING_RATE,
  amsgrad: true,
};

function checkOptionsObject(owner: string, options: unknown): Record<string, unknown> {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    const got = Array.isArray(options)
      ? `an array [${String(options)}]`
      : typeof options === 'string'
        ? JSON.stringify(options)
        : String(options);
    throw new OptimizerArgumentError(`${owner}: invalid options ${got}; expected an object.`);
  }
  return options as Record<string, unknown>;
}

/**
 * `options` checked against `defaults`: every key must be one of the defaults' keys, a missing
 * (or undefined) option takes its default, and every value passes its check in `specs`.
 */
export function resolveOptions<R extends object>(owner: string, options: unknown, defaults: R, specs: OptionSpecs): R {
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
    resolved[key] = specs[key]!.check(owner, key, value);
  }
  return resolved as R;
}

/** A number >= 0, or a schedule whose value at step 0 is one. */
export function checkLearningRate(owner: string, learningRate: unknown): LearningRate {
  if (typeof learningRate === 'function') {
    learningRateAt(owner, learningRate as Schedule, 0);
    return learningRate as Schedule;
  }
  const lr = checkNonNegative(owner, 'learningRate', learningRate);
  if (lr > MAX_LEARNING_RATE) {
    throw new OptimizerArgumentError(
      `${owner}: invalid learningRate ${lr}; expected a finite number in [0, ${MAX_LEARNING_RATE}] (a normalised ` +
        'update moves each parameter by about the learning rate per step; larger rates overflow float32 parameters).',
    );
  }
  return lr;
}

/**
 * Corrected weight decay (docs/ALGORITHM.md §10.3) scales decoupled decay, so it needs
 * `decoupled: true`, and a learning rate whose maximum is known and > 0 (`maxLearningRate`).
 */
export function checkCorrectedWeightDecay(
  owner: string,
  h: { correctedWeightDecay: boolean; decoupled: boolean; learningRate: LearningRate },
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
  const h = {
    learningRate: rate,
    ...resolveOptions<Required<AdoptOptions>>(owner, options, ADOPT_DEFAULTS, ADOPT_OPTIONS),
  };
  checkCorrectedWeightDecay(owner, h);
  checkStateDtype(owner, ADOPT, h);
  checkGradientClipping(owner, h);
  return h;
}

/**
 * 8-bit state (§11) exists in the hand-written 8-bit WebAssembly kernels only: what they lack is
 * refused when the optimizer is built, from the rule's capability table, with what to change.
 */
export function checkStateDtype(owner: string, rule: Rule, h: { stateDtype: StateDtype }): void {
  if (h.stateDtype === 'float32') return;
  const refusal = incapability(owner, rule.capabilities, h as unknown as Record<string, unknown>, 'lowbit');
  if (refusal !== null) throw refusal;
}

export function resolveAdam(
  owner: string,
  learningRate: unknown,
  options: AdamOptions | undefined,
  defaults: AdamHyperparams,
): AdamHyperparams {
  const { learningRate: defaultRate, amsgrad, ...optionDefaults } = defaults;
  const rate = checkLearningRate(owner, learningRate === undefined ? defaultRate : learningRate);
  const h = {
    learningRate: rate,
    ...resolveOptions<Required<AdamOptions>>(owner, options, optionDefaults, ADAM_OPTIONS),
    amsgrad,
  };
  checkCorrectedWeightDecay(owner, h);
  checkStateDtype(owner, ADAM, h);
  checkGradientClipping(owner, h);
  return h;
}
