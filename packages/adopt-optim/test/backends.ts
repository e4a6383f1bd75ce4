/** The backends every tfjs test runs on: `cpu` and `wasm` (SIMD, single-threaded in Node). */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export const BACKENDS = ['cpu', 'wasm'] as const;

export async function useBackend(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed to initialise`);
  await tf.ready();
}

/** Values of a tensor as float64 numbers. */
export function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}
