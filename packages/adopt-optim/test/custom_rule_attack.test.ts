/**
 * Regressions from an outside attack on the packed package (custom rules): scalars() is called once
 * per variable per step and each scalar it gives read once (a getter or Proxy cannot answer the check
 * one value and the step another, nor leave a step half applied); a throwing scalars() is an
 * OptimizerArgumentError; kernel arguments not finite in float32 are refused before any write;
 * core.ruleOptimizer checks its options; hyperparameter names are the rule's own; defineRule's depth
 * limit, foreign slot nodes and float32-infinite constants; exportState / importState refuse a rule.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adopt, core, OptimizerArgumentError } from '../src/index.js';
import { defineRule, MAX_RULE_DEPTH, ruleOptimizer, type RuleBuilder, type RuleOptimizer } from '../src/rules/index.js';
import { exportState, importState } from '../src/interop/index.js';
import { BACKENDS, useBackend } from './backends.js';

const refusedWith =
  (message: RegExp) =>
  (e: unknown): boolean =>
    e instanceof OptimizerArgumentError && message.test((e as Error).message);

/** m ← m·b + g, p ← p − g·lr. */
const momentum = ({ p, g, slot, add, sub, mul, scalar: s }: RuleBuilder) => ({
  m: add(mul(slot('m'), s('b')), g),
  p: sub(p, mul(g, s('lr'))),
});

/** Three variables, a step of gradient 0.5; `check` sees the refusal (or the step), then everything is compared. */
async function threeVariables(opt: RuleOptimizer, prefix: string) {
  const vars = [0, 1, 2].map((i) => tf.variable(tf.tensor1d([1, 2, 3]), true, `${prefix}_${i}`));
  const grads = () => Object.fromEntries(vars.map((v) => [v.name, tf.tensor1d([0.5, 0.5, 0.5])]));
  const snapshot = async () => ({
    params: vars.map((v) => Array.from(v.dataSync())),
    steps: vars.map((v) => opt.stepOf(v.name)),
    weights: (await opt.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())]),
    iterations: opt.iterations,
  });
  return {
    vars,
    grads,
    snapshot,
    dispose: () => {
      tf.dispose(vars);
      opt.dispose();
    },
  };
}

