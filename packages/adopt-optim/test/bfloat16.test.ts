// bfloat16 optimizer state (docs/ALGORITHM.md §13) against an independent float64 reference of its rounding:
// round-to-nearest-even for conversions, and the stochastic rounding of the kernels (the truncation of
// x + d·2^-16·ulp, d the top 16 bits of the element's hash) element by element for the dithers the hashes give,
// its mean over many seeds, ADOPT and Adam steps on the core and on tfjs's cpu and wasm backends against float64
// steps whose m and v are rounded by the reference, and saving / restoring. Each check has a negative twin: a
// deliberately wrong reference must fail it.
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adopt, core, OptimizerArgumentError, type NamedStateOptimizer } from '../src/index.js';
import { adamCall } from '../src/codegen/modules.js';
import { adamKernelArgs } from '../src/rules/scalars.js';
import { allocateMoments, lowBitStep } from '../src/kernels/lowbit_arrays.js';
import { BFLOAT16 } from '../src/formats/state_formats.js';
import { BACKENDS, useBackend } from './backends.js';
import {
  maxRelativeError,
  refAdamStep,
  refAdoptStep,
  refSeed,
  refState,
  Rng,
  type RefAdoptParams,
} from './reference.js';
import { BF16_MAX, codesOf, decode, refNearest, refStochastic, ulp } from './reference_bfloat16.js';

const M_MUL = 0xc2b2ae3d;
const M_SEED = 0x27d4eb2f;
const V_MUL = 0x9e3779b9;

/** The dither of element i: the top 16 bits of its hash. */
const ditherM = (i: number, seed: number) => ((Math.imul(i, M_MUL) + Math.imul(seed, M_SEED)) >>> 0) >>> 16;
const ditherV = (i: number, seed: number) => ((Math.imul(i, V_MUL) + seed) >>> 0) >>> 16;

const f32 = (n: number, rng: Rng, scale = 1) => Float32Array.from(rng.normals(n), (x) => x * scale);

/** Values of every magnitude: normal, tiny, subnormal, huge, exact bfloat16 values, zeros. */
function awkward(rng: Rng, n: number): Float32Array {
  const x = f32(n, rng);
  for (let i = 0; i < n; i++) {
    if (i % 7 === 1)
      x[i] = x[i]! * 1e-39; // float32 subnormal
    else if (i % 7 === 2) x[i] = x[i]! * 1e30;
    else if (i % 7 === 3)
      x[i] = decode(0x3f80 + (i % 50)); // already a bfloat16
    else if (i % 11 === 4) x[i] = 0;
    else if (i % 13 === 5) x[i] = decode(0x3f80 + (i % 64)) + 2 ** -8; // halfway between two bfloat16 (ties)
  }
  return x;
}

