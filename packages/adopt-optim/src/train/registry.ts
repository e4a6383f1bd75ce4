/**
 * Optimizers by name, so a training script or a command line can say `optimizer: 'adopt'`.
 * Our four come from src/tfjs; 'sgd', 'momentum' and 'rmsprop' wrap tfjs's own.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LearningRate } from '../hyperparams.js';
import { learningRateAt } from '../schedules.js';
import { adam } from '../tfjs/adam.js';
import { adamw } from '../tfjs/adamw.js';
import { adopt } from '../tfjs/adopt.js';
import { amsgrad } from '../tfjs/amsgrad.js';
import { NamedStateOptimizer } from '../tfjs/named_state_optimizer.js';
import { checkKnownKeys, OptimizerArgumentError } from '../validate.js';

export const OPTIMIZER_NAMES = ['adopt', 'adam', 'adamw', 'amsgrad', 'sgd', 'momentum', 'rmsprop'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

export interface OptimizerOptions {
  /** A number or a schedule. Default 1e-3 (0.01 for sgd and momentum). */
  learningRate?: LearningRate;
  /** Any other option of the named optimizer (adopt: beta1, beta2, epsilon, weightDecay, ...). */
  [option: string]: unknown;
}

const TFJS_OPTIONS: Record<string, string[]> = {
  sgd: [],
  momentum: ['momentum', 'useNesterov'],
  rmsprop: ['decay', 'momentum', 'epsilon', 'centered'],
};

/** Whether `name` is one of OPTIMIZER_NAMES. */
export function isOptimizerName(name: unknown): name is OptimizerName {
  return typeof name === 'string' && (OPTIMIZER_NAMES as readonly string[]).includes(name);
}

/**
 * A new optimizer by name. For tfjs's own optimizers a schedule is followed by the Trainer (which
 * calls `setLearningRate` every step); passed here it sets their initial rate only.
 */
export function createOptimizer(name: string, options: OptimizerOptions = {}): tf.Optimizer {
  if (!isOptimizerName(name)) {
    throw new OptimizerArgumentError(
      `createOptimizer: unknown optimizer ${JSON.stringify(name)}; expected one of ${OPTIMIZER_NAMES.join(', ')}.`,
    );
  }
  const { learningRate, ...rest } = options;
  switch (name) {
    case 'adopt': return adopt(learningRate ?? 1e-3, rest);
    case 'adam': return adam(learningRate ?? 1e-3, rest);
    case 'adamw': return adamw(learningRate ?? 1e-3, rest);
    case 'amsgrad': return amsgrad(learningRate ?? 1e-3, rest);
    default: {
      checkKnownKeys(name, rest, TFJS_OPTIONS[name]!);
      const lr = learningRateAt(name, learningRate ?? (name === 'rmsprop' ? 1e-3 : 0.01), 0);
      if (name === 'sgd') return tf.train.sgd(lr);
      if (name === 'momentum') {
        return tf.train.momentum(lr, (rest['momentum'] as number | undefined) ?? 0.9, (rest['useNesterov'] as boolean | undefined) ?? false);
      }
      return tf.train.rmsprop(lr, rest['decay'] as number | undefined, rest['momentum'] as number | undefined,
        rest['epsilon'] as number | undefined, (rest['centered'] as boolean | undefined) ?? false);
    }
  }
}

/** Sets the rate of the next step on any optimizer this registry makes. */
export function setLearningRate(optimizer: tf.Optimizer, learningRate: number): void {
  if (optimizer instanceof NamedStateOptimizer) {
    optimizer.learningRate = learningRate;
  } else if (typeof (optimizer as { setLearningRate?: unknown }).setLearningRate === 'function') {
    (optimizer as unknown as { setLearningRate(lr: number): void }).setLearningRate(learningRate); // sgd, momentum
  } else if ('learningRate' in optimizer) {
    (optimizer as unknown as { learningRate: number }).learningRate = learningRate; // rmsprop reads it every step
  } else {
    throw new OptimizerArgumentError(`setLearningRate: ${optimizer.getClassName()} has no settable learning rate.`);
  }
}
