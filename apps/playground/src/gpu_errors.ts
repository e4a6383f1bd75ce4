// GPU errors surfaced on the test pages (gpu.html): every check runs inside WebGPU error scopes
// (validation, out-of-memory, internal) on tfjs's webgpu device, with tfjs's queued commands submitted
// inside them, and is followed by a WebGL error / lost-context check; errors outside any scope are
// collected from the device's `uncapturederror` event. A dropped command or a failed shader then fails
// the test instead of leaving a silently wrong result. WebGL shader compile / link failures throw in
// tfjs ('Failed to compile fragment shader.'); the tests also fail on the info log tfjs prints then.
import * as tf from '@tensorflow/tfjs';

interface GPUErrorLike {
  message: string;
}
interface GPUDeviceLike {
  pushErrorScope(filter: string): void;
  popErrorScope(): Promise<GPUErrorLike | null>;
  addEventListener(type: string, listener: (e: { error: GPUErrorLike }) => void): void;
}
interface WebGPUBackendLike {
  device: GPUDeviceLike;
  ensureCommandEncoderReady?(): void;
  endComputePassEncoder?(): void;
  submitQueue?(): void;
}
interface WebGLBackendLike {
  gpgpu?: { gl: WebGLRenderingContext };
}

const FILTERS = ['validation', 'out-of-memory', 'internal'];
/** Errors reported outside any scope (uncapturederror), drained by the next guarded call. */
const uncaptured: string[] = [];
const watched = new WeakSet<object>();

const registry = (): Record<string, unknown> =>
  (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;

/** tfjs's webgpu backend once it exists (its device lives as long as the page). */
function webgpu(): WebGPUBackendLike | null {
  const b = registry()['webgpu'] as WebGPUBackendLike | undefined;
  if (b?.device == null) return null;
  if (!watched.has(b.device)) {
    watched.add(b.device);
    b.device.addEventListener('uncapturederror', (e) => uncaptured.push(e.error.message));
  }
  return b;
}

/** WebGL's pending errors (getError drains them) and a lost context, as messages. */
function webglErrors(): string[] {
  const gl = (registry()['webgl'] as WebGLBackendLike | undefined)?.gpgpu?.gl;
  if (gl === undefined) return [];
  const out: string[] = [];
  if (gl.isContextLost()) out.push('webgl: context lost');
  for (let e = gl.getError(), k = 0; e !== gl.NO_ERROR && k < 8; e = gl.getError(), k++) {
    out.push(`webgl: error 0x${e.toString(16)}`);
  }
  return out;
}

/**
 * Runs `fn` with error scopes pushed on the webgpu device (made first where the adapter exists, so the
 * first call is covered too) and throws, after it, any GPU error it caused, naming the check.
 */
export async function guarded<T>(what: string, fn: () => Promise<T>): Promise<T> {
  webglErrors(); // errors left by something else are not this check's
  const before = webgpu();
  for (const f of FILTERS) before?.device.pushErrorScope(f);
  let result: T | undefined;
  let thrown: unknown = null;
  try {
    result = await fn();
  } catch (e) {
    thrown = e;
  }
  const errors: string[] = [];
  if (before !== null) {
    before.ensureCommandEncoderReady?.(); // submit what tfjs queued, inside the scopes
    before.endComputePassEncoder?.();
    before.submitQueue?.();
    for (const f of [...FILTERS].reverse()) {
      const e = await before.device.popErrorScope();
      if (e !== null) errors.push(`webgpu ${f}: ${e.message}`);
    }
  }
  webgpu(); // a device made during the call is watched from now on
  errors.push(...uncaptured.splice(0).map((m) => `webgpu (uncaptured): ${m}`), ...webglErrors());
  if (thrown !== null) throw thrown;
  if (errors.length > 0) throw new Error(`GPU errors in ${what}: ${errors.join('; ')}`);
  return result as T;
}

/** Makes tfjs's webgpu backend (and its device) now, where there is an adapter, so every check runs in scopes. */
export async function startWebgpu(): Promise<void> {
  const previous = tf.getBackend();
  if ('gpu' in navigator && (await tf.setBackend('webgpu').catch(() => false))) webgpu();
  if (previous) await tf.setBackend(previous);
}
