import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adam, adopt, core, NonFiniteGradientError, OptimizerArgumentError } from '../src/index.js';
import { maxRelativeError, refAdoptStep, refState, Rng, type RefState, refAdoptDefaults } from './reference.js';

const ADOPT_REF = refAdoptDefaults(0.01);
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
    [
      'clip off by one (c(t+1))',
      0.9999,
      (p, g, s) => refAdoptStep(p, g, s, { ...ADOPT_REF, clip: (t) => (t + 1) ** 0.25 }),
    ],
    [
      'normalising by the updated v',
      0.5,
      (p, g, s) => {
        if (s.t > 0) for (let i = 0; i < g.length; i++) s.v[i] = 0.5 * s.v[i] + 0.5 * g[i] * g[i];
        refAdoptStep(p, g, s, { ...ADOPT_REF, beta2: 1 }); // beta2 = 1: v already updated above
      },
    ],
    [
      'no first-step initialisation',
      0.9999,
      (p, g, s) => {
        if (s.t === 0) s.t = 1;
        refAdoptStep(p, g, s, ADOPT_REF);
      },
    ],
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

describe('core: the pieces take partial options and check them like the optimizers', () => {
  const near = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));

  it('scaleByAdopt({beta1}) alone fills in the rest from the defaults (beta2 0.9999, epsilon 1e-6, clip t^0.25)', () => {
    const t = core.scaleByAdopt({ beta1: 0.5 });
    const s = t.init(new Float32Array(2));
    const ctx = { noUpdate: false };
    t.update(new Float32Array([2, 2]), s, new Float32Array(2), ctx); // first step: v = g^2 = 4, no update
    const u = new Float32Array([1, 100]);
    t.update(u, s, new Float32Array(2), ctx);
    // n = g / sqrt(4) = [0.5, 50]; clip at c(1) = 1 -> [0.5, 1]; m = 0.5 * n
    assert.ok(near(u[0]!, 0.25) && near(u[1]!, 0.5), `updates ${u}`);
    // v = 0.9999 * 4 + 0.0001 * g^2
    assert.ok(near(s.v[0]!, 0.9999 * 4 + 0.0001) && near(s.v[1]!, 0.9999 * 4 + 0.0001 * 1e4), `v ${s.v}`);
    assert.doesNotThrow(() => core.scaleByAdopt());
  });

  it('scaleByAdam({amsgrad: true}) alone: beta1 0.9, beta2 0.999, epsilon 1e-8 and a running maximum', () => {
    const t = core.scaleByAdam({ amsgrad: true });
    const s = t.init(new Float32Array(1));
    assert.ok(s.vmax instanceof Float32Array);
    const u = new Float32Array([3]);
    t.update(u, s, new Float32Array(1), { noUpdate: false });
    // first bias-corrected step: m^ = 3, v^ = 9, u = 3 / (3 + 1e-8)
    assert.ok(near(u[0]!, 3 / (3 + 1e-8)), `update ${u[0]}`);
    assert.ok(near(s.v[0]!, 0.001 * 9) && near(s.vmax![0]!, 0.001 * 9));
  });

  const owner = (m: string) => m.replace(/^[^:]+: /, '');
  const bad: [string, () => unknown, () => unknown, string][] = [
    [
      'beta2 2',
      () => core.scaleByAdopt({ beta2: 2 }),
      () => adopt(1e-3, { beta2: 2 }),
      'scaleByAdopt: invalid beta2 2; expected a number in [0, 1).',
    ],
    [
      'beta1 NaN',
      () => core.scaleByAdam({ beta1: NaN }),
      () => adam(1e-3, { beta1: NaN }),
      'scaleByAdam: invalid beta1 NaN; expected a number in [0, 1).',
    ],
    [
      'epsilon -1',
      () => core.scaleByAdopt({ epsilon: -1 }),
      () => adopt(1e-3, { epsilon: -1 }),
      'scaleByAdopt: invalid epsilon -1; expected a finite number',
    ],
    [
      'clip not a function',
      () => core.scaleByAdopt({ clip: 2 as never }),
      () => adopt(1e-3, { clip: 2 as never }),
      'scaleByAdopt: invalid clip 2; expected a function of the step t',
    ],
    [
      'clip going negative',
      () => core.scaleByAdopt({ clip: () => -1 }),
      () => adopt(1e-3, { clip: () => -1 }),
      'scaleByAdopt: invalid clip -1 returned by the clip schedule at step 1; expected a finite number >= 0.',
    ],
  ];
  for (const [what, piece, tfjs, message] of bad) {
    it(`${what}: refused at construction with the message of the tfjs optimizer`, () => {
      let pieceMessage = '';
      assert.throws(
        piece,
        (e: unknown) => e instanceof OptimizerArgumentError && (pieceMessage = e.message).startsWith(message),
      );
      assert.throws(
        tfjs,
        (e: unknown) => e instanceof OptimizerArgumentError && owner(e.message) === owner(pieceMessage),
      );
    });
  }

  it('refuses unknown option keys, naming the accepted ones, and options that are not an object', () => {
    assert.throws(
      () => core.scaleByAdopt({ weightDecay: 0.1 } as object),
      /^OptimizerArgumentError: scaleByAdopt: unknown option "weightDecay"; expected one of beta1, beta2, epsilon, clip, nesterov, caution, epsilonMode\.$/,
    );
    assert.throws(
      () => core.scaleByAdam({ beta_2: 0.9 } as object),
      /^OptimizerArgumentError: scaleByAdam: unknown option "beta_2"; did you mean "beta2"\? expected one of beta1, beta2, epsilon, amsgrad, caution\.$/,
    );
    assert.throws(
      () => core.scaleByAdam({ amsgrad: 'yes' as never }),
      /scaleByAdam: invalid amsgrad "yes"; expected true or false\./,
    );
    assert.throws(() => core.scaleByAdopt(0.9 as never), /scaleByAdopt: invalid options 0\.9; expected an object\./);
  });

  it('checks the arguments of scale, addDecayedWeights and scaleByLearningRate', () => {
    assert.throws(
      () => core.scale(NaN),
      /^OptimizerArgumentError: scale: invalid factor NaN; expected a finite number\.$/,
    );
    assert.throws(
      () => core.addDecayedWeights(-0.1),
      /addDecayedWeights: invalid weightDecay -0\.1; expected a finite number >= 0\./,
    );
    assert.throws(
      () => core.scaleByLearningRate(-1),
      /scaleByLearningRate: invalid learningRate -1; expected a finite number >= 0\./,
    );
    assert.throws(() => core.scaleByLearningRate(Infinity), /scaleByLearningRate: invalid learningRate Infinity/);
    assert.throws(
      () => core.scaleByLearningRate(() => NaN),
      /scaleByLearningRate: the learning-rate schedule returned NaN at step 0/,
    );
    assert.doesNotThrow(() => core.scale(-1));
  });
});

