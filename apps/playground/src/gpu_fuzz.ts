// A differential fuzzer of the GPU paths (gpu.html, driven by test/gpu_step.test.mjs): random
// optimizers × options × variable counts × sizes × non-finite gradients, each run on webgl or webgpu and
// on the cpu backend in the same page from the same start with the same gradients; the parameters, the
// step counters and `skippedSteps` must agree. `seedBug` installs a deliberate GPU-only fault (a test-only
// hook: tfjs's AddN on webgl / webgpu drops its last input, the kind of dropped work that made
// globalClipnorm a no-op with 8+ variables) to show that the fuzzer catches one.
import * as tf from '@tensorflow/tfjs';
import 'adopt-optim/gpu'; // the webgl and webgpu fused kernels and the GPU non-finite check
import 'adopt-optim/lowbit'; // int8, int4 and bfloat16 state
import { adam, adamw, adopt, amsgrad, NonFiniteGradientError, type NamedStateOptimizer } from 'adopt-optim';
import { guarded } from './gpu_errors';

type Options = Record<string, unknown>;
const FACTORIES: Record<string, (o: Options) => NamedStateOptimizer> = {
  adopt: (o) => adopt(1e-2, o),
  adam: (o) => adam(1e-2, o),
  adamw: (o) => adamw(1e-2, o),
  amsgrad: (o) => amsgrad(1e-2, o),
};
/** Odd sizes, SIMD / block / chunk edges, texture edges (a packed row of 2 · 4096 + 1), 2-D and scalar shapes. */
const SHAPES: number[][] = [
  [1],
  [3],
  [7],
  [255],
  [256],
  [257],
  [1023],
  [4097],
  [8193],
  [16385],
  [5, 7],
  [1, 9],
  [9, 1],
  [33, 65],
  [],
];
const COUNTS = [1, 2, 3, 7, 8, 9, 13];

