import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  adam,
  adopt,
  adamw,
  NonFiniteGradientError,
  OptimizerArgumentError,
  type NamedStateOptimizer,
} from '../src/index.js';
import { BACKENDS, useBackend, values } from './backends.js';
import { maxRelativeError, refState, Rng, type RefState } from './reference.js';
import { VARIANTS } from './variants.js';

const STEPS = 120;
// float32 storage against a float64 reference: O(1e-6) typically; unclipped ADOPT reaches ~1e-4 where
// parameters swing by O(1) and come back near 0. A wrong rule gives O(1e-2) or more (see the trap tests).
const TOLERANCE = 5e-4;
const SHAPES: Record<string, number[]> = { a: [7, 9], b: [5], c: [] }; // odd sizes and a scalar

for (const backend of BACKENDS) {
  describe(`tfjs optimizers on ${backend}`, () => {
    before(() => useBackend(backend));

    describe('agreement with the float64 reference, state keyed by name', () => {
      for (const variant of VARIANTS) {
        it(variant.name, (t) => {
          const rng = new Rng(11);
          const names = Object.keys(SHAPES);
          const vars = new Map<string, tf.Variable>();
          const refs = new Map<string, { p: Float64Array; s: RefState }>();
          for (const key of names) {
            const init = rng.normals(SHAPES[key]!.reduce((a, b) => a * b, 1));
            const v = tf.variable(tf.tensor(init, SHAPES[key]), true);
            vars.set(key, v);
            refs.set(key, { p: Float64Array.from(init), s: refState(init.length) });
          }
          const opt = variant.tfjs();
          let worst = 0;
          for (let step = 0; step < STEPS; step++) {
            // 'b' gets no gradient every third step; 'c' arrives late, at step 10: each keeps its
            // own step counter. The order of the gradients changes every step.
            const active = names.filter((k) => !(k === 'b' && step % 3 === 2) && !(k === 'c' && step < 10));
            if (step % 2 === 1) active.reverse();
            const grads: { name: string; tensor: tf.Tensor; key: string; data: Float32Array }[] = active.map((key) => {
              const data = rng.gradient(refs.get(key)!.p.length, step === 0 ? 0.05 : 0);
              return { key, data, name: vars.get(key)!.name, tensor: tf.tensor(data, SHAPES[key]) };
            });
            const firstCall = grads
              .filter((g) => refs.get(g.key)!.s.t === 0)
              .map((g) => [g.key, values(vars.get(g.key)!)] as const);
            if (step % 4 === 0) opt.applyGradients(Object.fromEntries(grads.map((g) => [g.name, g.tensor])));
            else opt.applyGradients(grads.map(({ name, tensor }) => ({ name, tensor })));
            // k = iterations
            for (const g of grads) variant.reference(refs.get(g.key)!.p, g.data, refs.get(g.key)!.s, step);
            tf.dispose(grads.map((g) => g.tensor));
            if (variant.firstStepIsInit) {
              for (const [key, before] of firstCall)
                assert.deepEqual(values(vars.get(key)!), before, `first step moved ${key}`);
            }
            for (const key of names)
              worst = Math.max(worst, maxRelativeError(vars.get(key)!.dataSync(), refs.get(key)!.p));
          }
          for (const key of names)
            assert.equal(opt.stepOf(vars.get(key)!.name), refs.get(key)!.s.t, `step count of ${key}`);
          t.diagnostic(`largest relative error over ${STEPS} steps: ${worst.toExponential(2)}`);
          assert.ok(worst < TOLERANCE, `relative error ${worst} exceeds ${TOLERANCE}`);
          opt.dispose();
          tf.dispose([...vars.values()]);
        });
      }
    });

    it('our Adam agrees with tf.train.adam, a second implementation, when both get all variables', (t) => {
      const rng = new Rng(9);
      const init = rng.normals(50);
      const a = tf.variable(tf.tensor(init));
      const b = tf.variable(tf.tensor(init));
      const ours = adam(0.01, { epsilon: 1e-7 });
      const theirs = tf.train.adam(0.01, 0.9, 0.999, 1e-7);
      for (let step = 0; step < 100; step++) {
        const g = tf.tensor(rng.normals(50));
        ours.applyGradients({ [a.name]: g });
        theirs.applyGradients([{ name: b.name, tensor: g }]);
        g.dispose();
      }
      const error = maxRelativeError(a.dataSync(), b.dataSync());
      t.diagnostic(`largest relative difference after 100 steps: ${error.toExponential(2)}`);
      assert.ok(error < 1e-5, `differs from tf.train.adam by ${error}`);
      ours.dispose();
      theirs.dispose();
      tf.dispose([a, b]);
    });

    describe('tensor leaks', () => {
      it('1,000 ADOPT steps through minimize leave tf.memory().numTensors unchanged', (t) => {
        const w = tf.variable(tf.randomNormal([16, 8], 0, 1, 'float32', 1));
        const b = tf.variable(tf.zeros([8]));
        const x = tf.randomNormal([4, 16], 0, 1, 'float32', 2);
        const opt = adopt(1e-2, { weightDecay: 0.01, decoupled: true });
        const loss = () => tf.mean(tf.square(tf.add(tf.matMul(x, w), b))) as tf.Scalar;
        const beforeAny = tf.memory().numTensors;
        opt.minimize(loss);
        const afterFirst = tf.memory().numTensors;
        for (let i = 1; i < 1000; i++) opt.minimize(loss);
        const afterAll = tf.memory().numTensors;
        t.diagnostic(
          `numTensors: ${beforeAny} before any step, ${afterFirst} after step 1 (m and v for 2 variables), ` +
            `${afterAll} after 1,000 steps`,
        );
        assert.equal(afterFirst, beforeAny + 4);
        assert.equal(afterAll, afterFirst);
        opt.dispose();
        assert.equal(tf.memory().numTensors, beforeAny);
        tf.dispose([w, b, x]);
      });
    });

    describe('bad gradients are refused before anything changes', () => {
      let p: tf.Variable;
      let q: tf.Variable;
      before(() => {
        p = tf.variable(tf.tensor([1, 2, 3]), true, `p_${backend}`);
        q = tf.variable(tf.tensor([[1, 2]]), true, `q_${backend}`);
      });
      after(() => tf.dispose([p, q]));

      function snapshot(opt: NamedStateOptimizer) {
        return {
          p: values(p),
          q: values(q),
          iterations: opt.iterations,
          stepP: opt.stepOf(p.name),
          stepQ: opt.stepOf(q.name),
        };
      }

      it('NaN or Infinity throws by default, naming the variable and the step', () => {
        const opt = adopt(0.1);
        opt.applyGradients({ [p.name]: tf.ones([3]), [q.name]: tf.ones([1, 2]) });
        opt.applyGradients({ [p.name]: tf.ones([3]), [q.name]: tf.ones([1, 2]) });
        const before = snapshot(opt);
        const grads = { [p.name]: tf.ones([3]), [q.name]: tf.tensor([[1, NaN]]) };
        assert.throws(
          () => opt.applyGradients(grads),
          (e: unknown) => {
            assert.ok(e instanceof NonFiniteGradientError);
            assert.equal(e.variableName, q.name);
            assert.equal(e.step, 2);
            assert.match(
              e.message,
              new RegExp(
                `"${q.name}" holds NaN, Infinity or a value beyond ±2\\^63 \\(≈9.2e18; its square overflows ` +
                  'float32\\) at step 2',
              ),
            );
            return true;
          },
        );
        assert.deepEqual(snapshot(opt), before);
        assert.throws(
          () => opt.applyGradients([{ name: p.name, tensor: tf.tensor([Infinity, 0, 0]) }]),
          NonFiniteGradientError,
        );
        assert.deepEqual(snapshot(opt), before);
        opt.dispose();
      });

      it("nonFinite: 'skip' skips the whole step and counts it", () => {
        const opt = adamw(0.1, { nonFinite: 'skip' });
        opt.applyGradients({ [p.name]: tf.ones([3]) });
        const before = snapshot(opt);
        opt.applyGradients({ [p.name]: tf.ones([3]), [q.name]: tf.tensor([[-Infinity, 1]]) });
        assert.deepEqual(snapshot(opt), before);
        assert.equal(opt.skippedSteps, 1);
        opt.dispose();
      });

      it('a wrong shape, a wrong dtype or an unknown name throws before any state changes', () => {
        const opt = adopt(0.1);
        opt.applyGradients({ [p.name]: tf.ones([3]) });
        const before = snapshot(opt);
        // the valid gradient for p comes first: it must not be applied either
        assert.throws(
          () => opt.applyGradients({ [p.name]: tf.ones([3]), [q.name]: tf.ones([2, 1]) }),
          new RegExp(`gradient of "${q.name}" has shape \\[2,1\\] but the variable has shape \\[1,2\\]`),
        );
        assert.throws(
          () => opt.applyGradients({ [p.name]: tf.ones([3]), [q.name]: tf.ones([1, 2], 'int32') }),
          /has dtype int32 and the variable float32; expected float32/,
        );
        assert.throws(
          () => opt.applyGradients({ [p.name]: tf.ones([3]), nope: tf.ones([3]) }),
          /unknown variable "nope"/,
        );
        assert.throws(
          () =>
            opt.applyGradients([
              { name: p.name, tensor: tf.ones([3]) },
              { name: p.name, tensor: tf.ones([3]) },
            ]),
          OptimizerArgumentError,
        );
        assert.deepEqual(snapshot(opt), before);
        opt.dispose();
      });
    });
  });
}