describe('core: init takes a Float32Array (or a tree of them) and nothing else', () => {
  const makers = [
    ['adopt', core.adopt],
    ['adam', core.adam],
    ['adamw', core.adamw],
    ['amsgrad', core.amsgrad],
  ] as const;
  for (const [name, make] of makers) {
    it(`${name}.init refuses other arrays and objects, at init, naming what it got`, () => {
      const opt = make(0.1);
      const init = opt.init as (p: unknown) => unknown;
      assert.throws(
        () => init({ w: [1, 2] }),
        (e: unknown) =>
          e instanceof OptimizerArgumentError &&
          e.message ===
            // a record is a tree of arrays (one state per leaf): its leaf must be a Float32Array
            `${name}.init: invalid params["w"] an Array of length 2; expected a Float32Array ` +
              '(Float32Array.from(params["w"]) converts it).',
      );
      assert.throws(
        () => init(new Float64Array(2)),
        (e: unknown) =>
          e instanceof OptimizerArgumentError &&
          e.message ===
            `${name}.init: invalid params a Float64Array of length 2; expected a Float32Array ` +
              '(Float32Array.from(params) converts it).',
      );
      assert.throws(
        () => init([1, 2]),
        new RegExp(
          `^OptimizerArgumentError: ${name}\\.init: invalid params an Array of length 2; expected a Float32Array`,
        ),
      );
      assert.throws(
        () => init(undefined),
        new RegExp(`${name}\\.init: invalid params undefined; expected a Float32Array\\.$`),
      );
      assert.throws(() => init(3), new RegExp(`${name}\\.init: invalid params 3; expected a Float32Array\\.$`));
    });
  }

  it('so do the pieces and the chains', () => {
    const f64 = new Float64Array(2) as unknown as Float32Array;
    assert.throws(
      () => core.scaleByAdopt().init(f64),
      /^OptimizerArgumentError: scaleByAdopt\.init: invalid params a Float64Array of length 2/,
    );
    assert.throws(() => core.scaleByAdam().init(f64), /scaleByAdam\.init: invalid params a Float64Array/);
    assert.throws(() => core.chain(core.scale(2)).init(f64), /chain\.init: invalid params a Float64Array/);
    assert.throws(
      () => core.namedChain({ s: core.scale(2) }).init(f64),
      /namedChain\.init: invalid params a Float64Array/,
    );
  });
});