describe('bfloat16 state: the rounding (§13) against a float64 reference', () => {
  it('the reference itself: known values', () => {
    assert.equal(refNearest(1 + 2 ** -8), 1); // a tie: to even
    assert.equal(refNearest(1 + 3 * 2 ** -8), 1 + 2 ** -6); // a tie: to even (up)
    assert.equal(refStochastic(1 + 2 ** -9, 0), 1);
    assert.equal(refStochastic(1 + 2 ** -9, 49152), 1 + 2 ** -7); // 1/4 ulp + 3/4 ulp of dither
    assert.equal(refStochastic(-(2 - 2 ** -8), 65535), -2); // carries into the next binade
    assert.equal(refNearest(3.4e38), BF16_MAX); // float32's largest values saturate
    assert.equal(refNearest(-3.4028234663852886e38), -BF16_MAX);
  });

  it('conversion saturates: finite float32 beyond bfloat16 stays finite (quantizeState, setWeights)', async () => {
    const big = Float32Array.from([3.4e38, -3.4028234663852886e38, 3.3961e38, BF16_MAX, 3.39e38]);
    const made = core.adopt(0.01, { stateDtype: 'bfloat16' }).init(new Float32Array(big.length));
    const s: core.LowBitState = made.adopt as unknown as core.Bfloat16State;
    core.quantizeState({ m: big, v: Float32Array.from(big, Math.abs), t: 1 }, s);
    const cm = codesOf(s.qm as Uint8Array, big.length).map(decode);
    assert.deepEqual(cm, Array.from(big, refNearest));
    assert.ok(cm.every(Number.isFinite), `codes decode to ${cm}`);
    // a wrong (overflowing) reference is rejected by the same comparison
    assert.notDeepEqual(
      cm,
      Array.from(big, (x) => (Math.abs(x) > 3.3961e38 ? Math.sign(x) * Infinity : refNearest(x))),
    );

    await useBackend('cpu');
    const w = tf.variable(tf.ones([4]), true, 'saturate_w');
    const opt = adopt(1e-2, { stateDtype: 'bfloat16' });
    const grad = tf.onesLike(w);
    opt.applyGradients({ [w.name]: grad });
    const entries = [
      { name: 'iter', tensor: tf.scalar(1, 'int32') },
      { name: `${w.name}/m`, tensor: tf.fill([4], 3.4e38) },
      { name: `${w.name}/v`, tensor: tf.fill([4], 3.4e38) },
      { name: `${w.name}/step`, tensor: tf.scalar(1, 'int32') },
    ];
    await opt.setWeights(entries);
    const codes = (await opt.getWeights()).find((x) => x.name === `${w.name}/mbf16`)!.tensor.dataSync();
    assert.deepEqual(Array.from(codes), [0x7f7f, 0x7f7f, 0x7f7f, 0x7f7f]);
    opt.applyGradients({ [w.name]: grad });
    assert.ok(Array.from(w.dataSync()).every(Number.isFinite), `parameters ${w.dataSync()}`);
    tf.dispose([...entries.map((e) => e.tensor), grad, w]);
    opt.dispose();
  });

  it('conversion (quantizeState): round to nearest even, element by element; a truncating reference fails', () => {
    const rng = new Rng(16);
    const n = 1000;
    const m = awkward(rng, n);
    const v = Float32Array.from(awkward(rng, n), (x) => Math.abs(x));
    const made = core.adopt(0.01, { stateDtype: 'bfloat16' }).init(new Float32Array(n));
    const s = made.adopt as unknown as core.LowBitState;
    core.quantizeState({ m, v, t: 3 }, s);
    const cm = codesOf(s.qm as Uint8Array, n).map(decode);
    const cv = codesOf(s.qv, n).map(decode);
    let wrong = 0;
    for (let i = 0; i < n; i++) {
      assert.equal(cm[i], refNearest(m[i]!), `m[${i}] = ${m[i]}`);
      assert.equal(cv[i], refNearest(v[i]!), `v[${i}] = ${v[i]}`);
      if (cm[i] !== Math.trunc(m[i]! / ulp(Math.abs(m[i]!) || 1)) * ulp(Math.abs(m[i]!) || 1)) wrong++;
    }
    assert.ok(wrong > n / 10, `a truncating reference must disagree (it did on ${wrong} of ${n})`);
    const back = { m: new Float32Array(n), v: new Float32Array(n), t: 0 };
    core.dequantizeState(s, back);
    for (let i = 0; i < n; i++) assert.equal(back.m[i], cm[i]);
  });

  it("the kernels' stochastic rounding: exactly the reference for the hashes' dithers; wrong dithers fail", () => {
    // Adam with beta1 = beta2 = 0 from zero state: the new m is g and the new v is fround(g * g), exactly
    const rng = new Rng(17);
    const n = 4099; // several blocks and a partial group of 16
    const g = awkward(rng, n);
    const h = { beta1: 0, beta2: 0, epsilon: 1e-8, weightDecay: 0, decoupled: false, maximize: false, amsgrad: false };
    for (const seed of [refSeed(0), refSeed(5), -7]) {
      const s = allocateMoments(BFLOAT16, n)!;
      lowBitStep(adamCall(h, adamKernelArgs(h, 0, 1)), new Float32Array(n), g, s, seed);
      const cm = codesOf(s.qm as Uint8Array, n).map(decode);
      const cv = codesOf(s.qv, n).map(decode);
      let swapped = 0;
      for (let i = 0; i < n; i++) {
        assert.equal(cm[i], refStochastic(g[i]!, ditherM(i, seed)), `m[${i}] = ${g[i]}, seed ${seed}`);
        assert.equal(cv[i], refStochastic(Math.fround(g[i]! * g[i]!), ditherV(i, seed)), `v[${i}], seed ${seed}`);
        if (cm[i] !== refStochastic(g[i]!, ditherV(i, seed))) swapped++; // m rounded with v's dither: wrong
      }
      assert.ok(swapped > n / 10, `a reference with the wrong dither must disagree (it did on ${swapped} of ${n})`);
    }
  });

  it("unbiased: the mean over 2,000 seeds is x within 4 standard errors plus the dither's 2^-16 ulp", () => {
    const xs = [1 + 2 ** -9, 0.3, -1.7e-5, 3.3e20, 1e-40];
    const n = 64;
    const seeds = 2000;
    const h = { beta1: 0, beta2: 0, epsilon: 1e-8, weightDecay: 0, decoupled: false, maximize: false, amsgrad: false };
    for (const x0 of xs) {
      const x = Math.fround(x0);
      const g = new Float32Array(n).fill(x);
      let sum = 0;
      let nearestSum = 0;
      for (let t = 0; t < seeds; t++) {
        const s = allocateMoments(BFLOAT16, n)!;
        lowBitStep(adamCall(h, adamKernelArgs(h, 0, 1)), new Float32Array(n), g, s, refSeed(t));
        for (const c of codesOf(s.qm as Uint8Array, n)) sum += decode(c);
        nearestSum += n * refNearest(x);
      }
      const count = n * seeds;
      // each sample is lo or lo + q (q the ulp): variance <= q^2 / 4, so the mean's standard error
      // is <= q / (2 sqrt(count));
      // the dither takes 2^16 values, which moves the chance of rounding up by less than 2^-16: a bias < q · 2^-16
      const q = ulp(Math.abs(x));
      const bound = (4 * q) / (2 * Math.sqrt(count)) + q * 2 ** -16;
      const off = Math.abs(sum / count - x);
      assert.ok(off <= bound, `x = ${x}: mean ${sum / count}, off by ${off} > ${bound}`);
      // round to nearest is biased where x is not a bfloat16: the bound tells them apart
      if (refNearest(x) !== x && Math.abs(x - refNearest(x)) > 2 * bound) {
        assert.ok(Math.abs(nearestSum / count - x) > bound, `x = ${x}: the bound cannot tell a biased rounding`);
      }
    }
  });
});

