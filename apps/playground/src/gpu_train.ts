// The training harness of the GPU checks (gpu.ts): the optimizers under test by name (the library's,
// two rules defined through defineRule, the hostile-named ones), a counter of readbacks and GPU
// programs, and a few variables trained on one backend and compared with the cpu backend.
import * as tf from '@tensorflow/tfjs';
import { adam, adamw, adopt, amsgrad, type NamedStateOptimizer } from 'adopt-optim';
import { defineRule, ruleOptimizer } from 'adopt-optim/rules';
import { HOSTILE_OPTIMIZERS } from './gpu_rules';

/**
 * Rules the library does not ship, defined through defineRule (as in packages/adopt-optim/test/custom_rule.test.ts).
 */
const LION = defineRule({
  name: 'lion',
  slots: ['m'],
  hyperparameters: { beta1: 0.9, beta2: 0.99, weightDecay: 0.1 },
  scalars: (lr, _t, h) => ({
    lr,
    b1: h['beta1']!,
    omb1: 1 - h['beta1']!,
    b2: h['beta2']!,
    omb2: 1 - h['beta2']!,
    decay: 1 - lr * h['weightDecay']!,
  }),
  step: ({ p, g, slot, scalar: s, add, sub, mul, select, gt, lt, constant }) => {
    const c = add(mul(slot('m'), s('b1')), mul(g, s('omb1')));
    const sign = select(gt(c, constant(0)), constant(1), select(lt(c, constant(0)), constant(-1), constant(0)));
    return { m: add(mul(slot('m'), s('b2')), mul(g, s('omb2'))), p: sub(mul(p, s('decay')), mul(sign, s('lr'))) };
  },
});
const SGD_NESTEROV = defineRule({
  name: 'sgd_nesterov',
  slots: ['buf'],
  hyperparameters: { momentum: 0.9 },
  scalars: (lr, _t, h) => ({ lr, mu: h['momentum']! }),
  step: ({ p, g, slot, scalar: s, add, sub, mul }) => {
    const buf = add(mul(slot('buf'), s('mu')), g);
    return { buf, p: sub(p, mul(add(g, mul(buf, s('mu'))), s('lr'))) };
  },
});

type Factory = (options: Record<string, unknown>) => NamedStateOptimizer;
export const OPTIMIZERS: Record<string, Factory> = {
  adopt: (o) => adopt(1e-2, o),
  adam: (o) => adam(1e-2, o),
  adamw: (o) => adamw(1e-2, o),
  amsgrad: (o) => amsgrad(1e-2, o),
  lion: (o) => ruleOptimizer(LION, 1e-2, o),
  sgd_nesterov: (o) => ruleOptimizer(SGD_NESTEROV, 1e-2, o),
  ...HOSTILE_OPTIMIZERS,
};

export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296) * 2 - 1;
}

