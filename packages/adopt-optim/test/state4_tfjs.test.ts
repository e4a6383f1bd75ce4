/**
 * 4-bit state (docs/ALGORITHM.md §12) in the TensorFlow.js optimizers on cpu and wasm: the same
 * kernels as the core, bit for bit; no state tensors; saved, restored and converted exactly; never
 * read as 8-bit state; bad weights refused with nothing changed; a Trainer run stopped and resumed
 * equals the uninterrupted one.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adamw, adopt, core, type NamedStateOptimizer } from '../src/index.js';
import { BACKENDS, useBackend } from './backends.js';
import { restoredStepsTheSame } from './tfjs_roundtrip.js';
import { Rng } from './reference.js';
import { unpack4 } from './reference4.js';

for (const backend of BACKENDS) {
  describe(`4-bit state in the TensorFlow.js optimizers on ${backend}`, () => {
    const shapes = [[7, 9], [300], [5], []]; // partial groups and blocks, a scalar
    const makers: [string, () => NamedStateOptimizer, () => core.CoreOptimizer<any, any>][] = [
      [
        'ADOPT',
        () => adopt(0.01, { stateDtype: 'int4', nesterov: true }),
        () => core.adopt(0.01, { stateDtype: 'int4', nesterov: true }),
      ],
      ['AdamW', () => adamw(0.01, { stateDtype: 'int4' }), () => core.adamw(0.01, { stateDtype: 'int4' })],
    ];
    for (const [name, make, makeCore] of makers) {
      it(`${name}: the same kernels as the core, bit for bit; no state tensors; saved and restored exactly`, async () => {
        await useBackend(backend);
        const rng = new Rng(21);
        const inits = shapes.map((shape) => rng.normals(shape.reduce((a, b) => a * b, 1)));
        const vars = shapes.map((shape, i) => tf.variable(tf.tensor(inits[i]!, shape)));
        const opt = make();
        const coreOpt = makeCore();
        const coreP = inits.map((x) => Float32Array.from(x));
        const coreS = coreP.map((x) => coreOpt.init(x));
        const grads = () => vars.map((v) => rng.gradient(v.size, 0.02));
        // one step first: the optimizer's own bookkeeping, then memory must hold still
        const step = () => {
          const g = grads();
          const gt = vars.map((v, i) => tf.tensor(g[i]!, v.shape));
          opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: gt[i]! })));
          tf.dispose(gt);
          coreP.forEach((p, i) => coreOpt.step(p, g[i]!, coreS[i]));
        };
        step();
        const tensorsBefore = tf.memory().numTensors;
        for (let k = 0; k < 7; k++) step();
        assert.equal(tf.memory().numTensors, tensorsBefore, 'a step leaves tf.memory() unchanged');
        assert.deepEqual(opt.lastStepPaths, ['int4']);
        // on wasm the codes live on tfjs's heap and the kernels work in place there; on cpu in memories of their own
        const where = (opt as unknown as { lowBit: { bytes(): { heap: number; outside: number } } }).lowBit.bytes();
        assert.ok(
          backend === 'wasm' ? where.heap > 0 && where.outside === 0 : where.heap === 0 && where.outside > 0,
          JSON.stringify(where),
        );
        vars.forEach((v, i) => assert.deepEqual(v.dataSync(), coreP[i], `variable ${i}`));
        // the codes handed out are the core's, one per element, in the variable's shape
        const saved = await opt.getWeights();
        vars.forEach((v, i) => {
          const s = (coreS[i].adopt ?? coreS[i].adam) as core.Int4State;
          const qm = saved.find((w) => w.name === `${v.name}/qm4`)!.tensor;
          const qv = saved.find((w) => w.name === `${v.name}/qv4`)!.tensor;
          assert.deepEqual(qm.shape, v.shape);
          assert.equal(qm.dtype, 'int32');
          assert.deepEqual(Array.from(qm.dataSync()), unpack4(s.qm, v.size, true));
          assert.deepEqual(Array.from(qv.dataSync()), unpack4(s.qv, v.size, false));
          assert.deepEqual(saved.find((w) => w.name === `${v.name}/mScale4`)!.tensor.dataSync(), s.mScale);
        });
        assert.equal(
          saved.some((w) => /\/(qm|qv|mScale|vScale|m|v)$/.test(w.name)),
          false,
          'no 8-bit or float32 names',
        );
        const elements = vars.reduce((a, v) => a + Math.ceil(v.size / 16) * 16, 0);
        assert.equal(opt.stateBytes, elements + 2 * 4 * vars.reduce((a, v) => a + Math.ceil(v.size / 128), 0));
        // save (through tfjs's weight encoding, as model.save does), restore into a new optimizer, continue
        await restoredStepsTheSame(opt, saved, make, vars, grads);
      });
    }

    it('converts: float32 -> int4 (quantised), int4 -> float32 (de-quantised), int4 -> int8 and int8 -> int4 through float32', async () => {
      await useBackend(backend);
      const rng = new Rng(5);
      const v = tf.variable(tf.tensor(rng.normals(600), [20, 30]));
      const f32 = adopt(0.01);
      for (let i = 0; i < 10; i++) f32.applyGradients({ [v.name]: tf.tensor(rng.gradient(600), [20, 30]) });
      const w32 = await f32.getWeights();
      const m32 = w32
        .find((w) => w.name === `${v.name}/m`)!
        .tensor.dataSync()
        .slice();
      const i4 = adopt(0.01, { stateDtype: 'int4' });
      await i4.setWeights(w32);
      assert.equal(i4.stepOf(v.name), 10);
      const w4 = await i4.getWeights();
      const mScale = w4
        .find((w) => w.name === `${v.name}/mScale4`)!
        .tensor.dataSync()
        .slice();
      assert.equal(mScale.length, Math.ceil(600 / 128));
      const back = adopt(0.01);
      await back.setWeights(w4);
      const mBack = (await back.getWeights()).find((w) => w.name === `${v.name}/m`)!.tensor.dataSync();
      for (let i = 0; i < 600; i++) {
        assert.ok(Math.abs(mBack[i]! - m32[i]!) <= 0.5 * mScale[Math.floor(i / 128)]! * (1 + 1e-5) + 1e-12, `m[${i}]`);
      }
      // 4-bit entries given to an 8-bit optimizer: de-quantised then quantised, never read as 8-bit codes
      const i8 = adopt(0.01, { stateDtype: 'int8' });
      await i8.setWeights(w4);
      const w8 = await i8.getWeights();
      const back8 = adopt(0.01);
      await back8.setWeights(w8);
      const m8 = (await back8.getWeights()).find((w) => w.name === `${v.name}/m`)!.tensor.dataSync();
      const mScale8 = w8.find((w) => w.name === `${v.name}/mScale`)!.tensor.dataSync();
      for (let i = 0; i < 600; i++) {
        assert.ok(
          Math.abs(m8[i]! - mBack[i]!) <= 0.5 * mScale8[Math.floor(i / 256)]! * (1 + 1e-5) + 1e-12,
          `int4 -> int8 m[${i}]`,
        );
      }
      // and back: 8-bit entries into a 4-bit optimizer
      const again = adopt(0.01, { stateDtype: 'int4' });
      await again.setWeights(w8);
      assert.equal(again.stepOf(v.name), 10);
      again.applyGradients({ [v.name]: tf.tensor(rng.gradient(600), [20, 30]) });
      assert.equal(again.stepOf(v.name), 11);
      assert.ok(v.dataSync().every(Number.isFinite));
      for (const o of [f32, i4, back, i8, back8, again]) o.dispose();
      v.dispose();
    });

    it('bad 4-bit weights are refused before anything changes, naming the entry and the range', async () => {
      await useBackend(backend);
      const v = tf.variable(tf.ones([10]));
      const opt = adopt(0.01, { stateDtype: 'int4' });
      opt.applyGradients({ [v.name]: tf.ones([10]) });
      opt.applyGradients({ [v.name]: tf.ones([10]) });
      const good = await opt.getWeights();
      const copy = good.map(({ name, tensor }) => ({ name, tensor: tensor.clone() }));
      const other = adopt(0.01, { stateDtype: 'int4' });
      await assert.rejects(
        other.setWeights(copy.filter((w) => !w.name.endsWith('/qv4'))),
        /incomplete 4-bit state for ".*": no ".*\/qv4"/,
      );
      const tooBig = copy.map((w) =>
        w.name.endsWith('/qm4') ? { name: w.name, tensor: tf.fill([10], 8, 'int32') } : w,
      );
      await assert.rejects(other.setWeights(tooBig), /holds 8 \/ .* at index 0; expected codes -7\.\.7 and 0\.\.15/);
      const scales = copy.map((w) =>
        w.name.endsWith('/vScale4') ? { name: w.name, tensor: tf.fill([2], 1, 'float32') } : w,
      );
      await assert.rejects(other.setWeights(scales), /has 1 \/ 2 scales for 10 elements; expected one per 128 \(1\)/);
      const absurd = copy.map((w) =>
        w.name.endsWith('/vScale4') ? { name: w.name, tensor: tf.fill([1], 1.2e18) } : w,
      );
      await assert.rejects(other.setWeights(absurd), /decodes beyond float32 .*\(16 · vScale\)²/);
      await assert.rejects(
        other.setWeights(copy.filter((w) => !w.name.endsWith('/step'))),
        /4-bit state but no step counter/,
      );
      assert.deepEqual(other.stateNames, []);
      await other.setWeights(copy);
      assert.deepEqual(other.stateNames, [v.name]);
      // ambiguous input: 8-bit entries (converted through float32) beside float32 m, v of the same variable
      // (review finding: the float32 ones were dropped silently); and m, v of different shapes
      const i8 = adopt(0.01, { stateDtype: 'int8' });
      i8.applyGradients({ [v.name]: tf.ones([10]) });
      const w8 = (await i8.getWeights()).map(({ name, tensor }) => ({ name, tensor: tensor.clone() }));
      const both = [
        ...w8,
        { name: `${v.name}/m`, tensor: tf.fill([10], 5) },
        { name: `${v.name}/v`, tensor: tf.fill([10], 4) },
      ];
      const fresh = adopt(0.01, { stateDtype: 'int4' });
      await assert.rejects(fresh.setWeights(both), /weight ".*\/m" appears twice/);
      const shapes = [
        ...w8.filter((w) => !/\/(qm|qv|mScale|vScale)$/.test(w.name)),
        { name: `${v.name}/m`, tensor: tf.zeros([2, 5]) },
        { name: `${v.name}/v`, tensor: tf.zeros([10]) },
      ];
      await assert.rejects(fresh.setWeights(shapes), /float32 of one shape/);
      assert.deepEqual(fresh.stateNames, []);
      tf.dispose([...copy, ...both, ...shapes].map((w) => w.tensor));
      for (const o of [opt, other, i8, fresh]) o.dispose();
      v.dispose();
    });

    it('refuses the options it lacks at construction; getConfig and fromConfig keep int4', async () => {
      await useBackend(backend);
      assert.throws(
        () => adamw(0.01, { stateDtype: 'int4', caution: true }),
        /AdamW: stateDtype 'int4' is not supported yet with caution: true/,
      );
      assert.throws(
        () => adopt(0.01, { stateDtype: 'int4', fused: false }),
        /ADOPT: stateDtype 'int4' is not supported yet with fused: false/,
      );
      const opt = adopt(0.01, { stateDtype: 'int4' });
      const config = opt.getConfig();
      assert.equal(config.stateDtype, 'int4');
      const again = (
        opt.constructor as typeof tf.Optimizer & { fromConfig: (c: unknown, d: unknown) => NamedStateOptimizer }
      ).fromConfig(opt.constructor, config);
      assert.equal((again as unknown as { stateDtype: string }).stateDtype, 'int4');
      for (const o of [opt, again]) o.dispose();
    });
  });
}
