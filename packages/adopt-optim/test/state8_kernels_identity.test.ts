/**
 * The 8-bit state kernels, generated from the rules (src/codegen/wat8.ts), against the hand-written
 * version they replaced (test/fixtures/state8_kernels_v1.wat: 4 elements per iteration), run side by
 * side on identical memories: every byte written (p, codes, scales, including the stochastic
 * rounding) must be the same, step after step, for every entry point, lengths with and without
 * 16-element tails, chunk offsets, all options (each of the kernels' loops), and zeros, subnormals,
 * infinities and NaN in the data.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import initWabt from 'wabt';
import { ruleKernels } from '../src/kernels/wasm_kernels.js';
import { adamCall, adoptCall } from '../src/codegen/modules.js';
import { uniformArgs } from '../src/codegen/signature.js';
import { Rng } from './reference.js';

interface Kernels {
  adopt8_init(...args: number[]): void;
  adopt8_step(...args: number[]): void;
  adam8_step(...args: number[]): void;
}

async function oldModule(): Promise<WebAssembly.Module> {
  const wabt = await initWabt();
  const text = readFileSync(new URL('./fixtures/state8_kernels_v1.wat', import.meta.url), 'utf8');
  const module = wabt.parseWat('state8_kernels_v1.wat', text, { simd: true });
  module.validate();
  const { buffer } = module.toBinary({});
  module.destroy();
  return new WebAssembly.Module(new Uint8Array(buffer));
}

/** The generated kernels behind v1's entry points (same arguments). */
function generated(memory: WebAssembly.Memory): Kernels {
  const call = (phase: 'init' | 'step', c: ReturnType<typeof adoptCall>, head: number[]) => {
    const k = ruleKernels(memory, `${c.plan.key}_int8`)!;
    const sig = phase === 'init' ? c.plan.init!.sig : c.plan.step.sig;
    k[phase]!(...head, ...uniformArgs(sig, c.scalars));
  };
  return {
    adopt8_init: (...a) =>
      call('init', adoptCall({}, 'init', { sign: a[10]!, coupledDecay: a[11]! } as never), a.slice(0, 10)),
    adopt8_step: (...a) => {
      const [lr, beta1, oneMinusBeta1, beta2, oneMinusBeta2, epsilon, clip, sign, coupledDecay, decay, nest] =
        a.slice(10);
      call(
        'step',
        adoptCall({ nesterov: nest === 1 }, 'step', {
          lr,
          beta1,
          oneMinusBeta1,
          beta2,
          oneMinusBeta2,
          epsilon,
          clip,
          sign,
          coupledDecay,
          decay,
        } as never),
        a.slice(0, 10),
      );
    },
    adam8_step: (...a) => {
      const [stepSize, beta1, oneMinusBeta1, beta2, oneMinusBeta2, epsilon, ibc, sign, coupledDecay, decay] =
        a.slice(10);
      call(
        'step',
        adamCall({}, {
          stepSize,
          beta1,
          oneMinusBeta1,
          beta2,
          oneMinusBeta2,
          epsilon,
          invSqrtBiasCorrection2: ibc,
          sign,
          coupledDecay,
          decay,
        } as never),
        a.slice(0, 10),
      );
    },
  };
}

const PAGES = 4;
/** Layout of one memory: p, g (n floats each), scratch, codes, scales; n <= MAX_N. */
const MAX_N = 16384 + 20;
const P = 0;
const G = 4 * MAX_N;
const SCR = 8 * MAX_N;
const QM = SCR + 2048;
const QV = QM + MAX_N + 16;
const SM = QV + MAX_N + 16;
const SV = SM + 4 * Math.ceil(MAX_N / 256) + 16;

function instance(module: WebAssembly.Module | null): { k: Kernels; bytes: Uint8Array; f32: Float32Array } {
  const memory = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES });
  const k =
    module === null
      ? generated(memory)
      : (new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Kernels);
  return { k, bytes: new Uint8Array(memory.buffer), f32: new Float32Array(memory.buffer) };
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Fills p or g (n floats at byte offset `at`) with normals times scale, and some special values. */
function fill(f32: Float32Array, at: number, n: number, rng: Rng, scale: number, special: boolean): void {
  const x = rng.uniform() < 0.5 ? rng.normals(n) : rng.gradient(n, 0.05);
  for (let i = 0; i < n; i++) f32[at / 4 + i] = x[i]! * scale;
  if (n > 0 && rng.uniform() < 0.5) {
    const lo = Math.floor(rng.uniform() * n); // a run of zeros (a block with u = 0, or part of one)
    const len = Math.floor(rng.uniform() * 300);
    for (let i = lo; i < Math.min(n, lo + len); i++) f32[at / 4 + i] = 0;
  }
  if (special && n > 0) {
    const values = [0, -0, 1e-40, -1e-40, 1e-30, 3e38, -3e38, Infinity, -Infinity, NaN];
    for (let t = 0; t < 6; t++)
      f32[at / 4 + Math.floor(rng.uniform() * n)] = values[Math.floor(rng.uniform() * values.length)]!;
  }
}