/** Counts synchronous readbacks and GPU programs / dispatches on the active backend. */
export function instrument(): { counts: { readSync: number; programs: number }; restore: () => void } {
  const backend = tf.backend() as unknown as Record<string, unknown>;
  const counts = { readSync: 0, programs: 0 };
  const restore: (() => void)[] = [];
  const wrap = (name: string, key: 'readSync' | 'programs') => {
    const original = backend[name];
    if (typeof original !== 'function') return;
    const own = Object.hasOwn(backend, name);
    backend[name] = function (this: unknown, ...args: unknown[]) {
      counts[key]++;
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
    restore.push(() => {
      if (own) backend[name] = original;
      else delete backend[name];
    });
  };
  wrap('readSync', 'readSync');
  wrap('readToGPU', 'readSync');
  wrap('runWebGLProgram', 'programs');
  // wasm / cpu: tfjs kernels run (the fused WebAssembly kernels run none)
  if (tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu') {
    const engine = tf.engine() as unknown as Record<string, unknown>;
    const original = engine['runKernel'] as (...a: unknown[]) => unknown;
    engine['runKernel'] = function (this: unknown, ...args: unknown[]) {
      counts.programs++;
      return original.apply(this, args);
    };
    restore.push(() => {
      delete engine['runKernel'];
    });
  }
  // webgpu: every dispatch, tfjs's and adopt-optim's own pipeline's (backends/webgpu_fused.ts), makes one bind group
  const device = backend['device'] as Record<string, unknown> | undefined;
  if (device !== undefined && typeof device['createBindGroup'] === 'function') {
    const original = device['createBindGroup'] as (...a: unknown[]) => unknown;
    device['createBindGroup'] = function (this: unknown, ...args: unknown[]) {
      counts.programs++;
      return original.apply(this, args);
    };
    restore.push(() => {
      device['createBindGroup'] = original;
    });
  }
  return { counts, restore: () => restore.forEach((r) => r()) };
}

export interface TrainResult {
  backend: string;
  values: number[][];
  readSyncDuringSteps: number;
  programsPerStep: number;
  numBytesInGPU: number[];
  tensors: number[];
}

/** Trains three variables for `steps` steps and returns their values (as float64 arrays for JSON). */
export async function train(
  backend: string,
  name: string,
  options: Record<string, unknown>,
  steps: number,
  sizes = [1000, 3000, 130],
): Promise<TrainResult> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} is not available`);
  await tf.ready();
  const next = lcg(11);
  const vars = sizes.map((n, i) =>
    tf.variable(
      tf.tensor1d(Float32Array.from({ length: n }, () => next())),
      true,
      `w${i}_${backend}_${Math.random().toString(36).slice(2)}`,
    ),
  );
  const opt = OPTIMIZERS[name]!(options);
  const grads = Array.from({ length: steps }, () =>
    sizes.map((n) => Float32Array.from({ length: n }, () => next() * 2)),
  );
  const { counts, restore } = instrument();
  let readSyncDuringSteps = 0;
  let programs = 0;
  const numBytesInGPU: number[] = [];
  const tensors: number[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      // gradients computed on the device, as in training (an upload inside the step would count as a program)
      const g = grads[s]!.map((a) => tf.tidy(() => tf.add(tf.tensor1d(a), 0)));
      counts.readSync = 0;
      counts.programs = 0;
      opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: g[i]! })));
      readSyncDuringSteps += counts.readSync;
      if (s === steps - 1) programs = counts.programs;
      tf.dispose(g);
      if (s % 100 === 99) {
        // the flags of steps not yet checked are small tensors waiting for their readback (§6.3)
        await opt.checkFinite();
        const mem = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
        numBytesInGPU.push(mem.numBytesInGPU ?? 0);
        tensors.push(mem.numTensors);
      }
    }
  } finally {
    restore();
  }
  await opt.checkFinite();
  const values = await Promise.all(vars.map(async (v) => Array.from(await v.data())));
  opt.dispose();
  tf.dispose(vars);
  return { backend: tf.getBackend(), values, readSyncDuringSteps, programsPerStep: programs, numBytesInGPU, tensors };
}

function maxRelativeDifference(a: number[][], b: number[][]): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < a[i]!.length; j++) {
      const x = a[i]![j]!;
      const y = b[i]![j]!;
      worst = Math.max(
        worst,
        Number.isNaN(x) || Number.isNaN(y) ? Infinity : Math.abs(x - y) / Math.max(Math.abs(y), 1e-2),
      );
    }
  }
  return worst;
}

/** One optimizer on `backend` against the cpu backend: the difference, readbacks and programs per step. */
export async function compare(
  backend: string,
  name: string,
  options: Record<string, unknown> = {},
  steps = 12,
  sizes?: number[],
) {
  const gpu = await train(backend, name, options, steps, sizes);
  const cpu = await train('cpu', name, options, steps, sizes);
  return {
    backend: gpu.backend,
    name,
    options,
    maxRelativeDifferenceToCpu: maxRelativeDifference(gpu.values, cpu.values),
    readSyncDuringSteps: gpu.readSyncDuringSteps,
    programsPerStep: gpu.programsPerStep,
  };
}
