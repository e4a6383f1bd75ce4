/**
 * The variants of docs/ALGORITHM.md §10 (nesterov, caution, correctedWeightDecay) on every path:
 * core fused and unfused, tfjs fused kernels and tfjs ops on cpu and wasm, each against the float64
 * reference; deliberately buggy ports of each variant that the same comparison must reject; and
 * the options' validation and serialization.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  adam,
  adamw,
  adopt,
  amsgrad,
  core,
  cosineDecay,
  linearWarmup,
  OptimizerArgumentError,
  stepDecay,
} from '../src/index.js';
import {
  refAdamStep,
  refAdoptStep,
  type RefAdamParams,
  type RefState,
  refAdamDefaults,
  refAdoptDefaults,
} from './reference.js';
import { CORRECTED_SCHEDULE, VARIANTS } from './variants.js';
import { data, errorAgainst, PATHS, STEPS, TOLERANCE } from './paths.js';

const SECTION_10 = VARIANTS.filter((v) => /nesterov|caution|corrected|epsilonMode/.test(v.name));

describe('§10 variants: every path against the float64 reference', () => {
  for (const variant of SECTION_10) {
    it(variant.name, async (t) => {
      const { p0, grads } = data(5);
      const report: string[] = [];
      for (const path of PATHS) {
        const error = errorAgainst(await path.run(variant, p0, grads), p0, grads, variant.reference);
        report.push(`${path.name} ${error.toExponential(2)}`);
        assert.ok(error < TOLERANCE, `${path.name}: relative error ${error} exceeds ${TOLERANCE}`);
      }
      t.diagnostic(`largest relative error over ${STEPS} steps: ${report.join(', ')}`);
    });
  }
});

// Buggy ports: each is the reference with one plausible mistake in a variant. The optimizers must
// disagree with it by far more than the tolerance, or the agreement above would prove nothing.
const LR = 0.01;
const ADOPT_REF = refAdoptDefaults(LR);
const ADAM_REF = refAdamDefaults(LR);
type Port = (p: Float64Array, g: ArrayLike<number>, s: RefState, k: number) => void;

/** ADOPT with caution, but the mask taken from the moment BEFORE this step's update. */
const cautionOldMomentPort: Port = (p, g, s, k) => {
  const before = Float64Array.from(s.m);
  const first = s.t === 0;
  const state = { ...s, m: Float64Array.from(s.m) };
  refAdoptStep(p.slice(), g, state, ADOPT_REF, k); // to learn the new m and this step's n
  if (first) {
    refAdoptStep(p, g, s, ADOPT_REF, k);
    return;
  }
  let ones = 0;
  const mask = Array.from(g, (gi, i) => (before[i]! * gi > 0 ? 1 : 0));
  for (const x of mask) ones += x;
  const scale = 1 / Math.max(ones / g.length, 1e-3);
  const pPlain = p.slice();
  refAdoptStep(pPlain, g, s, ADOPT_REF, k); // s now holds the new m, v, t
  for (let i = 0; i < p.length; i++) p[i] -= LR * s.m[i]! * mask[i]! * scale;
};

const ADOPT_CAUTION = { ...ADOPT_REF, caution: true };
const ADAMW_CORRECTED: RefAdamParams = {
  ...ADAM_REF,
  lr: CORRECTED_SCHEDULE,
  weightDecay: 0.1,
  decoupled: true,
  correctedWeightDecay: true,
  lrMax: 0.02,
};