const ADOPT_H: RefAdoptParams = {
  lr: 0.01,
  beta1: 0.9,
  beta2: 0.9999,
  eps: 1e-6,
  weightDecay: 0,
  decoupled: false,
  maximize: false,
  nesterov: false,
  caution: false,
  epsilonMode: 'floor',
  clip: (t: number) => t ** 0.25,
};

/** ADOPT in float64 with m and v rounded after each step by `round` (the reference's stochastic rounding). */
function refTrajectory(p0: Float32Array, grads: Float32Array[], round: (x: number, d: number) => number): Float64Array {
  const p = Float64Array.from(p0);
  const s = refState(p.length);
  for (const g of grads) {
    const seed = refSeed(s.t);
    refAdoptStep(p, g, s, ADOPT_H);
    for (let i = 0; i < p.length; i++) {
      s.m[i] = round(Math.fround(s.m[i]!), ditherM(i, seed));
      s.v[i] = round(Math.fround(s.v[i]!), ditherV(i, seed));
    }
  }
  return p;
}

describe('bfloat16 state: steps against float64 ADOPT with bfloat16-rounded m and v', () => {
  const rng = new Rng(21);
  const n = 1000;
  const p0 = f32(n, rng);
  const grads = Array.from({ length: 30 }, () => f32(n, rng, 0.1));
  const ref = refTrajectory(p0, grads, refStochastic);
  // wrong on purpose: round to nearest (no dither) instead of the stochastic rounding
  const wrongRef = refTrajectory(p0, grads, (x) => refNearest(x));
  const tolerance = 2e-4;

  it('core: parameters within 2e-4 of the reference; the wrongly rounded reference is farther off', () => {
    const opt = core.adopt(0.01, { stateDtype: 'bfloat16' });
    const p = Float32Array.from(p0);
    const s = opt.init(p);
    for (const g of grads) opt.step(p, g, s);
    const err = maxRelativeError(p, ref);
    const wrong = maxRelativeError(p, wrongRef);
    assert.ok(err < tolerance, `max relative error ${err}`);
    assert.ok(wrong > tolerance, `a reference rounding to nearest must fail the check (it was off by ${wrong})`);
    // 4 bytes of state per parameter (codes of m and v, 2 bytes each, padded to 16 elements; no scales)
    const st = s.adopt as unknown as core.LowBitState;
    assert.equal(st.qm.byteLength + st.qv.byteLength, 4 * Math.ceil(n / 16) * 16);
    assert.equal(st.mScale.length + st.vScale.length, 0);
  });

  for (const backend of BACKENDS) {
    it(`tfjs ${backend}: the core's parameters bit for bit, path 'bfloat16', no tensor growth`, async () => {
      await useBackend(backend);
      const coreOpt = core.adopt(0.01, { stateDtype: 'bfloat16' });
      const pc = Float32Array.from(p0);
      const sc = coreOpt.init(pc);
      const v = tf.variable(tf.tensor1d(p0), true, `bf16_${backend}`);
      const opt = adopt(0.01, { stateDtype: 'bfloat16' });
      let tensors = -1;
      for (const [k, g] of grads.entries()) {
        coreOpt.step(pc, g, sc);
        tf.tidy(() => opt.applyGradients({ [v.name]: tf.tensor1d(g) }));
        if (k === 1) tensors = tf.memory().numTensors;
      }
      assert.equal(tf.memory().numTensors, tensors, 'tensors grew');
      assert.deepEqual(Array.from(v.dataSync()), Array.from(pc));
      assert.deepEqual([...(opt as NamedStateOptimizer).lastStepPaths], ['bfloat16']);
      assert.ok(maxRelativeError(v.dataSync(), ref) < tolerance);
      // getWeights / setWeights round-trip: a restored optimizer steps as the original does
      const weights = await opt.getWeights();
      assert.deepEqual(
        weights
          .map((w) => w.name)
          .filter((x) => x.startsWith(v.name))
          .sort(),
        [`${v.name}/mbf16`, `${v.name}/step`, `${v.name}/vbf16`],
      );
      const restored = adopt(0.01, { stateDtype: 'bfloat16' });
      await restored.setWeights(weights);
      const before = v.dataSync().slice();
      const g = f32(n, new Rng(5), 0.1);
      opt.applyGradients({ [v.name]: tf.tensor1d(g) });
      const after = v.dataSync().slice();
      v.assign(tf.tensor1d(before));
      restored.applyGradients({ [v.name]: tf.tensor1d(g) });
      assert.deepEqual(Array.from(v.dataSync()), Array.from(after));
      // into a float32 optimizer (de-quantised) and an int8 one (through float32)
      const f = adopt(0.01);
      await f.setWeights(await restored.getWeights());
      const i8 = adopt(0.01, { stateDtype: 'int8' });
      await i8.setWeights(await restored.getWeights());
      opt.dispose();
      restored.dispose();
      f.dispose();
      i8.dispose();
      v.dispose();
    });
  }

  it('Adam (core) against float64 Adam with bfloat16-rounded m and v', () => {
    const h = {
      lr: 0.01,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0.01,
      decoupled: true,
      maximize: false,
      amsgrad: false,
    };
    const p = Float64Array.from(p0);
    const s = refState(n);
    const opt = core.adamw(0.01, { stateDtype: 'bfloat16' });
    const pc = Float32Array.from(p0);
    const sc = opt.init(pc);
    for (const g of grads) {
      const seed = refSeed(s.t);
      refAdamStep(p, g, s, h as never);
      for (let i = 0; i < n; i++) {
        s.m[i] = refStochastic(Math.fround(s.m[i]!), ditherM(i, seed));
        s.v[i] = refStochastic(Math.fround(s.v[i]!), ditherV(i, seed));
      }
      opt.step(pc, g, sc);
    }
    assert.ok(maxRelativeError(pc, p) < tolerance, `max relative error ${maxRelativeError(pc, p)}`);
  });
});

