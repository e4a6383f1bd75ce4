/**
 * Sums and stacks of many tensors with at most MAX_OP_INPUTS inputs per op, for the paths that run
 * on webgl and webgpu. tfjs's webgpu AddN binds every input and its output as storage buffers: with
 * 8 inputs that is 9 where WebGPU guarantees 8 per shader stage, and the dispatch was dropped
 * silently (`globalClipnorm` did nothing with 8 or more variables). A tree of small ops stays
 * within any device's limits and costs a few more dispatches, one per 3 inputs.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Inputs per op: 4 inputs and an output are 5 storage buffers (WebGPU guarantees 8). */
export const MAX_OP_INPUTS = 4;

/** Σ ts, elementwise (all of one shape), as a tree of addN of at most MAX_OP_INPUTS inputs. */
export function addAll(ts: readonly tf.Tensor[]): tf.Tensor {
  if (ts.length === 0) throw new RangeError('adopt-optim: addAll of no tensors.');
  return tf.tidy(() => {
    let level: tf.Tensor[] = [...ts];
    while (level.length > 1) {
      const next: tf.Tensor[] = [];
      for (let i = 0; i < level.length; i += MAX_OP_INPUTS) {
        const group = level.slice(i, i + MAX_OP_INPUTS);
        next.push(group.length === 1 ? group[0]! : tf.addN(group));
      }
      level = next;
    }
    return tf.clone(level[0]!);
  });
}

/** tf.stack(ts) (all of one shape), with at most MAX_OP_INPUTS inputs per stack and concat. */
export function stackAll(ts: readonly tf.Tensor[]): tf.Tensor {
  if (ts.length === 0) throw new RangeError('adopt-optim: stackAll of no tensors.');
  return tf.tidy(() => {
    let level: tf.Tensor[] = [];
    for (let i = 0; i < ts.length; i += MAX_OP_INPUTS) level.push(tf.stack(ts.slice(i, i + MAX_OP_INPUTS)));
    while (level.length > 1) {
      const next: tf.Tensor[] = [];
      for (let i = 0; i < level.length; i += MAX_OP_INPUTS) {
        const group = level.slice(i, i + MAX_OP_INPUTS);
        next.push(group.length === 1 ? group[0]! : tf.concat(group, 0));
      }
      level = next;
    }
    return level[0]!;
  });
}
