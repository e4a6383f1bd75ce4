/**
 * Rules the library does not ship, defined through the experimental defineRule API: SGD with
 * Nesterov momentum and Lion (Chen et al., 2023). Each runs on every path Node has (the core's
 * generated WebAssembly and generated JavaScript, tfjs cpu and wasm fused and as ops) against its
 * own float64 reference; a buggy port of each is rejected by the same comparison; bad definitions
 * are refused with a message naming what is wrong. The browser side (webgl, webgpu):
 * apps/playground/test/gpu_step.test.mjs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { core, defineRule, OptimizerArgumentError, ruleOptimizer, type CustomRule } from '../src/index.js';
import { BACKENDS, useBackend } from './backends.js';
import { maxRelativeError, Rng } from './reference.js';

const N = 257;
const STEPS = 40;
const LR = 0.01;

export const SGD_NESTEROV = defineRule({
  name: 'sgd_nesterov', slots: ['buf'], hyperparameters: { momentum: 0.9 },
  scalars: (lr, _t, h) => ({ lr, mu: h.momentum! }),
  step: ({ p, g, slot, scalar: s, add, sub, mul }) => {
    const buf = add(mul(slot('buf'), s('mu')), g);
    return { buf, p: sub(p, mul(add(g, mul(buf, s('mu'))), s('lr'))) };
  },
});

export const LION = defineRule({
  name: 'lion', slots: ['m'], hyperparameters: { beta1: 0.9, beta2: 0.99, weightDecay: 0.1 },
  scalars: (lr, _t, h) => ({ lr, b1: h.beta1!, omb1: 1 - h.beta1!, b2: h.beta2!, omb2: 1 - h.beta2!, decay: 1 - lr * h.weightDecay! }),
  step: ({ p, g, slot, scalar: s, add, sub, mul, select, gt, lt, constant }) => {
    const c = add(mul(slot('m'), s('b1')), mul(g, s('omb1')));
    const sign = select(gt(c, constant(0)), constant(1), select(lt(c, constant(0)), constant(-1), constant(0)));
    return { m: add(mul(slot('m'), s('b2')), mul(g, s('omb2'))), p: sub(mul(p, s('decay')), mul(sign, s('lr'))) };
  },
});

type Ref = (p: Float64Array, g: Float32Array, state: Float64Array, risky: Uint8Array) => void;

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

type Path = { name: string; run(rule: CustomRule, p0: Float32Array, grads: Float32Array[]): Promise<Float32Array[]> | Float32Array[] };

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

const PATHS: Path[] = [corePath(true), corePath(false), ...BACKENDS.flatMap((b) => [tfjsPath(b, true), tfjsPath(b, false)])];
const CASES: [string, CustomRule, Ref, Ref, number][] = [
  ['SGD with Nesterov momentum', SGD_NESTEROV, refSgdNesterov, buggySgd, 1e-4],
  ['Lion', LION, refLion, buggyLion, 1e-4],
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
    ['a write to an unknown array', { ...base, step: ({ g }: { g: unknown }) => ({ q: g }) }, /writes "q", which is neither p nor a slot/],
    ['a read of an unknown slot', { ...base, step: ({ slot }: { slot(s: string): unknown }) => ({ p: slot('v') }) }, /reads slot "v"/],
    ['a scalar scalars() does not give', {
      ...base, step: ({ p, mul, scalar }: { p: never; mul(a: unknown, b: unknown): unknown; scalar(s: string): unknown }) => ({ p: mul(p, scalar('beta')) }),
    }, /reads scalar\(s\) "beta", which scalars\(\) does not return/],
  ];
  for (const [what, def, message] of cases) {
    it(what, () => assert.throws(() => defineRule(def as never), (e: unknown) => e instanceof OptimizerArgumentError && message.test((e as Error).message)));
  }
  it('an optimizer refuses an unknown hyperparameter', () => {
    assert.throws(() => ruleOptimizer(LION, 1e-3, { hyperparameters: { beta3: 1 } }), /unknown hyperparameter "beta3"; the rule "lion" has beta1, beta2, weightDecay/);
  });
});
