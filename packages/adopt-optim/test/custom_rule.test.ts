/**
 * Rules the library does not ship, defined through the experimental defineRule API: SGD with
 * Nesterov momentum and Lion (Chen et al., 2023). Each runs on every path Node has (the core's
 * generated WebAssembly and generated JavaScript, tfjs cpu and wasm fused and as ops) against its
 * own float64 reference; a buggy port of each is rejected by the same comparison; bad definitions
 * are refused with a message naming what is wrong. The browser side (webgl, webgpu):
 * apps/playground/test/gpu_step.test.mjs.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { core, OptimizerArgumentError } from '../src/index.js';
import { defineRule, RuleOptimizer, ruleOptimizer, type CustomRule } from '../src/rules/index.js';
import { BACKENDS, useBackend } from './backends.js';
import { maxRelativeError, Rng } from './reference.js';

const N = 257;
const STEPS = 40;
const LR = 0.01;

export const SGD_NESTEROV = defineRule({
  name: 'sgd_nesterov',
  slots: ['buf'],
  hyperparameters: { momentum: 0.9 },
  scalars: (lr, _t, h) => ({ lr, mu: h.momentum! }),
  step: ({ p, g, slot, scalar: s, add, sub, mul }) => {
    const buf = add(mul(slot('buf'), s('mu')), g);
    return { buf, p: sub(p, mul(add(g, mul(buf, s('mu'))), s('lr'))) };
  },
});

export const LION = defineRule({
  name: 'lion',
  slots: ['m'],
  hyperparameters: { beta1: 0.9, beta2: 0.99, weightDecay: 0.1 },
  scalars: (lr, _t, h) => ({
    lr,
    b1: h.beta1!,
    omb1: 1 - h.beta1!,
    b2: h.beta2!,
    omb2: 1 - h.beta2!,
    decay: 1 - lr * h.weightDecay!,
  }),
  step: ({ p, g, slot, scalar: s, add, sub, mul, select, gt, lt, constant }) => {
    const c = add(mul(slot('m'), s('b1')), mul(g, s('omb1')));
    const sign = select(gt(c, constant(0)), constant(1), select(lt(c, constant(0)), constant(-1), constant(0)));
    return { m: add(mul(slot('m'), s('b2')), mul(g, s('omb2'))), p: sub(mul(p, s('decay')), mul(sign, s('lr'))) };
  },
});

/**
 * A rule with a per-tensor mean (the reduction caution uses): momentum whose step is masked where
 * m and g disagree and rescaled by 1 / max(fraction agreeing, 1e-3).
 */
export const MASKED = defineRule({
  name: 'masked_momentum',
  slots: ['m'],
  hyperparameters: { beta: 0.9 },
  scalars: (lr, _t, h) => ({ lr, b: h.beta!, omb: 1 - h.beta! }),
  step: ({ p, g, slot, scalar: s, add, sub, mul, div, max, select, sameSign, mean, constant }) => {
    const m = add(mul(slot('m'), s('b')), mul(g, s('omb')));
    const agree = sameSign(m, g);
    const factor = select(agree, div(constant(1), max(mean(agree), constant(1e-3))), constant(0));
    return { m, p: sub(p, mul(mul(m, factor), s('lr'))) };
  },
});

type Ref = (p: Float64Array, g: Float32Array, state: Float64Array, risky: Uint8Array) => void;

const refMasked: Ref = (p, g, m) => {
  let agree = 0;
  for (let i = 0; i < p.length; i++) {
    m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
    if (m[i]! * g[i]! > 0) agree++;
  }
  const scale = 1 / Math.max(agree / p.length, 1e-3);
  for (let i = 0; i < p.length; i++) if (m[i]! * g[i]! > 0) p[i] -= LR * m[i]! * scale;
};
/** The mask without the rescaling. */
const buggyMasked: Ref = (p, g, m) => {
  for (let i = 0; i < p.length; i++) {
    m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
    if (m[i]! * g[i]! > 0) p[i] -= LR * m[i]!;
  }
};

