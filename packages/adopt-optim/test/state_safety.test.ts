/**
 * "Nothing corrupted, nothing lost": optimizer state bound to its variable by name and shape,
 * setWeights all-or-nothing, no use after dispose, snapshots that never change afterwards, and
 * epsilon > 0. Every case runs on cpu and wasm, with the fused kernels and with tfjs ops.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  adam,
  adamw,
  adopt,
  amsgrad,
  AdoptOptimizer,
  core,
  OptimizerArgumentError,
  type NamedStateOptimizer,
} from '../src/index.js';
import { backendKernels as fusedKernelsForBackend } from '../src/dispatch.js';
import { ArrayKernels } from '../src/kernels/array_kernels.js';
import { adamKernelArgs, adoptKernelArgs } from '../src/rules/scalars.js';
import { adamCall, adoptCall } from '../src/codegen/modules.js';
import { BACKENDS, useBackend } from './backends.js';

let serial = 0;
/** A name no variable has yet (tfjs registers variable names process-wide). */
function fresh(label: string): string {
  return `safety_${label}_${serial++}`;
}

type Make = (fused: boolean) => NamedStateOptimizer;
const OPTIMIZERS: [string, Make][] = [
  ['ADOPT', (fused) => adopt(0.1, { fused })],
  ['Adam', (fused) => adam(0.1, { fused })],
  ['AMSGrad', (fused) => amsgrad(0.1, { fused })],
];

/** Name and values of every weight of an optimizer, copied. */
async function stateOf(opt: NamedStateOptimizer): Promise<[string, number[]][]> {
  return (await opt.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())]);
}

/** Saved weights that survive the optimizer's next call (getWeights' own tensors do not). */
async function savedWeights(opt: NamedStateOptimizer): Promise<{ name: string; tensor: tf.Tensor }[]> {
  return (await opt.getWeights()).map(({ name, tensor }) => ({ name, tensor: tf.clone(tensor) }));
}

function grad(v: tf.Variable, value = 0.5): { name: string; tensor: tf.Tensor }[] {
  return [{ name: v.name, tensor: tf.fill(v.shape, value) }];
}

/** Applies gradients made here, and disposes them. */
function step(opt: NamedStateOptimizer, vars: tf.Variable[], value = 0.5): void {
  const grads = vars.flatMap((v) => grad(v, value));
  try {
    opt.applyGradients(grads);
  } finally {
    tf.dispose(grads.map((g) => g.tensor));
  }
}

/** Runs `call`, expects it to throw `message`, and checks that no tensor was left behind. */
async function refused(call: () => unknown, message: RegExp): Promise<void> {
  const tensors = tf.memory().numTensors;
  await assert.rejects(
    async () => call(),
    (e: unknown) => {
      assert.ok(e instanceof Error, String(e));
      assert.match(e.message, message);
      return true;
    },
  );
  assert.equal(tf.memory().numTensors, tensors, 'a refused call leaked tensors');
}

