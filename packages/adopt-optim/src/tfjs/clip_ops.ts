/**
 * Clipping by norm with tfjs ops, without a readback: the one implementation used by the optimizers (on webgl and
 * webgpu, and for rules that do not fold the scale into their sign), the Trainer (`clipGradNorm`) and adopt-lab.
 * The formula is ../gradient_clipping.ts `clipFactor`: g ← g · min(1, c / (‖g‖₂ + ε)).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientClipping } from '../gradient_clipping.js';
import { addAll, stackAll } from '../backends/gpu_reduce.js';

/**
 * √(Σ_i Σ g_i²) over every tensor, float32, computed scaled as m·√(Σ (g/m)²) with m = max |g| (0 when every g
 * is): Σ g² itself overflows to Infinity for |g| beyond ~1.8e19 and underflows to 0 below ~1e-23, where the
 * scaled sum neither does, so that any finite gradient has a finite norm (up to the float32 maximum) equal to the
 * float64 norm within float32 rounding. NaN if a g holds NaN, Infinity if one holds ±Infinity and none NaN. The
 * sums and the max are trees of ops of at most MAX_OP_INPUTS inputs (../backends/gpu_reduce.ts): one addN of 8
 * binds 9 storage buffers, more than WebGPU guarantees, and tfjs's dispatch of it was dropped silently.
 */
export function globalNorm(tensors: readonly tf.Tensor[]): tf.Scalar {
  if (tensors.length === 0) return tf.scalar(0);
  return tf.tidy(() => {
    const m = tf.max(stackAll(tensors.map((g) => tf.max(tf.abs(g)))));
    const divisor = tf.where(tf.greater(m, 0), m, tf.onesLike(m));
    const scaled = addAll(tensors.map((g) => tf.sum(tf.square(tf.div(g, divisor)))));
    return tf.mul(m, tf.sqrt(scaled)) as tf.Scalar;
  });
}

/**
 * The factor min(1, c / (norm + epsilon)) as a tensor (../gradient_clipping.ts `clipFactor` on numbers).
 * `epsilon` 0 is Keras's c / max(norm, c) (the optimizers' clipnorm, globalClipnorm); 1e-6 is PyTorch's
 * `clip_grad_norm_` (the Trainer's clipGradNorm). NaN where the norm is NaN; 0 where it is Infinity.
 */
export function clipFactorOf(c: number, norm: tf.Scalar, epsilon = 0): tf.Scalar {
  // min(x, 1), not min(1, x): tfjs's wasm Minimum keeps its first operand when the other is NaN
  return tf.tidy(() => tf.minimum(tf.div(c, epsilon === 0 ? norm : tf.add(norm, epsilon)), 1) as tf.Scalar);
}

/**
 * The gradients scaled together to a global L2 norm of at most `maxNorm` (new tensors the caller disposes), and that
 * norm before clipping. `epsilon` as in clipFactorOf: 0 (Keras, the default) or 1e-6 (PyTorch's clip_grad_norm_).
 */
export function clipByGlobalNorm<T extends tf.Tensor>(
  gradients: readonly T[],
  maxNorm: number,
  epsilon = 0,
): { clipped: T[]; norm: tf.Scalar } {
  if (typeof maxNorm !== 'number' || !(maxNorm > 0) || !Number.isFinite(maxNorm)) {
    throw new RangeError(`clipByGlobalNorm: invalid maxNorm ${String(maxNorm)}; expected a finite number > 0.`);
  }
  if (typeof epsilon !== 'number' || !(epsilon >= 0) || !Number.isFinite(epsilon)) {
    throw new RangeError(`clipByGlobalNorm: invalid epsilon ${String(epsilon)}; expected a finite number >= 0.`);
  }
  return tf.tidy(() => {
    const norm = globalNorm(gradients);
    const factor = clipFactorOf(maxNorm, norm, epsilon);
    return { clipped: gradients.map((g) => tf.mul(g, factor) as T), norm };
  });
}

/** The gradients clipped by norm (clipnorm: each alone; globalClipnorm: together): new tensors the caller disposes. */
export function clipByNormWithOps(h: Required<GradientClipping>, gs: readonly tf.Tensor[]): tf.Tensor[] {
  return tf.tidy(() => {
    if (h.clipnorm !== null) {
      const c = h.clipnorm;
      return gs.map((g) => tf.mul(g, clipFactorOf(c, globalNorm([g]))));
    }
    const factor = clipFactorOf(h.globalClipnorm!, globalNorm(gs)); // clipByGlobalNorm less its argument checks
    return gs.map((g) => tf.mul(g, factor));
  });
}
