// GPU-backend step checks (gpu.html), driven by test/gpu_step.test.mjs through window.gpuChecks:
// each optimizer of adopt-optim on webgl / webgpu agrees with the cpu backend, reads nothing back
// synchronously during a step, and a step with a non-finite gradient changes nothing
// (docs/ALGORITHM.md §6.3).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import '@tensorflow/tfjs-backend-wasm';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import 'adopt-optim/gpu'; // the webgl and webgpu fused kernels and the GPU non-finite check
import 'adopt-optim/lowbit'; // int8, int4 and bfloat16 state
import { adam, adamw, adopt, amsgrad, cosineDecay, NonFiniteGradientError, powerClip } from 'adopt-optim';
import { guarded, startWebgpu } from './gpu_errors';
import { fuzz, fuzzCase, seedBug } from './gpu_fuzz';
import { moveOffWebgpu, skipFirst } from './gpu_regressions';
import { inErrorScope } from './gpu_rules';
import { compare, instrument, lcg, OPTIMIZERS, train } from './gpu_train';

import { coreThreads } from './gpu_threads';
export { instrument };

setWasmPaths(new URL('./tfjs-wasm/', location.href).href);

/** Texture / buffer leak check: GPU bytes and tensor count over `steps` steps of 3 variables. */
async function leaks(backend: string, name: string, options: Record<string, unknown> = {}, steps = 1000) {
  const r = await train(backend, name, options, steps, [2000, 500]);
  return {
    backend: r.backend,
    first: [r.numBytesInGPU[0], r.tensors[0]],
    last: [r.numBytesInGPU.at(-1), r.tensors.at(-1)],
    readSync: r.readSyncDuringSteps,
  };
}

/**
 * A NaN gradient in the 4th step, with `policy`: parameters and state before and after, how the
 * error surfaced, the counters.
 */
async function nanStep(backend: string, name: string, policy: 'throw' | 'skip', options: Record<string, unknown> = {}) {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} is not available`);
  await tf.ready();
  const next = lcg(3);
  const n = 1500;
  const a = tf.variable(tf.tensor1d(Float32Array.from({ length: n }, () => next())), true, `nan_a_${Math.random()}`);
  const b = tf.variable(tf.tensor1d(Float32Array.from({ length: n }, () => next())), true, `nan_b_${Math.random()}`);
  const opt = OPTIMIZERS[name]!({ ...options, nonFinite: policy });
  const step = (bad: boolean) => {
    const ga = tf.tensor1d(Float32Array.from({ length: n }, () => next()));
    const gb = tf.tensor1d(Float32Array.from({ length: n }, (_, i) => (bad && i === 777 ? NaN : next())));
    try {
      opt.applyGradients({ [a.name]: ga, [b.name]: gb });
    } finally {
      tf.dispose([ga, gb]);
    }
  };
  const snapshot = async () => {
    const weights = await opt.getWeights();
    const out: Record<string, number[]> = { a: Array.from(await a.data()), b: Array.from(await b.data()) };
    for (const w of weights) out[w.name] = Array.from(await w.tensor.data());
    return out;
  };
  for (let i = 0; i < 3; i++) step(false);
  const before = await snapshot();
  const iterationsBefore = opt.iterations;
  const { counts, restore } = instrument();
  step(true);
  restore();
  let surfaced = 'none';
  let variableName: string | null = null;
  let errorStep: number | null = null;
  try {
    await opt.checkFinite();
  } catch (e) {
    surfaced = e instanceof NonFiniteGradientError ? 'checkFinite' : `other: ${(e as Error).message}`;
    variableName =
      (e as NonFiniteGradientError).variableName === b.name ? 'b' : String((e as NonFiniteGradientError).variableName);
    errorStep = (e as NonFiniteGradientError).step;
  }
  const after = await snapshot();
  const same = (k: string) =>
    k in after && before[k]!.length === after[k]!.length && before[k]!.every((x, i) => Object.is(x, after[k]![i]));
  const isCounter = (k: string) => k === 'iter' || k.endsWith('/step');
  // parameters and every slot (m, v, vmax) bit for bit; the counters separately
  const unchanged = Object.keys(before)
    .filter((k) => !isCounter(k))
    .every(same);
  const countersUnchanged = Object.keys(before).filter(isCounter).every(same);
  const result = {
    backend: tf.getBackend(),
    policy,
    surfaced,
    variableName,
    errorStep,
    unchanged,
    countersUnchanged,
    readSyncDuringStep: counts.readSync,
    iterationsBefore,
    iterationsAfter: opt.iterations,
    skippedSteps: opt.skippedSteps,
    // 'throw' also surfaces at the next call when checkFinite was not awaited
    nextCallThrows: false as boolean,
    afterNextGoodStepFinite: false as boolean,
  };
  if (policy === 'throw') {
    step(true);
    for (let i = 0; i < 20 && !result.nextCallThrows; i++) {
      try {
        step(false);
        await a.data();
        await new Promise((r) => setTimeout(r, 10));
      } catch (e) {
        result.nextCallThrows = e instanceof NonFiniteGradientError;
      }
    }
  }
  step(false);
  await opt.checkFinite().catch(() => undefined);
  result.afterNextGoodStepFinite =
    Array.from(await a.data()).every(Number.isFinite) && Array.from(await b.data()).every(Number.isFinite);
  opt.dispose();
  tf.dispose([a, b]);
  return result;
}

/**
 * NaN / Infinity / -2^63 at the edges of odd-shaped gradients made by packed ops (the packed non-finite
 * count reads texels whose edge lanes are padding), and finite gradients from ops that may leave
 * non-finite values in that padding: every bad one is caught, no good one is.
 */
async function edgeFlags(backend: string) {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} is not available`);
  await tf.ready();
  const missed: string[] = [];
  const falseAlarms: string[] = [];
  const shapes = [[7], [8], [1], [4097], [5, 7], [6, 8], [1, 9], [9, 1], [3, 3000], [2, 3, 5]];
  for (const shape of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const cases: [string, () => tf.Tensor][] = [
      ['finite, from log and div', () => tf.div(tf.log(tf.add(tf.zeros(shape), 2)), tf.sub(tf.zeros(shape), 3))],
    ];
    for (const at of [...new Set([0, n - 1, Math.floor(n / 2), shape.length === 2 ? shape[1]! - 1 : 0])]) {
      // NaN, Infinity and -2^63 (whose square overflows float32: GRADIENT_LIMIT) are bad; the largest float32 below
      // 2^63 is not
      for (const [label, value] of [
        ['NaN', NaN],
        ['Infinity', Infinity],
        ['-2^63', -(2 ** 63)],
        ['finite, 2^63 - 1 ulp', Math.fround(2 ** 63 * (1 - 2 ** -24))],
      ] as const) {
        cases.push([
          `${label} at ${at}`,
          () => {
            const values = Float32Array.from({ length: n }, (_, i) => (i === at ? value : i % 5));
            return tf.add(tf.tensor(values, shape), 0);
          },
        ]);
      }
    }
    for (const [label, make] of cases) {
      const p = tf.variable(tf.zeros(shape), true, `edge_${Math.random()}`);
      const opt = adopt(1e-2, { nonFinite: 'throw' });
      const g = tf.tidy(make);
      let caught = false;
      try {
        opt.applyGradients({ [p.name]: g });
        await opt.checkFinite();
      } catch (e) {
        caught = e instanceof NonFiniteGradientError;
      }
      const expected = !label.startsWith('finite');
      if (expected && !caught) missed.push(`[${shape}] ${label}`);
      if (!expected && caught) falseAlarms.push(`[${shape}] ${label}`);
      tf.dispose([p, g]);
      opt.dispose();
    }
  }
  return { backend: tf.getBackend(), missed, falseAlarms };
}