describe('scalars() is read once per variable per step', () => {
  for (const backend of BACKENDS) {
    for (const fused of [true, false]) {
      it(`a getter throwing on a second read no longer half-applies a step (${backend}, fused ${fused})`, async () => {
        await useBackend(backend);
        let call = 0;
        const reads: number[] = [];
        const rule = defineRule({
          name: 'half',
          slots: ['m'],
          scalars: (lr) => {
            const mine = ++call;
            reads[mine] = 0;
            return {
              lr,
              get b() {
                if (++reads[mine]! >= 2) throw new Error('second read');
                return 0.9;
              },
            };
          },
          step: momentum,
        });
        const opt = ruleOptimizer(rule, 0.1, { fused });
        const t = await threeVariables(opt, `half_${backend}_${fused}`);
        call = 0;
        opt.applyGradients(t.grads());
        assert.deepEqual(reads.slice(1), [1, 1, 1], 'one read of "b" per variable');
        const after = await t.snapshot();
        assert.deepEqual(after.steps, [1, 1, 1]);
        for (const p of after.params)
          assert.deepEqual(
            p,
            [1, 2, 3].map((x) => Math.fround(x - Math.fround(0.05))),
          );
        t.dispose();
      });
      it(`a getter answering 0.9 then NaN puts no NaN in the slots (${backend}, fused ${fused})`, async () => {
        await useBackend(backend);
        const rule = defineRule({
          name: 'twice',
          slots: ['m'],
          scalars: (lr) => {
            let k = 0;
            return {
              lr,
              get b() {
                return k++ === 0 ? 0.9 : NaN;
              },
            };
          },
          step: momentum,
        });
        const opt = ruleOptimizer(rule, 0.1, { fused });
        const t = await threeVariables(opt, `twice_${backend}_${fused}`);
        opt.applyGradients(t.grads());
        opt.applyGradients(t.grads());
        for (const [name, v] of (await t.snapshot()).weights as [string, number[]][]) {
          if (name.endsWith('/m')) assert.deepEqual(v, [0.95, 0.95, 0.95].map(Math.fround), name);
        }
        t.dispose();
      });
      it(`a throwing scalars() or getter is refused naming the variable, nothing changed (${backend}, ${fused})`, async () => {
        await useBackend(backend);
        for (const how of ['scalars', 'getter'] as const) {
          let call = 0;
          let armed = false;
          const rule = defineRule({
            name: 'thrower',
            slots: ['m'],
            scalars: (lr) => {
              const third = armed && ++call === 3;
              if (third && how === 'scalars') throw new RangeError('mine');
              return {
                lr,
                get b() {
                  if (third) throw new RangeError('mine');
                  return 0.9;
                },
              };
            },
            step: momentum,
          });
          const opt = ruleOptimizer(rule, 0.1, { fused });
          const t = await threeVariables(opt, `thrower_${how}_${backend}_${fused}`);
          opt.applyGradients(t.grads());
          const before = await t.snapshot();
          const g = t.grads();
          const tensors = tf.memory().numTensors;
          armed = true;
          const what = how === 'scalars' ? 'threw' : 'threw when "b" was read';
          assert.throws(
            () => opt.applyGradients(g),
            refusedWith(
              new RegExp(
                `scalars\\(\\) ${what} for the variable "${t.vars[2]!.name}" at step 2: RangeError: mine.*` +
                  'Nothing was changed',
              ),
            ),
          );
          assert.equal(tf.memory().numTensors, tensors);
          assert.deepEqual(await t.snapshot(), before);
          tf.dispose(Object.values(g));
          t.dispose();
        }
      });
    }
  }
  it('only the scalars the update reads are read; a Proxy answering twice differently is used once (core)', () => {
    for (const fused of [true, false]) {
      const log: string[] = [];
      const rule = defineRule({
        name: 'proxied',
        slots: ['m'],
        scalars: (lr) => {
          const counts = new Map<string | symbol, number>();
          const target = {
            lr,
            b: 0.9,
            get unused(): number {
              throw new Error('unused read');
            },
          };
          return new Proxy(target, {
            get(o, k) {
              log.push(String(k));
              counts.set(k, (counts.get(k) ?? 0) + 1);
              return counts.get(k)! > 1 ? NaN : Reflect.get(o, k);
            },
          });
        },
        step: momentum,
      });
      const opt = core.ruleOptimizer(rule, 0.1, { fused });
      const p = Float32Array.of(1, 2, 3);
      const state = opt.init(p);
      log.length = 0;
      opt.step(p, Float32Array.of(0.5, 0.5, 0.5), state);
      opt.step(p, Float32Array.of(0.5, 0.5, 0.5), state);
      assert.deepEqual([...log].sort(), ['b', 'b', 'lr', 'lr']);
      assert.deepEqual(state.slots.m, Float32Array.of(0.95, 0.95, 0.95));
      [0.9, 1.9, 2.9].forEach((x, i) => assert.ok(Math.abs(p[i]! - x) < 1e-6, `p[${i}] = ${p[i]}`));
    }
  });
  it('the core wraps a throwing scalars() and changes nothing', () => {
    let armed = false;
    const rule = defineRule({
      name: 'core_thrower',
      slots: ['m'],
      step: momentum,
      scalars: (lr) => {
        if (armed) throw new RangeError('mine');
        return { lr, b: 0.9 };
      },
    });
    for (const fused of [true, false]) {
      const opt = core.ruleOptimizer(rule, 0.1, { fused });
      const p = Float32Array.of(1, 2, 3);
      const state = opt.init(p);
      opt.step(p, Float32Array.of(1, 1, 1), state);
      const before = [p.slice(), state.slots.m!.slice(), state.t] as const;
      armed = true;
      assert.throws(
        () => opt.step(p, Float32Array.of(1, 1, 1), state),
        refusedWith(/core\.ruleOptimizer\(core_thrower\): scalars\(\) threw at step 2: RangeError: mine/),
      );
      armed = false;
      assert.deepEqual([p, state.slots.m, state.t], before);
    }
  });
});

