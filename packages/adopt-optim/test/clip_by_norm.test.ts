/**
 * The one implementation of clipping by norm (src/gradient_clipping.ts `clipFactor`, src/tfjs/clip_ops.ts), used by
 * the optimizers, the Trainer and adopt-lab: against Keras's and PyTorch's formulas written out in float64, and a
 * float64 norm; gradients too large or too small for a plain float32 Σ g² keep their norm; nothing leaks.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { clipFactor } from '../src/gradient_clipping.js';
import { clipByGlobalNorm, clipByNormWithOps, clipFactorOf, globalNorm } from '../src/tfjs/clip_ops.js';
import { OptimizerArgumentError } from '../src/index.js';
import { BACKENDS, useBackend } from './backends.js';
import { Rng } from './reference.js';

/** Keras (tf.clip_by_global_norm): t · c / max(n, c). */
const keras = (c: number, n: number): number => c / Math.max(n, c);
/** PyTorch (clip_grad_norm_): t · clamp(c / (n + 1e-6), max=1). */
const pytorch = (c: number, n: number): number => Math.min(c / (n + 1e-6), 1);
const NORMS = [0, 1e-30, 0.3, 0.999999, 1, 1.000001, 2, 7.5, 1e6, 3.4e38, Infinity, NaN];

/** √Σ g² in float64 over the float32 values. */
const norm64 = (gs: Float32Array[]): number => Math.sqrt(gs.reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));

function randomGradients(rng: Rng, scale: number): Float32Array[] {
  return [37, 5, 130].map((n) => Float32Array.from({ length: n }, () => (rng.uniform() * 2 - 1) * scale));
}

describe('clipping by norm: one formula', () => {
  it("clipFactor(c, n) is Keras's c / max(n, c) bit for bit; with ε = 1e-6 it is PyTorch's", () => {
    for (const c of [0.5, 1, 1.5, 1e-3]) {
      for (const n of NORMS) {
        assert.ok(Object.is(clipFactor(c, n), keras(c, n)), `keras c=${c} n=${n}: ${clipFactor(c, n)}`);
        assert.ok(Object.is(clipFactor(c, n, 1e-6), pytorch(c, n)), `pytorch c=${c} n=${n}`);
      }
    }
  });

  for (const backend of BACKENDS) {
    it(`${backend}: clipFactorOf equals clipFactor in float32; clipByGlobalNorm against a float64 norm`, async () => {
      await useBackend(backend);
      for (const n of NORMS) {
        for (const eps of [0, 1e-6]) {
          const f = clipFactorOf(1.5, tf.scalar(n), eps);
          const want = Math.fround(clipFactor(1.5, Math.fround(n), eps));
          assert.ok(
            Math.abs(f.dataSync()[0]! - want) <= 2 ** -23 * Math.abs(want) || Object.is(f.dataSync()[0], want),
            `n=${n} eps=${eps}: ${f.dataSync()[0]} vs ${want}`,
          );
          f.dispose();
        }
      }
      const rng = new Rng(7);
      // 1e25: plain Σ g² overflows float32; 1e-25: it underflows to 0. The scaled norm is right at both.
      for (const scale of [1e-25, 1e-3, 1, 30, 1e25]) {
        const raw = randomGradients(rng, scale);
        const ts = raw.map((g) => tf.tensor1d(g));
        const before = tf.memory().numTensors;
        const { clipped, norm } = clipByGlobalNorm(ts, 2, 1e-6);
        assert.equal(tf.memory().numTensors, before + ts.length + 1, 'only the results are new');
        const n = norm64(raw);
        assert.ok(Math.abs(norm.dataSync()[0]! - n) <= 1e-6 * n, `scale ${scale}: norm ${norm.dataSync()[0]} vs ${n}`);
        const f = pytorch(2, n);
        clipped.forEach((t, i) =>
          t.dataSync().forEach((x, j) => {
            const want = raw[i]![j]! * f;
            assert.ok(Math.abs(x - want) <= 2e-6 * Math.abs(want) + 1e-45, `scale ${scale}: ${x} vs ${want}`);
          }),
        );
        tf.dispose([...clipped, norm, ...ts]);
      }
    });

    it(`${backend}: clipByNormWithOps: clipnorm per variable, globalClipnorm over all, Keras's formula`, async () => {
      await useBackend(backend);
      const raw = randomGradients(new Rng(3), 1);
      const ts = raw.map((g) => tf.tensor1d(g));
      const base = { clipnorm: null, clipvalue: null, globalClipnorm: null };
      const before = tf.memory().numTensors;
      const each = clipByNormWithOps({ ...base, clipnorm: 1 }, ts);
      const all = clipByNormWithOps({ ...base, globalClipnorm: 1.5 }, ts);
      assert.equal(tf.memory().numTensors, before + 2 * ts.length);
      const global = keras(1.5, norm64(raw));
      raw.forEach((g, i) => {
        const own = keras(1, norm64([g]));
        g.forEach((x, j) => {
          assert.ok(Math.abs(each[i]!.dataSync()[j]! - x * own) <= 1e-6 * Math.abs(x * own) + 1e-12);
          assert.ok(Math.abs(all[i]!.dataSync()[j]! - x * global) <= 1e-6 * Math.abs(x * global) + 1e-12);
        });
      });
      tf.dispose([...each, ...all, ...ts]);
      const empty = globalNorm([]);
      assert.equal(empty.dataSync()[0], 0);
      empty.dispose();
    });
  }

  it('refuses a bound or ε that is not a finite number (> 0, >= 0), creating nothing', async () => {
    await useBackend('cpu');
    const g = tf.ones([3]);
    const before = tf.memory().numTensors;
    for (const bad of [0, -1, NaN, Infinity, '1' as unknown as number]) {
      assert.throws(() => clipByGlobalNorm([g], bad), /clipByGlobalNorm: invalid maxNorm/);
    }
    for (const bad of [-1e-6, NaN, Infinity]) assert.throws(() => clipByGlobalNorm([g], 1, bad), /invalid epsilon/);
    assert.equal(tf.memory().numTensors, before);
    g.dispose();
  });
});

