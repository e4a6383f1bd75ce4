/**
 * The differential fuzzer's judge: runs one drawn case with our kernels on wasm and on tfjs's cpu
 * backend, and checks the results agree — bit for bit where nothing is summed, within the float32
 * summation bound where something is.
 *
 * The bound is the classical one for two float32 summations of the same `terms` products in
 * different orders: |ours − cpu| ≤ 2·γ(terms)·Σ|a·b|, γ(n) = n·u/(1 − n·u), u = 2⁻²⁴, with Σ|a·b|
 * computed by the same cpu op on the absolute values of the inputs named in `absInputs` (inflated by
 * (1 + 2γ) for its own rounding); plus 8u·|cpu| for a final activation (1-Lipschitz, its own rounding
 * a few ulps). A value cpu gives as NaN or ±∞ must be the same on wasm.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng, U32, useBackend, wasmRecords } from '../helpers.js';

export interface InputSpec {
  shape: number[];
  dtype?: 'float32' | 'int32';
  /** draw values from {−1, −0.75, ..., 1} (ties in max pooling) instead of (−1, 1) */
  quantized?: boolean;
  /** chance of each value being one of NaN, ±∞, ±3.4028235e38 */
  specials?: number;
}

export interface Case {
  /** what the case is, for the failure message (a shrunk counterexample is this, with the seed) */
  what: string;
  inputs: Record<string, InputSpec>;
  /** the op, on whichever backend is current */
  op: (ins: Record<string, tf.Tensor>) => tf.Tensor | tf.Tensor[];
  /** 'exact': bit for bit (moves, max); 'bound': within the summation bound over `terms` terms */
  check: 'exact' | 'bound';
  terms?: number;
  /** inputs made absolute for the bound (default: all); the op run for the bound (default: `op`) */
  absInputs?: string[];
  boundOp?: (ins: Record<string, tf.Tensor>) => tf.Tensor | tf.Tensor[];
  /**
   * Where tfjs's cpu kernel is itself wrong: the expected outputs and their Σ|a·b| (the bound), computed
   * in float64 by the test from the input values, instead of cpu.
   */
  reference?: (
    values: Record<string, Float32Array | Int32Array>,
  ) => { shape: number[]; values: Float64Array; absSum: Float64Array }[];
  seed: number;
}

const SPECIALS = [NaN, Infinity, -Infinity, 3.4028234663852886e38, -3.4028234663852886e38];

/** The values of every input, from the case's seed. */
export function drawValues(c: Case): Record<string, Float32Array | Int32Array> {
  const rng = new Rng(c.seed);
  const out: Record<string, Float32Array | Int32Array> = {};
  for (const [name, spec] of Object.entries(c.inputs)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.dtype === 'int32') {
      out[name] = Int32Array.from({ length: n }, () => rng.int(-1000, 1000));
      continue;
    }
    out[name] = Float32Array.from({ length: n }, () => {
      if (spec.specials !== undefined && rng.next() < spec.specials) return rng.pick(SPECIALS);
      return spec.quantized ? rng.int(-4, 4) / 4 : rng.next() * 2 - 1;
    });
  }
  return out;
}

type Values = { shape: number[]; values: Float32Array | Int32Array }[];

function run(c: Case, values: Record<string, Float32Array | Int32Array>, abs: boolean): Values {
  return tf.tidy(() => {
    const ins: Record<string, tf.Tensor> = {};
    for (const [name, spec] of Object.entries(c.inputs)) {
      const v = values[name]!;
      const absolute = abs && (c.absInputs === undefined || c.absInputs.includes(name));
      ins[name] = tf.tensor(absolute ? v.map(Math.abs) : v, spec.shape, spec.dtype ?? 'float32');
    }
    const out = (abs && c.boundOp !== undefined ? c.boundOp : c.op)(ins);
    const outs = Array.isArray(out) ? out : [out];
    return outs.map((t) => ({ shape: t.shape, values: t.dataSync().slice() as Float32Array | Int32Array }));
  });
}

/** Runs the case on both backends; returns undefined when they agree, else what differs. */
export async function differs(c: Case): Promise<string | undefined> {
  const values = drawValues(c);
  await useBackend('wasm');
  const before = { tensors: tf.memory().numTensors, records: wasmRecords() };
  let ours: Values = [];
  let oursError: string | undefined;
  try {
    ours = run(c, values, false);
  } catch (e) {
    oursError = (e as Error).message;
  }
  const after = { tensors: tf.memory().numTensors, records: wasmRecords() };
  if (after.tensors !== before.tensors || after.records !== before.records) {
    return `leaked ${after.tensors - before.tensors} tensors, ${after.records - before.records} wasm records`;
  }
  let ref: { shape: number[]; values: ArrayLike<number> }[];
  let bound: { values: ArrayLike<number> }[] | undefined;
  if (c.reference !== undefined) {
    if (oursError !== undefined) return `wasm throws: ${oursError}`;
    const expected = c.reference(values);
    ref = expected;
    bound = expected.map((r) => ({ values: r.absSum }));
  } else {
    await useBackend('cpu');
    try {
      ref = run(c, values, false);
    } catch (e) {
      // cpu refuses it too: then both must refuse
      return oursError === undefined ? `cpu throws (${(e as Error).message}), wasm does not` : undefined;
    }
    if (oursError !== undefined) return `wasm throws: ${oursError}`;
    bound = c.check === 'bound' ? run(c, values, true) : undefined;
  }
  if (ours.length !== ref.length) return `${ours.length} outputs vs ${ref.length}`;
  const gamma = (Math.max(1, c.terms ?? 1) * U32) / (1 - Math.max(1, c.terms ?? 1) * U32);
  for (let o = 0; o < ref.length; o++) {
    const [a, r] = [ours[o]!, ref[o]!];
    if (a.shape.join() !== r.shape.join()) return `output ${o}: shape [${a.shape}] vs cpu [${r.shape}]`;
    if (c.reference === undefined && a.values.constructor !== r.values.constructor) return `output ${o}: dtype differs`;
    for (let i = 0; i < r.values.length; i++) {
      const [x, y] = [a.values[i]!, r.values[i]!];
      if (Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y))) continue;
      // exact: the same bits (+0 and −0 count as equal: cpu's own kernels do not keep the sign of zero)
      if (c.check === 'exact' || !Number.isFinite(y) || !Number.isFinite(x)) {
        if (x === y) continue;
        return `output ${o} element ${i}: ${x} vs cpu ${y}`;
      }
      const limit = 2 * gamma * Math.abs(bound![o]!.values[i]!) * (1 + 2 * gamma) + 8 * U32 * Math.abs(y) + 1e-30;
      if (!(Math.abs(x - y) <= limit)) {
        return `output ${o} element ${i}: ${x} vs cpu ${y}, |diff| ${Math.abs(x - y)} > bound ${limit}`;
      }
    }
  }
  return undefined;
}