/** SGD with Nesterov momentum in float64 (PyTorch's SGD(nesterov=True), dampening 0). */
const refSgdNesterov: Ref = (p, g, buf) => {
  for (let i = 0; i < p.length; i++) {
    buf[i] = 0.9 * buf[i]! + g[i]!;
    p[i] -= LR * (g[i]! + 0.9 * buf[i]!);
  }
};

/** Lion in float64; marks elements whose sign was too close to call (|c| tiny) as risky. */
const refLion: Ref = (p, g, m, risky) => {
  for (let i = 0; i < p.length; i++) {
    const c = 0.9 * m[i]! + 0.1 * g[i]!;
    if (Math.abs(c) < 1e-6 * Math.max(Math.abs(g[i]!), 1e-30)) risky[i] = 1;
    p[i] = p[i]! * (1 - LR * 0.1) - LR * Math.sign(c);
    m[i] = 0.99 * m[i]! + 0.01 * g[i]!;
  }
};

/** Buggy ports the comparison must reject: plain (not Nesterov) momentum; Lion with β2 where β1 belongs. */
const buggySgd: Ref = (p, g, buf) => {
  for (let i = 0; i < p.length; i++) {
    buf[i] = 0.9 * buf[i]! + g[i]!;
    p[i] -= LR * buf[i]!;
  }
};
const buggyLion: Ref = (p, g, m) => {
  for (let i = 0; i < p.length; i++) {
    const c = 0.99 * m[i]! + 0.01 * g[i]!;
    p[i] = p[i]! * (1 - LR * 0.1) - LR * Math.sign(c);
    m[i] = 0.99 * m[i]! + 0.01 * g[i]!;
  }
};

function data(seed: number): { p0: Float32Array; grads: Float32Array[] } {
  const rng = new Rng(seed);
  return { p0: rng.normals(N), grads: Array.from({ length: STEPS }, () => rng.normals(N)) };
}

/** Largest relative error of a trajectory against `ref`, leaving out elements the reference marks risky. */
function errorAgainst(trajectory: Float32Array[], p0: Float32Array, grads: Float32Array[], ref: Ref): number {
  const p = Float64Array.from(p0);
  const state = new Float64Array(N);
  const risky = new Uint8Array(N);
  let worst = 0;
  grads.forEach((g, k) => {
    ref(p, g, state, risky);
    const keep = (_: unknown, i: number) => risky[i] === 0;
    worst = Math.max(worst, maxRelativeError(Array.from(trajectory[k]!).filter(keep), Array.from(p).filter(keep)));
  });
  return worst;
}

type Path = {
  name: string;
  run(rule: CustomRule, p0: Float32Array, grads: Float32Array[]): Promise<Float32Array[]> | Float32Array[];
};

const corePath = (fused: boolean): Path => ({
  name: `core ${fused ? 'WebAssembly' : 'JavaScript'}`,
  run(rule, p0, grads) {
    const opt = core.ruleOptimizer(rule, LR, { fused });
    const p = Float32Array.from(p0);
    const state = opt.init(p);
    return grads.map((g) => {
      opt.step(p, g, state);
      return Float32Array.from(p);
    });
  },
});

const tfjsPath = (backend: string, fused: boolean): Path => ({
  name: `tfjs ${backend} ${fused ? 'fused' : 'ops'}`,
  async run(rule, p0, grads) {
    await useBackend(backend);
    const opt = ruleOptimizer(rule, LR, { fused });
    const v = tf.variable(tf.tensor(p0));
    let afterFirst = 0;
    const out = grads.map((g, k) => {
      const gt = tf.tensor(g);
      opt.applyGradients({ [v.name]: gt });
      gt.dispose();
      if (k === 0) afterFirst = tf.memory().numTensors; // the first step made the slots
      return v.dataSync().slice() as Float32Array;
    });
    assert.equal(tf.memory().numTensors, afterFirst, `${backend}: a step leaves no tensors behind`);
    opt.dispose();
    v.dispose();
    return out;
  },
});