/** model.fit of a small MLP with adopt(): the loss falls and the device is still alive afterwards. */
async function fit(backend: string, fused = true) {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} is not available`);
  await tf.ready();
  const next = lcg(5);
  const x = tf.tensor2d(
    Float32Array.from({ length: 512 * 8 }, () => next()),
    [512, 8],
  );
  const y = tf.tidy(() =>
    tf.matMul(
      x,
      tf.tensor2d(
        Float32Array.from({ length: 8 }, () => next()),
        [8, 1],
      ),
    ),
  );
  const model = tf.sequential({
    layers: [tf.layers.dense({ units: 32, inputShape: [8], activation: 'relu' }), tf.layers.dense({ units: 1 })],
  });
  model.compile({ optimizer: adopt(1e-2, { fused }), loss: 'meanSquaredError' });
  const history = await model.fit(x, y, { epochs: 15, batchSize: 64, verbose: 0, shuffle: false });
  const losses = history.history['loss'] as number[];
  const probe = await tf.add(tf.scalar(1), tf.scalar(2)).data();
  tf.dispose([x, y]);
  model.dispose();
  return { backend: tf.getBackend(), first: losses[0]!, last: losses.at(-1)!, alive: probe[0] === 3 };
}

/** The wasm backend as this page gets it: threaded (shared heap) on a cross-origin-isolated page. */
async function wasmInfo() {
  if (!(await tf.setBackend('wasm'))) throw new Error('backend wasm is not available');
  await tf.ready();
  const wasm = (tf.backend() as unknown as { wasm: Record<string, unknown> }).wasm;
  const asm = wasm['asm'] as { memory?: WebAssembly.Memory } | undefined;
  // the threaded build imports its heap
  const memory = asm?.memory ?? (wasm['wasmMemory'] as WebAssembly.Memory | undefined);
  return {
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    multithread: tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT'),
    heapShared:
      memory !== undefined && typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer,
    threads: typeof wasm['_getThreadsCount'] === 'function' ? (wasm['_getThreadsCount'] as () => number)() : null,
  };
}

async function adapterInfo() {
  const gpu = (
    navigator as unknown as {
      gpu?: {
        requestAdapter(): Promise<{
          info?: { architecture?: string };
          limits: { maxStorageBuffersPerShaderStage: number };
        } | null>;
      };
    }
  ).gpu;
  const adapter = await gpu?.requestAdapter();
  return adapter == null
    ? null
    : {
        architecture: adapter.info?.architecture,
        maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
      };
}

function bitsOf(a: Float32Array | Int32Array | Uint8Array | Int8Array): string {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return btoa(s);
}

/**
 * Parameters and whole state after each step, as float32 bits (base64), for the trajectory
 * fixture (test/gpu_trajectories.test.mjs): one variable of 21 elements, gradients from a
 * fixed generator with exact zeros in the first. `scheduled` uses the variant tests' cosine
 * schedule (lrMax 0.02) in place of lr 0.01.
 */
async function trajectory(
  backend: string,
  name: string,
  options: Record<string, unknown>,
  scheduled = false,
  steps = 6,
) {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} is not available`);
  await tf.ready();
  const next = lcg(20);
  const n = 21;
  const lr = scheduled ? cosineDecay({ peak: 0.02, warmupSteps: 10, totalSteps: 150, final: 0.001 }) : 1e-2;
  const factory = { adopt, adam, adamw, amsgrad }[name as 'adopt']!;
  const v = tf.variable(
    tf.tensor1d(Float32Array.from({ length: n }, () => next())),
    true,
    `traj_${Math.random().toString(36).slice(2)}`,
  );
  const { clipExponent, ...rest } = options;
  const opt = factory(
    lr as never,
    typeof clipExponent === 'number' ? { ...rest, clip: powerClip(clipExponent) } : rest,
  );
  const out: Record<string, string>[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      const scale = Float32Array.from({ length: n }, (_, i) => (s === 0 && i % 5 === 2 ? 0 : 10 ** ((i % 7) - 3)));
      const g = tf.tidy(() => tf.mul(tf.tensor1d(Float32Array.from({ length: n }, () => next())), tf.tensor1d(scale)));
      opt.applyGradients({ [v.name]: g });
      g.dispose();
      const snap: Record<string, string> = { p: bitsOf((await v.data()) as Float32Array) };
      for (const w of await opt.getWeights())
        snap[w.name.replace(v.name, 'w')] = bitsOf((await w.tensor.data()) as Float32Array);
      out.push(snap);
    }
    return { backend: tf.getBackend(), steps: out };
  } finally {
    opt.dispose();
    v.dispose();
  }
}

