// Regressions on the GPU backends (gpu.html, driven by test/gpu_step.test.mjs), each against the cpu
// backend in the same page: a skipped first ADOPT step (it must initialise at the next step, not
// divide by epsilon), and optimizer state leaving webgpu for cpu or webgl (refused until it is read
// asynchronously; moved by getWeights / setWeights, the run equals cpu's).
import * as tf from '@tensorflow/tfjs';
import 'adopt-optim/gpu'; // the webgl and webgpu fused kernels and the GPU non-finite check
import 'adopt-optim/lowbit'; // int8, int4 and bfloat16 state
import { adopt } from 'adopt-optim';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296) * 2 - 1;
}

const relative = (a: number[], b: number[]) =>
  a.reduce((w, x, j) => Math.max(w, Math.abs(x - b[j]!) / Math.max(Math.abs(b[j]!), 1e-3)), 0);
let unique = 0;

/** Steps over variables of `sizes` on `backend`: the values, counters and skipped count at the end. */
async function run(
  backend: string,
  options: Record<string, unknown>,
  start: Float32Array[],
  grads: Float32Array[][],
  wait = true,
) {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} is not available`);
  await tf.ready();
  const vars = start.map((a, i) => tf.variable(tf.tensor1d(a), true, `regr_${backend}_${unique++}_${i}`));
  const opt = adopt(1e-2, options);
  for (const g of grads) {
    const named = vars.map((v, i) => ({ name: v.name, tensor: tf.tidy(() => tf.add(tf.tensor1d(g[i]!), 0)) }));
    opt.applyGradients(named);
    tf.dispose(named.map((x) => x.tensor));
    if (wait) await opt.checkFinite(); // else every step is issued before any verdict arrives
  }
  await opt.checkFinite();
  const values = await Promise.all(vars.map(async (v) => Array.from(await v.data())));
  const out = { values, steps: vars.map((v) => opt.stepOf(v.name)), skipped: opt.skippedSteps };
  opt.dispose();
  tf.dispose(vars);
  return out;
}

/** nonFinite 'skip', clip null: a NaN in the first step, then small gradients; against cpu. `wait`: each verdict. */
export async function skipFirst(backend: string, options: Record<string, unknown> = {}, wait = true) {
  const next = lcg(9);
  const sizes = [5, 300];
  const start = sizes.map((n) => Float32Array.from({ length: n }, next));
  const gradient = (n: number, k: number) => Float32Array.from({ length: n }, () => (k === 0 ? NaN : next() * 0.01));
  const grads = Array.from({ length: 4 }, (_x, k) => sizes.map((n) => gradient(n, k)));
  const all = { clip: null, nonFinite: 'skip', ...options };
  const gpu = await run(backend, all, start, grads, wait);
  const cpu = await run('cpu', all, start, grads);
  return {
    backend,
    maxRelativeDifferenceToCpu: Math.max(...gpu.values.map((v, i) => relative(v, cpu.values[i]!))),
    largestMove: Math.max(...gpu.values.map((v, i) => Math.max(...v.map((x, j) => Math.abs(x - start[i]![j]!))))),
    countersAsCpu: JSON.stringify([gpu.steps, gpu.skipped]) === JSON.stringify([cpu.steps, cpu.skipped]),
  };
}

/**
 * State made on webgpu, then the backend switched to `to`: a step is refused (nothing changed) while the
 * state was never read asynchronously; `how` then moves it with getWeights / setWeights, saved before or
 * after the switch, and the rest of the run must equal the same run on cpu.
 */
export async function moveOffWebgpu(to: string, options: Record<string, unknown>, how: 'before' | 'after') {
  const next = lcg(13);
  const sizes = [7, 1000];
  const start = sizes.map((n) => Float32Array.from({ length: n }, next));
  const grads = Array.from({ length: 8 }, () => sizes.map((n) => Float32Array.from({ length: n }, () => next() * 0.1)));
  const cpu = await run('cpu', options, start, grads);
  if (!(await tf.setBackend('webgpu'))) throw new Error('backend webgpu is not available');
  const vars = start.map((a, i) => tf.variable(tf.tensor1d(a), true, `move_${unique++}_${i}`));
  const opt = adopt(1e-2, options);
  const step = (g: Float32Array[]) => {
    const named = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor1d(g[i]!) }));
    try {
      opt.applyGradients(named);
    } finally {
      tf.dispose(named.map((x) => x.tensor));
    }
  };
  for (const g of grads.slice(0, 3)) step(g);
  const saved = how === 'before' ? await opt.getWeights() : null;
  if (!(await tf.setBackend(to))) throw new Error(`backend ${to} is not available`);
  let refused = '';
  if (saved === null) {
    try {
      step(grads[3]!);
    } catch (e) {
      refused = (e as Error).message;
    }
  }
  const unchanged = vars.every((v) => opt.stepOf(v.name) === 3);
  await opt.setWeights(saved ?? (await opt.getWeights()));
  for (const g of grads.slice(3)) step(g);
  const values = await Promise.all(vars.map(async (v) => Array.from(await v.data())));
  opt.dispose();
  tf.dispose(vars);
  const maxRelativeDifferenceToCpu = Math.max(...values.map((v, i) => relative(v, cpu.values[i]!)));
  return { to, how, refused, unchanged, maxRelativeDifferenceToCpu };
}