describe('core: a gradient that does not match the state is refused, nothing changed', () => {
  const snapshot = (s: unknown) => JSON.stringify(s, (_k, v) => (v instanceof Float32Array ? Array.from(v) : v));

  for (const [name, make] of [
    ['adopt', core.adopt],
    ['amsgrad', core.amsgrad],
  ] as const) {
    for (const fused of [true, false]) {
      it(`${name}.step (fused: ${fused}): a state made for 3 elements, params and grads of 4`, () => {
        const opt = make(0.1, { fused });
        const s = opt.init(new Float32Array(3));
        const p = new Float32Array([1, 2, 3, 4]);
        opt.step(new Float32Array(3), new Float32Array([1, 1, 1]), s as never);
        const before = snapshot(s);
        const piece = name === 'adopt' ? 'scaleByAdopt' : 'scaleByAdam';
        assert.throws(
          () => opt.step(p, new Float32Array([1, 1, 1, 1]), s as never),
          (e: unknown) =>
            e instanceof OptimizerArgumentError &&
            e.message ===
              `${piece}: the gradient has length 4 but the state was made for length 3; pass the state that init ` +
                'made for these params. Nothing was changed.',
        );
        assert.deepEqual(Array.from(p), [1, 2, 3, 4]);
        assert.equal(snapshot(s), before);
      });
    }
  }

  it("update: a shorter or longer gradient, or another optimizer's state, leaves updates and state as they were", () => {
    const opt = core.adopt(0.1);
    const p = new Float32Array([1, 2, 3]);
    const s = opt.init(p);
    opt.step(p, new Float32Array([1, 1, 1]), s);
    const before = snapshot(s);
    for (const u of [new Float32Array([1, 1]), new Float32Array([1, 1, 1, 1])]) {
      const copy = Float32Array.from(u);
      assert.throws(
        () => opt.update(u, s, p, { noUpdate: false }),
        new RegExp(`scaleByAdopt: the gradient has length ${u.length} but the state was made for length 3`),
      );
      assert.deepEqual(u, copy);
      assert.equal(snapshot(s), before);
    }
    const adamState = core.adam(0.1).init(p);
    assert.throws(
      () => opt.update(new Float32Array(3), adamState as never, p, { noUpdate: false }),
      /^OptimizerArgumentError: namedChain: the state has no key "adopt"; expected the state that init made \(an object with keys sign, l2, adopt, decoupledDecay, learningRate\)\.$/,
    );
    assert.throws(
      () => opt.step(p, new Float32Array(3), undefined as never),
      /namedChain: invalid state undefined; expected the state that init made/,
    );
    assert.throws(
      () => opt.step(p, new Float32Array(3), { ...s, adopt: { m: [0, 0, 0], v: s.adopt.v, t: 1 } } as never),
      /scaleByAdopt: invalid state\.m an Array of length 3; expected a Float32Array/,
    );
  });

  it('a chain checks every member before any member changes its state', () => {
    const t = core.chain(core.scaleByAdam(), core.scaleByAdopt());
    const good = core.scaleByAdam().init(new Float32Array(3));
    const wrong = core.scaleByAdopt().init(new Float32Array(2));
    const u = new Float32Array([1, 2, 3]);
    assert.throws(
      () => t.update(u, [good, wrong], new Float32Array(3), { noUpdate: false }),
      /scaleByAdopt: the gradient has length 3 but the state was made for length 2/,
    );
    // the first member did not run
    assert.deepEqual([good.t, Array.from(good.m), Array.from(u)], [0, [0, 0, 0], [1, 2, 3]]);
    assert.throws(
      () => t.update(u, [good], new Float32Array(3), { noUpdate: false }),
      /chain: invalid state an Array of length 1; expected the state that init made \(an Array of length 2\)/,
    );
  });

  it('a piece alone refuses a mismatched gradient, and decay refuses params of another length', () => {
    const t = core.scaleByAdopt();
    const s = t.init(new Float32Array(2));
    const u = new Float32Array([1, 2, 3]);
    assert.throws(
      () => t.update(u, s, new Float32Array(3), { noUpdate: false }),
      /scaleByAdopt: the gradient has length 3 but the state was made for length 2/,
    );
    assert.deepEqual([s.t, Array.from(s.v), Array.from(u)], [0, [0, 0], [1, 2, 3]]);
    assert.throws(
      () => core.addDecayedWeights(0.1).update(u, null, new Float32Array(2), { noUpdate: false }),
      /addDecayedWeights: the gradient has length 3 but params has length 2\./,
    );
    assert.deepEqual(Array.from(u), [1, 2, 3]);
  });
});
