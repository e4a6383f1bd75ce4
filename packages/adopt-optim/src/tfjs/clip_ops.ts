/**
 * Clipping by norm with tfjs ops (src/gradient_clipping.ts has the rule), without a readback: on webgl and
 * webgpu, and for rules that do not fold the scale into their sign.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientClipping } from '../gradient_clipping.js';
import { addAll } from '../backends/gpu_reduce.js';

/**
 * The gradients clipped by norm: new tensors the caller disposes. The squares of g · 2^-20 neither
 * overflow (|g| < 2^63) nor, for any useful norm, underflow in float32. The global sum is a tree of
 * small adds (../backends/gpu_reduce.ts): one addN of 8 partial sums binds 9 storage buffers, more
 * than WebGPU guarantees, and tfjs's dispatch of it was dropped silently.
 */
export function clipByNormWithOps(h: Required<GradientClipping>, gs: readonly tf.Tensor[]): tf.Tensor[] {
  return tf.tidy(() => {
    const sums = gs.map((g) => tf.sum(tf.square(tf.mul(g, 2 ** -20))));
    const c = (h.clipnorm ?? h.globalClipnorm)!;
    const norms = h.clipnorm !== null
      ? sums.map((s) => tf.mul(tf.sqrt(s), 2 ** 20))
      : [tf.mul(tf.sqrt(addAll(sums)), 2 ** 20)];
    return gs.map((g, i) => tf.mul(g, tf.div(c, tf.maximum(norms[h.clipnorm !== null ? i : 0]!, c))));
  });
}
