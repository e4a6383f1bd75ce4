/**
 * Trajectories of every configuration the variant tests cover, on every path Node can run (the
 * core fused and chained, tfjs cpu and wasm fused and op by op, float32 and 8-bit state): the
 * parameters and the whole optimizer state after each step, as float32 bits. Recorded once from
 * the 0.2 code into test/fixtures/trajectories-v0.2.json (scripts/record-trajectories.ts) and
 * compared bit for bit by test/trajectories.test.ts, so a redesign shows it changed nothing.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import * as tf from '@tensorflow/tfjs';
import { core, type NamedStateOptimizer } from '../src/index.js';
import { useBackend } from './backends.js';
import { Rng } from './reference.js';
import { VARIANTS, type Variant } from './variants.js';

/** 5 SIMD blocks and a 1-element scalar tail; the first gradient has exact zeros. */
export const N = 21;
export const STEPS = 6;

/** One recorded step: each named array (params first, then state) as base64 float32/int8 bytes. */
export type Snapshot = Record<string, string>;
export interface Trajectory {
  path: string;
  variant: string;
  steps: Snapshot[] | null;
  refused?: string;
}

export interface PathSpec {
  name: string;
  dtype: 'float32' | 'int8';
  run(v: Variant, p0: Float32Array, grads: Float32Array[]): Promise<Snapshot[]>;
}

export function encode(a: ArrayBufferView): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

export function inputs(seed = 20): { p0: Float32Array; grads: Float32Array[] } {
  const rng = new Rng(seed);
  const p0 = rng.normals(N);
  const grads = Array.from({ length: STEPS }, (_, s) => rng.gradient(N, s === 0 ? 0.2 : 0.05));
  return { p0, grads };
}

function coreFactory(v: Variant): typeof core.adopt {
  return (
    v.name.startsWith('ADOPT')
      ? core.adopt
      : v.name.startsWith('AdamW')
        ? core.adamw
        : v.name.startsWith('AMSGrad')
          ? core.amsgrad
          : core.adam
  ) as typeof core.adopt;
}

/** Every typed array in a (nested) core state, by path. */
function flatten(prefix: string, x: unknown, out: Snapshot): void {
  if (ArrayBuffer.isView(x)) out[prefix] = encode(x);
  else if (typeof x === 'number') out[prefix] = encode(Float64Array.of(x));
  else if (x !== null && typeof x === 'object') {
    for (const k of Object.keys(x).sort())
      flatten(prefix === '' ? k : `${prefix}.${k}`, (x as Record<string, unknown>)[k], out);
  }
}

function corePath(fused: boolean, dtype: 'float32' | 'int8'): PathSpec {
  return {
    name: `core ${fused ? 'fused' : 'chain'}${dtype === 'int8' ? ' int8' : ''}`,
    dtype,
    async run(v, p0, grads) {
      const made = v.core() as core.CoreOptimizer<any, any>;
      const { learningRate, amsgrad: _a, ...options } = made.hyperparams;
      const opt = coreFactory(v)(learningRate, { ...options, fused, stateDtype: dtype } as never);
      const p = Float32Array.from(p0);
      const state = opt.init(p);
      return grads.map((g) => {
        opt.step(p, g, state);
        const snap: Snapshot = { p: encode(p) };
        flatten('', state, snap);
        return snap;
      });
    },
  };
}

function tfjsPath(backend: string, fused: boolean, dtype: 'float32' | 'int8'): PathSpec {
  return {
    name: `tfjs ${backend} ${fused ? 'fused' : 'ops'}${dtype === 'int8' ? ' int8' : ''}`,
    dtype,
    async run(v, p0, grads) {
      await useBackend(backend);
      const base = v.tfjs();
      const cls = Object.getPrototypeOf(base).constructor;
      const opt = cls.fromConfig(cls, { ...base.getConfig(), fused, stateDtype: dtype }) as NamedStateOptimizer;
      base.dispose();
      const variable = tf.variable(tf.tensor(p0), true, 'w');
      try {
        const out: Snapshot[] = [];
        for (const g of grads) {
          const gt = tf.tensor(g);
          opt.applyGradients({ w: gt });
          gt.dispose();
          const snap: Snapshot = { p: encode(variable.dataSync() as Float32Array) };
          for (const w of await opt.getWeights()) snap[w.name] = encode(w.tensor.dataSync());
          out.push(snap);
        }
        return out;
      } finally {
        opt.dispose();
        variable.dispose();
      }
    },
  };
}

export const PATHS: PathSpec[] = [
  corePath(true, 'float32'),
  corePath(false, 'float32'),
  corePath(true, 'int8'),
  ...['cpu', 'wasm'].flatMap((b) => [
    tfjsPath(b, true, 'float32'),
    tfjsPath(b, false, 'float32'),
    tfjsPath(b, true, 'int8'),
  ]),
];

export async function record(path: PathSpec, v: Variant): Promise<Trajectory> {
  const { p0, grads } = inputs();
  try {
    return { path: path.name, variant: v.name, steps: await path.run(v, p0, grads) };
  } catch (e) {
    return { path: path.name, variant: v.name, steps: null, refused: (e as Error).message };
  }
}

export async function recordAll(): Promise<Trajectory[]> {
  const out: Trajectory[] = [];
  for (const path of PATHS) for (const v of VARIANTS) out.push(await record(path, v));
  return out;
}