const TRAPS: { name: string; make: () => core.CoreOptimizer<any, any>; port: Port }[] = [
  {
    name: 'nesterov: the look-ahead b1·m + (1 - b1)·n stored as the moment',
    make: () => core.adopt(LR, { nesterov: true }),
    port: (p, g, s, k) => {
      if (s.t === 0) return refAdoptStep(p, g, s, ADOPT_REF, k);
      const { beta1: b1, beta2: b2, eps } = ADOPT_REF;
      const c = s.t ** 0.25;
      for (let i = 0; i < p.length; i++) {
        const n = Math.min(Math.max(g[i]! / Math.max(Math.sqrt(s.v[i]!), eps), -c), c);
        const m = b1 * s.m[i]! + (1 - b1) * n;
        s.m[i] = b1 * m + (1 - b1) * n; // the bug: the look-ahead kept as the moment
        p[i] -= LR * s.m[i]!;
        s.v[i] = b2 * s.v[i]! + (1 - b2) * g[i]! * g[i]!;
      }
      s.t++;
    },
  },
  {
    name: 'nesterov: plain ADOPT (the flag ignored)',
    make: () => core.adopt(LR, { nesterov: true }),
    port: (p, g, s, k) => refAdoptStep(p, g, s, ADOPT_REF, k),
  },
  {
    name: 'caution: mask from the moment before the update',
    make: () => core.adopt(LR, { caution: true }),
    port: cautionOldMomentPort,
  },
  {
    name: 'caution: masked but not rescaled by 1 / mean(mask)',
    make: () => core.adopt(LR, { caution: true }),
    port: (p, g, s, k) => {
      const before = p.slice();
      refAdoptStep(p, g, s, ADOPT_CAUTION, k);
      if (s.t <= 1) return;
      let ones = 0;
      for (let i = 0; i < g.length; i++) ones += s.m[i]! * (ADOPT_REF.maximize ? -g[i]! : g[i]!) > 0 ? 1 : 0;
      const scale = 1 / Math.max(ones / g.length, 1e-3);
      for (let i = 0; i < p.length; i++) p[i] = before[i]! + (p[i]! - before[i]!) / scale;
    },
  },
  {
    name: 'epsilonMode add: the floor max(sqrt(v), eps) kept (the option ignored)',
    make: () => core.adopt(LR, { epsilonMode: 'add', epsilon: 1e-2 }),
    port: (p, g, s, k) => refAdoptStep(p, g, s, { ...ADOPT_REF, eps: 1e-2 }, k),
  },
  {
    name: 'caution (Adam): mask ignored',
    make: () => core.adam(LR, { caution: true }),
    port: (p, g, s, k) => refAdamStep(p, g, s, ADAM_REF, k),
  },
  {
    name: 'corrected weight decay: plain lr (lrMax taken as the current lr)',
    make: () => core.adamw(CORRECTED_SCHEDULE, { weightDecay: 0.1, correctedWeightDecay: true }),
    port: (p, g, s, k) => refAdamStep(p, g, s, { ...ADAMW_CORRECTED, correctedWeightDecay: false }, k),
  },
  {
    name: 'corrected weight decay: lr² without dividing by lrMax',
    make: () => core.adamw(CORRECTED_SCHEDULE, { weightDecay: 0.1, correctedWeightDecay: true }),
    port: (p, g, s, k) => refAdamStep(p, g, s, { ...ADAMW_CORRECTED, lrMax: 1 }, k),
  },
  {
    name: "corrected weight decay (ADOPT): lrMax = the schedule's value at step 0",
    make: () => core.adopt(CORRECTED_SCHEDULE, { weightDecay: 0.1, decoupled: true, correctedWeightDecay: true }),
    port: (p, g, s, k) =>
      refAdoptStep(
        p,
        g,
        s,
        {
          ...ADOPT_REF,
          lr: CORRECTED_SCHEDULE,
          weightDecay: 0.1,
          decoupled: true,
          correctedWeightDecay: true,
          lrMax: CORRECTED_SCHEDULE(0),
        },
        k,
      ),
  },
];

describe('§10 variants: the agreement test detects buggy ports', () => {
  for (const trap of TRAPS) {
    for (const fused of [true, false]) {
      it(`${trap.name} (core ${fused ? 'fused' : 'chain'})`, (t) => {
        const { p0, grads } = data(3);
        const made = trap.make();
        const { learningRate, amsgrad: _a, ...options } = made.hyperparams as Record<string, unknown>;
        const factory = trap.name.includes('(Adam)')
          ? core.adam
          : trap.name.startsWith('corrected weight decay:')
            ? core.adamw
            : core.adopt;
        const opt = (factory as typeof core.adopt)(learningRate as never, { ...options, fused } as never);
        const p = Float32Array.from(p0);
        const state = opt.init(p);
        const trajectory = grads.map((g) => {
          opt.step(p, g, state);
          return Float32Array.from(p);
        });
        const error = errorAgainst(trajectory, p0, grads, trap.port);
        t.diagnostic(`relative error against the buggy port: ${error.toExponential(2)}`);
        assert.ok(error > 20 * TOLERANCE, `the buggy port agrees too well: ${error}`);
      });
    }
  }
});