describe('quantizeState / dequantizeState refuse what low-bit state cannot hold, writing nothing', () => {
  for (const stateDtype of ['int8', 'int4', 'bfloat16'] as const) {
    it(`${stateDtype}: NaN m, negative v, a bad count, plain arrays, another length`, () => {
      const n = 5;
      const opt = core.adopt(0.01, { stateDtype });
      const s = opt.init(new Float32Array(n)).adopt as unknown as core.LowBitState;
      core.quantizeState({ m: new Float32Array(n).fill(0.5), v: new Float32Array(n).fill(0.25), t: 4 }, s);
      const codes = () => JSON.stringify([Array.from(s.qm), Array.from(s.qv), Array.from(s.mScale), s.t]);
      const before = codes();
      const f = (k: number, x = 0.5) => new Float32Array(k).fill(x);
      const refusals: [unknown, RegExp][] = [
        [
          { m: f(n, NaN), v: f(n), t: 1 },
          /from\.m\[0\] = NaN, from\.v\[0\] = 0\.5; expected a finite m and a finite v >= 0/,
        ],
        [{ m: f(n), v: f(n, -1), t: 1 }, /from\.v\[0\] = -1; expected a finite m/],
        [{ m: f(n, Infinity), v: f(n), t: 1 }, /from\.m\[0\] = Infinity/],
        [{ m: f(n), v: f(n), t: -2 }, /invalid from\.t -2; expected an integer >= 0/],
        [{ m: f(n), v: f(n), t: 1.5 }, /invalid from\.t 1\.5/],
        [{ m: [1, 2, 3, 4, 5], v: f(n), t: 1 }, /from\.m .*expected a Float32Array/],
        [{ m: f(3), v: f(3), t: 1 }, /float32 state of length 3 \(m\) and 3 \(v\) does not fit .* made for 5 elements/],
        [{ m: f(n), v: f(6), t: 1 }, /length 5 \(m\) and 6 \(v\) does not fit/],
      ];
      for (const [from, message] of refusals) {
        assert.throws(
          () => core.quantizeState(from as never, s),
          (e: unknown) => e instanceof OptimizerArgumentError && message.test(e.message),
          JSON.stringify(from, (_k, x) => (x instanceof Float32Array ? Array.from(x) : x)),
        );
        assert.equal(codes(), before, 'a refusal wrote codes');
      }
      const target = { m: f(3, 7), v: f(3, 7), t: 9 };
      assert.throws(
        () => core.dequantizeState(s, target),
        (e: unknown) => e instanceof OptimizerArgumentError && /length 3 .* made for 5 elements/.test(e.message),
      );
      assert.deepEqual([Array.from(target.m), target.t], [[7, 7, 7], 9]);
    });
  }
});