describe('kernel arguments not finite in float32 are refused before any write', () => {
  /** [what, scalars, step, refusal] */
  const rules = [
    ['a scalar of 1e39', { b: 1e39, big: 1, tiny: 1, x: 1, y: 1 }, /the scalars "b" = 1e\+39 .*not finite in float32/],
    [
      'a scalar of 1e308 (times 1e-308 per element)',
      { b: 0.9, big: 1e308, tiny: 1e-308, x: 1, y: 1 },
      /the scalars "big" = 1e\+308 .*not finite in float32/,
    ],
    [
      'a product of two scalars of 1e20',
      { b: 0.9, big: 1, tiny: 1, x: 1e20, y: 1e20 },
      new RegExp(
        'the scalars "x" = 100000000000000000000, "y" = 100000000000000000000 .*make a kernel argument of ' +
          '1e\\+40, which is not finite in float32',
      ),
    ],
  ] as const;
  const step = ({ p, g, slot, scalar: s, add, sub, mul }: RuleBuilder) => ({
    m: add(mul(slot('m'), s('b')), mul(g, mul(s('x'), s('y')))),
    p: sub(p, mul(mul(mul(g, s('big')), s('tiny')), s('lr'))),
  });
  for (const [what, bad, message] of rules) {
    for (const later of [false, true]) {
      it(`${what}, at ${later ? 'a later' : 'the first'} step: tfjs on every backend, fused or not, and the core`, async () => {
        let armed = false;
        const rule = defineRule({
          name: 'ovf',
          slots: ['m'],
          step,
          scalars: (lr) => (armed ? { lr, ...bad } : { lr, b: 0.9, big: 1, tiny: 1, x: 1, y: 1 }),
        });
        for (const backend of BACKENDS) {
          for (const fused of [true, false]) {
            await useBackend(backend);
            const opt = ruleOptimizer(rule, 0.1, { fused });
            const t = await threeVariables(opt, `ovf_${backend}_${fused}_${later}`);
            if (later) opt.applyGradients(t.grads());
            const before = await t.snapshot();
            const g = t.grads();
            const tensors = tf.memory().numTensors;
            armed = true;
            assert.throws(() => opt.applyGradients(g), refusedWith(message), `${backend} fused ${fused}`);
            armed = false;
            assert.equal(tf.memory().numTensors, tensors);
            assert.deepEqual(await t.snapshot(), before);
            tf.dispose(Object.values(g));
            t.dispose();
          }
        }
        for (const fused of [true, false]) {
          const opt = core.ruleOptimizer(rule, 0.1, { fused });
          const p = Float32Array.of(1, 2, 3);
          const state = opt.init(p);
          if (later) opt.step(p, Float32Array.of(0.5, 0.5, 0.5), state);
          const before = [p.slice(), state.slots.m!.slice(), state.t] as const;
          armed = true;
          assert.throws(() => opt.step(p, Float32Array.of(0.5, 0.5, 0.5), state), refusedWith(message));
          armed = false;
          assert.deepEqual([p, state.slots.m, state.t], before);
        }
      });
    }
  }
  it('the init phase is checked at the first step; a product of large and tiny scalars that fits is taken', () => {
    const rule = defineRule({
      name: 'ovf_init',
      slots: ['m'],
      init: ({ g, mul, scalar: s }) => ({ m: mul(g, s('i')) }),
      scalars: (lr, t) => ({ lr, i: t === 1 ? 1e39 : 1, big: 1e300, tiny: 1e-300 }),
      step: ({ p, g, sub, mul, scalar: s }) => ({ p: sub(p, mul(g, mul(mul(s('big'), s('tiny')), s('lr')))) }),
    });
    const opt = core.ruleOptimizer(rule, 0.1);
    const p = Float32Array.of(1, 2, 3);
    const state = opt.init(p);
    assert.throws(
      () => opt.step(p, Float32Array.of(1, 1, 1), state),
      refusedWith(/the scalars "i" = 1e\+39 returned by scalars\(\) at step 1 .*float32/),
    );
    assert.equal(state.t, 0);
    state.t = 1; // past init: the step's big·tiny·lr is one uniform of 0.1
    opt.step(p, Float32Array.of(1, 1, 1), state);
    [0.9, 1.9, 2.9].forEach((x, i) => assert.ok(Math.abs(p[i]! - x) < 1e-6, `p[${i}] = ${p[i]}`));
  });
});

