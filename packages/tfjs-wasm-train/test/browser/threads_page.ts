/**
 * The page of threads_browser.test.ts (bundled by esbuild): `window.run(threads, fallback)` starts wasm with
 * `initWasmThreads` and returns what it reported, with a transposed product as base64 float32 bytes.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { enableWasmTraining, initWasmThreads, type WasmThreadsOptions } from '../../src/index.js';

setWasmPaths('/wasm/');

async function run(threads: number, fallback: WasmThreadsOptions['fallback']): Promise<object> {
  try {
    const info = await initWasmThreads({ threads, fallback });
    enableWasmTraining();
    const a = tf.randomNormal([300, 257], 0, 1, 'float32', 1);
    const b = tf.randomNormal([190, 257], 0, 1, 'float32', 2);
    const bytes = new Uint8Array((tf.matMul(a, b, false, true).dataSync() as Float32Array).buffer);
    let binary = '';
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return { info, backend: tf.getBackend(), product: btoa(binary) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

(window as unknown as { run: typeof run }).run = run;
