// Issue 21's data-loss findings that are not 8-bit-specific bookkeeping: a finite but huge gradient,
// an absurd learning rate, 8-bit state after tfjs renames variables, and restores by name.
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  adam,
  adopt,
  amsgrad,
  constant,
  core,
  GRADIENT_LIMIT,
  NonFiniteGradientError,
  OptimizerArgumentError,
  type NamedStateOptimizer,
} from '../src/index.js';
import { defineRule } from '../src/rules/index.js';
import { CheckpointError, Trainer } from '../src/train/index.js';
import { canonicalNames, matchByName } from '../src/train/variable_names.js';
import { BACKENDS, useBackend } from './backends.js';
import { Rng } from './reference.js';

const scratch = mkdtempSync(join(tmpdir(), 'adopt-data-loss-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The largest float32 below 2^63: accepted. 2^63 itself: refused. */
const BELOW = Math.fround(GRADIENT_LIMIT * (1 - 2 ** -24));
const N = 37; // a SIMD tail

const FAMILIES: [string, (o: Record<string, unknown>) => NamedStateOptimizer][] = [
  ['ADOPT', (o) => adopt(1e-3, o)],
  ['ADOPT unclipped', (o) => adopt(1e-3, { clip: null, ...o })],
  ['Adam', (o) => adam(1e-3, o)],
  ['AMSGrad', (o) => amsgrad(1e-3, o)],
];

function gradientWith(value: number, at: number): Float32Array {
  const g = new Rng(3).normals(N).map((x) => x * 0.1);
  g[at] = value;
  return Float32Array.from(g);
}

describe('a finite gradient whose square overflows float32 is a non-finite step (issue 21, item 2)', () => {
  assert.ok(BELOW < GRADIENT_LIMIT && Math.fround(BELOW) === BELOW && GRADIENT_LIMIT === 2 ** 63);
  for (const backend of BACKENDS) {
    for (const [name, make] of FAMILIES) {
      for (const [label, options] of [
        ['fused', {}],
        ['ops', { fused: false }],
        ['8-bit', { stateDtype: 'int8' }],
      ] as const) {
        if (label === '8-bit' && name === 'AMSGrad') continue; // AMSGrad has no 8-bit state
        it(`${backend} ${name} ${label}: refused at 2^63 (throw and skip, nothing changed), and state stays finite and restorable just below`, async () => {
          await useBackend(backend);
          for (const at of [0, N - 1]) {
            for (const sign of [1, -1]) {
              const p = tf.variable(tf.tensor1d(new Rng(1).normals(N)));
              const opt = make(options);
              const before = p.dataSync().slice();
              // two ordinary steps first (ADOPT's first step only sets v)
              for (let i = 0; i < 2; i++) opt.applyGradients({ [p.name]: tf.tensor1d(gradientWith(0.5, at)) });
              const afterFirst = p.dataSync().slice();
              const saved = (await opt.getWeights()).map((w) => ({
                name: w.name,
                values: w.tensor.dataSync().slice(),
              }));
              const huge = tf.tensor1d(gradientWith(sign * GRADIENT_LIMIT, at));
              assert.throws(
                () => opt.applyGradients({ [p.name]: huge }),
                (e: unknown) =>
                  e instanceof NonFiniteGradientError && /beyond ±2\^63/.test(e.message) && e.variableName === p.name,
              );
              assert.deepEqual(p.dataSync(), afterFirst);
              const now = (await opt.getWeights()).map((w) => ({ name: w.name, values: w.tensor.dataSync().slice() }));
              assert.deepEqual(now, saved, 'state unchanged');
              const skipping = make({ ...options, nonFinite: 'skip' });
              skipping.applyGradients({ [p.name]: huge });
              assert.equal((skipping as unknown as { skippedSteps: number }).skippedSteps, 1);
              assert.deepEqual(p.dataSync(), afterFirst);
              // just below the limit: accepted; every state value finite; getWeights -> setWeights round-trips
              opt.applyGradients({ [p.name]: tf.tensor1d(gradientWith(sign * BELOW, at)) });
              const weights = await opt.getWeights();
              for (const w of weights) assert.ok(w.tensor.dataSync().every(Number.isFinite), `${w.name} finite`);
              await opt.setWeights(weights);
              assert.ok(p.dataSync().every(Number.isFinite));
              assert.notDeepEqual(before, afterFirst);
              tf.dispose(huge);
              opt.dispose();
              skipping.dispose();
              p.dispose();
            }
          }
        });
      }
    }
  }

  it('core optimizers (fused and chained) and a custom rule refuse it too, and a value just below passes', () => {
    const momentum = defineRule({
      name: 'test_momentum',
      slots: ['buf'],
      hyperparameters: { momentum: 0.9 },
      scalars: (lr, _t, h) => ({ lr, mu: h.momentum! }),
      step: ({ p, g, slot, scalar: s, add, sub, mul }) => {
        const buf = add(mul(slot('buf'), s('mu')), g);
        return { buf, p: sub(p, mul(buf, s('lr'))) };
      },
    });
    const makers: [
      string,
      () => { init(p: Float32Array): unknown; step(p: Float32Array, g: Float32Array, s: unknown): boolean | void },
    ][] = [
      ['core ADOPT fused', () => core.adopt(1e-3, { fused: true }) as never],
      ['core ADOPT chain', () => core.adopt(1e-3, { fused: false }) as never],
      ['core Adam fused', () => core.adam(1e-3, { fused: true }) as never],
      ['core rule', () => core.ruleOptimizer(momentum, 1e-3) as never],
    ];
    for (const [label, make] of makers) {
      const opt = make();
      const p = Float32Array.from(new Rng(1).normals(N));
      const state = opt.init(p);
      const before = p.slice();
      assert.throws(() => opt.step(p, gradientWith(-GRADIENT_LIMIT, N - 1), state), NonFiniteGradientError, label);
      assert.deepEqual(p, before, label);
      opt.step(p, gradientWith(BELOW, N - 1), state);
      assert.ok(p.every(Number.isFinite), label);
    }
  });
});

describe('a checkpoint that could not be restored is not written (issue 21, item 2)', () => {
  it('with nonFinite off, an overflowed state refuses the save; the older checkpoints stay restorable', async () => {
    await useBackend('cpu');
    const dir = join(scratch, 'overflow');
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [3], units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      ],
    });
    let scale = 1;
    const trainer = new Trainer<{ xs: tf.Tensor; ys: tf.Tensor }>({
      model,
      loss: (b) => tf.mul(tf.losses.meanSquaredError(b.ys, model.apply(b.xs) as tf.Tensor), scale) as tf.Scalar,
      data: () => [{ xs: tf.ones([4, 3]), ys: tf.zeros([4, 2]) }],
      optimizer: 'adopt',
      learningRate: 0.01,
      steps: 2,
      progress: false,
      optimizerOptions: { nonFinite: 'off' },
      checkpoint: { dir, every: 1 },
    });
    await trainer.fit();
    const folders = readdirSync(dir)
      .filter((f) => f.startsWith('step-'))
      .sort();
    assert.deepEqual(folders, ['step-00000001', 'step-00000002']);
    scale = 1e30; // the gradient overflows v with the check off
    const more = trainer as unknown as { config: { steps: number } };
    more.config.steps = 3;
    await assert.rejects(
      trainer.fit(),
      (e: unknown) =>
        e instanceof CheckpointError &&
        /holds (NaN|Infinity).*nothing was written and the older checkpoints were kept/.test(e.message),
    );
    assert.deepEqual(
      readdirSync(dir)
        .filter((f) => f.startsWith('step-'))
        .sort(),
      folders,
    );
    const fresh = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 })] });
    const again = new Trainer<{ xs: tf.Tensor; ys: tf.Tensor }>({
      model: fresh,
      loss: (b) => tf.losses.meanSquaredError(b.ys, fresh.apply(b.xs) as tf.Tensor) as tf.Scalar,
      data: () => [{ xs: tf.ones([4, 3]), ys: tf.zeros([4, 2]) }],
      optimizer: 'adopt',
      learningRate: 0.01,
      steps: 2,
      progress: false,
      optimizerOptions: { nonFinite: 'off' },
      checkpoint: { dir },
    });
    assert.equal((await again.restore()).step, 2);
  });
});