describe('§10 variants: options', () => {
  it('are booleans, default false, checked like the other options', () => {
    const o = adopt(1e-3);
    assert.deepEqual([o.nesterov, o.caution, o.correctedWeightDecay], [false, false, false]);
    o.dispose();
    assert.throws(
      () => adopt(1e-3, { nesterov: 1 as never }),
      /^OptimizerArgumentError: ADOPT: invalid nesterov 1; expected true or false\.$/,
    );
    assert.throws(
      () => core.adam(1e-3, { caution: 'yes' as never }),
      /adam: invalid caution "yes"; expected true or false/,
    );
    assert.throws(() => adam(1e-3, { nesterov: true } as never), /Adam: unknown option "nesterov"/);
    assert.throws(() => core.scaleByAdopt({ caution: null as never }), /scaleByAdopt: invalid caution null/);
  });

  it('correctedWeightDecay needs decoupled decay and a learning rate with a known maximum > 0', () => {
    assert.throws(
      () => adopt(1e-3, { weightDecay: 0.1, correctedWeightDecay: true }),
      (e: unknown) =>
        e instanceof OptimizerArgumentError &&
        /ADOPT: correctedWeightDecay: true needs decoupled: true/.test(e.message),
    );
    assert.throws(
      () => core.adamw((k) => 1e-3 / (k + 1), { correctedWeightDecay: true }),
      /adamw: correctedWeightDecay needs the schedule's maximum learning rate .* a custom function does not declare/,
    );
    assert.throws(
      () => amsgrad(0, { weightDecay: 0.1, decoupled: true, correctedWeightDecay: true }),
      /AMSGrad: correctedWeightDecay needs a maximum learning rate > 0/,
    );
    assert.throws(() => core.addDecayedWeights(0.1, { correctedWeightDecay: true }), /needs learningRate/);
    for (const [schedule, max] of [
      [linearWarmup({ peak: 3e-3, warmupSteps: 5 }), 3e-3],
      [stepDecay({ initial: 2e-3, stepSize: 3, gamma: 0.5 }), 2e-3],
      [cosineDecay({ peak: 4e-3, totalSteps: 10 }), 4e-3],
    ] as const) {
      // the decay of one step with lr = lrMax equals plain decoupled decay: lr · λ · p
      const opt = core.adamw(schedule, { weightDecay: 0.5, correctedWeightDecay: true, fused: false });
      const p = new Float32Array([1]);
      const s = opt.init(p);
      let k = 0;
      while (schedule(k) !== max) k++;
      for (let i = 0; i < k; i++) opt.step(p, new Float32Array([0]), s);
      const before = p[0]!;
      opt.step(p, new Float32Array([0]), s);
      assert.ok(Math.abs(p[0]! - before * (1 - max * 0.5)) < 1e-7, `lrMax of ${JSON.stringify(schedule)}`);
    }
  });

  it('a custom schedule set later is refused at the step, before anything changes', () => {
    const v = tf.variable(tf.ones([3]));
    const opt = adamw(1e-3, { correctedWeightDecay: true });
    opt.applyGradients({ [v.name]: tf.ones([3]) });
    const before = v.dataSync().slice();
    opt.learningRate = (k: number) => 1e-3 / (k + 1);
    assert.throws(
      () => opt.applyGradients({ [v.name]: tf.ones([3]) }),
      /AdamW: correctedWeightDecay needs the schedule's maximum/,
    );
    assert.deepEqual(v.dataSync(), before);
    assert.equal(opt.iterations, 1);
    opt.dispose();
    v.dispose();
  });

  it('are saved by getConfig and restored by fromConfig', () => {
    const a = adopt(CORRECTED_SCHEDULE, {
      nesterov: true,
      caution: true,
      weightDecay: 0.1,
      decoupled: true,
      correctedWeightDecay: true,
    });
    const config = a.getConfig();
    assert.deepEqual([config['nesterov'], config['caution'], config['correctedWeightDecay']], [true, true, true]);
    const b = tf.serialization.SerializationMap.getMap().classNameMap['adopt-optim/ADOPT']![1](
      a.constructor as never,
      config,
    ) as unknown as typeof a;
    assert.deepEqual([b.nesterov, b.caution, b.correctedWeightDecay], [true, true, true]);
    const w = adamw(1e-3, { caution: true, correctedWeightDecay: true });
    assert.deepEqual([w.getConfig()['caution'], w.getConfig()['correctedWeightDecay']], [true, true]);
    for (const o of [a, b, w]) o.dispose();
  });
});
