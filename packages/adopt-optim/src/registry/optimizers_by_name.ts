/**
 * Optimizers by name, so a training script or a command line can say `optimizer: 'adopt'`.
 * Our four come from src/tfjs; 'sgd', 'momentum' and 'rmsprop' wrap tfjs's own.
 *
 * The options are typed per name: `createOptimizer('adopt', {beta1: 0.9})` compiles,
 * `createOptimizer('adopt', {momentum: 0.9})` and `createOptimizer('nadam')` do not. The same
 * checks run at run time, for callers that build the name or the options dynamically.
 * Browser-safe (tfjs-core and the optimizers only): the home of 'adopt-optim/registry'.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  ADAM_DEFAULTS,
  ADAMW_DEFAULTS,
  ADOPT_DEFAULTS,
  AMSGRAD_DEFAULTS,
  checkLearningRate,
  DEFAULT_LEARNING_RATE,
  type AdamOptions,
  type AdoptOptions,
  type LearningRate,
} from '../hyperparams.js';
import { learningRateAt } from '../schedules.js';
import { adam, type AdamOptimizer } from '../tfjs/adam.js';
import { adamw, type AdamWOptimizer } from '../tfjs/adamw.js';
import { adopt, type AdoptOptimizer } from '../tfjs/adopt.js';
import { amsgrad, type AMSGradOptimizer } from '../tfjs/amsgrad.js';
import { NamedStateOptimizer } from '../tfjs/named_state_optimizer.js';
import {
  checkBeta,
  checkBoolean,
  checkKnownKeys,
  checkNonNegative,
  checkEpsilon,
  OptimizerArgumentError,
} from '../validate.js';

/** The names createOptimizer and the Trainer take: ours and tfjs's SGD, momentum and RMSProp. */
export const OPTIMIZER_NAMES = ['adopt', 'adam', 'adamw', 'amsgrad', 'sgd', 'momentum', 'rmsprop'] as const;
/** One of OPTIMIZER_NAMES. */
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

/** The learning rate among createOptimizer's options. */
export interface WithLearningRate {
  /** A number or a schedule. Default 1e-3 (0.01 for sgd and momentum). */
  learningRate?: LearningRate;
}

/** tfjs's `tf.train.sgd`. */
export interface SgdOptions extends WithLearningRate {}

/** tfjs's `tf.train.momentum`. */
export interface MomentumOptions extends WithLearningRate {
  /** Default 0.9; a finite number >= 0. */
  momentum?: number;
  /** Default false. */
  useNesterov?: boolean;
}

/** tfjs's `tf.train.rmsprop`. */
export interface RmspropOptions extends WithLearningRate {
  /** Discount of the running mean square. Default 0.9; in [0, 1). */
  decay?: number;
  /** Default 0; a finite number >= 0. */
  momentum?: number;
  /** Default: the backend's epsilon; a finite number > 0 (with 0, a zero gradient gives 0 / 0). */
  epsilon?: number;
  /** Default false. */
  centered?: boolean;
}

/** The options `createOptimizer` accepts for each name: the learning rate and that optimizer's own. */
export interface OptimizerOptionsByName {
  adopt: AdoptOptions & WithLearningRate;
  adam: AdamOptions & WithLearningRate;
  adamw: AdamOptions & WithLearningRate;
  amsgrad: AdamOptions & WithLearningRate;
  sgd: SgdOptions;
  momentum: MomentumOptions;
  rmsprop: RmspropOptions;
}

/** The class `createOptimizer` returns for each name. */
export interface OptimizerByName {
  adopt: AdoptOptimizer;
  adam: AdamOptimizer;
  adamw: AdamWOptimizer;
  amsgrad: AMSGradOptimizer;
  sgd: tf.SGDOptimizer;
  momentum: tf.MomentumOptimizer;
  rmsprop: tf.RMSPropOptimizer;
}

/** The options of one named optimizer; without a name, those of any. */
export type OptimizerOptions<N extends OptimizerName = OptimizerName> = OptimizerOptionsByName[N];

