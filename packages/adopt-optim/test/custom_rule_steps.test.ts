/**
 * How a custom rule's step goes ahead or is refused as a whole: a scalars() that fails at the
 * second variable of a step (throws, NaN, a string, null, a scalar missing) leaves every variable,
 * slot and count bit for bit as it was; mean() works in init and in step, fused and not, on every
 * CPU path, against a float64 reference; and what defineRule cannot take (an update nested past
 * the depth limit, means of two conditions in one phase) is refused there, saying the limit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { core, OptimizerArgumentError } from '../src/index.js';
import { defineRule, ruleOptimizer, type CustomRule, type RuleBuilder } from '../src/rules/index.js';
import { BACKENDS, useBackend } from './backends.js';

const refusedWith =
  (message: RegExp) =>
  (e: unknown): boolean =>
    e instanceof OptimizerArgumentError && message.test((e as Error).message);

describe('a scalars() failing at the second variable changes nothing', () => {
  /** scalars() answers `bad` on its `armed`-th call once armed; every other call a good value. */
  const faults: [string, () => unknown, RegExp][] = [
    [
      'throws',
      () => {
        throw new OptimizerArgumentError('scalars: refused');
      },
      /scalars: refused/,
    ],
    [
      'NaN',
      () => ({ lr: NaN }),
      /scalars\(\) returned NaN for "lr" for the variable "[^"]*" at step \d; expected a finite number. Nothing was changed/,
    ],
    ['a string', () => ({ lr: '0.1' }), /returned "0.1" for "lr"/],
    ['null', () => null, /scalars\(\) returned null instead of an object/],
    ['a missing scalar', () => ({}), /scalars\(\) returned no "lr" \(which the update reads\)/],
  ];
  for (const [what, bad, message] of faults) {
    for (const firstStep of [true, false]) {
      it(`${what}${firstStep ? ', at the first step' : ', at a later step'}`, async () => {
        for (const backend of BACKENDS) {
          await useBackend(backend);
          let calls = -1; // -1: not armed
          const rule = defineRule({
            name: 'faulty',
            slots: ['m'],
            init: ({ g }) => ({ m: g }),
            scalars: (lr) => (calls >= 0 && ++calls === 2 ? bad() : { lr }) as Record<string, number>,
            step: ({ p, g, slot, add, sub, mul, scalar }) => ({
              m: add(slot('m'), g),
              p: sub(p, mul(slot('m'), scalar('lr'))),
            }),
          });
          const opt = ruleOptimizer(rule, 0.1);
          const a = tf.variable(tf.tensor([1, 2, 3, 4, 5]));
          const b = tf.variable(tf.tensor([6, 7, 8]));
          const grads = (): Record<string, tf.Tensor> => ({
            [a.name]: tf.tensor([1, 1, 1, 1, 1]),
            [b.name]: tf.tensor([2, 2, 2]),
          });
          if (!firstStep) opt.applyGradients(grads());
          const before = { a: a.dataSync().slice(), b: b.dataSync().slice(), iterations: opt.iterations };
          const read = async () => (await opt.getWeights()).map((w) => [w.name, w.tensor.dataSync().slice()] as const);
          const weights = firstStep ? [] : await read();
          const g = grads();
          const tensors = tf.memory().numTensors;
          calls = 0;
          assert.throws(() => opt.applyGradients(g), message);
          calls = -1;
          assert.equal(tf.memory().numTensors, tensors, `${backend}: nothing made`);
          assert.deepEqual(a.dataSync(), before.a, `${backend}: the first variable is unchanged`);
          assert.deepEqual(b.dataSync(), before.b);
          assert.equal(opt.iterations, before.iterations);
          assert.equal(opt.stepOf(a.name), firstStep ? 0 : 1);
          assert.equal(opt.stepOf(b.name), firstStep ? 0 : 1);
          if (!firstStep) {
            assert.deepEqual(await read(), weights, `${backend}: slots and counts unchanged`);
          }
          opt.applyGradients(g); // and the step then goes ahead
          assert.equal(opt.stepOf(b.name), firstStep ? 1 : 2);
          tf.dispose([a, b, ...Object.values(g)]);
          opt.dispose();
        }
      });
    }
  }
  it('the core refuses a missing or non-object scalars() before writing', () => {
    for (const bad of [null, {}, 'x']) {
      let armed = false;
      const rule = defineRule({
        name: 'faulty_core',
        slots: ['m'],
        scalars: (lr) => (armed ? bad : { lr }) as Record<string, number>,
        step: ({ p, g, slot, add, sub, mul, scalar }) => ({
          m: add(slot('m'), g),
          p: sub(p, mul(slot('m'), scalar('lr'))),
        }),
      });
      for (const fused of [true, false]) {
        const opt = core.ruleOptimizer(rule, 0.1, { fused });
        const p = Float32Array.of(1, 2, 3, 4, 5);
        const state = opt.init(p);
        opt.step(p, Float32Array.of(1, 1, 1, 1, 1), state);
        const before = [p.slice(), state.slots.m!.slice(), state.t] as const;
        armed = true;
        assert.throws(
          () => opt.step(p, Float32Array.of(1, 1, 1, 1, 1), state),
          refusedWith(/scalars\(\) returned .* at step 2/),
        );
        armed = false;
        assert.deepEqual([p, state.slots.m, state.t], before);
      }
    }
  });
});