describe('learning rates that overflow float32 parameters are refused (issue 21, item 2)', () => {
  it('adam(1e38) and a schedule reaching 1e38 throw a specific error, before anything changes', async () => {
    await useBackend('wasm');
    assert.throws(
      () => adam(1e38),
      (e: unknown) =>
        e instanceof OptimizerArgumentError &&
        /invalid learningRate 1e\+38; expected a finite number in \[0, 1000000\]/.test(e.message),
    );
    assert.throws(() => core.adopt(1e7), /invalid learningRate 10000000/);
    const p = tf.variable(tf.tensor1d([1, 2, 3]));
    const opt = adopt((step: number) => (step === 0 ? 1e-3 : 1e38));
    opt.applyGradients({ [p.name]: tf.tensor1d([1, 1, 1]) });
    const before = p.dataSync().slice();
    assert.throws(
      () => opt.applyGradients({ [p.name]: tf.tensor1d([1, 1, 1]) }),
      /schedule returned 1e\+38 at step 1; expected a finite number in \[0, 1000000\]/,
    );
    assert.deepEqual(p.dataSync(), before);
    assert.equal(opt.stepOf(p.name), 1);
    // the bound itself is accepted
    adopt(1e6).dispose();
    constant(1e6);
    opt.dispose();
    p.dispose();
  });
});

