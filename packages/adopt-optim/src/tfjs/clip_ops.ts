/**
 * Clipping by norm with tfjs ops, without a readback: the one implementation used by the optimizers (on webgl and
 * webgpu, and for rules that do not fold the scale into their sign), the Trainer (`clipGradNorm`) and adopt-lab.
 * The formula is ../gradient_clipping.ts `clipFactor`: g ← g · min(1, c / (‖g‖₂ + ε)).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientClipping } from '../gradient_clipping.js';
import { addAll, stackAll } from '../backends/gpu_reduce.js';
import { OptimizerArgumentError } from '../validate.js';

/**
 * √(Σ_i Σ g_i²) over every tensor, float32, computed scaled as m·√(Σ (g/m)²) with m = max |g| (0 when every g
 * is): Σ g² itself overflows to Infinity for |g| beyond ~1.8e19 and underflows to 0 below ~1e-23, where the
 * scaled sum neither does, so that any finite gradient has a finite norm (up to the float32 maximum) equal to the
 * float64 norm within float32 rounding. NaN if a g holds NaN, Infinity if one holds ±Infinity and none NaN. The
 * sums and the max are trees of ops of at most MAX_OP_INPUTS inputs (../backends/gpu_reduce.ts): one addN of 8
 * binds 9 storage buffers, more than WebGPU guarantees, and tfjs's dispatch of it was dropped silently.
 */
export function globalNorm(tensors: readonly tf.Tensor[]): tf.Scalar {
  return normOf(checkTensors('globalNorm', 'tensors', tensors));
}

/** globalNorm without the argument checks (callers that made the tensors themselves). */
function normOf(tensors: readonly tf.Tensor[]): tf.Scalar {
  // a zero-size tensor adds nothing (and tf.max of one is NaN on the cpu backend, -Infinity on others)
  const filled = tensors.filter((g) => g.size > 0);
  if (filled.length === 0) return tf.scalar(0);
  return tf.tidy(() => {
    const m = tf.max(stackAll(filled.map((g) => tf.max(tf.abs(g)))));
    // divided by m only where m is finite and > 0: with m = Infinity, g / m is NaN for the infinite g, and the
    // plain Σ g² is Infinity (NaN only where a g is NaN), as the norm must be
    const divisor = tf.where(tf.logicalAnd(tf.greater(m, 0), tf.less(m, Infinity)), m, tf.onesLike(m));
    const scaled = addAll(filled.map((g) => tf.sum(tf.square(tf.div(g, divisor)))));
    return tf.mul(m, tf.sqrt(scaled)) as tf.Scalar;
  });
}

/** Refuses anything but an array of live float32 tensors, naming `what` and the index. */
function checkTensors(owner: string, what: string, tensors: unknown): readonly tf.Tensor[] {
  if (!Array.isArray(tensors)) {
    const got =
      tensors instanceof tf.Tensor
        ? 'a tf.Tensor'
        : tensors === null || typeof tensors !== 'object'
          ? String(tensors)
          : `a ${(tensors as object).constructor?.name ?? 'object'}`;
    throw new OptimizerArgumentError(`${owner}: invalid ${what} ${got}; expected an array of float32 tensors.`);
  }
  tensors.forEach((t: unknown, i) => {
    const at = `${owner}: ${what}[${i}]`;
    if (!(t instanceof tf.Tensor)) {
      const got =
        typeof t === 'string' ? JSON.stringify(t) : t === null || typeof t !== 'object' ? String(t) : 'an object';
      throw new OptimizerArgumentError(`${at} is ${got}; expected a float32 tf.Tensor.`);
    }
    if (t.isDisposed) throw new OptimizerArgumentError(`${at} is disposed; expected a live float32 tf.Tensor.`);
    if (t.dtype !== 'float32') {
      throw new OptimizerArgumentError(`${at} is ${t.dtype} of shape [${t.shape}]; expected a float32 tf.Tensor.`);
    }
  });
  return tensors as readonly tf.Tensor[];
}

/** A finite number > 0 (`positive`) or >= 0, else an OptimizerArgumentError naming it. */
function checkBound(owner: string, name: string, value: unknown, positive: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (positive ? !(value > 0) : !(value >= 0))) {
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw new OptimizerArgumentError(
      `${owner}: invalid ${name} ${shown}; expected a finite number ${positive ? '>' : '>='} 0.`,
    );
  }
  return value;
}

/**
 * The factor min(1, c / (norm + epsilon)) as a tensor (../gradient_clipping.ts `clipFactor` on numbers).
 * `epsilon` 0 is Keras's c / max(norm, c) (the optimizers' clipnorm, globalClipnorm); 1e-6 is PyTorch's
 * `clip_grad_norm_` (the Trainer's clipGradNorm). NaN where the norm is NaN; 0 where it is Infinity.
 */
export function clipFactorOf(c: number, norm: tf.Scalar, epsilon = 0): tf.Scalar {
  checkBound('clipFactorOf', 'c', c, true);
  checkBound('clipFactorOf', 'epsilon', epsilon, false);
  return factorOf(c, norm, epsilon);
}

/** clipFactorOf without the argument checks (the optimizers' and the Trainer's own, already checked, bounds). */
export function factorOf(c: number, norm: tf.Scalar, epsilon = 0): tf.Scalar {
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
  checkBound('clipByGlobalNorm', 'maxNorm', maxNorm, true);
  checkBound('clipByGlobalNorm', 'epsilon', epsilon, false);
  checkTensors('clipByGlobalNorm', 'gradients', gradients);
  return tf.tidy(() => {
    const norm = normOf(gradients);
    const factor = factorOf(maxNorm, norm, epsilon);
    return { clipped: gradients.map((g) => tf.mul(g, factor) as T), norm };
  });
}

/** The gradients clipped by norm (clipnorm: each alone; globalClipnorm: together): new tensors the caller disposes. */
export function clipByNormWithOps(h: Required<GradientClipping>, gs: readonly tf.Tensor[]): tf.Tensor[] {
  return tf.tidy(() => {
    if (h.clipnorm !== null) {
      const c = h.clipnorm;
      return gs.map((g) => tf.mul(g, factorOf(c, normOf([g]))));
    }
    const factor = factorOf(h.globalClipnorm!, normOf(gs)); // clipByGlobalNorm less its argument checks
    return gs.map((g) => tf.mul(g, factor));
  });
}
