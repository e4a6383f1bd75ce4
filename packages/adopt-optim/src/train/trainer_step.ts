/**
 * The gradients of one Trainer step, everything computed before any parameter group is stepped:
 * the mean gradient over the micro-batches, its global norm (a tree of small adds, never
 * one op over every variable: WebGPU binds one buffer per input and allows 8, so tf.addN over 8 or
 * more variables was silently dropped there), clipping by that norm (../tfjs/clip_ops.ts, the library's one
 * implementation, with PyTorch's ε = 1e-6), and the check that no gradient
 * holds NaN, ±Infinity or a value beyond ±2^63 (GRADIENT_LIMIT), which the optimizers would refuse
 * one group at a time, after the groups before had stepped.
 */
import * as tf from '@tensorflow/tfjs-core';
import { addAll } from '../backends/gpu_reduce.js';
import { clipFactorOf, globalNorm } from '../tfjs/clip_ops.js';
import { GRADIENT_LIMIT } from '../validate.js';
import type { Batch, TrainerConfig } from './trainer_config.js';

/** The ε of PyTorch's clip_grad_norm_ (the Trainer's clipGradNorm): c / (‖g‖ + ε), at most 1. */
export const PYTORCH_CLIP_EPSILON = 1e-6;

/**
 * The sum of scalars (or same-shape tensors) with at most MAX_OP_INPUTS inputs per op (../backends/gpu_reduce.ts,
 * the optimizers' own reduction); 0 for none.
 */
export function treeSum(xs: tf.Tensor[]): tf.Tensor {
  return xs.length === 0 ? tf.scalar(0) : addAll(xs);
}

/** Elements of `g` that are NaN or ±Infinity (int32 scalar). */
const nonFinite = (g: tf.Tensor) => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(g)), 'int32'));
/** Elements of `g` that are NaN, ±Infinity or of magnitude >= GRADIENT_LIMIT (int32 scalar). */
const outOfRange = (g: tf.Tensor) =>
  tf.sum(tf.cast(tf.logicalOr(tf.logicalNot(tf.isFinite(g)), tf.greaterEqual(tf.abs(g), GRADIENT_LIMIT)), 'int32'));

/** The first name whose count is not 0: one download (of the sum) unless one is. Disposes `counts`. */
function firstCounted(names: string[], counts: tf.Tensor[]): string | undefined {
  try {
    const total = treeSum(counts);
    const bad = total.dataSync()[0]!;
    total.dispose();
    return bad === 0 ? undefined : names.find((_, i) => counts[i]!.dataSync()[0]! > 0);
  } finally {
    tf.dispose(counts);
  }
}

/**
 * The first of `names` whose gradient holds NaN, ±Infinity or a value of magnitude >= GRADIENT_LIMIT.
 * With `unclipped` (the gradients before clipping by norm), NaN and ±Infinity are looked for there, so that the
 * variable named is the one whose gradient was bad (the clip's scale spreads NaN to every variable), and the range
 * in `grads`, what the optimizers receive (a clipped 1e30 is fine).
 */
export function firstBadGradient(
  grads: tf.NamedTensorMap,
  names: string[],
  unclipped: tf.NamedTensorMap = grads,
): string | undefined {
  const present = names.filter((n) => grads[n] !== undefined);
  if (present.length === 0) return undefined;
  // after the clip only the magnitude: a NaN there comes from a NaN or an Infinity before it (a finite gradient
  // clipped by a finite norm stays finite, by an overflowed norm becomes 0)
  const tooLarge = (g: tf.Tensor) => tf.sum(tf.cast(tf.greaterEqual(tf.abs(g), GRADIENT_LIMIT), 'int32'));
  const counts = tf.tidy(() =>
    present.map((n) =>
      unclipped === grads ? outOfRange(grads[n]!) : tf.add(nonFinite(unclipped[n]!), tooLarge(grads[n]!)),
    ),
  );
  return firstCounted(present, counts);
}

/** What the micro-batches give: the mean gradient (clipped if configured), the mean loss, the norm before clipping. */
export interface StepGradients {
  grads: tf.NamedTensorMap;
  loss: number;
  gradNorm: number;
  /** With `check`: the first variable whose gradient is bad (see firstBadGradient), before or after clipping. */
  bad: string | undefined;
}

/** The mean gradient of `micro` (disposed here) over `vars`, clipped by global norm; checked if `check`. */
export function stepGradients<B extends Batch>(
  config: TrainerConfig<B>,
  vars: tf.Variable[],
  micro: B[],
  context: Parameters<TrainerConfig<B>['loss']>[1],
  check: boolean,
): StepGradients {
  let sum: tf.NamedTensorMap = {};
  let lossSum: tf.Tensor = tf.scalar(0);
  for (const batch of micro) {
    const { value, grads } = tf.variableGrads(() => config.loss(batch, context), vars);
    const next = tf.tidy(() => {
      const out: tf.NamedTensorMap = { ...sum };
      for (const v of vars) {
        const g = grads[v.name];
        if (g === undefined) continue; // this variable does not affect the loss
        out[v.name] = sum[v.name] ? tf.add(sum[v.name]!, g) : tf.clone(g);
      }
      return out;
    });
    for (const name of Object.keys(next)) if (next[name] !== sum[name]) tf.dispose(sum[name]!);
    const nextLoss = tf.add(lossSum, value);
    tf.dispose([grads, value, lossSum, batch]);
    sum = next;
    lossSum = nextLoss;
  }
  const k = micro.length;
  const { mean, norm } = tf.tidy(() => {
    const mean: tf.NamedTensorMap = {};
    for (const name of Object.keys(sum)) mean[name] = k === 1 ? tf.clone(sum[name]!) : tf.div(sum[name]!, k);
    return { mean, norm: globalNorm(Object.values(mean)) };
  });
  const max = config.clipGradNorm;
  const grads =
    max === undefined
      ? mean
      : tf.tidy(() => {
          // PyTorch's clip_grad_norm_: min(1, c / (‖g‖ + 1e-6))
          const scale = clipFactorOf(max, norm, PYTORCH_CLIP_EPSILON);
          const out: tf.NamedTensorMap = {};
          for (const name of Object.keys(mean)) out[name] = tf.mul(mean[name]!, scale);
          return out;
        });
  const names = vars.map((v) => v.name);
  let bad: string | undefined;
  try {
    bad = check ? firstBadGradient(grads, names, mean) : undefined;
  } finally {
    if (grads !== mean) tf.dispose(mean);
  }
  const meanLoss = tf.div(lossSum, k);
  const [loss, gradNorm] = [meanLoss.dataSync()[0]!, norm.dataSync()[0]!];
  tf.dispose([sum, lossSum, meanLoss, norm]);
  return { grads, loss, gradNorm, bad };
}
