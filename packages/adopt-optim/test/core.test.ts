import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { core, NonFiniteGradientError, OptimizerArgumentError } from '../src/index.js';
import { maxRelativeError, refAdoptStep, refState, Rng, type RefAdoptParams, type RefState } from './reference.js';

const ADOPT_REF: RefAdoptParams = {
  lr: 0.01, beta1: 0.9, beta2: 0.9999, eps: 1e-6, weightDecay: 0, decoupled: false, clip: (t) => t ** 0.25, maximize: false,
};
import { VARIANTS } from './variants.js';

const N = 257; // odd, so no implementation can rely on a multiple of 4
const STEPS = 200;
// float32 storage against a float64 reference: O(1e-6) typically; unclipped ADOPT reaches ~1e-4 where
// parameters swing by O(1) and come back near 0. A wrong rule gives O(1e-2) or more (see the trap tests).
const TOLERANCE = 5e-4;

describe('core: agreement with the float64 reference', () => {
  for (const variant of VARIANTS) {
    it(variant.name, (t) => {
      const rng = new Rng(42);
      const params = rng.normals(N);
      const ref = Float64Array.from(params);
      const refS = refState(N);
      const opt = variant.core();
      const state = opt.init(params);
      let worst = 0;
      for (let step = 0; step < STEPS; step++) {
        // about 5% exact zeros in the first gradient: v = 0, so the eps floor and the clip act
        const g = rng.gradient(N, step === 0 ? 0.05 : 0);
        const before = Float32Array.from(params);
        opt.step(params, g, state);
        variant.reference(ref, g, refS);
        if (step === 0 && variant.firstStepIsInit) assert.deepEqual(params, before, 'first step moved params');
        worst = Math.max(worst, maxRelativeError(params, ref));
      }
      t.diagnostic(`largest relative error over ${STEPS} steps: ${worst.toExponential(2)}`);
      assert.ok(worst < TOLERANCE, `relative error ${worst} exceeds ${TOLERANCE}`);
    });
  }
});

describe('core: the agreement test detects the known port bugs', () => {
  // Each "port" is the reference with one known mistake (PAPER.md); the core must disagree with
  // it by far more than the tolerance, or the agreement test above would prove nothing.
  // The updated-v trap is invisible with beta2 = 0.9999 (v barely moves in one step), so it is
  // checked with beta2 = 0.5, where it matters.
  const traps: [string, number, (p: Float64Array, g: ArrayLike<number>, s: RefState) => void][] = [
    ['clip off by one (c(t+1))', 0.9999, (p, g, s) => refAdoptStep(p, g, s, { ...ADOPT_REF, clip: (t) => (t + 1) ** 0.25 })],
    ['normalising by the updated v', 0.5, (p, g, s) => {
      if (s.t > 0) for (let i = 0; i < g.length; i++) s.v[i] = 0.5 * s.v[i] + 0.5 * g[i] * g[i];
      refAdoptStep(p, g, s, { ...ADOPT_REF, beta2: 1 }); // beta2 = 1: v already updated above
    }],
    ['no first-step initialisation', 0.9999, (p, g, s) => {
      if (s.t === 0) s.t = 1;
      refAdoptStep(p, g, s, ADOPT_REF);
    }],
  ];
  for (const [name, beta2, buggy] of traps) {
    it(name, (t) => {
      const rng = new Rng(3);
      const params = rng.normals(N);
      const ref = Float64Array.from(params);
      const refS = refState(N);
      const opt = core.adopt(0.01, { beta2 });
      const state = opt.init(params);
      for (let step = 0; step < 50; step++) {
        const g = rng.gradient(N);
        opt.step(params, g, state);
        buggy(ref, g, refS);
      }
      const error = maxRelativeError(params, ref);
      t.diagnostic(`relative error against the buggy port: ${error.toExponential(2)}`);
      assert.ok(error > 20 * TOLERANCE, `the buggy port agrees too well: ${error}`);
    });
  }
});

