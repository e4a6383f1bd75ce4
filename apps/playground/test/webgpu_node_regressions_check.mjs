// Run by webgpu_node.test.mjs in a child process with Dawn's environment: regressions found on tfjs's webgpu
// backend, each against the cpu backend, every GPU step inside WebGPU error scopes (./error_scopes.mjs):
// globalClipnorm over 8+ variables (tfjs's AddN of 8 binds 9 storage buffers: dropped), a skipped first ADOPT step
// (must redo the initialisation, not divide by epsilon), and state leaving webgpu for another backend (refused, or
// moved by getWeights / setWeights). Prints one JSON line.
import { webgpuOrExit } from '../scripts/dawn.mjs';
import { scoped } from './error_scopes.mjs';

const { adapter, tf } = await webgpuOrExit();
await import('adopt-optim/gpu'); // the webgpu fused kernels and the GPU non-finite check
await import('adopt-optim/lowbit'); // low-bit state
const { adam, adopt } = await import('adopt-optim');

let seed = 5;
const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 4294967296) * 2 - 1;
const relative = (a, b) => a.reduce((w, x, j) => Math.max(w, Math.abs(x - b[j]) / Math.max(Math.abs(b[j]), 1e-3)), 0);
let unique = 0;

/** Steps `make()` over variables of `sizes` with `grads` (per step, per variable; null: no step) on `backend`. */
async function run(backend, make, sizes, start, grads, wait = true) {
  await tf.setBackend(backend);
  await tf.ready();
  const tag = `${backend}_${unique++}`;
  const vars = sizes.map((_n, i) => tf.variable(tf.tensor1d(start[i]), true, `reg_${tag}_${i}`));
  const opt = make();
  const step = (g) => {
    const named = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor1d(g[i]) }));
    opt.applyGradients(named);
    tf.dispose(named.map((x) => x.tensor));
  };
  if (wait) {
    for (const g of grads) {
      await scoped(tf, () => step(g), `${backend} step`);
      await opt.checkFinite();
    }
  } else {
    // every step issued before any verdict can arrive (no await between them)
    await scoped(tf, () => grads.forEach(step), `${backend} steps`);
  }
  await opt.checkFinite();
  const values = await Promise.all(vars.map(async (v) => Array.from(await v.data())));
  const steps = vars.map((v) => opt.stepOf(v.name));
  const out = { values, skipped: opt.skippedSteps, steps, iterations: opt.iterations };
  opt.dispose();
  tf.dispose(vars);
  return out;
}

// 1. globalClipnorm with 3, 7, 8, 9 and 13 variables: the clipped step equals cpu's
const clip = {};
for (const count of [3, 7, 8, 9, 13]) {
  const sizes = Array.from({ length: count }, (_x, i) => 3 + 7 * i);
  const start = sizes.map((n) => Float32Array.from({ length: n }, rand));
  const grads = Array.from({ length: 3 }, () => sizes.map((n) => Float32Array.from({ length: n }, () => rand() * 10)));
  const make = () => adam(1e-2, { globalClipnorm: 0.5 });
  try {
    const gpu = await run('webgpu', make, sizes, start, grads);
    const cpu = await run('cpu', make, sizes, start, grads);
    clip[count] = Math.max(...gpu.values.map((v, i) => relative(v, cpu.values[i])));
  } catch (e) {
    clip[count] = e.message; // a WebGPU error the scopes caught
  }
}

// 2. nonFinite 'skip' on ADOPT's first step, clip null: the next step initialises, as on cpu (a NaN gradient,
// then finite ones; with and without awaiting the verdict between steps; float32 and 4-bit state)
const skipFirst = {};
for (const [name, options] of [
  ['float32', {}],
  ['int4', { stateDtype: 'int4' }],
  ['float32 ops', { fused: false }],
]) {
  for (const wait of [true, false]) {
    const sizes = [5, 300];
    const start = sizes.map((n) => Float32Array.from({ length: n }, rand));
    const gradient = (n, k) => Float32Array.from({ length: n }, () => (k === 0 ? NaN : rand() * 0.01));
    const grads = Array.from({ length: 4 }, (_x, k) => sizes.map((n) => gradient(n, k)));
    const make = () => adopt(1e-2, { clip: null, nonFinite: 'skip', ...options });
    const gpu = await run('webgpu', make, sizes, start, grads, wait);
    const cpu = await run('cpu', make, sizes, start, grads);
    const moved = Math.max(...gpu.values.map((v, i) => Math.max(...v.map((x, j) => Math.abs(x - start[i][j])))));
    skipFirst[`${name}${wait ? '' : ', not awaited'}`] = {
      maxRelativeDifferenceToCpu: Math.max(...gpu.values.map((v, i) => relative(v, cpu.values[i]))),
      largestMove: moved,
      skipped: gpu.skipped,
      counters: JSON.stringify([gpu.steps, gpu.iterations]) === JSON.stringify([cpu.steps, cpu.iterations]),
    };
  }
}

// 3. state made on webgpu, then tf.setBackend('cpu'): the step is refused (nothing changed) until the state moves
// through an asynchronous read; moved by getWeights / setWeights (before or after the switch) the run equals cpu's
const moves = {};
for (const [name, options] of [
  ['float32', {}],
  ['int8', { stateDtype: 'int8' }],
  ['int4', { stateDtype: 'int4' }],
]) {
  for (const how of ['saved before the switch', 'saved after the switch']) {
    const sizes = [7, 1000];
    const start = sizes.map((n) => Float32Array.from({ length: n }, rand));
    const gradient = (n) => Float32Array.from({ length: n }, () => rand() * 0.1);
    const grads = Array.from({ length: 8 }, () => sizes.map(gradient));
    const make = () => adopt(1e-2, options);
    const cpu = await run('cpu', make, sizes, start, grads);
    await tf.setBackend('webgpu');
    const vars = sizes.map((_n, i) => tf.variable(tf.tensor1d(start[i]), true, `move_${unique++}_${i}`));
    const opt = make();
    const step = (g) => {
      const named = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor1d(g[i]) }));
      try {
        opt.applyGradients(named);
      } finally {
        tf.dispose(named.map((x) => x.tensor));
      }
    };
    for (const g of grads.slice(0, 3)) await scoped(tf, () => step(g), 'webgpu step');
    const saved = how === 'saved before the switch' ? await opt.getWeights() : null;
    await tf.setBackend('cpu');
    let refused = '';
    if (saved === null) {
      try {
        step(grads[3]);
      } catch (e) {
        refused = e.message;
      }
    }
    const unchanged = vars.every((v) => opt.stepOf(v.name) === 3);
    await opt.setWeights(saved ?? (await opt.getWeights()));
    for (const g of grads.slice(3)) step(g);
    const values = await Promise.all(vars.map(async (v) => Array.from(await v.data())));
    moves[`${name}, ${how}`] = {
      refused,
      unchanged,
      maxRelativeDifferenceToCpu: Math.max(...values.map((v, i) => relative(v, cpu.values[i]))),
    };
    opt.dispose();
    tf.dispose(vars);
  }
}
console.log(JSON.stringify({ adapter, clip, skipFirst, moves }));