describe('globalNorm and clipByGlobalNorm at the edges (attack round 2026-12-08)', () => {
  const scalarOf = (t: tf.Tensor): number => {
    const v = t.dataSync()[0]!;
    t.dispose();
    return v;
  };
  for (const backend of BACKENDS) {
    it(`${backend}: ±Infinity gives an Infinity norm, NaN only for NaN (a twin adding ∞ - ∞ fails)`, async () => {
      await useBackend(backend);
      const cases: [number[][], number][] = [
        [[[Infinity, 1], [1]], Infinity],
        [[[1], [-Infinity, 2]], Infinity],
        [[[Infinity], [-Infinity]], Infinity],
        [[[Infinity], [NaN]], NaN],
        [[[NaN, 1], [Infinity]], NaN],
        [[[3], [4]], 5],
      ];
      for (const [values, want] of cases) {
        const ts = values.map((v) => tf.tensor1d(v));
        const before = tf.memory().numTensors;
        assert.ok(Object.is(scalarOf(globalNorm(ts)), want), `globalNorm(${JSON.stringify(values)})`);
        // the float64 formula written out agrees; summing the raw values instead does not
        const flat = values.flat();
        const reference = flat.some(Number.isNaN) ? NaN : Math.hypot(...flat);
        assert.ok(Object.is(reference, want));
        if (flat.includes(Infinity) && flat.includes(-Infinity)) assert.ok(Number.isNaN(flat.reduce((a, b) => a + b)));
        const { clipped, norm } = clipByGlobalNorm(ts, 1);
        assert.ok(Object.is(scalarOf(norm), want));
        if (want === Infinity) {
          // PyTorch's clip_grad_norm_: finite entries scaled by c / Infinity = 0, infinite ones by 0 (NaN)
          clipped.forEach((c, i) =>
            c.dataSync().forEach((x, j) => {
              const g = values[i]![j]!;
              assert.ok(Number.isFinite(g) ? x === 0 : Number.isNaN(x), `clipped ${g} -> ${x}`);
            }),
          );
        }
        tf.dispose(clipped);
        assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
        tf.dispose(ts);
      }
    });

    it(`${backend}: a zero-size tensor adds nothing to the norm`, async () => {
      await useBackend(backend);
      const ts = [tf.tensor1d([]), tf.tensor1d([3]), tf.zeros([0, 4]), tf.tensor1d([4])];
      assert.equal(scalarOf(globalNorm(ts)), 5);
      assert.equal(scalarOf(globalNorm([tf.tensor1d([])])), 0);
      tf.dispose(ts);
    });
  }

  it('refuses all but a list of live float32 tensors, naming argument and index, creating nothing', async () => {
    await useBackend('cpu');
    const good = tf.tensor1d([1, 2]);
    const gone = tf.tensor1d([1]);
    gone.dispose();
    const int = tf.tensor1d([3, 4], 'int32');
    const two = tf.scalar(2);
    const refusals: [unknown, RegExp][] = [
      [good, /^globalNorm: invalid tensors a tf\.Tensor; expected an array of float32 tensors/],
      [new Set([good]), /^globalNorm: invalid tensors a Set; expected an array/],
      [[good, null], /^globalNorm: tensors\[1\] is null; expected a float32 tf\.Tensor/],
      [[3, 4], /^globalNorm: tensors\[0\] is 3; expected a float32 tf\.Tensor/],
      [[good, gone], /^globalNorm: tensors\[1\] is disposed/],
      [[int, good], /^globalNorm: tensors\[0\] is int32 of shape \[2\]; expected a float32 tf\.Tensor/],
    ];
    const before = tf.memory().numTensors;
    for (const [bad, message] of refusals) {
      assert.throws(
        () => globalNorm(bad as tf.Tensor[]),
        (e: unknown) => e instanceof OptimizerArgumentError && message.test(e.message),
      );
      const clipMessage = new RegExp(
        message.source
          .replace('^globalNorm: tensors', '^clipByGlobalNorm: gradients')
          .replace('^globalNorm: invalid tensors', '^clipByGlobalNorm: invalid gradients'),
      );
      assert.throws(
        () => clipByGlobalNorm(bad as tf.Tensor[], 1),
        (e: unknown) => e instanceof OptimizerArgumentError && clipMessage.test(e.message),
      );
    }
    for (const [c, eps] of [
      [-1, 0],
      [Number.NaN, 0],
      [1, -1],
    ] as const) {
      assert.throws(
        () => clipFactorOf(c, two, eps),
        (e: unknown) => e instanceof OptimizerArgumentError && /^clipFactorOf: invalid (c|epsilon) /.test(e.message),
      );
    }
    assert.throws(() => clipByGlobalNorm([good], '1' as never), /invalid maxNorm "1"; expected a finite number > 0/);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([good, int, two]);
  });
});