const PATHS: Path[] = [
  corePath(true),
  corePath(false),
  ...BACKENDS.flatMap((b) => [tfjsPath(b, true), tfjsPath(b, false)]),
];
const CASES: [string, CustomRule, Ref, Ref, number][] = [
  ['SGD with Nesterov momentum', SGD_NESTEROV, refSgdNesterov, buggySgd, 1e-4],
  ['Lion', LION, refLion, buggyLion, 1e-4],
  ['momentum masked by agreement, with a per-tensor mean', MASKED, refMasked, buggyMasked, 1e-4],
];

for (const [name, rule, ref, buggy, tolerance] of CASES) {
  describe(`a user-defined rule: ${name}`, () => {
    for (const path of PATHS) {
      it(`${path.name} agrees with the float64 reference; a buggy port does not`, async () => {
        const { p0, grads } = data(3);
        const trajectory = await path.run(rule, p0, grads);
        const error = errorAgainst(trajectory, p0, grads, ref);
        assert.ok(error < tolerance, `${path.name}: relative error ${error} over ${STEPS} steps`);
        const bug = errorAgainst(trajectory, p0, grads, buggy);
        assert.ok(bug > 100 * tolerance, `${path.name}: the buggy port agrees too (${bug})`);
      });
    }
  });
}

describe('defineRule refuses what it cannot run, naming the problem', () => {
  const base = { name: 'ok_rule', slots: ['m'], scalars: (lr: number) => ({ lr }) };
  const cases: [string, object, RegExp][] = [
    ['a bad name', { ...base, name: '1x', step: ({ p }: never) => ({ p }) }, /invalid name "1x"/],
    ['a slot named p', { ...base, slots: ['p'], step: ({ p }: never) => ({ p }) }, /invalid slots \["p"\]/],
    [
      'a write to an unknown array',
      { ...base, step: ({ g }: { g: unknown }) => ({ q: g }) },
      /writes "q", which is neither p nor a slot/,
    ],
    [
      'a read of an unknown slot',
      { ...base, step: ({ slot }: { slot(s: string): unknown }) => ({ p: slot('v') }) },
      /reads slot "v"/,
    ],
    [
      'a scalar scalars() does not give',
      {
        ...base,
        step: ({ p, mul, scalar }: { p: never; mul(a: unknown, b: unknown): unknown; scalar(s: string): unknown }) => ({
          p: mul(p, scalar('beta')),
        }),
      },
      /reads scalar\(s\) "beta", for which scalars\(\) returns undefined; expected numbers/,
    ],
  ];
  for (const [what, def, message] of cases) {
    it(what, () =>
      assert.throws(
        () => defineRule(def as never),
        (e: unknown) => e instanceof OptimizerArgumentError && message.test((e as Error).message),
      ),
    );
  }
  const tree: [string, (b: any) => object, RegExp][] = [
    [
      'the mean of a value',
      (b) => ({ p: b.sub(b.p, b.mul(b.mean(b.g), b.scalar('lr'))) }),
      /the argument of mean\(\) in the new p of step is a value; expected a condition/,
    ],
    [
      'a number written',
      (b) => ({ m: 1, p: b.p }),
      /the new m of step is 1; expected a value built with the builders \(constant\(x\) for a number\)/,
    ],
    ['a non-finite constant', (b) => ({ p: b.mul(b.p, b.constant(NaN)) }), /constant\(NaN\); expected a finite number/],
    [
      'a condition where a value belongs',
      (b) => ({ p: b.add(b.p, b.gt(b.g, b.constant(0))) }),
      /an operand of add\(\) in the new p of step is a condition/,
    ],
  ];
  for (const [what, step, message] of tree) {
    it(what, () =>
      assert.throws(
        () => defineRule({ ...base, step } as never),
        (e: unknown) => e instanceof OptimizerArgumentError && message.test((e as Error).message),
      ),
    );
  }
  it('an optimizer refuses an unknown hyperparameter, or something that is not a rule', () => {
    assert.throws(
      () => ruleOptimizer(LION, 1e-3, { hyperparameters: { beta3: 1 } }),
      /unknown hyperparameter "beta3"; the rule "lion" has beta1, beta2, weightDecay/,
    );
    assert.throws(
      () => ruleOptimizer(LION.definition as never),
      /ruleOptimizer: invalid rule .*; expected the result of defineRule/,
    );
    assert.throws(() => core.ruleOptimizer({} as never), /core.ruleOptimizer: invalid rule/);
  });
  it('a non-finite scalar at a step is refused and changes nothing', async () => {
    await useBackend('cpu');
    const bad = defineRule({
      ...base,
      name: 'blows_up',
      scalars: (lr: number, t: number) => ({ lr: t > 1 ? Infinity : lr }),
      step: ({ p, g, mul, sub, scalar }: any) => ({ m: g, p: sub(p, mul(g, scalar('lr'))) }),
    } as never);
    const opt = ruleOptimizer(bad, 0.1);
    const v = tf.variable(tf.ones([8]));
    const g = tf.ones([8]);
    opt.applyGradients({ [v.name]: g });
    const before = v.dataSync().slice();
    assert.throws(
      () => opt.applyGradients({ [v.name]: g }),
      /scalars\(\) returned Infinity for "lr" for the variable "[^"]*" at step 2; expected a finite number. Nothing was changed/,
    );
    assert.deepEqual(v.dataSync(), before);
    assert.equal(opt.stepOf(v.name), 1);
    tf.dispose([v, g]);
    opt.dispose();
  });
});