for (const backend of BACKENDS) {
  for (const fused of [true, false]) {
    describe(`state safety on ${backend}, ${fused ? 'fused kernels' : 'tfjs ops'}`, () => {
      before(() => useBackend(backend));

      describe('1. state is bound to its variable by name and shape', () => {
        for (const [label, make] of OPTIMIZERS) {
          it(`${label}: state restored for [4], then a variable of that name with shape [65536]: refused, nothing written`, async () => {
            const name = fresh(`${label}_restored`);
            const opt = make(fused);
            const slots = label === 'AMSGrad' ? ['m', 'v', 'vmax'] : ['m', 'v'];
            const small = [
              { name: 'iter', tensor: tf.scalar(3, 'int32') },
              ...slots.map((s) => ({ name: `${name}/w/${s}`, tensor: tf.fill([4], 0.25) })),
              { name: `${name}/w/step`, tensor: tf.scalar(3, 'int32') },
            ];
            await opt.setWeights(small); // no variable of that name yet: accepted
            tf.dispose(small.map((w) => w.tensor));
            // a bystander allocated next to the state on the heap, and the big variable
            const bystander = tf.fill([1024], 7);
            const w = tf.variable(tf.fill([65536], 1), true, `${name}/w`);
            const other = tf.variable(tf.fill([8], 1), true, fresh(`${label}_other`));
            const stateBefore = await stateOf(opt);
            const grads = [...grad(other), ...grad(w)]; // `other` first: it must not move either
            await refused(
              () => opt.applyGradients(grads),
              new RegExp(
                `optimizer state of variable "${name}/w" \\(slot "m"\\) has shape \\[4\\] float32 but the variable ` +
                  'has shape \\[65536\\] float32',
              ),
            );
            tf.dispose(grads.map((g) => g.tensor));
            assert.ok(
              w.dataSync().every((x) => x === 1),
              'the parameters were written',
            );
            assert.ok(
              other.dataSync().every((x) => x === 1),
              'another variable of the refused step was written',
            );
            assert.ok(
              bystander.dataSync().every((x) => x === 7),
              'memory beside the state was overwritten',
            );
            assert.deepEqual(await stateOf(opt), stateBefore, 'the optimizer state changed');
            assert.equal(opt.iterations, 3);
            opt.dispose();
            tf.dispose([w, other, bystander]);
          });

          it(`${label}: a variable disposed and re-created under its name with another shape: refused, nothing written`, async () => {
            const name = fresh(`${label}_recreated`);
            const opt = make(fused);
            let w = tf.variable(tf.fill([3], 1), true, name);
            step(opt, [w]);
            step(opt, [w]);
            w.dispose();
            w = tf.variable(tf.fill([300], 1), true, name);
            const stateBefore = await stateOf(opt);
            const grads = grad(w);
            await refused(
              () => opt.applyGradients(grads),
              new RegExp(
                `optimizer state of variable "${name}" \\(slot "m"\\) has shape \\[3\\] float32 but the variable has ` +
                  'shape \\[300\\]',
              ),
            );
            tf.dispose(grads.map((g) => g.tensor));
            assert.ok(w.dataSync().every((x) => x === 1));
            assert.deepEqual(await stateOf(opt), stateBefore);
            // re-created with the same shape: the state is the variable's, training goes on
            w.dispose();
            w = tf.variable(tf.fill([3], 1), true, name);
            step(opt, [w]);
            assert.equal(opt.stepOf(name), 3);
            opt.dispose();
            w.dispose();
          });

          it(`${label}: setWeights refuses state whose shape or dtype differs from the live variable`, async () => {
            const name = fresh(`${label}_live`);
            const w = tf.variable(tf.fill([3], 1), true, name);
            const ints = tf.variable(tf.fill([4], 1, 'int32'), true, fresh(`${label}_int`));
            const opt = make(fused);
            step(opt, [w]);
            const before = await stateOf(opt);
            const slots = label === 'AMSGrad' ? ['m', 'v', 'vmax'] : ['m', 'v'];
            const weights = (target: string, size: number) => [
              { name: 'iter', tensor: tf.scalar(1, 'int32') },
              ...slots.map((s) => ({ name: `${target}/${s}`, tensor: tf.zeros([size]) })),
              { name: `${target}/step`, tensor: tf.scalar(1, 'int32') },
            ];
            const wrongShape = weights(name, 5);
            await refused(
              () => opt.setWeights(wrongShape),
              new RegExp(`saved state of "${name}" has shape \\[5\\] but the variable has shape \\[3\\]`),
            );
            const wrongDtype = weights(ints.name, 4);
            await refused(
              () => opt.setWeights(wrongDtype),
              new RegExp(`saved state of "${ints.name}" is float32 but the variable has dtype int32`),
            );
            assert.deepEqual(await stateOf(opt), before);
            tf.dispose([...wrongShape, ...wrongDtype].map((x) => x.tensor));
            opt.dispose();
            tf.dispose([w, ints]);
          });
        }
      });

      describe('2. setWeights checks everything, copies, then replaces', () => {
        for (const [label, make] of OPTIMIZERS) {
          it(`${label}: opt.setWeights(await opt.getWeights()) keeps the state, and training goes on as without it`, async () => {
            const a = tf.variable(tf.tensor([1, -2, 3]), true, fresh(`${label}_rt_a`));
            const b = tf.variable(tf.tensor([1, -2, 3]), true, fresh(`${label}_rt_b`));
            const optA = make(fused);
            const optB = make(fused);
            for (const [i, value] of [0.5, -0.25, 1].entries()) {
              step(optA, [a], value);
              step(optB, [b], value);
              if (i === 1) {
                const weights = await optA.getWeights();
                const tensors = tf.memory().numTensors;
                await optA.setWeights(weights);
                assert.equal(tf.memory().numTensors, tensors, 'the round trip leaked or lost tensors');
                assert.equal(optA.stepOf(a.name), 2);
                assert.equal(optA.iterations, 2);
              }
            }
            assert.deepEqual(a.dataSync(), b.dataSync(), 'the round trip changed the course of training');
            assert.deepEqual(
              (await stateOf(optA)).slice(2).map((x) => x[1]),
              (await stateOf(optB)).slice(2).map((x) => x[1]),
            );
            optA.dispose();
            optB.dispose();
            tf.dispose([a, b]);
          });

          it(`${label}: refused weights (disposed tensor, NaN, negative v, bad step, foreign slot) change nothing`, async () => {
            const p = tf.variable(tf.tensor([1, 2, 3]), true, fresh(`${label}_bad`));
            const opt = make(fused);
            step(opt, [p]);
            step(opt, [p], -1);
            const good = await savedWeights(opt);
            const before = await stateOf(opt);
            const replace = (suffix: string, tensor: tf.Tensor) =>
              good.map((w) => (w.name === `${p.name}/${suffix}` ? { name: w.name, tensor } : w));
            const disposed = tf.zeros([3]);
            disposed.dispose();
            const nan = tf.tensor([0, NaN, 0]);
            const negative = tf.tensor([0, 0, -1e-3]);
            const inf = tf.tensor([Infinity, 0, 0]);
            const half = tf.scalar(1.5);
            const extra = tf.zeros([3]);
            await refused(
              () => opt.setWeights(replace('m', disposed)),
              new RegExp(`the tensor of weight "${p.name}/m" is disposed`),
            );
            await refused(
              () => opt.setWeights(replace('m', nan)),
              new RegExp(`weight "${p.name}/m" holds NaN at index 1; expected finite values`),
            );
            await refused(
              () => opt.setWeights(replace('m', inf)),
              new RegExp(`weight "${p.name}/m" holds Infinity at index 0; expected finite values`),
            );
            await refused(
              () => opt.setWeights(replace('v', negative)),
              new RegExp(`weight "${p.name}/v" holds -0.001\\d* at index 2; expected finite values >= 0`),
            );
            if (label === 'AMSGrad') {
              await refused(
                () => opt.setWeights(replace('vmax', negative)),
                new RegExp(`weight "${p.name}/vmax" holds -0.001\\d* at index 2; expected finite values >= 0`),
              );
            }
            await refused(
              () => opt.setWeights(replace('step', half)),
              new RegExp(`weight "${p.name}/step" must be one integer in \\[0, 2147483647\\].*; got \\[1.5\\]`),
            );
            await refused(
              () => opt.setWeights([...good, { name: 'bogus/m', tensor: extra }]),
              /incomplete state for variable "bogus": found "bogus\/m" but not "bogus\/v", .*"bogus\/step"/,
            );
            assert.deepEqual(await stateOf(opt), before, 'a refused setWeights changed the state');
            // still usable: the next step continues from step 2
            step(opt, [p]);
            assert.equal(opt.stepOf(p.name), 3);
            opt.dispose();
            tf.dispose([p, nan, negative, inf, half, extra, ...good.map((w) => w.tensor)]);
          });
        }

        it('the optimizer that wrote the state: ADOPT and the Adam family refuse each other, Adam and AdamW agree', async () => {
          const p = tf.variable(tf.tensor([1, 2, 3]), true, fresh('class'));
          const fromAdopt = adopt(0.1, { fused });
          const fromAdam = adam(0.1, { fused });
          step(fromAdopt, [p]);
          step(fromAdam, [p]);
          const adoptState = await savedWeights(fromAdopt);
          const adamState = await savedWeights(fromAdam);
          assert.ok(adoptState.some((w) => w.name === 'optimizer:adopt-optim/ADOPT'));
          const target = adopt(0.1, { fused });
          step(target, [p]);
          const before = await stateOf(target);
          await refused(
            () => target.setWeights(adamState),
            /ADOPT.setWeights: the weights were saved by adopt-optim\/Adam \(marker "optimizer:adopt-optim\/Adam"\); adopt-optim\/ADOPT cannot continue from another optimizer's state/,
          );
          assert.deepEqual(await stateOf(target), before);
          const adamTarget = adam(0.1, { fused });
          await refused(
            () => adamTarget.setWeights(adoptState),
            /Adam.setWeights: the weights were saved by adopt-optim\/ADOPT/,
          );
          // AMSGrad's state is told apart by its vmax slot, and by the marker first
          await refused(
            () => amsgrad(0.1, { fused }).setWeights(adamState),
            /AMSGrad.setWeights: the weights were saved by adopt-optim\/Adam/,
          );
          // Adam and AdamW keep the same state
          const w = adamw(0.1, { fused });
          await w.setWeights(adamState);
          assert.equal(w.stepOf(p.name), 1);
          // weights saved before the marker existed (none) are accepted on their structure
          const legacy = adoptState.filter((x) => !x.name.startsWith('optimizer:'));
          await target.setWeights(legacy);
          assert.equal(target.stepOf(p.name), 1);
          for (const o of [fromAdopt, fromAdam, target, adamTarget, w]) o.dispose();
          tf.dispose([p, ...adoptState.map((x) => x.tensor), ...adamState.map((x) => x.tensor)]);
        });
      });

      describe('3. a disposed optimizer refuses to be used', () => {
        for (const [label, make] of OPTIMIZERS) {
          it(`${label}: applyGradients, minimize, getWeights and setWeights after dispose throw and change nothing`, async () => {
            const p = tf.variable(tf.tensor([1, 2, 3]), true, fresh(`${label}_disposed`));
            const opt = make(fused);
            step(opt, [p]);
            step(opt, [p]);
            const saved = await savedWeights(opt);
            opt.dispose();
            opt.dispose(); // twice is harmless, as in tfjs
            const values = Array.from(p.dataSync());
            const disposed = new RegExp(`${label}\\.\\w+: this optimizer was disposed`);
            const grads = grad(p);
            await refused(() => opt.applyGradients(grads), /applyGradients: this optimizer was disposed/);
            await refused(() => opt.minimize(() => tf.sum(tf.square(p))), /minimize: this optimizer was disposed/);
            await refused(() => opt.getWeights(), disposed);
            await refused(() => opt.setWeights(saved), /setWeights: this optimizer was disposed/);
            assert.deepEqual(Array.from(p.dataSync()), values);
            assert.equal(opt.stepOf(p.name), 0);
            tf.dispose([p, ...grads.map((g) => g.tensor), ...saved.map((w) => w.tensor)]);
          });
        }

        it('minimize: a refused step disposes the gradients and the cost (no leak)', async () => {
          const p = tf.variable(tf.tensor([1, 2, 3]), true, fresh('minimize'));
          const opt = adopt(0.1, { fused });
          const tensors = tf.memory().numTensors;
          assert.throws(
            () => opt.minimize(() => tf.sum(tf.div(p, 0)), true),
            /holds NaN, Infinity or a value beyond ±2\^63/,
          );
          assert.equal(tf.memory().numTensors, tensors);
          const cost = opt.minimize(() => tf.sum(tf.square(p)), true);
          assert.ok(cost !== null);
          cost.dispose();
          opt.dispose();
          p.dispose();
        });
      });

      describe('4. arrays read from parameters and state never change afterwards', () => {
        for (const [label, make] of OPTIMIZERS) {
          it(`${label}: dataSync(), await data() and getWeights() arrays stay as they were read`, async () => {
            const init = new Float32Array([0.5, -1, 2, 4, -3]);
            const mine = init.slice();
            // a variable over the caller's own array, and one sharing data with another tensor
            const p = tf.variable(tf.tensor(mine), true, fresh(`${label}_snap`));
            const source = tf.tensor([1, 2, 3, 4, 5]);
            const q = tf.variable(source, true, fresh(`${label}_shared`));
            const opt = make(fused);
            step(opt, [p, q]);
            step(opt, [p, q], -0.3);
            // on cpu a contiguous slice is a view of the variable's buffer
            const head = tf.slice(p, 0, 2);
            const headBefore = Array.from(head.dataSync());
            const tensors = tf.memory().numTensors;
            const reads: [string, Float32Array, Float32Array][] = [];
            const keep = (what: string, a: tf.TypedArray) =>
              reads.push([what, a as Float32Array, (a as Float32Array).slice()]);
            keep('p.dataSync()', p.dataSync());
            keep('await p.data()', await p.data());
            keep('q.dataSync()', q.dataSync());
            for (const w of await opt.getWeights()) {
              if (w.tensor.dtype === 'float32') {
                keep(`${w.name} dataSync()`, w.tensor.dataSync());
                keep(`${w.name} data()`, await w.tensor.data());
              }
            }
            step(opt, [p, q], 0.7);
            step(opt, [p, q], -0.1);
            // what getWeights handed out is released by the next step
            assert.equal(tf.memory().numTensors, tensors, 'steps or getWeights leaked tensors');
            assert.notDeepEqual(p.dataSync(), reads[0]![2], 'the parameters did not move');
            for (const [what, array, copy] of reads) assert.deepEqual(array, copy, `${what} changed after later steps`);
            assert.deepEqual(mine, init, 'the array the variable was made from changed');
            assert.deepEqual(Array.from(head.dataSync()), headBefore, 'a slice of the parameters changed');
            assert.deepEqual(
              source.dataSync(),
              new Float32Array([1, 2, 3, 4, 5]),
              'a tensor sharing data with the variable changed',
            );
            opt.dispose();
            tf.dispose([p, q, source, head]);
          });
        }

        it('a tfjs-layers model: weights saved with getWeights().map(w => w.data()) stay frozen through more training', async () => {
          const model = tf.sequential({
            layers: [
              tf.layers.dense({
                inputShape: [4],
                units: 3,
                kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
              }),
            ],
          });
          model.compile({ optimizer: adopt(0.05, { fused }), loss: 'meanSquaredError' });
          const x = tf.randomNormal([16, 4], 0, 1, 'float32', 4);
          const y = tf.randomNormal([16, 3], 0, 1, 'float32', 5);
          await model.fit(x, y, { epochs: 3, batchSize: 16, shuffle: false, verbose: 0 });
          const best = await Promise.all(model.getWeights().map((w) => w.data()));
          const copies = best.map((a) => (a as Float32Array).slice());
          await model.fit(x, y, { epochs: 3, batchSize: 16, shuffle: false, verbose: 0 });
          best.forEach((a, i) => assert.deepEqual(a, copies[i], `saved weight ${i} followed the live weights`));
          assert.notDeepEqual(model.getWeights()[0]!.dataSync(), copies[0]);
          model.optimizer.dispose();
          model.dispose();
          tf.dispose([x, y]);
        });
      });

      it('5. epsilon 0 is refused (zero gradients would give NaN parameters)', () => {
        for (const make of [adopt, adam, adamw, amsgrad, core.adopt, core.adam]) {
          assert.throws(
            () => (make as (lr: number, o: object) => unknown)(0.1, { epsilon: 0, fused }),
            (e: unknown) => {
              assert.ok(e instanceof OptimizerArgumentError);
              assert.match(e.message, /invalid epsilon 0; expected a finite number > 0/);
              // the refusal says why (PyTorch, timm and the official code accept 0; docs/ALGORITHM.md §5.2)
              assert.match(e.message, /0 \/ 0 = NaN/);
              return true;
            },
          );
        }
        assert.throws(() => adopt(0.1, { epsilon: -0 }), /invalid epsilon 0; expected a finite number > 0/);
        // the core's transformations share the check
        assert.throws(
          () => core.scaleByAdopt({ epsilon: 0 }),
          /scaleByAdopt: invalid epsilon 0; expected a finite number > 0/,
        );
        assert.throws(
          () => core.scaleByAdam({ epsilon: 0 }),
          /scaleByAdam: invalid epsilon 0; expected a finite number > 0/,
        );
        // a saved config holding epsilon 0 is refused as well
        const config = { ...adopt(0.1).getConfig(), epsilon: 0 };
        assert.throws(() => AdoptOptimizer.fromConfig(AdoptOptimizer, config), /invalid epsilon 0/);
      });
    });
  }

  describe(`kernel entry on ${backend}: every buffer is checked against the length the kernel writes`, () => {
    before(() => useBackend(backend));

    it('a state buffer shorter than the parameters is refused before anything is written', () => {
      const k = fusedKernelsForBackend();
      assert.ok(k !== null, `no fused kernels on ${backend}`);
      const p = tf.variable(tf.fill([64], 1), true, fresh('kernel_p'));
      const g = tf.fill([64], 0.5);
      const m = tf.variable(tf.zeros([4]), false, fresh('kernel_m'));
      const v = tf.variable(tf.fill([4], 1), false, fresh('kernel_v'));
      const vmax = tf.variable(tf.fill([64], 1), false, fresh('kernel_vmax'));
      const bystander = tf.fill([256], 7);
      const h = { beta1: 0.9, beta2: 0.99, epsilon: 1e-6, weightDecay: 0, decoupled: false, maximize: false };
      const flags = { nesterov: false, caution: false, amsgrad: true };
      assert.throws(
        () => k.run(adoptCall(flags, 'step', adoptKernelArgs(h, 0.1, 1)), p, g, [m, v]),
        /adopt step: buffer "m" holds 4 elements but the step touches 64; nothing was written/,
      );
      assert.throws(
        () => k.run(adoptCall(flags, 'init', adoptKernelArgs(h, 0.1, 1)), p, g, [vmax, v]),
        /adopt init: buffer "v" holds 4 elements but the step touches 64/,
      );
      assert.throws(
        () => k.run(adamCall(flags, adamKernelArgs({ ...h, amsgrad: true }, 0.1, 1)), p, g, [vmax, v, vmax]),
        /adam_amsgrad step: buffer "v" holds 4 elements/,
      );
      assert.throws(
        () => k.run(adamCall(flags, adamKernelArgs({ ...h, amsgrad: true }, 0.1, 1)), p, g, [vmax, vmax]),
        /adam_amsgrad step: expected 3 state arrays/,
      );
      assert.ok(p.dataSync().every((x) => x === 1));
      assert.ok(m.dataSync().every((x) => x === 0));
      assert.ok(v.dataSync().every((x) => x === 1));
      assert.ok(bystander.dataSync().every((x) => x === 7));
      tf.dispose([p, g, m, v, vmax, bystander]);
    });
  });
}

