/**
 * Epsilon as the op-by-op path may use it on a backend (docs/ALGORITHM.md §7.1): raised to 1e-4
 * where the backend stores or computes in float16.
 */
import * as tf from '@tensorflow/tfjs-core';
import { FLOAT16_EPSILON_FLOOR, webglEpsilon } from '../backends/webgl_epsilon.js';

/** Per backend: whether an epsilon survives a round trip through it. */
const epsilonSurvives = new WeakMap<object, Map<number, boolean>>();
/** Backends that store and compute in float32: epsilon always survives (§7.1). */
const FLOAT32_BACKENDS = new Set(['webgpu', 'cpu', 'wasm', 'tensorflow']);

/**
 * epsilon as the op-by-op path may use it. On a backend that computes in float16 (WebGL with
 * half-float textures on some devices) an epsilon of 1e-6 flushes to zero (0 / 0 = NaN where
 * v = 0) or overflows the division (g / 1e-6 > 65504); there it is raised to 1e-4. Whether that
 * happens is decided without reading anything back on webgl (float16 textures, i.e.
 * `WEBGL_RENDER_FLOAT32_ENABLED` false, raise it) and webgpu (float32 always); elsewhere it is
 * measured once per backend and epsilon (tfjs's floatPrecision() reads back synchronously, and
 * on webgpu a synchronous readback of a fresh tensor returned 0 or lost the device).
 */
export function backendSafeEpsilon(epsilon: number): number {
  const name = tf.getBackend();
  if (name === 'webgl') return webglEpsilon(epsilon);
  if (FLOAT32_BACKENDS.has(name)) return epsilon;
  const backend = tf.backend();
  let known = epsilonSurvives.get(backend);
  if (known === undefined) epsilonSurvives.set(backend, (known = new Map()));
  let survives = known.get(epsilon);
  if (survives === undefined) {
    // The update's own arithmetic, 0 / max(0, eps) and 1 / max(0, eps), on 1024 elements (WebGL
    // hands tensors under 128 elements to the CPU, which would hide float16 storage and math).
    const [zero, big] = tf.tidy(() => {
      const floor = tf.maximum(tf.zeros([2, 1024]), epsilon);
      const out = tf.div(tf.concat([tf.zeros([1, 1024]), tf.ones([1, 1024])]), floor).dataSync();
      return [out[0]!, out[1024]!];
    });
    survives = epsilon === 0 || (zero === 0 && Number.isFinite(big));
    known.set(epsilon, survives);
  }
  return survives ? epsilon : Math.max(epsilon, FLOAT16_EPSILON_FLOOR);
}