describe("core.ruleOptimizer checks its options; hyperparameters are the rule's own", () => {
  const rule = defineRule({
    name: 'sgdx',
    slots: ['m'],
    hyperparameters: { beta: 0.9 },
    scalars: (lr, _t, h) => ({ lr, b: h.beta! }),
    step: momentum,
  });
  const options: [object, RegExp][] = [
    [{ nonfinite: 'skip' }, /unknown option "nonfinite".*"nonFinite"/],
    [{ fuzed: false }, /unknown option "fuzed".*"fused"/],
    [{ nonFinite: 'bogus' }, /nonFinite.*"bogus"/],
    [{ fused: 'yes' }, /fused.*"yes"/],
  ];
  for (const [o, message] of options) {
    it(`core.ruleOptimizer refuses ${JSON.stringify(o)}`, () => {
      assert.throws(() => core.ruleOptimizer(rule, 1e-3, o as never), refusedWith(message));
    });
  }
  for (const key of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
    it(`a hyperparameter named "${key}" is refused by ruleOptimizer and core.ruleOptimizer`, () => {
      const hyperparameters = JSON.parse(`{"${key}": 5}`) as Record<string, number>;
      const message = new RegExp(`unknown hyperparameter "${key}"; the rule "sgdx" has beta`);
      assert.throws(() => core.ruleOptimizer(rule, 1e-3, { hyperparameters }), refusedWith(message));
      assert.throws(() => ruleOptimizer(rule, 1e-3, { hyperparameters }), refusedWith(message));
    });
  }
});

describe('defineRule: the depth limit, foreign slots, constants finite in float32', () => {
  const chain =
    (n: number) =>
    ({ p, g, neg, sub, mul, scalar: s }: RuleBuilder) => {
      let x = g;
      for (let i = 0; i < n; i++) x = neg(x);
      return { m: x, p: sub(p, mul(g, s('lr'))) };
    };
  it(`a chain of exactly MAX_RULE_DEPTH (${MAX_RULE_DEPTH}) operations is taken and runs; one more is refused`, () => {
    const rule = defineRule({ name: 'deep', slots: ['m'], scalars: (lr) => ({ lr }), step: chain(MAX_RULE_DEPTH) });
    for (const fused of [true, false]) {
      const opt = core.ruleOptimizer(rule, 0.1, { fused });
      const p = Float32Array.of(1, 2);
      const state = opt.init(p);
      opt.step(p, Float32Array.of(3, -4), state);
      assert.deepEqual(state.slots.m, Float32Array.of(3, -4)); // an even number of negations
    }
    assert.throws(
      () => defineRule({ name: 'deeper', slots: ['m'], scalars: (lr) => ({ lr }), step: chain(MAX_RULE_DEPTH + 1) }),
      refusedWith(/the new m of step nests more than 256 operations deep \(the limit, MAX_RULE_DEPTH\)/),
    );
  });
  it("a slot node of another rule's builder is refused at defineRule, naming the slot", () => {
    let stolen: unknown;
    defineRule({
      name: 'donor',
      slots: ['q', 'r_x'],
      scalars: (lr) => ({ lr }),
      step: ({ p, g, slot, sub, mul, scalar: s }) => {
        stolen = slot('r_x');
        return { q: g, r_x: g, p: sub(p, mul(g, s('lr'))) };
      },
    });
    assert.throws(
      () =>
        defineRule({
          name: 'thief',
          slots: ['m'],
          scalars: (lr) => ({ lr }),
          step: ({ p, g, add, sub, mul, scalar: s }) => ({ m: add(g, stolen as never), p: sub(p, mul(g, s('lr'))) }),
        }),
      refusedWith(
        /an operand of add\(\) in the new m of step reads slot "r_x", which is not one of this rule's slots \["m"\]/,
      ),
    );
  });
  it('a constant not finite in float32 is refused at defineRule, saying where; the largest finite one is taken', () => {
    for (const c of [1e39, -3.5e38]) {
      assert.throws(
        () =>
          defineRule({
            name: 'bigc',
            slots: ['m'],
            scalars: (lr) => ({ lr }),
            step: ({ p, g, mul, sub, constant, scalar: s }) => ({ m: mul(g, constant(c)), p: sub(p, mul(g, s('lr'))) }),
          }),
        refusedWith(
          new RegExp(
            'an operand of mul\\(\\) in the new m of step: ' +
              `constant\\(${String(c).replace('+', '\\+')}\\) ` +
              'is not finite in float32',
          ),
        ),
      );
    }
    const rule = defineRule({
      name: 'bigc_ok',
      slots: ['m'],
      scalars: (lr) => ({ lr }),
      step: ({ p, g, mul, sub, constant, scalar: s }) => ({ m: mul(g, constant(3.4e38)), p: sub(p, mul(g, s('lr'))) }),
    });
    const opt = core.ruleOptimizer(rule, 0.1);
    const p = Float32Array.of(1);
    const state = opt.init(p);
    opt.step(p, Float32Array.of(0.5), state);
    assert.equal(state.slots.m![0], Math.fround(Math.fround(3.4e38) * 0.5));
  });
});