/** Float64 reference of the rules below: init m = g·frac(g > 0); step m ← m + g, p ← p − lr·m·frac(g > 0 | m > 0). */
function meanReference(p0: number[], grads: number[][], lr: number, inInit: boolean, inStep: boolean): number[] {
  const p = [...p0];
  let m = p0.map(() => 0);
  grads.forEach((g, t) => {
    const frac = (c: (i: number) => boolean): number => g.filter((_, i) => c(i)).length / g.length;
    if (t === 0) {
      const f = inInit ? frac((i) => g[i]! > 0) : 1;
      m = g.map((x) => x * f);
    } else {
      m = m.map((x, i) => x + g[i]!);
      const f = inStep ? frac((i) => m[i]! > 0) : 1;
      for (let i = 0; i < p.length; i++) p[i] = p[i]! - lr * m[i]! * f;
    }
  });
  return p;
}

function meanRule(name: string, inInit: boolean, inStep: boolean): CustomRule {
  return defineRule({
    name,
    slots: ['m'],
    scalars: (lr) => ({ lr }),
    init: ({ g, mul, mean, gt, constant }) => ({ m: inInit ? mul(g, mean(gt(g, constant(0)))) : g }),
    step: ({ p, g, slot, add, sub, mul, mean, gt, constant, scalar }) => {
      const m = add(slot('m'), g);
      const f = inStep ? mean(gt(m, constant(0))) : constant(1);
      return { m, p: sub(p, mul(mul(m, f), scalar('lr'))) };
    },
  });
}

async function allPaths(rule: CustomRule, p0: number[], grads: number[][], lr: number): Promise<[string, number[]][]> {
  const out: [string, number[]][] = [];
  for (const fused of [true, false]) {
    const opt = core.ruleOptimizer(rule, lr, { fused });
    const p = Float32Array.from(p0);
    const state = opt.init(p);
    for (const g of grads) opt.step(p, Float32Array.from(g), state);
    out.push([`core fused ${fused}`, Array.from(p)]);
    for (const backend of BACKENDS) {
      await useBackend(backend);
      const o = ruleOptimizer(rule, lr, { fused });
      const v = tf.variable(tf.tensor(p0));
      let tensors = 0;
      grads.forEach((g, k) => {
        if (k === grads.length - 1) tensors = tf.memory().numTensors; // after the first step made the slots
        tf.tidy(() => o.applyGradients({ [v.name]: tf.tensor(g) }));
      });
      assert.equal(tf.memory().numTensors, tensors, `${backend} fused ${fused}: a step leaves no tensors behind`);
      out.push([`tfjs ${backend} fused ${fused}`, Array.from(v.dataSync())]);
      o.dispose();
      v.dispose();
    }
  }
  return out;
}