describe('core: composition', () => {
  it('a chain of the pieces equals the preset', () => {
    const rng = new Rng(7);
    const p1 = rng.normals(33);
    const p2 = Float32Array.from(p1);
    const preset = core.adopt(0.05, { weightDecay: 0.1, decoupled: true, fused: false });
    const hand = core.chain(
      core.scaleByAdopt({ beta1: 0.9, beta2: 0.9999, epsilon: 1e-6, clip: (t) => t ** 0.25 }),
      core.addDecayedWeights(0.1),
      core.scaleByLearningRate(0.05),
    );
    const s1 = preset.init(p1);
    const s2 = hand.init(p2);
    for (let i = 0; i < 20; i++) {
      const g = rng.normals(33);
      preset.step(p1, g, s1);
      const u = Float32Array.from(g);
      hand.update(u, s2, p2, { noUpdate: false });
      core.applyUpdates(p2, u);
    }
    assert.deepEqual(p1, p2);
  });

  it('a learning-rate schedule is read at every step', () => {
    const seen: number[] = [];
    const opt = core.adam((step) => {
      seen.push(step);
      return 0.1 / (step + 1);
    });
    const p = new Float32Array([1]);
    const s = opt.init(p);
    for (let i = 0; i < 4; i++) opt.step(p, new Float32Array([1]), s);
    assert.deepEqual([...new Set(seen)], [0, 1, 2, 3]);
    // Adam's first steps move by lr when the gradient is constant: 1 - (0.1 + 0.05 + 0.1/3 + 0.025)
    assert.ok(Math.abs(p[0]! - (1 - (0.1 + 0.05 + 0.1 / 3 + 0.025))) < 1e-6, `got ${p[0]}`);
  });

  it('state is plain data', () => {
    const opt = core.adopt(0.1);
    const s = opt.init(new Float32Array(3));
    assert.ok(s.adopt.m instanceof Float32Array && s.adopt.v instanceof Float32Array);
    assert.equal(s.adopt.t, 0);
    opt.step(new Float32Array(3), new Float32Array([1, 2, 3]), s);
    assert.deepEqual(Array.from(s.adopt.v), [1, 4, 9]);
    assert.equal(s.adopt.t, 1);
    assert.equal(s.learningRate.count, 1);
  });
});

describe('core: bad input', () => {
  it('rejects mismatched lengths before any change', () => {
    const opt = core.adopt();
    const p = new Float32Array(4);
    const s = opt.init(p);
    assert.throws(() => opt.step(p, new Float32Array(3), s), /grads has length 3 but params has length 4/);
    assert.throws(() => opt.step(p, [1, 2, 3, 4] as unknown as Float32Array, s), OptimizerArgumentError);
  });

  it('throws on a non-finite gradient, leaving params and state as they were', () => {
    const opt = core.adopt(0.1);
    const p = new Float32Array([1, 2, 3]);
    const s = opt.init(p);
    opt.step(p, new Float32Array([1, 1, 1]), s);
    const v = Float32Array.from(s.adopt.v);
    assert.throws(() => opt.step(p, new Float32Array([1, NaN, 1]), s), NonFiniteGradientError);
    assert.deepEqual(Array.from(p), [1, 2, 3]);
    assert.deepEqual(s.adopt.v, v);
    assert.equal(s.adopt.t, 1);
  });

  it("skips a non-finite step with nonFinite: 'skip'", () => {
    const opt = core.adopt(0.1, { nonFinite: 'skip' });
    const p = new Float32Array([1, 2]);
    const s = opt.init(p);
    assert.equal(opt.step(p, new Float32Array([Infinity, 1]), s), false);
    assert.equal(s.adopt.t, 0);
    assert.equal(opt.step(p, new Float32Array([1, 1]), s), true);
    assert.equal(s.adopt.t, 1);
  });

  it('rejects a schedule that returns a negative learning rate, at construction or at that step', () => {
    assert.throws(() => core.adopt(() => -1), /adopt: the learning-rate schedule returned -1 at step 0/);
    const opt = core.adopt((step) => (step === 2 ? -1 : 0.1));
    const p = new Float32Array([1, 2]);
    const s = opt.init(p);
    opt.step(p, new Float32Array([1, 1]), s);
    opt.step(p, new Float32Array([1, 1]), s);
    const saved = [Array.from(p), Array.from(s.adopt.m), Array.from(s.adopt.v), s.adopt.t];
    assert.throws(() => opt.step(p, new Float32Array([1, 1]), s), /returned -1 at step 2/);
    assert.deepEqual([Array.from(p), Array.from(s.adopt.m), Array.from(s.adopt.v), s.adopt.t], saved);
  });
});