describe('kernels on plain arrays check lengths too', () => {
  it('ArrayKernels refuses arrays of different lengths before writing', () => {
    const k = ArrayKernels.get();
    assert.ok(k !== null);
    const p = new Float32Array(100).fill(1);
    const g = new Float32Array(100).fill(0.5);
    const short = new Float32Array(10);
    const h = { beta1: 0.9, beta2: 0.99, epsilon: 1e-6, weightDecay: 0, decoupled: false, maximize: false };
    const flags = { nesterov: false, caution: false, amsgrad: true };
    const adoptStep = adoptCall(flags, 'step', adoptKernelArgs(h, 0.1, 1));
    assert.throws(
      () => k.run(adoptStep, p, g, [short, new Float32Array(100)]),
      /buffer "m" holds 10 elements but the step writes 100/,
    );
    assert.throws(
      () => k.run(adoptStep, p, g, [new Float32Array(100), new Float32Array(100)], short),
      /buffer "out.p" holds 10 elements/,
    );
    assert.throws(
      () =>
        k.run(adamCall(flags, adamKernelArgs({ ...h, amsgrad: true }, 0.1, 1)), p, g, [
          new Float32Array(100),
          new Float32Array(100),
          short,
        ]),
      /buffer "vmax" holds 10 elements/,
    );
    assert.ok(p.every((x) => x === 1));
  });
});

describe('wasm: dataSync() and data() return copies of the heap', () => {
  before(() => useBackend('wasm'));
  it('writing into the returned array does not change the tensor, and vice versa', async () => {
    const t = tf.tensor([1, 2, 3]);
    const a = t.dataSync();
    const b = await t.data();
    assert.notEqual(a, b);
    a[0] = 100;
    (b as Float32Array)[1] = 200;
    assert.deepEqual(Array.from(t.dataSync()), [1, 2, 3]);
    t.dispose();
  });
});