describe('exportState / importState refuse a ruleOptimizer', () => {
  it('with the formats it covers and what to use instead; nothing written or changed', async () => {
    await useBackend('cpu');
    const rule = defineRule({
      name: 'r_a',
      slots: ['a'],
      scalars: (lr) => ({ lr }),
      step: ({ p, g, sub, mul, scalar: s }) => ({ a: g, p: sub(p, mul(g, s('lr'))) }),
    });
    const w = tf.variable(tf.tensor1d([1, 2]), true, 'export_rule_w');
    const opt = ruleOptimizer(rule, 0.01);
    opt.applyGradients({ [w.name]: tf.tensor1d([-1, 1]) });
    const message = new RegExp(
      'invalid optimizer adopt-optim/Rule .*covers ADOPT, Adam, AdamW and AMSGrad only.*' +
        'getWeights / setWeights, or model\\.save',
    );
    await assert.rejects(exportState(opt, [w]), refusedWith(new RegExp(`^exportState: ${message.source}`)));
    const ref = adopt(0.01);
    ref.applyGradients({ [w.name]: tf.tensor1d([-1, 1]) });
    const { file } = await exportState(ref, [w]);
    const before = [Array.from(w.dataSync()), (await opt.getWeights()).map((x) => Array.from(x.tensor.dataSync()))];
    await assert.rejects(importState(opt, [w], file), refusedWith(new RegExp(`^importState: ${message.source}`)));
    assert.deepEqual(
      [Array.from(w.dataSync()), (await opt.getWeights()).map((x) => Array.from(x.tensor.dataSync()))],
      before,
    );
    tf.dispose(w);
    opt.dispose();
    ref.dispose();
  });
});

describe('rule optimizers refuse options in a Map (its entries would be dropped unseen)', () => {
  const rule = defineRule({
    name: 'map_options_rule',
    slots: ['m'],
    scalars: (lr) => ({ lr, b: 0.9 }),
    step: momentum,
  });
  it('ruleOptimizer and core.ruleOptimizer', () => {
    const map = new Map([['nonFinite', 'skip']]) as never;
    assert.throws(() => ruleOptimizer(rule, 1e-3, map), refusedWith(/invalid options a Map; expected a plain object/));
    assert.throws(() => core.ruleOptimizer(rule, 1e-3, map), refusedWith(/invalid options a Map; expected a plain/));
  });
});

describe('core.ruleOptimizer refuses a state whose count or slots init did not make, changing nothing', () => {
  const rule = defineRule({
    name: 'state_check_rule',
    slots: ['m'],
    scalars: (lr) => ({ lr, b: 0.9 }),
    step: momentum,
  });
  for (const fused of [true, false]) {
    it(`fused: ${fused}`, () => {
      const opt = core.ruleOptimizer(rule, 0.1, { fused });
      const p = new Float32Array([1, 2, 3]);
      const g = new Float32Array([0.5, 0.5, 0.5]);
      const cases: [unknown, object, RegExp][] = [
        [-1, {}, /invalid state\.t -1; expected an integer >= 0/],
        [Number.NaN, {}, /invalid state\.t NaN/],
        [1.5, {}, /invalid state\.t 1\.5/],
        ['2', {}, /invalid state\.t "2"/],
        [1, { x: new Float32Array(3) }, /state\.slots has "x", no slot of the rule \(m\)/],
      ];
      for (const [t, extra, message] of cases) {
        const m = new Float32Array([0.1, 0.2, 0.3]);
        const state = { slots: { m, ...extra }, t } as never;
        assert.throws(() => opt.step(p, g, state), refusedWith(message));
        assert.deepEqual([Array.from(p), Array.from(m)], [[1, 2, 3], Array.from(new Float32Array([0.1, 0.2, 0.3]))]);
      }
    });
  }
});