describe('8-bit state is found after tfjs renames variables, as float32 state is (issue 21, item 5)', () => {
  for (const backend of BACKENDS) {
    for (const stateDtype of ['float32', 'int8'] as const) {
      it(`${backend} ${stateDtype}: a model saved with its optimizer and loaded in the same process continues exactly`, async () => {
        await useBackend(backend);
        const build = () => {
          const m = tf.sequential({
            layers: [
              tf.layers.dense({
                name: 'renamed',
                inputShape: [5],
                units: 7,
                kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
              }),
            ],
          });
          m.compile({ optimizer: adopt(0.01, { stateDtype }), loss: 'meanSquaredError' });
          return m;
        };
        const rng = new Rng(9);
        const xs = tf.tensor2d(rng.normals(8 * 5), [8, 5]);
        const ys = tf.tensor2d(rng.normals(8 * 7), [8, 7]);
        const model = build();
        for (let i = 0; i < 3; i++) await model.trainOnBatch(xs, ys);
        let artifacts: tf.io.ModelArtifacts | undefined;
        await model.save(
          tf.io.withSaveHandler(async (a) => {
            artifacts = a;
            return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
          }),
          { includeOptimizer: true },
        );
        const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
        assert.match(loaded.weights[0]!.name, /renamed\/kernel_\d+/, 'tfjs renamed the variable');
        // both continue with two more steps: the loaded one must equal the original exactly
        for (let i = 0; i < 2; i++) {
          await model.trainOnBatch(xs, ys);
          await loaded.trainOnBatch(xs, ys);
        }
        const a = model.getWeights().map((w) => Array.from(w.dataSync()));
        const b = loaded.getWeights().map((w) => Array.from(w.dataSync()));
        assert.deepEqual(b, a);
        const opt = loaded.optimizer as NamedStateOptimizer;
        assert.deepEqual(
          opt.stateNames.sort(),
          loaded.weights.map((w) => w.name).sort(),
          'the state is kept under the new names',
        );
        assert.equal(opt.stepOf(loaded.weights[0]!.name), 5);
        tf.dispose([xs, ys]);
        model.dispose();
        loaded.dispose();
      });

      it(`${backend} ${stateDtype}: a renamed variable of another shape does not claim the saved state (it starts fresh)`, async () => {
        await useBackend(backend);
        const rng = new Rng(13);
        const g = rng.normals(16);
        const w = tf.variable(tf.tensor1d(rng.normals(16)), true, 'claim/w');
        const first = adopt(0.01, { stateDtype });
        first.applyGradients({ [w.name]: tf.tensor1d(g) });
        const saved = await first.getWeights();
        // a variable whose name differs only by tfjs's `_N` suffix, with the same size and another shape
        const start = rng.normals(16);
        const other = tf.variable(tf.tensor2d(start, [4, 4]), true, 'claim/w_1');
        const fresh = tf.variable(tf.tensor2d(start, [4, 4]), true, 'claim/fresh');
        const second = adopt(0.01, { stateDtype });
        await second.setWeights(saved);
        second.applyGradients({ [other.name]: tf.tensor2d(g, [4, 4]) });
        const reference = adopt(0.01, { stateDtype });
        reference.applyGradients({ [fresh.name]: tf.tensor2d(g, [4, 4]) });
        assert.equal(second.stepOf(other.name), 1, 'a first step, not the saved variable continued');
        assert.deepEqual(Array.from(other.dataSync()), Array.from(fresh.dataSync()));
        tf.dispose([w, other, fresh, ...saved.map((x) => x.tensor)]);
        [first, second, reference].forEach((o) => o.dispose());
      });
    }
  }
});