/** Per name: the name used in messages, the accepted option keys (learningRate first) and the maker. */
const MAKERS: {
  [N in OptimizerName]: {
    owner: string;
    keys: readonly string[];
    make(o: Record<string, unknown>): OptimizerByName[N];
  };
} = {
  adopt: {
    owner: 'ADOPT',
    keys: ['learningRate', ...Object.keys(ADOPT_DEFAULTS)],
    make: ({ learningRate, ...o }) => adopt(rate(learningRate), o),
  },
  adam: {
    owner: 'Adam',
    keys: ['learningRate', ...Object.keys(ADAM_DEFAULTS)],
    make: ({ learningRate, ...o }) => adam(rate(learningRate), o),
  },
  adamw: {
    owner: 'AdamW',
    keys: ['learningRate', ...Object.keys(ADAMW_DEFAULTS)],
    make: ({ learningRate, ...o }) => adamw(rate(learningRate), o),
  },
  amsgrad: {
    owner: 'AMSGrad',
    keys: ['learningRate', ...Object.keys(AMSGRAD_DEFAULTS)],
    make: ({ learningRate, ...o }) => amsgrad(rate(learningRate), o),
  },
  sgd: {
    owner: 'sgd',
    keys: ['learningRate'],
    make: (o) => tf.train.sgd(initialRate('sgd', o['learningRate'], 0.01)),
  },
  momentum: {
    owner: 'momentum',
    keys: ['learningRate', 'momentum', 'useNesterov'],
    make: (o) =>
      tf.train.momentum(
        initialRate('momentum', o['learningRate'], 0.01),
        checkNonNegative('momentum', 'momentum', o['momentum'] ?? 0.9),
        checkBoolean('momentum', 'useNesterov', o['useNesterov'] ?? false),
      ),
  },
  rmsprop: {
    owner: 'rmsprop',
    keys: ['learningRate', 'decay', 'momentum', 'epsilon', 'centered'],
    make: (o) =>
      tf.train.rmsprop(
        initialRate('rmsprop', o['learningRate'], DEFAULT_LEARNING_RATE),
        checkBeta('rmsprop', 'decay', o['decay'] ?? 0.9),
        checkNonNegative('rmsprop', 'momentum', o['momentum'] ?? 0),
        o['epsilon'] === undefined ? undefined : checkEpsilon('rmsprop', 'epsilon', o['epsilon']),
        checkBoolean('rmsprop', 'centered', o['centered'] ?? false),
      ),
  },
};

/** Our optimizers check the learning rate themselves, naming themselves. */
function rate(learningRate: unknown): LearningRate {
  return (learningRate ?? DEFAULT_LEARNING_RATE) as LearningRate;
}

/** tfjs's optimizers take a number: the rate (or the schedule's value) at step 0, checked. */
function initialRate(owner: string, learningRate: unknown, fallback: number): number {
  return learningRateAt(owner, checkLearningRate(owner, learningRate ?? fallback), 0);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array [${String(value)}]`;
  return String(value);
}

/** Whether `name` is one of OPTIMIZER_NAMES. */
export function isOptimizerName(name: unknown): name is OptimizerName {
  return typeof name === 'string' && (OPTIMIZER_NAMES as readonly string[]).includes(name);
}

/**
 * A new optimizer by name, with that optimizer's options (the learning rate among them):
 * `createOptimizer('adopt', {learningRate: 3e-4, beta2: 0.999})`. Every option is checked before
 * anything is made. For tfjs's own optimizers a schedule is followed by the Trainer (which calls
 * `setLearningRate` every step); passed here it sets their initial rate only.
 */
export function createOptimizer<N extends OptimizerName>(
  name: N,
  options?: OptimizerOptionsByName[N],
): OptimizerByName[N];
export function createOptimizer(name: unknown, options?: unknown): tf.Optimizer {
  if (!isOptimizerName(name)) {
    throw new OptimizerArgumentError(
      `createOptimizer: unknown optimizer ${show(name)}; expected one of ${OPTIMIZER_NAMES.join(', ')}.`,
    );
  }
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    const example = typeof options === 'number' ? String(options) : '0.01';
    throw new OptimizerArgumentError(
      `createOptimizer: invalid options ${show(options)} for "${name}"; options must be an object, and the ` +
        `learning rate goes in it: createOptimizer("${name}", {learningRate: ${example}}).`,
    );
  }
  const o = (options ?? {}) as Record<string, unknown>;
  const maker = MAKERS[name];
  checkKnownKeys(maker.owner, o, maker.keys);
  return maker.make(o);
}

/** Sets the rate of the next step on any optimizer this registry makes. */
export function setLearningRate(optimizer: tf.Optimizer, learningRate: number): void {
  checkNonNegative('setLearningRate', 'learningRate', learningRate); // before anything changes
  checkLearningRate('setLearningRate', learningRate); // and at most 1e6, as createOptimizer checks it
  if (typeof optimizer !== 'object' || optimizer === null || typeof optimizer.getClassName !== 'function') {
    const shown = typeof optimizer === 'object' && optimizer !== null ? 'an object' : show(optimizer);
    throw new OptimizerArgumentError(
      `setLearningRate: invalid optimizer ${shown}; expected an optimizer made by createOptimizer.`,
    );
  }
  // Not `instanceof`: tf.Optimizer's Symbol.hasInstance makes every optimizer an instance of every
  // subclass, which sent sgd and momentum down this branch and left their rate unchanged.
  if (Object.prototype.isPrototypeOf.call(NamedStateOptimizer.prototype, optimizer)) {
    (optimizer as NamedStateOptimizer).learningRate = learningRate;
  } else if (typeof (optimizer as { setLearningRate?: unknown }).setLearningRate === 'function') {
    (optimizer as unknown as { setLearningRate(lr: number): void }).setLearningRate(learningRate); // sgd, momentum
  } else if ('learningRate' in optimizer) {
    (optimizer as unknown as { learningRate: number }).learningRate = learningRate; // rmsprop reads it every step
  } else {
    throw new OptimizerArgumentError(`setLearningRate: ${optimizer.getClassName()} has no settable learning rate.`);
  }
}