describe('a user-defined rule: names, state and saving', () => {
  it('two rules may share a name: each keeps its own kernels', () => {
    const a = defineRule({
      name: 'twice',
      slots: [],
      scalars: (lr) => ({ lr }),
      step: ({ p, g, sub, mul, scalar }) => ({ p: sub(p, mul(g, scalar('lr'))) }),
    });
    const b = defineRule({
      name: 'twice',
      slots: [],
      scalars: (lr) => ({ lr }),
      step: ({ p, g, add, mul, scalar }) => ({ p: add(p, mul(g, scalar('lr'))) }),
    });
    const pa = Float32Array.of(1, 1, 1, 1);
    const pb = Float32Array.of(1, 1, 1, 1);
    const g = Float32Array.of(1, 2, 3, 4);
    const oa = core.ruleOptimizer(a, 0.5);
    const ob = core.ruleOptimizer(b, 0.5);
    oa.step(pa, g, oa.init(pa));
    ob.step(pb, g, ob.init(pb));
    assert.deepEqual(Array.from(pa), [0.5, 0, -0.5, -1]);
    assert.deepEqual(Array.from(pb), [1.5, 2, 2.5, 3]);
  });

  it("another rule's state is refused by setWeights, its own is taken", async () => {
    await useBackend('cpu');
    const v = tf.variable(tf.ones([8]));
    const g = tf.ones([8]);
    const lion = ruleOptimizer(LION, 0.01);
    lion.applyGradients({ [v.name]: g });
    const saved = await lion.getWeights();
    const sgd = ruleOptimizer(SGD_NESTEROV, 0.01);
    await assert.rejects(sgd.setWeights(saved), /saved by adopt-optim\/Rule:lion/);
    const again = ruleOptimizer(LION, 0.01);
    await again.setWeights(saved);
    assert.equal(again.stepOf(v.name), 1);
    tf.dispose([v, g]);
    [lion, sgd, again].forEach((o) => o.dispose());
  });

  it('a config names its rule: restored with the rule defined under that name, refused without', () => {
    const opt = ruleOptimizer(LION, 0.02, { hyperparameters: { beta1: 0.8 } });
    const config = opt.getConfig();
    const copy = RuleOptimizer.fromConfig(RuleOptimizer, config) as RuleOptimizer;
    assert.equal(copy.custom, LION);
    assert.deepEqual(copy.getConfig(), config);
    assert.throws(
      () => RuleOptimizer.fromConfig(RuleOptimizer, { ...config, rule: 'nowhere' }),
      /names the rule "nowhere", which is not defined in this process; call defineRule/,
    );
    opt.dispose();
    copy.dispose();
  });
});