describe('mean() wherever defineRule takes it', () => {
  const p0 = [1, -2, 3, -4, 5, 6, -7, 8, 9];
  const grads = [
    [1, -1, 2, 0.5, -3, 1, 1, -2, 4],
    [-1, 2, 1, -1, 1, 3, -2, 1, -1],
    [2, 1, -1, 1, -2, 1, 1, 1, 1],
  ];
  const phases = [
    ['init and step', true, true],
    ['init only', true, false],
    ['step only', false, true],
  ] as const;
  for (const [where, inInit, inStep] of phases) {
    it(`in ${where}: every CPU path, fused and not, agrees with the float64 reference`, async () => {
      const rule = meanRule(`mean_${where.replace(/ /g, '_')}`, inInit, inStep);
      const ref = meanReference(p0, grads, 0.1, inInit, inStep);
      for (const [path, got] of await allPaths(rule, p0, grads, 0.1)) {
        got.forEach((x, i) =>
          assert.ok(
            Math.abs(x - ref[i]!) <= 1e-5 * Math.max(1, Math.abs(ref[i]!)),
            `${path} [${i}]: ${x} vs ${ref[i]}`,
          ),
        );
      }
    });
  }
  it('a mean written as the new p (a uniform value) fills it, fused and as ops', async () => {
    const rule = defineRule({
      name: 'p_is_mean',
      slots: [],
      scalars: () => ({}),
      step: ({ g, mean, gt, constant }) => ({ p: mean(gt(g, constant(0))) }),
    });
    for (const [path, got] of await allPaths(
      rule,
      [1, 2, 3, 4, 5],
      [
        [1, 1, 1, 1, 1],
        [1, -1, 1, 1, -1],
      ],
      0.1,
    )) {
      assert.deepEqual(got, [0.6, 0.6, 0.6, 0.6, 0.6].map(Math.fround), path);
    }
  });
  it('one condition may be averaged any number of times; two in a phase are refused, saying the limit', () => {
    const step =
      (two: boolean) =>
      ({ p, g, mean, gt, lt, constant, mul, add }: RuleBuilder) => {
        const c = gt(g, constant(0));
        return { p: add(p, mul(mean(c), two ? mean(lt(g, constant(0))) : mean(c))) };
      };
    assert.doesNotThrow(() => defineRule({ name: 'mean_twice', slots: [], scalars: () => ({}), step: step(false) }));
    assert.throws(
      () => defineRule({ name: 'mean_two', slots: [], scalars: () => ({}), step: step(true) }),
      refusedWith(/step takes mean\(\) of 2 different conditions; a phase may take the mean of one condition/),
    );
  });
});

describe('an update nested past the depth limit is refused at defineRule', () => {
  for (const depth of [300, 2000, 100_000]) {
    it(`${depth} operations deep`, () => {
      const step = ({ p, g, add }: RuleBuilder) => {
        let v = p;
        for (let k = 0; k < depth; k++) v = add(v, g);
        return { p: v };
      };
      assert.throws(
        () => defineRule({ name: 'deep', slots: [], scalars: () => ({}), step }),
        refusedWith(/the new p of step nests more than 256 operations deep \(the limit, MAX_RULE_DEPTH\)/),
      );
    });
  }
  it('250 deep is taken and runs', () => {
    const rule = defineRule({
      name: 'deep_ok',
      slots: [],
      scalars: () => ({}),
      step: ({ p, g, add }) => {
        let v = p;
        for (let k = 0; k < 250; k++) v = add(v, g);
        return { p: v };
      },
    });
    const p = Float32Array.of(1, 2);
    const opt = core.ruleOptimizer(rule, 0.1);
    opt.step(p, Float32Array.of(1, -1), opt.init(p));
    assert.deepEqual(Array.from(p), [251, -248]);
  });
});

