/**
 * The Trainer's configuration: its types, and the checks that refuse a bad one when the Trainer
 * is built (naming the field, the value and what was expected), before anything runs.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { learningRateAt, type Schedule } from '../schedules.js';
import type { Rng } from '../random.js';
import { OptimizerArgumentError } from '../validate.js';
import type { CheckpointFs } from './checkpoint.js';
import { isOptimizerName, OPTIMIZER_NAMES, type OptimizerName } from './registry.js';

/** A batch: any object whose tensors the loss reads. The trainer disposes it after use. */
export type Batch = tf.TensorContainer;

/** A source of batches: a tf.data.Dataset (iterated once per epoch) or a function of the epoch. */
export type DataSource<B> =
  | { iterator(): Promise<{ next(): Promise<IteratorResult<B>> }> }
  | ((epoch: number) => AsyncIterable<B> | Iterable<B>);

/** Variables whose names match `pattern` get this weight decay and learning-rate multiplier. */
export interface ParamGroup {
  pattern: RegExp | string;
  weightDecay?: number;
  learningRateMultiplier?: number;
}

export interface StepInfo {
  step: number;
  epoch: number;
  loss: number;
  learningRate: number;
  gradNorm: number;
  examplesPerSecond: number;
}

export interface TrainerConfig<B extends Batch> {
  /** A tf.LayersModel (all its weights are checkpointed, its trainable ones optimized) or variables. */
  model: { trainableWeights: unknown[]; weights: unknown[] } | tf.Variable[];
  /** The loss of one batch (of one micro-batch when accumulating). */
  loss: (batch: B, context: { rng: Rng; step: number }) => tf.Scalar;
  data: DataSource<B>;
  optimizer: OptimizerName;
  /** Options of the optimizer other than the learning rate (e.g. {weightDecay: 0.1, decoupled: true}). */
  optimizerOptions?: Record<string, unknown>;
  /** A number or a schedule of the optimizer step. */
  learningRate: number | Schedule;
  /** Optimizer steps to run in all (resumed runs count the steps already done). */
  steps?: number;
  /** Epochs to run at most. */
  epochs?: number;
  /** Clip gradients by global norm to at most this (PyTorch's clip_grad_norm_). */
  clipGradNorm?: number;
  /** Micro-batches per optimizer step; their mean gradient is applied. Default 1. */
  accumulationSteps?: number;
  /** First matching group wins; variables matching none use optimizerOptions as they are. */
  paramGroups?: ParamGroup[];
  evaluate?: { every: number; run: (step: number) => Promise<Record<string, number>> | Record<string, number> };
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
    onStep?(info: StepInfo): void | 'stop';
    onEvaluate?(step: number, metrics: Record<string, number>): void;
    onCheckpoint?(step: number, folder: string): void;
    /** A warning (a restore that fell back to an older checkpoint, a stale lock taken over). Default console.warn. */
    onWarning?(message: string): void;
  };
}

export const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
export const isPositiveInteger = (v: unknown): v is number => isCount(v) && v >= 1;
export const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? JSON.stringify(v) : String(v));

/** Throws an OptimizerArgumentError for the first invalid field of `config`; returns the accumulation steps. */
export function checkTrainerConfig<B extends Batch>(config: TrainerConfig<B>): number {
  if (!isOptimizerName(config.optimizer)) {
    throw new OptimizerArgumentError(
      `Trainer: unknown optimizer ${JSON.stringify(config.optimizer)}; expected one of ${OPTIMIZER_NAMES.join(', ')}.`,
    );
  }
  if (config.steps === undefined && config.epochs === undefined) {
    throw new OptimizerArgumentError('Trainer: give steps or epochs (or both) to say when training ends.');
  }
  const accumulation = config.accumulationSteps ?? 1;
  if (!Number.isInteger(accumulation) || accumulation < 1) {
    throw new OptimizerArgumentError(`Trainer: invalid accumulationSteps ${config.accumulationSteps}; expected an integer >= 1.`);
  }
  if (config.clipGradNorm !== undefined && !(config.clipGradNorm > 0)) {
    throw new OptimizerArgumentError(`Trainer: invalid clipGradNorm ${config.clipGradNorm}; expected a number > 0.`);
  }
  if (config.evaluate !== undefined && !isPositiveInteger(config.evaluate.every)) {
    throw new OptimizerArgumentError(`Trainer: invalid evaluate.every ${show(config.evaluate.every)}; expected an integer >= 1.`);
  }
  const ck = config.checkpoint;
  if (ck !== undefined) {
    if (typeof ck.dir !== 'string' || ck.dir === '') {
      throw new OptimizerArgumentError(`Trainer: invalid checkpoint.dir ${show(ck.dir)}; expected a folder path.`);
    }
    if (ck.every !== undefined && !isPositiveInteger(ck.every)) {
      throw new OptimizerArgumentError(`Trainer: invalid checkpoint.every ${show(ck.every)}; expected an integer >= 1 (steps between checkpoints).`);
    }
    if (ck.keep !== undefined && !isPositiveInteger(ck.keep)) {
      throw new OptimizerArgumentError(`Trainer: invalid checkpoint.keep ${show(ck.keep)}; expected an integer >= 1 (checkpoints of this run to keep).`);
    }
  }
  learningRateAt('Trainer', config.learningRate, 0);
  return accumulation;
}