describe('a Trainer restores model variables by name, never by position (issue 21, item 7)', () => {
  const layers = (names: string[], seed: number) =>
    tf.sequential({
      layers: [
        tf.layers.dense({
          name: names[0],
          inputShape: [4],
          units: 4,
          kernelInitializer: tf.initializers.glorotUniform({ seed }),
        }),
        tf.layers.dense({
          name: names[1],
          units: 4,
          kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
        }),
      ],
    });
  const trainerOf = (model: tf.Sequential, dir: string) =>
    new Trainer<{ xs: tf.Tensor; ys: tf.Tensor }>({
      model,
      loss: (b) => tf.losses.meanSquaredError(b.ys, model.apply(b.xs) as tf.Tensor) as tf.Scalar,
      data: () => [{ xs: tf.ones([2, 4]), ys: tf.zeros([2, 4]) }],
      optimizer: 'adopt',
      learningRate: 0.01,
      steps: 2,
      progress: false,
      checkpoint: { dir },
    });

  it('two same-shaped layers whose explicit names are swapped each get their own values and state', async () => {
    await useBackend('cpu');
    const dir = join(scratch, 'swapped');
    const saved = layers(['first', 'second'], 1);
    const t = trainerOf(saved, dir);
    await t.fit();
    const byName = new Map(saved.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())]));
    const swapped = layers(['second', 'first'], 7); // same shapes, the names in the other order
    const restored = trainerOf(swapped, join(scratch, 'unused'));
    await restored.restore(dir);
    for (const w of swapped.weights)
      assert.deepEqual(Array.from(w.read().dataSync()), byName.get(w.originalName), w.originalName);
    // the optimizer state follows the names too
    const state = async (tr: Trainer<{ xs: tf.Tensor; ys: tf.Tensor }>, model: tf.Sequential) => {
      const w = await tr.optimizers[0]!.getWeights();
      const names = new Map(model.weights.map((x) => [x.name, x.originalName]));
      return new Map(
        w
          .filter((x) => x.name.endsWith('/m'))
          .map((x) => [names.get(x.name.slice(0, -2)), Array.from(x.tensor.dataSync())]),
      );
    };
    assert.deepEqual(await state(restored, swapped), await state(t, saved));
  });

  it('a layer renamed since the save is refused, naming both sides, and nothing changes', async () => {
    await useBackend('cpu');
    const dir = join(scratch, 'renamed');
    await trainerOf(layers(['first', 'second'], 1), dir).fit();
    const other = layers(['first', 'third'], 3);
    const before = other.getWeights().map((w) => Array.from(w.dataSync()));
    await assert.rejects(
      trainerOf(other, dir).restore(),
      (e: unknown) =>
        e instanceof CheckpointError &&
        /restored by name, never by position\): saved "second\/kernel(_\d+)?", "second\/bias(_\d+)?" where this model has "third\/kernel(_\d+)?", "third\/bias(_\d+)?"/.test(
          e.message,
        ),
    );
    assert.deepEqual(
      other.getWeights().map((w) => Array.from(w.dataSync())),
      before,
    );
  });

  it("canonical names remove exactly tfjs's numbering", () => {
    assert.deepEqual(
      canonicalNames([
        'dense_Dense3/kernel',
        'dense_Dense3/bias',
        'dense_Dense4/kernel',
        'conv2d_Conv2D12/kernel_1',
        'mine/w_1',
        'mine/w_2',
      ]),
      [
        'dense_Dense#1/kernel',
        'dense_Dense#1/bias',
        'dense_Dense#2/kernel',
        'conv2d_Conv2D#1/kernel',
        'mine/w_1',
        'mine/w_2',
      ],
    );
    // the same model built later in a process: same canonical names, matched in order of the names, not positions
    assert.deepEqual(
      matchByName(['dense_Dense1/kernel', 'dense_Dense2/kernel'], ['dense_Dense7/kernel', 'dense_Dense8/kernel']),
      [0, 1],
    );
    assert.deepEqual(matchByName(['a/kernel', 'b/kernel'], ['b/kernel_1', 'a/kernel_1']), [1, 0]);
    assert.throws(() => matchByName(['a/kernel'], ['b/kernel']), /saved "a\/kernel" where this model has "b\/kernel"/);
  });
});
