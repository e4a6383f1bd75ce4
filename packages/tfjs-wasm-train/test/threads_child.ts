/**
 * A child process for threads.test.ts: starts wasm with `initWasmThreads` (argv[2] threads), computes matrix
 * products and trains a small Conv2D + Dense network a few steps with tfjs-wasm-train, prints one JSON line and
 * must then exit on its own (an idle thread pool must not keep the process alive).
 * argv[3]: 'run' (default); 'nosab' (SharedArrayBuffer removed first; argv[4] 'fallback' to fall back);
 * 'twice' (a second call with another count must throw, with the same count must not); 'concurrent' (three calls
 * in flight at once, the last with another count: the first two start one backend, the last is refused).
 */
import * as tf from '@tensorflow/tfjs';
import { enableWasmTraining, initWasmThreads, type WasmThreadsOptions } from '../src/index.js';

const threads = Number(process.argv[2]);
const mode = process.argv[3] ?? 'run';

/** Deterministic values in [-1, 1) (mulberry32), independent of tfjs's generators. */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    let t = (s += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  });
}

const base64 = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

function products(): Record<string, string> {
  const out: Record<string, string> = {};
  const a = tf.tensor2d(values(257 * 300, 1), [257, 300]);
  const b = tf.tensor2d(values(300 * 190, 2), [300, 190]);
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    const r = tf.matMul(ta ? a.transpose() : a, tb ? b.transpose() : b, ta, tb);
    out[`${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`] = base64(r.dataSync() as Float32Array);
  }
  return out;
}

function train(): { losses: number[]; weights: string[]; tensors: number[] } {
  const w = {
    conv: tf.variable(
      tf.tensor4d(
        values(3 * 3 * 2 * 8, 3).map((v) => v * 0.4),
        [3, 3, 2, 8],
      ),
    ),
    dense: tf.variable(
      tf.tensor2d(
        values(8 * 8 * 8 * 10, 4).map((v) => v * 0.1),
        [8 * 8 * 8, 10],
      ),
    ),
    bias: tf.variable(tf.zeros([10])),
  };
  const x = tf.tensor4d(values(32 * 16 * 16 * 2, 5), [32, 16, 16, 2]);
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: 32 }, (_, i) => (i * 7) % 10),
      'int32',
    ),
    10,
  );
  const opt = tf.train.adam(0.01);
  const losses: number[] = [];
  const tensors: number[] = [];
  for (let step = 0; step < 4; step++) {
    const loss = opt.minimize(() => {
      const h = tf.maxPool(tf.relu(tf.conv2d(x, w.conv, 1, 'same')), 2, 2, 'valid');
      const logits = tf.add(tf.matMul(tf.reshape(h, [32, -1]), w.dense), w.bias);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    }, true)!;
    losses.push(loss.dataSync()[0]!);
    loss.dispose();
    tensors.push(tf.memory().numTensors);
  }
  return { losses, weights: Object.values(w).map((v) => base64(v.dataSync() as Float32Array)), tensors };
}

async function main(): Promise<void> {
  if (mode === 'nosab') {
    delete (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer;
    const options: WasmThreadsOptions = { threads };
    if (process.argv[4] === 'fallback') options.fallback = 'single-thread';
    try {
      const info = await initWasmThreads(options);
      console.log(JSON.stringify({ info, backend: tf.getBackend() }));
    } catch (e) {
      console.log(JSON.stringify({ error: (e as Error).message, started: tf.engine().registry['wasm'] !== undefined }));
    }
    return;
  }
  if (mode === 'concurrent') {
    const calls = [threads, threads, threads === 1 ? 2 : 1].map((n) => initWasmThreads({ threads: n }));
    const settled = await Promise.allSettled(calls);
    const results = settled.map((r) => (r.status === 'fulfilled' ? r.value : { error: (r.reason as Error).message }));
    const product = tf.tidy(() => tf.matMul(tf.ones([4, 4]), tf.ones([4, 4])).dataSync()[0]);
    console.log(JSON.stringify({ results, backend: tf.getBackend(), product }));
    return;
  }
  const info = await initWasmThreads({ threads });
  if (mode === 'twice') {
    let error = '';
    try {
      await initWasmThreads({ threads: threads === 1 ? 2 : 1 });
    } catch (e) {
      error = (e as Error).message;
    }
    const again = await initWasmThreads({ threads });
    console.log(JSON.stringify({ info, error, again }));
    return;
  }
  enableWasmTraining();
  console.log(JSON.stringify({ info, backend: tf.getBackend(), products: tf.tidy(products), ...train() }));
}

await main();
