/** Shared by the tests: backends, seeded data, and the float32 error bound used against cpu. */
import { after, before } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { disableWasmTraining, enableWasmTraining } from '../src/index.js';

export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed to initialise`);
  await tf.ready();
}

/** Small deterministic generator (mulberry32). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  array(n: number): Float32Array {
    return Float32Array.from({ length: n }, () => this.next() * 2 - 1);
  }
}

export const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Unit roundoff of float32. */
export const U32 = 2 ** -24;

/**
 * Runs `kernel` with `attrs` on `backend` for inputs given as arrays, returning the values.
 * With `abs`, the inputs are replaced by their absolute values (used for the error bound).
 */
export async function runOn(
  backend: 'cpu' | 'wasm',
  kernel: string,
  inputs: Record<string, { shape: number[]; values: Float32Array }>,
  attrs: Record<string, unknown>,
  abs = false,
): Promise<{ shape: number[]; values: Float32Array }> {
  await useBackend(backend);
  return tf.tidy(() => {
    const ins: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) ins[k] = tf.tensor(abs ? v.values.map(Math.abs) : v.values, v.shape);
    const out = tf.engine().runKernel(kernel, ins, attrs as tf.NamedAttrMap) as tf.Tensor;
    return { shape: out.shape, values: out.dataSync().slice() as Float32Array };
  });
}

export interface Comparison {
  /** max |ours − cpu| */
  maxAbs: number;
  /** max |ours − cpu| / bound: must stay ≤ 1 */
  maxRatio: number;
}

/**
 * Compares `ours` with `ref` (both float32 sums of products of length ≤ `terms`) against the
 * classical bound for two float32 summations in any order: |ours − ref| ≤ 2·γ(terms)·Σ|a||b|,
 * γ(n) = n·u / (1 − n·u), with Σ|a||b| (`absSum`) computed by the same cpu kernel on |inputs|.
 * A small absolute floor (1e-30) covers exact zeros.
 */
export function compare(ours: Float32Array, ref: Float32Array, absSum: Float32Array, terms: number): Comparison {
  if (ours.length !== ref.length) throw new Error(`length ${ours.length} vs ${ref.length}`);
  const n = Math.max(terms, 1);
  const gamma = (n * U32) / (1 - n * U32);
  let maxAbs = 0;
  let maxRatio = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i]! - ref[i]!);
    // the |a||b| sums are themselves float32, rounded by at most γ: inflate by (1 + 2γ)
    const bound = 2 * gamma * absSum[i]! * (1 + 2 * gamma) + 1e-30;
    if (!(d <= bound) && !Number.isFinite(d)) return { maxAbs: Infinity, maxRatio: Infinity };
    maxAbs = Math.max(maxAbs, d);
    maxRatio = Math.max(maxRatio, d / bound);
  }
  return { maxAbs, maxRatio };
}

/** Collects the measured errors of a test file, printed at its end. */
export class ErrorLog {
  private rows = new Map<string, Comparison & { cases: number }>();
  add(kernel: string, c: Comparison): void {
    const r = this.rows.get(kernel) ?? { maxAbs: 0, maxRatio: 0, cases: 0 };
    this.rows.set(kernel, {
      maxAbs: Math.max(r.maxAbs, c.maxAbs),
      maxRatio: Math.max(r.maxRatio, c.maxRatio),
      cases: r.cases + 1,
    });
  }
  report(): string {
    return [...this.rows]
      .map(
        ([k, r]) =>
          `${k}: ${r.cases} cases, max |wasm − cpu| = ${r.maxAbs.toExponential(2)}, max error / bound ` +
          `= ${r.maxRatio.toFixed(3)}`,
      )
      .join('\n');
  }
}

/** Number of tensors and wasm-heap bytes before and after `fn` (which must clean up after itself). */
export async function leakCheck(fn: () => Promise<void> | void): Promise<{ tensors: number; bytes: number }> {
  const before = tf.memory();
  await fn();
  const after = tf.memory();
  return { tensors: after.numTensors - before.numTensors, bytes: after.numBytes - before.numBytes };
}

/** The wasm backend's count of its own tensor records (catches scratch a kernel did not free). */
export function wasmRecords(): number {
  return tf.findBackend('wasm')!.numDataIds();
}

/** A test file's kernels on for its tests (off again after them), with its error log printed at the end. */
export function withWasmTraining(): ErrorLog {
  const log = new ErrorLog();
  before(() => {
    enableWasmTraining();
  });
  after(() => {
    console.log(log.report());
    disableWasmTraining();
  });
  return log;
}
