// One optimizer step (applyGradients on N variables) on the active tfjs backend, without a DOM: fused ADOPT (with and
// without the non-finite check; with 8-bit and 4-bit state where the backend keeps them), ADOPT from tfjs ops (fused:
// false), tf.train.adam and tf.train.sgd, interleaved, with the GPU programs (webgl) or dispatches (webgpu) of one step
// counted. Used in Chromium by bench.ts (scripts/bench-browser.mjs) and in Node by scripts/bench-webgpu-node.ts (Dawn).
import * as tf from '@tensorflow/tfjs';
import 'adopt-optim/gpu'; // the webgl and webgpu fused kernels and the GPU non-finite check
import 'adopt-optim/lowbit'; // int8, int4 and bfloat16 state
import { adopt } from 'adopt-optim';

export const OPTIMIZERS = [
  'adopt (fused)',
  'adopt (fused, nonFinite off)',
  'adopt (fused, 8-bit state)',
  'adopt (fused, 4-bit state)',
  'adopt (ops)',
  'tf.train.adam',
  'tf.train.sgd',
] as const;

/** Optimizers a backend runs (webgl keeps no low-bit state: adopt-optim refuses it there). */
export function optimizersFor(backend: string): readonly (typeof OPTIMIZERS)[number][] {
  return backend === 'webgl' ? OPTIMIZERS.filter((n) => !n.includes('-bit')) : OPTIMIZERS;
}
type Name = (typeof OPTIMIZERS)[number];

function make(name: Name): tf.Optimizer {
  switch (name) {
    case 'adopt (fused)':
      return adopt(1e-3);
    case 'adopt (fused, nonFinite off)':
      return adopt(1e-3, { nonFinite: 'off' });
    case 'adopt (fused, 8-bit state)':
      return adopt(1e-3, { stateDtype: 'int8' });
    case 'adopt (fused, 4-bit state)':
      return adopt(1e-3, { stateDtype: 'int4' });
    case 'adopt (ops)':
      return adopt(1e-3, { fused: false });
    case 'tf.train.adam':
      return tf.train.adam(1e-3);
    case 'tf.train.sgd':
      return tf.train.sgd(1e-3);
  }
}

/** Counts GPU programs (webgl), dispatches (webgpu: one bind group each) or tfjs kernels (wasm). */
function counter(backendName: string): { count: () => number; restore: () => void } {
  let n = 0;
  const backend = tf.backend() as unknown as Record<string, unknown>;
  let target: Record<string, unknown>;
  let key: string;
  if (backendName === 'webgl') [target, key] = [backend, 'runWebGLProgram'];
  else if (backendName === 'webgpu') [target, key] = [backend['device'] as Record<string, unknown>, 'createBindGroup'];
  else [target, key] = [tf.engine() as unknown as Record<string, unknown>, 'runKernel'];
  const original = target[key] as (...a: unknown[]) => unknown;
  const own = Object.hasOwn(target, key);
  target[key] = function (this: unknown, ...args: unknown[]) {
    n++;
    return original.apply(this, args);
  };
  return {
    count: () => n,
    restore: () => {
      if (own) target[key] = original;
      else delete target[key];
    },
  };
}

export interface BenchResult {
  backend: string;
  tensors: number;
  size: number;
  ms: Record<string, number[]>;
  programs: Record<string, number>;
  error?: string;
}

/** `reps` timed steps of each optimizer, interleaved, after `warmup` untimed ones. */
export async function runStepBench(
  backend: string,
  tensors: number,
  size: number,
  reps: number,
  warmup = 2,
): Promise<BenchResult> {
  if (!(await tf.setBackend(backend).catch(() => false)))
    return { backend, tensors, size, ms: {}, programs: {}, error: `backend ${backend} not available` };
  await tf.ready();
  let seed = 1;
  const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 4294967296) * 2 - 1;
  const vars = Array.from({ length: tensors }, (_, i) =>
    tf.variable(tf.tensor1d(Float32Array.from({ length: size }, rand)), true, `bench_${backend}_${size}_${i}`),
  );
  // gradients on the device, as after a backward pass
  const grads = vars.map(() =>
    tf.tidy(() => tf.add(tf.tensor1d(Float32Array.from({ length: size }, () => rand() * 1e-2)), 0)),
  );
  const named = vars.map((v, i) => ({ name: v.name, tensor: grads[i]! }));
  const names = optimizersFor(backend);
  const optimizers = names.map((name) => [name, make(name)] as const);
  const ms: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const programs: Record<string, number> = {};
  const sync = async () => {
    await vars[vars.length - 1]!.data();
  };
  try {
    for (let rep = -warmup; rep < reps; rep++) {
      for (const [name, opt] of optimizers) {
        await sync();
        const c = rep === reps - 1 ? counter(backend) : null;
        const t0 = performance.now();
        opt.applyGradients(named);
        await sync();
        const t1 = performance.now();
        if (c !== null) {
          programs[name] = c.count();
          c.restore();
        }
        if (rep >= 0) ms[name]!.push(t1 - t0);
      }
    }
  } finally {
    for (const [, opt] of optimizers) opt.dispose();
    tf.dispose([...vars, ...grads]);
  }
  return { backend, tensors, size, ms, programs };
}
