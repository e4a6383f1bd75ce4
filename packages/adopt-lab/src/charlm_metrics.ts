/**
 * Measuring the character language model: losses over random windows and over a whole text, the
 * GPT's parameter count, and loss spikes in a training curve.
 */
import * as tf from '@tensorflow/tfjs';
import { meanStd, Random } from './common.js';
import type { Gpt } from './gpt.js';

/** A batch of inputs and next-character targets, [batch, context] each. */
export type TextWindow = { x: tf.Tensor2D; y: tf.Tensor2D };

/** A batch of random windows (inputs and next-character targets) from `ids`. */
export function windows(ids: Int32Array, batch: number, T: number, random: Random): TextWindow {
  const x = new Int32Array(batch * T);
  const y = new Int32Array(batch * T);
  for (let b = 0; b < batch; b++) {
    const start = random.int(ids.length - T - 1);
    x.set(ids.subarray(start, start + T), b * T);
    y.set(ids.subarray(start + 1, start + T + 1), b * T);
  }
  return { x: tf.tensor2d(x, [batch, T], 'int32'), y: tf.tensor2d(y, [batch, T], 'int32') };
}

/** Mean loss over fixed random windows (the same for every model): the cheap estimate drawn in the curves. */
export function validationLoss(model: Gpt, ids: Int32Array, count: number, T: number): number {
  const random = new Random(424242);
  const losses: number[] = [];
  for (let i = 0; i < count; i += 16) {
    const w = windows(ids, Math.min(16, count - i), T, random);
    const l = model.loss(w.x, w.y);
    losses.push(l.dataSync()[0]!);
    tf.dispose([w.x, w.y, l]);
  }
  return meanStd(losses).mean;
}

/**
 * Mean loss (nats per character) over the whole of `ids`, cut into consecutive windows of T
 * characters: every character but the first and the last (ids.length - 1) mod T is predicted
 * exactly once, from the characters before it in its window.
 */
export function fullLoss(model: Gpt, ids: Int32Array, T: number, batch = 32): number {
  const count = Math.floor((ids.length - 1) / T);
  let sum = 0;
  for (let first = 0; first < count; first += batch) {
    const n = Math.min(batch, count - first);
    const x = new Int32Array(n * T);
    const y = new Int32Array(n * T);
    for (let b = 0; b < n; b++) {
      const start = (first + b) * T;
      x.set(ids.subarray(start, start + T), b * T);
      y.set(ids.subarray(start + 1, start + T + 1), b * T);
    }
    const xs = tf.tensor2d(x, [n, T], 'int32');
    const ys = tf.tensor2d(y, [n, T], 'int32');
    const l = model.loss(xs, ys);
    sum += l.dataSync()[0]! * n;
    tf.dispose([xs, ys, l]);
  }
  return sum / count;
}

/** Parameters of the GPT for these settings. */
export function gptParameters(b: { width: number; context: number; layers: number }, vocab: number): number {
  const d = b.width;
  return vocab * d + b.context * d + b.layers * (12 * d * d + 13 * d) + 2 * d + d * vocab;
}

/** How loss spikes are counted (README and report say the same). */
export const SPIKE_RULE = { window: 50, ratio: 1.3 };

/**
 * Loss spikes in a training-loss curve: a spike starts at step t (t >= window) when loss[t] is
 * above `ratio` times the median of the `window` losses before it, or is not finite, and
 * loss[t - 1] was not itself part of a spike (a run of such steps is one spike). Also returns the
 * largest loss[t] / median ratio seen.
 */
export function countSpikes(
  losses: readonly number[],
  window = SPIKE_RULE.window,
  ratio = SPIKE_RULE.ratio,
): { spikes: number; maxRatio: number } {
  let spikes = 0;
  let maxRatio = 0;
  let inSpike = false;
  for (let t = window; t < losses.length; t++) {
    const before = losses
      .slice(t - window, t)
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const median =
      before.length === 0
        ? NaN
        : before.length % 2
          ? before[(before.length - 1) / 2]!
          : (before[before.length / 2 - 1]! + before[before.length / 2]!) / 2;
    const r = losses[t]! / median;
    const high = !Number.isFinite(losses[t]!) || !(median > 0) || r > ratio;
    if (Number.isFinite(r)) maxRatio = Math.max(maxRatio, r);
    if (high && !inSpike) spikes++;
    inSpike = high;
  }
  return { spikes, maxRatio };
}
