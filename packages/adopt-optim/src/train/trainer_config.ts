/**
 * The Trainer's configuration: its types, and the checks that refuse a bad one when the Trainer
 * is built (naming the field, the value and what was expected), before anything runs.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { learningRateAt, MAX_LEARNING_RATE, type Schedule } from '../schedules.js';
import type { Rng } from '../random.js';
import { didYouMean, OptimizerArgumentError } from '../validate.js';
import type { CheckpointFs } from './checkpoint.js';
import { checkFieldValues, describeValue, isPlainObject } from './trainer_fields.js';
import {
  isOptimizerName,
  OPTIMIZER_NAMES,
  type OptimizerName,
  type OptimizerOptionsByName,
} from '../registry/optimizers_by_name.js';

/** A batch: any object whose tensors the loss reads. The trainer disposes it after use. */
export type Batch = tf.TensorContainer;

/** A source of batches: a tf.data.Dataset (iterated once per epoch) or a function of the epoch. */
export type DataSource<B> =
  | {
      /** A fresh iterator over one epoch's batches. */
      iterator(): Promise<{
        /** The next batch, or done. */
        next(): Promise<IteratorResult<B>>;
      }>;
    }
  | ((epoch: number) => AsyncIterable<B> | Iterable<B>);

/** Variables whose names match `pattern` get this weight decay and learning-rate multiplier. */
export interface ParamGroup {
  pattern: RegExp | string;
  weightDecay?: number;
  learningRateMultiplier?: number;
}

/** What onStep receives after each optimizer step. */
export interface StepInfo {
  step: number;
  epoch: number;
  loss: number;
  learningRate: number;
  gradNorm: number;
  examplesPerSecond: number;
}

/** The Trainer's configuration; `optimizerOptions` is typed by the `optimizer` named (see TrainerConfig). */
export interface TrainerConfigBase<B extends Batch> {
  /** A tf.LayersModel (all its weights are checkpointed, its trainable ones optimized) or variables. */
  model: { trainableWeights: unknown[]; weights: unknown[] } | tf.Variable[];
  /** The loss of one batch (of one micro-batch when accumulating). */
  loss: (batch: B, context: { rng: Rng; step: number }) => tf.Scalar;
  data: DataSource<B>;
  /** A number or a schedule of the optimizer step. */
  learningRate: number | Schedule;
  /** Optimizer steps to run in all (resumed runs count the steps already done). */
  steps?: number;
  /** Epochs to run at most. */
  epochs?: number;
  /**
   * Clip gradients by global norm to at most this (PyTorch's clip_grad_norm_), over every parameter group
   * together. (The optimizers' own Keras-style `clipnorm`, `clipvalue` and `globalClipnorm` go in
   * optimizerOptions and act per group.)
   */
  clipGradNorm?: number;
  /** Micro-batches per optimizer step; their mean gradient is applied. Default 1. */
  accumulationSteps?: number;
  /** First matching group wins; variables matching none use optimizerOptions as they are. */
  paramGroups?: ParamGroup[];
  /** Every `every` steps, `run` is called and its metrics logged and passed to onEvaluate. */
  evaluate?: {
    /** Steps between evaluations, an integer >= 1. */
    every: number;
    /** Computes the metrics at this step. */
    run: (step: number) => Promise<Record<string, number>> | Record<string, number>;
  };
  /**
   * Checkpoints: written every `every` steps (an integer >= 1) and when fit() ends; the newest
   * `keep` (an integer >= 1, default 3) of this run are kept. `fs` replaces Node's file
   * operations (tests inject crashes with it). While fit() runs the folder is locked: a second
   * writer on it is refused.
   */
  checkpoint?: { dir: string; every?: number; keep?: number; fs?: CheckpointFs };
  /** JSON-lines log: one line per step, evaluation and checkpoint. */
  logFile?: string;
  /** Progress bar on stderr. Default: when stderr is a terminal. */
  progress?: boolean;
  /** Seed of `context.rng`, the trainer's random stream (saved in checkpoints). Default 0. */
  seed?: number;
  /** Examples in a batch, for examples/s. Default: the first dimension of its first tensor. */
  batchSize?: (batch: B) => number;
  callbacks?: {
    /** After each optimizer step; return 'stop' to end training there. */
    onStep?(info: StepInfo): void | 'stop';
    /** After each evaluation, with its metrics. */
    onEvaluate?(step: number, metrics: Record<string, number>): void;
    /** After each checkpoint is written, with its folder. */
    onCheckpoint?(step: number, folder: string): void;
    /** A warning (a restore that fell back to an older checkpoint, a stale lock taken over). Default console.warn. */
    onWarning?(message: string): void;
  };
}

/**
 * The configuration: the fields of {@link TrainerConfigBase}, the optimizer by name, and its options other than the
 * learning rate typed for that optimizer (`{optimizer: 'adopt', optimizerOptions: {weight_decay: 0.1}}` does not
 * compile).
 */
export type TrainerConfig<B extends Batch> = {
  [N in OptimizerName]: TrainerConfigBase<B> & {
    optimizer: N;
    /** Options of the optimizer other than the learning rate (e.g. {weightDecay: 0.1, decoupled: true}). */
    optimizerOptions?: Omit<OptimizerOptionsByName[N], 'learningRate'>;
  };
}[OptimizerName];

