import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  adopt,
  adamw,
  amsgrad,
  AdoptOptimizer,
  AdamWOptimizer,
  powerClip,
  type NamedStateOptimizer,
} from '../src/index.js';
import { BACKENDS, useBackend } from './backends.js';
import { Rng } from './reference.js';

/** A small MLP on fixed random data, compiled with the given optimizer. */
function makeModel(optimizer: tf.Optimizer, seed: number): tf.Sequential {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [6],
        units: 8,
        activation: 'tanh',
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
      }),
      tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  return model;
}

function data(): { x: tf.Tensor; y: tf.Tensor } {
  const rng = new Rng(5);
  return { x: tf.tensor(rng.normals(32 * 6), [32, 6]), y: tf.tensor(rng.normals(32 * 3), [32, 3]) };
}

async function train(model: tf.LayersModel, steps: number): Promise<void> {
  const { x, y } = data();
  // one batch per epoch and no shuffling: every step is deterministic
  await model.fit(x, y, { epochs: steps, batchSize: 32, shuffle: false, verbose: 0 });
  tf.dispose([x, y]);
}

async function saveToMemory(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer: true },
  );
  return artifacts!;
}

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

for (const backend of BACKENDS) {
  describe(`serialization on ${backend}`, () => {
    before(() => useBackend(backend));

    const cases: [string, () => NamedStateOptimizer, string][] = [
      ['ADOPT', () => adopt(0.01, { weightDecay: 0.01, decoupled: true, clip: powerClip(0.3) }), 'adopt-optim/ADOPT'],
      ['AdamW', () => adamw(0.01), 'adopt-optim/AdamW'],
      ['AMSGrad', () => amsgrad(0.01), 'adopt-optim/AMSGrad'],
    ];
    for (const [name, make, className] of cases) {
      it(`${name}: N steps, save, reload, M steps equals N + M uninterrupted steps`, async (t) => {
        const N = 7;
        const M = 9;
        const straight = makeModel(make(), 1);
        await train(straight, N + M);

        const first = makeModel(make(), 1);
        await train(first, N);
        const tensorsBeforeSave = tf.memory().numTensors;
        const artifacts = await saveToMemory(first);
        const artifacts2 = await saveToMemory(first);
        assert.equal(tf.memory().numTensors, tensorsBeforeSave + countersOf(first), 'saving leaked tensors');
        assert.deepEqual(artifacts2.weightSpecs, artifacts.weightSpecs);
        const config = (artifacts.trainingConfig as unknown as { optimizer_config: { class_name: string } })
          .optimizer_config;
        assert.equal(config.class_name, className);

        const resumed = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
        assert.equal(resumed.optimizer.getClassName(), className);
        assert.deepEqual(resumed.optimizer.getConfig(), first.optimizer.getConfig());
        assert.equal(resumed.optimizer.iterations, N);
        await train(resumed, M);

        const a = weightsOf(straight);
        const b = weightsOf(resumed);
        let largest = 0;
        for (let i = 0; i < a.length; i++) {
          for (let j = 0; j < a[i]!.length; j++) largest = Math.max(largest, Math.abs(a[i]![j]! - b[i]![j]!));
        }
        t.diagnostic(`largest |resumed - uninterrupted| parameter difference: ${largest}`);
        assert.equal(largest, 0, 'resumed training differs from uninterrupted training');
        for (const m of [straight, first, resumed]) {
          m.optimizer.dispose();
          m.dispose();
        }
      });
    }

    it('getWeights names state by variable and setWeights restores it into a fresh optimizer', async () => {
      const p = tf.variable(tf.tensor([1, 2, 3]), true, `restore_p_${backend}`);
      const q = tf.variable(tf.tensor([4, 5]), true, `restore_q_${backend}`);
      const grads = () => ({ [p.name]: tf.tensor([0.1, -0.2, 0.3]), [q.name]: tf.tensor([1, -1]) });
      const a = adopt(0.1);
      a.applyGradients(grads());
      a.applyGradients({ [p.name]: tf.tensor([0.5, 0.5, 0.5]) }); // q skips a step: its own counter
      const saved = await a.getWeights();
      assert.deepEqual(
        saved.map((w) => w.name),
        [
          'iter',
          'optimizer:adopt-optim/ADOPT',
          `${p.name}/m`,
          `${p.name}/v`,
          `${p.name}/step`,
          `${q.name}/m`,
          `${q.name}/v`,
          `${q.name}/step`,
        ],
      );
      const b = adopt(0.1);
      await b.setWeights(saved);
      assert.equal(b.iterations, 2);
      assert.equal(b.stepOf(p.name), 2);
      assert.equal(b.stepOf(q.name), 1);
      // the same gradients now give the same parameters through a and b
      const pBefore = p.dataSync().slice();
      a.applyGradients(grads());
      const viaA = p.dataSync().slice();
      p.assign(tf.tensor(pBefore));
      b.applyGradients(grads());
      assert.deepEqual(p.dataSync(), viaA);
      a.dispose();
      b.dispose();
      tf.dispose([p, q]);
    });

    it('setWeights refuses foreign, incomplete or mis-shaped state and changes nothing', async () => {
      const p = tf.variable(tf.tensor([1, 2, 3]), true, `refuse_p_${backend}`);
      const opt = adopt(0.1);
      opt.applyGradients({ [p.name]: tf.tensor([1, 1, 1]) });
      const good = await opt.getWeights();
      const keep = good.map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) }));
      const byName = (n: string) => keep.find((w) => w.name.endsWith(n))!.tensor;
      const iter = { name: 'iter', tensor: tf.scalar(1, 'int32') };

      // tfjs's own Adam writes no per-variable step
      const tfjsAdam = tf.train.adam(0.1);
      tfjsAdam.applyGradients([{ name: p.name, tensor: tf.tensor([1, 1, 1]) }]);
      await assert.rejects(
        opt.setWeights(await tfjsAdam.getWeights()),
        /no per-variable step counter .* tf\.train\.adam/,
      );
      // AMSGrad's vmax is no slot of ADOPT
      await assert.rejects(
        opt.setWeights([...keep, { name: `${p.name}/vmax`, tensor: tf.zeros([3]) }]),
        /unexpected weight ".*\/vmax".*Was it saved by another optimizer\?/,
      );
      await assert.rejects(opt.setWeights(keep.slice(1)), /no "iter" counter/);
      await assert.rejects(
        opt.setWeights([
          iter,
          { name: `${p.name}/m`, tensor: tf.zeros([4]) },
          { name: `${p.name}/v`, tensor: tf.zeros([4]) },
          { name: `${p.name}/step`, tensor: tf.scalar(1, 'int32') },
        ]),
        /saved state of "refuse_p_\w+" has shape \[4\] but the variable has shape \[3\]/,
      );
      await assert.rejects(
        opt.setWeights([
          iter,
          { name: `${p.name}/m`, tensor: byName('/m') },
          { name: `${p.name}/v`, tensor: tf.zeros([2]) },
          { name: `${p.name}/step`, tensor: tf.scalar(1, 'int32') },
        ]),
        /has shape \[2\] but ".*\/m" has \[3\]/,
      );
      await assert.rejects(
        opt.setWeights([
          iter,
          { name: `${p.name}/m`, tensor: byName('/m') },
          { name: `${p.name}/v`, tensor: byName('/v') },
          { name: `${p.name}/step`, tensor: tf.scalar(-1, 'int32') },
        ]),
        /must be one integer in \[0, 2147483647\]/,
      );
      // nothing changed: the state is still the one from the first step
      const after = await opt.getWeights();
      assert.deepEqual(
        after.map((w) => [w.name, Array.from(w.tensor.dataSync())]),
        keep.map((w) => [w.name, Array.from(w.tensor.dataSync())]),
      );
      opt.dispose();
      tfjsAdam.dispose();
      tf.dispose([p, ...keep.map((w) => w.tensor), iter.tensor]);
    });

    it('config round trip through the serialization registry', () => {
      const opt = adopt(0.02, {
        beta1: 0.8,
        beta2: 0.99,
        epsilon: 1e-7,
        weightDecay: 0.1,
        decoupled: true,
        clip: null,
        maximize: true,
        nonFinite: 'skip',
      });
      const copy = AdoptOptimizer.fromConfig(AdoptOptimizer, opt.getConfig()) as AdoptOptimizer;
      assert.deepEqual(copy.getConfig(), opt.getConfig());
      assert.equal(copy.clip, null);
      const w = adamw(0.03, { weightDecay: 0.2 });
      assert.deepEqual(
        (AdamWOptimizer.fromConfig(AdamWOptimizer, w.getConfig()) as AdamWOptimizer).getConfig(),
        w.getConfig(),
      );
    });

    it('a custom clip function cannot be saved, with a message saying what to use instead', () => {
      const opt = adopt(0.01, { clip: (t) => Math.log(1 + t) });
      assert.throws(() => opt.getConfig(), /custom clip function cannot be saved. Use powerClip\(exponent\)/);
    });
  });
}

/**
 * Tensors an optimizer holds after getWeights: iter, the optimizer marker, and per variable a
 * copy of each slot and its step. They are replaced, not added to, by the next call (and released
 * by the next step), so repeated saves do not leak.
 */
function countersOf(model: tf.LayersModel): number {
  const opt = model.optimizer as NamedStateOptimizer;
  const slots = opt.getClassName() === 'adopt-optim/AMSGrad' ? 3 : 2;
  return 2 + opt.stateNames.length * (slots + 1);
}
