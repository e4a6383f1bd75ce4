/**
 * State leaving tfjs's webgpu backend (docs/ALGORITHM.md §6.3): only through an asynchronous read.
 *
 * A tensor held by webgpu and used on another backend is moved by tfjs with a synchronous read
 * (`readSync`), which in headless Chromium returned 999 of 1000 values wrong for a fresh tensor
 * (an OffscreenCanvas path), lost the device on the way to webgl, and in Node does not exist. A
 * tensor read asynchronously (`await t.data()`) keeps a CPU copy, and tfjs moves that copy instead,
 * correctly, until the GPU writes it again. So a step on another backend refuses state held by
 * webgpu without such a copy, and getWeights reads it asynchronously first (which makes the copy).
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptimizerArgumentError } from '../validate.js';

interface EngineInternals {
  state: { tensorInfo: { get(dataId: object): { backend: unknown } | undefined } };
  registry: Record<string, unknown>;
}
interface WebGPUData {
  tensorMap?: { get(dataId: object): { values: unknown } | undefined };
}

/** The webgpu backend if this process initialised it, else null (then nothing is held there; none is started). */
function webgpuBackend(): WebGPUData | null {
  return ((tf.engine() as unknown as EngineInternals).registry['webgpu'] as WebGPUData | undefined) ?? null;
}

/**
 * Whether using `t` on the active backend would read it from webgpu synchronously: it is held by
 * webgpu, the active backend is another, and webgpu keeps no CPU copy of it.
 */
export function heldOnWebgpu(t: tf.Tensor): boolean {
  if (tf.getBackend() === 'webgpu' || t.isDisposed) return false;
  const webgpu = webgpuBackend();
  if (webgpu === null) return false;
  const info = (tf.engine() as unknown as EngineInternals).state.tensorInfo.get(t.dataId);
  if (info === undefined || info.backend !== webgpu) return false;
  return webgpu.tensorMap?.get(t.dataId)?.values == null;
}

/** Whether webgpu keeps a CPU copy of `t` (read asynchronously since its last write), so reading it is no GPU read. */
export function hasCpuCopy(t: tf.Tensor): boolean {
  const webgpu = webgpuBackend();
  return webgpu !== null && webgpu.tensorMap?.get(t.dataId)?.values != null;
}

/** Reads asynchronously every tensor held on webgpu without a CPU copy (so tfjs moves that copy). */
export async function readOffWebgpu(ts: readonly tf.Tensor[]): Promise<void> {
  await Promise.all(ts.filter(heldOnWebgpu).map((t) => t.data()));
}

/** The refusal of a step on another backend whose state (or parameter) is still on webgpu. */
export function stateOnWebgpuError(owner: string, what: string, variable: string): OptimizerArgumentError {
  return new OptimizerArgumentError(
    `${owner}: the ${what} of variable "${variable}" is on the webgpu backend, and a ${tf.getBackend()} step ` +
      "would read it back synchronously, which tfjs's webgpu backend cannot do correctly (docs/ALGORITHM.md " +
      '§6.3). Move the state asynchronously: before tf.setBackend(...), `const w = await optimizer.getWeights()`, ' +
      'and after it `await optimizer.setWeights(w)` (or, already switched, ' +
      '`await optimizer.setWeights(await optimizer.getWeights())`); ' +
      `${what === 'parameter' ? 'read the variable with `await variable.data()` first; ' : ''}` +
      'or step on webgpu. Nothing was changed.',
  );
}