export interface FuzzCase {
  seed: number;
  backend: string;
  name: string;
  options: Options;
  shapes: number[][];
  steps: number;
  /** Step index (or -1) whose gradient holds a NaN, and in which variable. */
  badStep: number;
  badVariable: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** The case of a seed: everything derives from it, so a failure is replayed by its seed. */
export function fuzzCase(seed: number, backends: string[]): FuzzCase {
  const r = rng(seed);
  const backend = pick(r, backends);
  const lowBit = backend === 'webgpu' && r() < 0.3 ? pick(r, ['int8', 'int4']) : 'float32';
  const name = lowBit === 'float32' ? pick(r, Object.keys(FACTORIES)) : pick(r, ['adopt', 'adam', 'adamw']);
  const options: Options = { nonFinite: pick(r, ['throw', 'skip', 'off']), fused: lowBit !== 'float32' || r() < 0.7 };
  if (lowBit !== 'float32') options['stateDtype'] = lowBit;
  const clip = pick(r, ['none', 'none', 'clipnorm', 'globalClipnorm', 'clipvalue']);
  if (clip !== 'none') options[clip] = pick(r, [0.05, 0.5, 5]);
  if (name === 'adopt' && r() < 0.3) options['clip'] = null;
  if (name === 'adopt' && lowBit === 'float32' && r() < 0.2) options['nesterov'] = true;
  if (r() < 0.3) {
    Object.assign(options, { weightDecay: 0.01, ...(name === 'adopt' && r() < 0.5 ? { decoupled: true } : {}) });
  }
  const count = pick(r, COUNTS);
  const shapes = Array.from({ length: count }, () => pick(r, SHAPES));
  const steps = 2 + Math.floor(r() * 4);
  const bad = options['nonFinite'] !== 'off' && r() < 0.5;
  const badStep = bad ? Math.floor(r() * steps) : -1;
  return { seed, backend, name, options, shapes, steps, badStep, badVariable: Math.floor(r() * count) };
}

interface RunResult {
  values: number[][];
  steps: number[];
  skipped: number;
  errors: number;
  leaked: number;
}

/** One case on one backend: gradients from the case's seed (the same on both backends). */
async function runCase(c: FuzzCase, backend: string): Promise<RunResult> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} is not available`);
  await tf.ready();
  const r = rng(c.seed ^ 0x5bd1e995);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const tag = `fuzz_${c.seed}_${backend}_${Math.random().toString(36).slice(2)}`;
  const start = (s: number[]) =>
    tf.tensor(
      Float32Array.from({ length: size(s) }, () => r() * 2 - 1),
      s,
    );
  const vars = c.shapes.map((s, i) => tf.variable(start(s), true, `${tag}_${i}`));
  const opt = FACTORIES[c.name]!(c.options);
  let errors = 0;
  const tensors = tf.memory().numTensors;
  for (let k = 0; k < c.steps; k++) {
    const scale = 10 ** Math.floor(r() * 4 - 2);
    const grads = c.shapes.map((s, i) => {
      const values = Float32Array.from({ length: size(s) }, () => (r() * 2 - 1) * scale);
      if (k === c.badStep && i === c.badVariable && values.length > 0) values[Math.floor(r() * values.length)] = NaN;
      return tf.tidy(() => tf.add(tf.tensor(values, s), 0)); // made on the device, as in training
    });
    try {
      opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
      await opt.checkFinite();
    } catch (e) {
      if (!(e instanceof NonFiniteGradientError)) throw e;
      errors++;
    } finally {
      tf.dispose(grads);
    }
  }
  await opt.checkFinite().catch(() => errors++);
  const values = await Promise.all(vars.map(async (v) => Array.from(await v.data())));
  const out = { values, steps: vars.map((v) => opt.stepOf(v.name)), skipped: opt.skippedSteps, errors, leaked: 0 };
  opt.dispose();
  out.leaked = tf.memory().numTensors - tensors;
  tf.dispose(vars);
  return out;
}

function worstDifference(a: number[][], b: number[][]): number {
  let worst = 0;
  a.forEach((v, i) =>
    v.forEach((x, j) => {
      const y = b[i]![j]!;
      const nan = Number.isNaN(x) !== Number.isNaN(y);
      const d = nan ? Infinity : Number.isNaN(x) ? 0 : Math.abs(x - y) / Math.max(Math.abs(y), 1e-2);
      worst = Math.max(worst, d);
    }),
  );
  return worst;
}

export interface FuzzFailure {
  case: FuzzCase;
  why: string;
}

/** Runs `count` cases from `firstSeed` on the given GPU backends; returns the failures (empty: all agree with cpu). */
export async function fuzz(
  firstSeed: number,
  count: number,
  backends: string[],
): Promise<{ cases: number; failures: FuzzFailure[] }> {
  const failures: FuzzFailure[] = [];
  for (let seed = firstSeed; seed < firstSeed + count; seed++) {
    const c = fuzzCase(seed, backends);
    let gpu: RunResult;
    try {
      gpu = await guarded(`fuzz case ${seed}`, () => runCase(c, c.backend)); // a GPU error fails this case alone
    } catch (e) {
      failures.push({ case: c, why: (e as Error).message });
      continue;
    }
    const cpu = await runCase(c, 'cpu');
    const bound = c.options['stateDtype'] !== undefined ? 1e-3 : 1e-4;
    const d = worstDifference(gpu.values, cpu.values);
    const why = [
      ...(d < bound ? [] : [`parameters differ from cpu by ${d}`]),
      ...(`${gpu.steps}` === `${cpu.steps}` ? [] : [`step counters ${gpu.steps} vs cpu ${cpu.steps}`]),
      ...(gpu.skipped === cpu.skipped ? [] : [`skippedSteps ${gpu.skipped} vs cpu ${cpu.skipped}`]),
      ...(gpu.errors === cpu.errors ? [] : [`errors ${gpu.errors} vs cpu ${cpu.errors}`]),
      ...(gpu.leaked === 0 ? [] : [`${gpu.leaked} tensors left after dispose`]),
    ];
    if (why.length > 0) failures.push({ case: c, why: why.join('; ') });
  }
  return { cases: count, failures };
}

let restoreBug: (() => void) | null = null;

/** Test-only: tfjs's AddN on webgl and webgpu drops its last input (on); restores the kernels (off). */
export function seedBug(on: boolean): void {
  restoreBug?.();
  restoreBug = null;
  if (!on) return;
  const restore: (() => void)[] = [];
  for (const backendName of ['webgl', 'webgpu']) {
    const original = tf.getKernel('AddN', backendName);
    if (original === undefined) continue;
    tf.unregisterKernel('AddN', backendName);
    tf.registerKernel({
      ...original,
      kernelFunc: (args) => {
        const inputs = (args.inputs as unknown as tf.TensorInfo[]).slice(0, -1);
        return original.kernelFunc({ ...args, inputs: inputs as never });
      },
    });
    restore.push(() => {
      tf.unregisterKernel('AddN', backendName);
      tf.registerKernel(original);
    });
  }
  restoreBug = () => restore.forEach((f) => f());
}
