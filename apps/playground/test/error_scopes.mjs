// WebGPU error scopes around GPU test steps (Node with Dawn, and the same logic in the browser pages through
// src/error_scopes.ts): a command the device refused (validation) or could not allocate for (out-of-memory) is
// otherwise dropped silently; here it makes the step throw, naming what failed.

/** The device of tfjs's active webgpu backend, or null on another backend. */
export function deviceOf(tf) {
  return tf.getBackend() === 'webgpu' ? (tf.backend().device ?? null) : null;
}

/**
 * Runs `fn` (sync or async) inside validation, out-of-memory and internal error scopes of tfjs's webgpu device,
 * after flushing tfjs's queued commands (they must be submitted inside the scopes to be caught); throws the first
 * error the device reports. On other backends it just runs `fn`.
 */
export async function scoped(tf, fn, what = 'a GPU step') {
  const device = deviceOf(tf);
  if (device === null) return fn();
  const filters = ['validation', 'out-of-memory', 'internal'];
  for (const f of filters) device.pushErrorScope(f);
  let result;
  let thrown = null;
  try {
    result = await fn();
    flush(tf);
  } catch (e) {
    thrown = e;
  }
  const errors = [];
  for (const f of [...filters].reverse()) {
    const e = await device.popErrorScope();
    if (e) errors.push(`${f}: ${e.message}`);
  }
  if (thrown !== null) throw thrown;
  if (errors.length > 0) throw new Error(`WebGPU error in ${what}: ${errors.join('; ')}`);
  return result;
}

/** Submits tfjs's pending commands now (tfjs batches dispatches and submits them later). */
export function flush(tf) {
  const b = tf.backend();
  if (tf.getBackend() !== 'webgpu') return;
  b.ensureCommandEncoderReady?.();
  b.endComputePassEncoder?.();
  b.submitQueue?.();
}
