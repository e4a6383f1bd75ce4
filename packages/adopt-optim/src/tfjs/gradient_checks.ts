/**
 * The gradients of a step, checked before anything changes: each names a live float32 variable once, with
 * its shape (checkGradients); and whether one holds NaN or Infinity, in one read (firstNonFinite, §6).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap } from '@tensorflow/tfjs-core';
import { OptimizerArgumentError } from '../validate.js';
import type { FusedKernels } from '../backends/tfjs_fused.js';
import { stackAll } from '../backends/gpu_reduce.js';
import type { NamedTensor } from './slot_store.js';

/** Resolves names to variables and checks every gradient; throws before anything changes. */
export function checkGradients(
  displayName: string,
  variableGradients: NamedTensorMap | NamedTensor[],
): [tf.Variable, tf.Tensor][] {
  const entries: [string, tf.Tensor | null | undefined][] = Array.isArray(variableGradients)
    ? variableGradients.map((g) => [g.name, g.tensor])
    : Object.entries(variableGradients);
  const registered = tf.engine().registeredVariables;
  const seen = new Set<string>();
  const pairs: [tf.Variable, tf.Tensor][] = [];
  for (const [name, gradient] of entries) {
    if (gradient == null) continue; // no gradient for this variable: leave it, as tfjs does
    const variable = registered[name];
    if (variable === undefined) {
      throw new OptimizerArgumentError(
        `${displayName}: a gradient names the unknown variable "${name}"; ` +
          'expected the name of a live tf.Variable.',
      );
    }
    if (seen.has(name)) {
      throw new OptimizerArgumentError(`${displayName}: two gradients name the variable "${name}".`);
    }
    seen.add(name);
    if (!tf.util.arraysEqual(gradient.shape, variable.shape)) {
      throw new OptimizerArgumentError(
        `${displayName}: the gradient of "${name}" has shape [${gradient.shape}] ` +
          `but the variable has shape [${variable.shape}].`,
      );
    }
    if (variable.dtype !== 'float32' || gradient.dtype !== 'float32') {
      throw new OptimizerArgumentError(
        `${displayName}: the gradient of "${name}" has dtype ${gradient.dtype} and the variable ` +
          `${variable.dtype}; expected float32 for both.`,
      );
    }
    if (gradient.isDisposed) {
      throw new OptimizerArgumentError(`${displayName}: the gradient of "${name}" is disposed.`);
    }
    pairs.push([variable, gradient]);
  }
  return pairs;
}

/** Name of the first variable whose gradient is not finite; one readback for all of them. */
export function firstNonFinite(kernels: FusedKernels | null, all: [tf.Variable, tf.Tensor][]): string | undefined {
  // empty gradients hold nothing to check (and tf.sum of an empty tensor is garbage on wasm)
  const pairs = all.filter(([, g]) => g.size > 0);
  if (pairs.length === 0) return undefined;
  const k = kernels;
  if (k?.accepts(pairs.map(([, g]) => g))) {
    return pairs.find(([, g]) => !k.allFinite(g))?.[0].name; // one read of each gradient, no tensors
  }
  // sum(g · 2^65 · 0) is 0 when every |g| < 2^63 and NaN otherwise (./gpu_nonfinite.ts); it runs on every backend.
  const flags = tf.tidy(() => opsFlags(pairs.map(([, g]) => g)));
  const values = flags.dataSync();
  flags.dispose();
  const index = values.findIndex((x) => x !== 0);
  return index < 0 ? undefined : pairs[index]![0].name;
}

/**
 * A gradient's flag with tfjs ops: `sum(g · 2^65 · 0)`, 0 when every |g| < 2^63 (GRADIENT_LIMIT), NaN
 * otherwise (g · 2^65 is exact and overflows to ±Infinity from |g| = 2^63; NaN and ±Infinity stay so;
 * times 0 gives NaN for those and 0 for the rest). The GPU kernels may bring a cheaper one (one
 * program: the count of elements out of range).
 */
export function opsFlag(g: tf.Tensor): tf.Tensor {
  return tf.sum(tf.mul(tf.mul(g, 2 ** 65), 0));
}

/** The flags of several gradients as one vector (one element per gradient), with tfjs ops. */
export function opsFlags(gs: tf.Tensor[]): tf.Tensor {
  return stackAll(gs.map(opsFlag));
}