const LENGTHS = [
  4,
  8,
  12,
  16,
  20,
  28,
  32,
  36,
  252,
  256,
  260,
  268,
  272,
  500,
  508,
  512,
  1000,
  4096 + 12,
  16384,
  16384 + 20,
];

describe('8-bit state kernels: bit-identical to the 4-wide version (test/fixtures/state8_kernels_v1.wat)', async () => {
  const oldM = await oldModule();
  // each case: an entry point and its scalars after the common head (p, g, qm, qv, sm, sv, scr, n, start, seed)
  const cases: [string, boolean, 'adopt8_step' | 'adam8_step', (t: number) => number[]][] = [
    ['adopt8_step', false, 'adopt8_step', () => [1e-3, 0.9, 0.1, 0.9999, 1e-4, 1e-6, Infinity, 1, 0, 1, 0]],
    [
      'adopt8_step clipped, nesterov, maximize, coupled decay',
      false,
      'adopt8_step',
      (t) => [0.01, 0.9, 0.1, 0.999, 1e-3, 1e-6, t ** 0.25, -1, 0.01, 1, 1],
    ],
    ['adopt8_step nesterov', false, 'adopt8_step', () => [1e-3, 0.9, 0.1, 0.9999, 1e-4, 1e-6, Infinity, 1, 0, 1, 1]],
    [
      'adopt8_step decoupled decay',
      false,
      'adopt8_step',
      (t) => [0.01, 0.5, 0.5, 0.99, 0.01, 1e-8, t, 1, 0, 1 - 0.01 * 0.1, 0],
    ],
    [
      'adam8_step',
      false,
      'adam8_step',
      (t) => [0.01 / (1 - 0.9 ** t), 0.9, 0.1, 0.999, 0.001, 1e-8, 1 / Math.sqrt(1 - 0.999 ** t), 1, 0, 0.999],
    ],
    [
      'adam8_step without decay',
      false,
      'adam8_step',
      (t) => [0.01 / (1 - 0.9 ** t), 0.9, 0.1, 0.999, 0.001, 1e-8, 1 / Math.sqrt(1 - 0.999 ** t), 1, 0, 1],
    ],
    [
      'adam8_step maximize, coupled decay',
      false,
      'adam8_step',
      (t) => [0.01, 0.8, 0.2, 0.99, 0.01, 1e-6, 1 / Math.sqrt(1 - 0.99 ** t), -1, 0.1, 1],
    ],
    [
      'adopt8_step with zeros, subnormals, infinities, NaN',
      true,
      'adopt8_step',
      (t) => [1e-3, 0.9, 0.1, 0.9999, 1e-4, 1e-6, t % 2 ? Infinity : 1, 1, 0.01, 1, t % 3 === 0 ? 1 : 0],
    ],
    [
      'adam8_step with zeros, subnormals, infinities, NaN',
      true,
      'adam8_step',
      () => [0.01, 0.9, 0.1, 0.999, 0.001, 1e-8, 1.5, 1, 0.01, 1],
    ],
  ];
  for (const [name, special, entry, scalars] of cases) {
    const step = (k: Kernels, n: number, start: number, seed: number, t: number) =>
      k[entry](P, G, QM, QV, SM, SV, SCR, n, start, seed, ...scalars(t));
    it(name, () => {
      const a = instance(oldM);
      const b = instance(null);
      let calls = 0;
      for (const n of LENGTHS) {
        const rng = new Rng(n + 7 * name.length);
        a.bytes.fill(0);
        b.bytes.fill(0);
        // the hash's start: 0 or a chunk's (a multiple of 256)
        const start = n % 8 === 0 ? 0 : 256 * Math.floor(1 + rng.uniform() * 100);
        fill(a.f32, P, n, rng, 1, special);
        fill(a.f32, G, n, rng, 0.1, special);
        b.bytes.set(a.bytes);
        const seed0 = Math.imul(1, 0x85ebca77) | 0;
        a.k.adopt8_init(P, G, QM, QV, SM, SV, SCR, n, start, seed0, 1, 0.01);
        b.k.adopt8_init(P, G, QM, QV, SM, SV, SCR, n, start, seed0, 1, 0.01);
        assert.equal(firstDifference(a.bytes, b.bytes), -1, `${name}: n = ${n}, init`);
        for (let t = 1; t <= 12; t++) {
          const scale = t % 4 === 0 ? 1e-3 : t % 4 === 1 ? 10 : 0.1;
          fill(a.f32, G, n, rng, scale, special);
          b.f32.set(a.f32.subarray(G / 4, G / 4 + n), G / 4);
          const seed = Math.imul(t + 1, 0x85ebca77) | 0;
          step(a.k, n, start, seed, t);
          step(b.k, n, start, seed, t);
          const at = firstDifference(a.bytes, b.bytes);
          assert.equal(at, -1, `${name}: n = ${n}, step ${t}: first differing byte at ${at}`);
          calls++;
        }
      }
      assert.ok(calls > 0);
    });
  }
});