/** Every field a TrainerConfig has, and those of its nested objects: anything else is refused. */
const FIELDS = [
  'model',
  'loss',
  'data',
  'optimizer',
  'optimizerOptions',
  'learningRate',
  'steps',
  'epochs',
  'clipGradNorm',
  'accumulationSteps',
  'paramGroups',
  'evaluate',
  'checkpoint',
  'logFile',
  'progress',
  'seed',
  'batchSize',
  'callbacks',
] as const;
const NESTED: Record<string, readonly string[]> = {
  checkpoint: ['dir', 'every', 'keep', 'fs'],
  evaluate: ['every', 'run'],
  callbacks: ['onStep', 'onEvaluate', 'onCheckpoint', 'onWarning'],
  paramGroups: ['pattern', 'weightDecay', 'learningRateMultiplier'],
};
const REQUIRED: Record<string, string> = {
  model: 'a tf.LayersModel or an array of tf.Variable',
  loss: 'a function (batch, context) => tf.Scalar',
  data: 'a tf.data.Dataset or a function of the epoch returning batches',
  optimizer: `one of ${OPTIMIZER_NAMES.join(', ')}`,
  learningRate: 'a number, or a schedule of the optimizer step (constant, linearWarmup, cosineDecay, stepDecay)',
};

/** A field that is not the Trainer's, with what it most likely meant: a name elsewhere, or a near one. */
function unknownField(key: string, where: string, known: readonly string[]): OptimizerArgumentError {
  let hint = didYouMean(key, known);
  if (where === '' && (key === 'clipnorm' || key === 'clipvalue' || key === 'globalClipnorm')) {
    hint =
      `"clipGradNorm" (PyTorch's clip_grad_norm_ over all groups), or optimizerOptions: {${key}: ...} (Keras's, ` +
      'per group)';
  } else if (where === '' && NESTED['callbacks']!.includes(key)) {
    hint = `callbacks: {${key}}`;
  } else if (where === '' && NESTED['checkpoint']!.includes(key) && key !== 'every') {
    hint = `checkpoint: {${key}}`;
  }
  return new OptimizerArgumentError(
    `Trainer: unknown ${where === '' ? 'field' : `field of ${where}`} ${JSON.stringify(key)}; ` +
      `${hint === undefined ? '' : `did you mean ${hint}? `}expected ${where === '' ? 'the fields' : 'one'} of ` +
      `${known.join(', ')}.`,
  );
}

/**
 * Refuses, before anything runs, a field the Trainer does not have (silently ignored before) or a missing required one.
 */
function checkFields(config: unknown): void {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new OptimizerArgumentError(
      `Trainer: invalid config ${show(config)}; expected an object with ${Object.keys(REQUIRED).join(', ')}.`,
    );
  }
  const c = config as Record<string, unknown>;
  for (const key of Object.keys(c))
    if (!(FIELDS as readonly string[]).includes(key)) throw unknownField(key, '', FIELDS);
  for (const [key, what] of Object.entries(REQUIRED)) {
    if (c[key] === undefined) throw new OptimizerArgumentError(`Trainer: missing ${key}; expected ${what}.`);
  }
  for (const [field, keys] of Object.entries(NESTED)) {
    const value = c[field];
    const items = field === 'paramGroups' ? (Array.isArray(value) ? value : []) : [value];
    // a value that is not an object is refused by checkFieldValues, naming the field
    for (const item of items) {
      if (!isPlainObject(item)) continue;
      for (const key of Object.keys(item)) if (!keys.includes(key)) throw unknownField(key, field, keys);
    }
  }
}

export const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
export const isPositiveInteger = (v: unknown): v is number => isCount(v) && v >= 1;
export const show = describeValue;

/** Refuses a group's rate (the schedule's times its multiplier) beyond MAX_LEARNING_RATE, before any group steps. */
export function checkGroupRate(rate: number, group: number, step: number): number {
  if (!(Number.isFinite(rate) && rate >= 0 && rate <= MAX_LEARNING_RATE)) {
    throw new OptimizerArgumentError(
      `Trainer: paramGroups[${group}] has learning rate ${rate} at step ${step} ` +
        "(the schedule's rate times its learningRateMultiplier); " +
        `expected a finite number in [0, ${MAX_LEARNING_RATE}].`,
    );
  }
  return rate;
}

/** Throws an OptimizerArgumentError for the first invalid field of `config`; returns the accumulation steps. */
export function checkTrainerConfig<B extends Batch>(config: TrainerConfig<B>): number {
  checkFields(config);
  checkFieldValues(config as unknown as Record<string, unknown>);
  if (!isOptimizerName(config.optimizer)) {
    throw new OptimizerArgumentError(
      `Trainer: unknown optimizer ${JSON.stringify(config.optimizer)}; expected one of ${OPTIMIZER_NAMES.join(', ')}.`,
    );
  }
  if (config.steps === undefined && config.epochs === undefined) {
    throw new OptimizerArgumentError('Trainer: give steps or epochs (or both) to say when training ends.');
  }
  const lr = learningRateAt('Trainer', config.learningRate, 0);
  config.paramGroups?.forEach((g, i) => checkGroupRate(lr * (g.learningRateMultiplier ?? 1), i, 0));
  return config.accumulationSteps ?? 1;
}