describe('a mean inside the condition of a mean', () => {
  it('is refused at defineRule (it ran into an internal TypeError at the first step)', () => {
    assert.throws(
      () =>
        defineRule({
          name: 'mean_in_mean',
          slots: [],
          scalars: () => ({}),
          step: ({ p, g, mean, gt, constant, add }) => ({ p: add(p, mean(gt(g, mean(gt(g, constant(0)))))) }),
        }),
      refusedWith(/step takes mean\(\) of a condition that itself reads a mean\(\); the condition of a mean must/),
    );
  });
});

describe('every write reads the old values, on every path', () => {
  it('m ← p, then w ← the old m: w is 0 after the first step (as ops it was the new m)', async () => {
    const rule = defineRule({
      name: 'shift',
      slots: ['m', 'w'],
      scalars: () => ({}),
      step: ({ p, slot }) => ({ m: p, w: slot('m') }),
    });
    for (const [path, got] of await allPaths(
      rule,
      [1, 2, 3],
      [
        [0, 0, 0],
        [0, 0, 0],
      ],
      0.1,
    )) {
      assert.deepEqual(got, [1, 2, 3], path);
    }
    for (const backend of BACKENDS) {
      await useBackend(backend);
      const opt = ruleOptimizer(rule, 0.1, { fused: false });
      const v = tf.variable(tf.tensor([1, 2, 3]));
      tf.tidy(() => opt.applyGradients({ [v.name]: tf.zeros([3]) }));
      const w = (await opt.getWeights()).find((x) => x.name === `${v.name}/w`)!;
      assert.deepEqual(Array.from(w.tensor.dataSync()), [0, 0, 0], backend);
      opt.dispose();
      v.dispose();
    }
  });
});

describe('what the fuzzer found on the ops path, each agreeing with the kernels', () => {
  const cases: [string, (b: RuleBuilder) => Record<string, ReturnType<RuleBuilder['add']>>, number[]][] = [
    [
      'clamp with constant lo > hi is hi',
      ({ p, clamp, constant }) => ({ p: clamp(p, constant(1), constant(-1)) }),
      [-1, -1, -1, -1, -1, -1, -1],
    ],
    [
      'select on a uniform condition',
      ({ p, g, select, gt, scalar, constant }) => ({ p: select(gt(scalar('lr'), constant(0)), g, p) }),
      [1, -1, 2, 0, -3, 4, 0],
    ],
    [
      'select(c, a, 0) where the unselected a is infinite is 0',
      ({ g, p, select, gt, div, constant }) => ({
        p: select(gt(p, constant(0)), div(g, p), constant(0)),
      }),
      [0, 0, 0, 0, 0, 0, 0],
    ],
    [
      'a mean is count / n, rounded once',
      ({ g, mean, gt, constant }) => ({ p: mean(gt(g, constant(0))) }),
      Array(7).fill(Math.fround(3 / 7)),
    ],
  ];
  for (const [what, step, want] of cases) {
    it(what, async () => {
      const rule = defineRule({ name: 'found', slots: [], scalars: (lr) => ({ lr }), step });
      const g = [1, -1, 2, 0, -3, 4, 0];
      for (const [path, got] of await allPaths(rule, [0, 0, 0, 0, 0, 0, 0], [g, g], 0.1)) {
        assert.deepEqual(got, want, path);
      }
    });
  }
});

describe('mean() of one condition written twice', () => {
  it('is one condition: taken, and every path agrees with the float64 reference', async () => {
    const rule = defineRule({
      name: 'mean_written_twice',
      slots: [],
      scalars: () => ({}),
      step: ({ p, g, mean, gt, constant, clamp, neg }) => ({
        p: clamp(p, neg(mean(gt(g, constant(0)))), mean(gt(g, constant(0)))),
      }),
    });
    for (const [path, got] of await allPaths(
      rule,
      [1, -2, 0.1, 4, -5],
      [
        [1, -1, 1, 1, -1],
        [1, -1, 1, 1, -1],
      ],
      0.1,
    )) {
      assert.deepEqual(got, [0.6, -0.6, 0.1, 0.6, -0.6].map(Math.fround), path);
    }
  });
});