/** For the test of the error surfacing itself: tfjs's AddN of `count` inputs on webgpu (9 exceed 8 storage buffers). */
async function addNOf(count: number) {
  if (!(await tf.setBackend('webgpu'))) throw new Error('backend webgpu is not available');
  const ts = Array.from({ length: count }, (_x, i) => tf.fill([5], i));
  tf.dispose([...ts, tf.addN(ts)]);
}

/** For the test of the error surfacing itself: a WebGL program that does not compile, run through tfjs. */
async function badShader() {
  if (!(await tf.setBackend('webgl'))) throw new Error('backend webgl is not available');
  type WebGL = { runWebGLProgram(p: object, i: tf.TensorInfo[], d: string): tf.TensorInfo };
  const backend = tf.backend() as unknown as WebGL;
  const x = tf.zeros([4]);
  try {
    const program = { variableNames: ['X'], outputShape: [4], userCode: 'void main() { setOutput(notDeclared); }' };
    tf.dispose(tf.engine().makeTensorFromTensorInfo(backend.runWebGLProgram(program, [x], 'float32')));
  } finally {
    x.dispose();
  }
}

const w = window as unknown as Record<string, unknown>;
/** compare() inside WebGPU error scopes of its own (./gpu_rules.ts); every check is also guarded below. */
const compareInErrorScope = (backend: string, name: string, options: Record<string, unknown> = {}) =>
  inErrorScope(backend, () => compare(backend, name, options));

const checks: Record<string, (...a: never[]) => unknown> = {
  trajectory,
  compare,
  compareInErrorScope,
  leaks,
  nanStep,
  fit,
  edgeFlags,
  wasmInfo,
  coreThreads,
  adapterInfo,
  backends: () => tf.engine().backendNames(),
  skipFirst,
  moveOffWebgpu,
  fuzz,
  fuzzCase,
  seedBug,
  addNOf,
  badShader,
};
// every check inside WebGPU error scopes, followed by a WebGL error check (./gpu_errors.ts)
w['gpuChecks'] = Object.fromEntries(
  Object.entries(checks).map(([name, f]) => [name, (...a: never[]) => guarded(name, async () => f(...a))]),
);
w['tf'] = tf;
void startWebgpu().finally(() => {
  document.getElementById('status')!.textContent = 'ready';
});
