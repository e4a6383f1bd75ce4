import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { adopt, cosineDecay, OptimizerArgumentError } from '../src/index.js';
import {
  CheckpointError,
  createOptimizer,
  fileSystem,
  OPTIMIZER_NAMES,
  readCheckpoint,
  registerFileSystemRouter,
  Trainer,
  type TrainerConfig,
} from '../src/train/index.js';
import { BACKENDS, useBackend } from './backends.js';
import { Rng } from './reference.js';

const scratch = mkdtempSync(join(tmpdir(), 'adopt-trainer-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = () => join(scratch, `run-${dirCount++}`);

type XY = { xs: tf.Tensor; ys: tf.Tensor };

/** Deterministic data: epoch e yields the same batches whenever it is asked for. */
function dataset(batchSize: number, batches: number, inputs = 6, outputs = 3) {
  return (epoch: number): XY[] => {
    const rng = new Rng(1000 + epoch);
    return Array.from({ length: batches }, () => ({
      xs: tf.tensor(rng.normals(batchSize * inputs), [batchSize, inputs]),
      ys: tf.tensor(rng.normals(batchSize * outputs), [batchSize, outputs]),
    }));
  };
}

function mlp(seed: number, inputs = 6): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [inputs],
        units: 8,
        activation: 'tanh',
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
      }),
      tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
}

function trainerFor(model: tf.Sequential, overrides: Partial<TrainerConfig<XY>>): Trainer<XY> {
  // overrides may name another optimizer: the config is checked as a whole (its options, at run time too)
  return new Trainer<XY>({
    model,
    loss: (b) => tf.losses.meanSquaredError(b.ys, model.apply(b.xs) as tf.Tensor) as tf.Scalar,
    data: dataset(8, 5),
    optimizer: 'adopt',
    learningRate: cosineDecay({ peak: 0.02, warmupSteps: 3, totalSteps: 30, final: 0.002 }),
    steps: 24,
    progress: false,
    ...overrides,
  } as TrainerConfig<XY>);
}

const weightsOf = (model: tf.LayersModel) => model.getWeights().map((w) => Array.from(w.dataSync()));

function largestDifference(a: number[][], b: number[][]): number {
  let worst = 0;
  a.forEach((w, i) =>
    w.forEach((x, j) => {
      worst = Math.max(worst, Math.abs(x - b[i]![j]!));
    }),
  );
  return worst;
}

describe('createOptimizer', () => {
  before(() => useBackend('cpu'));
  it('makes every named optimizer, and lists the valid names for an unknown one', () => {
    for (const name of OPTIMIZER_NAMES) {
      const opt = createOptimizer(name, { learningRate: 0.01 });
      assert.equal(typeof opt.applyGradients, 'function', name);
      opt.dispose();
    }
    // the options are typed per name, so these are compile errors too (see test/types.test-d.ts)
    assert.throws(
      // @ts-expect-error not an optimizer name
      () => createOptimizer('adabelief'),
      /unknown optimizer "adabelief"; expected one of adopt, adam, adamw, amsgrad, sgd, momentum, rmsprop/,
    );
    // @ts-expect-error not an option of sgd
    assert.throws(() => createOptimizer('sgd', { momentum: 0.9 }), /sgd: unknown option "momentum"/);
    // @ts-expect-error not an option of ADOPT
    assert.throws(() => createOptimizer('adopt', { betas: [0.9, 0.99] }), /ADOPT: unknown option "betas"/);
  });
});

for (const backend of BACKENDS) {
  describe(`Trainer on ${backend}`, () => {
    before(() => useBackend(backend));

    for (const [optimizer, stateDtype] of [
      ['adopt', 'float32'],
      ['adamw', 'float32'],
      ['adopt', 'int8'],
      ['adamw', 'int8'],
      ['adopt', 'int4'],
      ['adamw', 'int4'],
      ['adopt', 'bfloat16'],
      ['adamw', 'bfloat16'],
    ] as const) {
      const bits = {
        float32: '',
        int8: ' with 8-bit state',
        int4: ' with 4-bit state',
        bfloat16: ' with bfloat16 state',
      };
      const title = `${optimizer}${bits[stateDtype]}: a run stopped, checkpointed and resumed equals`;
      it(`${title} the uninterrupted run exactly`, async (t) => {
        const common: Partial<TrainerConfig<XY>> = {
          optimizer,
          optimizerOptions: { weightDecay: 0.05, decoupled: true, stateDtype },
          paramGroups: [{ pattern: /bias/, weightDecay: 0 }],
          accumulationSteps: 2, // 5 batches an epoch: steps straddle epoch boundaries
          clipGradNorm: 0.5,
          seed: 7,
        };
        const straightModel = mlp(1);
        const straight = trainerFor(straightModel, common);
        const full = await straight.fit();

        const dir = freshDir();
        const firstModel = mlp(1);
        const first = trainerFor(firstModel, { ...common, steps: 11, checkpoint: { dir } });
        await first.fit();
        first.optimizers.forEach((o) => o.dispose());

        // a new model instance: tfjs-layers gives its variables new names (dense_Dense3/kernel ...)
        const resumedModel = mlp(99); // different initial weights: all must come from the checkpoint
        const resumed = trainerFor(resumedModel, { ...common, checkpoint: { dir } });
        await resumed.restore();
        assert.equal(resumed.step, 11);
        const rest = await resumed.fit();

        assert.deepEqual(
          rest.losses.map((l) => l.loss),
          full.losses.map((l) => l.loss),
        );
        const difference = largestDifference(weightsOf(resumedModel), weightsOf(straightModel));
        t.diagnostic(`largest |resumed - uninterrupted| parameter difference: ${difference}`);
        assert.equal(difference, 0);
        for (const tr of [straight, resumed]) tr.optimizers.forEach((o) => o.dispose());
        [straightModel, firstModel, resumedModel].forEach((m) => m.dispose());
      });
    }
  });
}

describe('Trainer: a config it does not understand is refused, with what was meant', () => {
  before(() => useBackend('cpu'));
  const base = () => ({
    model: [tf.variable(tf.zeros([2]))],
    loss: () => tf.scalar(0),
    data: () => [],
    optimizer: 'adopt',
    learningRate: 1e-3,
    steps: 1,
  });
  const refused = (extra: Record<string, unknown>, message: string, drop?: string) => {
    const config: Record<string, unknown> = { ...base(), ...extra };
    if (drop !== undefined) delete config[drop];
    assert.throws(
      () => new Trainer(config as never),
      (e: unknown) => e instanceof OptimizerArgumentError && e.message === message,
    );
    tf.dispose(config['model'] as tf.Variable[]);
  };
  const FIELDS =
    'model, loss, data, optimizer, optimizerOptions, learningRate, steps, epochs, clipGradNorm, accumulationSteps, ' +
    'paramGroups, evaluate, checkpoint, logFile, progress, seed, batchSize, callbacks';

  it('an unknown field (silently ignored before), with its likely meaning', () => {
    refused(
      { clipnorm: 1 },
      'Trainer: unknown field "clipnorm"; did you mean "clipGradNorm" (PyTorch\'s clip_grad_norm_ over all groups), ' +
        `or optimizerOptions: {clipnorm: ...} (Keras's, per group)? expected the fields of ${FIELDS}.`,
    );
    refused(
      { onWarning: () => {} },
      `Trainer: unknown field "onWarning"; did you mean callbacks: {onWarning}? expected the fields of ${FIELDS}.`,
    );
    refused(
      { learning_rate: 0.1 },
      `Trainer: unknown field "learning_rate"; did you mean "learningRate"? expected the fields of ${FIELDS}.`,
    );
    refused({ shuffle: true }, `Trainer: unknown field "shuffle"; expected the fields of ${FIELDS}.`);
    refused(
      { checkpoint: { dir: 'x', evry: 2 } },
      'Trainer: unknown field of checkpoint "evry"; did you mean "every"? expected one of dir, every, keep, fs.',
    );
    refused(
      { callbacks: { onstep: () => {} } },
      'Trainer: unknown field of callbacks "onstep"; did you mean "onStep"? expected one of onStep, onEvaluate, ' +
        'onCheckpoint, onWarning.',
    );
    refused(
      { paramGroups: [{ pattern: /b/, weight_decay: 0 }] },
      'Trainer: unknown field of paramGroups "weight_decay"; did you mean "weightDecay"? expected one of pattern, ' +
        'weightDecay, learningRateMultiplier.',
    );
  });

  it('a missing required field is named (learningRate failed with "learningRate is not a function")', () => {
    refused(
      {},
      'Trainer: missing learningRate; expected a number, or a schedule of the optimizer step (constant, ' +
        'linearWarmup, cosineDecay, stepDecay).',
      'learningRate',
    );
    refused({}, 'Trainer: missing loss; expected a function (batch, context) => tf.Scalar.', 'loss');
    assert.throws(
      () => new Trainer(null as never),
      /Trainer: invalid config null; expected an object with model, loss, data, optimizer, learningRate\./,
    );
  });

  it('optimizer options are checked when the Trainer is built, with a "did you mean"', () => {
    refused(
      { optimizerOptions: { weight_decay: 0.1 } },
      'ADOPT: unknown option "weight_decay"; did you mean "weightDecay"? expected one of learningRate, beta1, beta2, ' +
        'epsilon, weightDecay, decoupled, clip, maximize, nonFinite, fused, nesterov, caution, correctedWeightDecay, ' +
        'stateDtype, epsilonMode, clipnorm, clipvalue, globalClipnorm.',
    );
  });
});

describe('Trainer: gradient accumulation, groups, logging', () => {
  before(() => useBackend('cpu'));

  it('accumulating k micro-batches equals one k-times-larger batch', async (t) => {
    const big = dataset(32, 3);
    // the same 32 examples, cut into 4 micro-batches of 8
    const small = (epoch: number) =>
      big(epoch).flatMap(({ xs, ys }) => {
        const parts = [0, 1, 2, 3].map((i) => ({
          xs: xs.slice([8 * i, 0], [8, -1]),
          ys: ys.slice([8 * i, 0], [8, -1]),
        }));
        tf.dispose([xs, ys]);
        return parts;
      });
    const a = mlp(3);
    const b = mlp(3);
    const ta = trainerFor(a, { data: big, steps: 6, learningRate: 0.01 });
    const tb = trainerFor(b, { data: small, steps: 6, learningRate: 0.01, accumulationSteps: 4 });
    const ra = await ta.fit();
    const rb = await tb.fit();
    const difference = largestDifference(weightsOf(a), weightsOf(b));
    const lossDifference = Math.max(...ra.losses.map((l, i) => Math.abs(l.loss - rb.losses[i]!.loss)));
    t.diagnostic(
      `largest parameter difference ${difference.toExponential(2)}, loss difference ${lossDifference.toExponential(2)}`,
    );
    assert.ok(difference < 1e-5, `parameters differ by ${difference}`);
    assert.ok(lossDifference < 1e-5, `losses differ by ${lossDifference}`);
    assert.equal(rb.step, 6);
    [ta, tb].forEach((tr) => tr.optimizers.forEach((o) => o.dispose()));
    [a, b].forEach((m) => m.dispose());
  });

  it('parameter groups: biases in a no-decay group are untouched by weight decay; a 0 multiplier freezes', async () => {
    const w = tf.variable(tf.tensor([1, -2, 3]), true, 'groups_w');
    const bias = tf.variable(tf.tensor([0.5, -0.5]), true, 'groups_bias');
    const frozen = tf.variable(tf.tensor([4]), true, 'groups_frozen');
    const x = tf.tensor([0.1, 0.2, 0.3]);
    // the loss does not depend on the bias (zero gradient), so only weight decay could move it
    const trainer = new Trainer<{ n: tf.Tensor }>({
      model: [w, bias, frozen],
      loss: () => tf.addN([tf.sum(tf.mul(w, x)), tf.mul(tf.sum(bias), 0), tf.sum(frozen)]) as tf.Scalar,
      data: () => Array.from({ length: 10 }, () => ({ n: tf.zeros([1]) })),
      optimizer: 'adamw',
      optimizerOptions: { weightDecay: 0.5 },
      paramGroups: [
        { pattern: 'bias', weightDecay: 0 },
        { pattern: /frozen/, learningRateMultiplier: 0 },
      ],
      learningRate: 0.1,
      steps: 10,
      progress: false,
    });
    assert.deepEqual(trainer.groupMembers, [['groups_bias'], ['groups_frozen'], ['groups_w']]);
    await trainer.fit();
    assert.deepEqual(Array.from(bias.dataSync()), [0.5, -0.5]);
    assert.deepEqual(Array.from(frozen.dataSync()), [4]);
    // w: AdamW moves each coordinate by lr per step (constant gradient) plus decay toward 0
    const w0 = w.dataSync()[0]!;
    let expected = 1;
    for (let s = 0; s < 10; s++) expected = expected * (1 - 0.1 * 0.5) - 0.1;
    assert.ok(Math.abs(w0 - expected) < 1e-4, `w[0] ${w0} vs ${expected}`);
    trainer.optimizers.forEach((o) => o.dispose());
    tf.dispose([w, bias, frozen, x]);
  });

  it('writes a JSON-lines log, calls callbacks, evaluates every N steps, reads a tf.data.Dataset', async () => {
    const model = mlp(5);
    const logFile = join(freshDir(), 'log.jsonl');
    const steps: number[] = [];
    const evaluations: number[] = [];
    const data = tf.data.array(dataset(8, 4)(0));
    const trainer = trainerFor(model, {
      data,
      steps: 6,
      epochs: 3,
      logFile,
      evaluate: { every: 2, run: (step) => ({ val: step / 10 }) },
      callbacks: {
        onStep: (i) => {
          steps.push(i.step);
        },
        onEvaluate: (s) => {
          evaluations.push(s);
        },
      },
    });
    const before = tf.memory().numTensors;
    const result = await trainer.fit();
    assert.equal(result.step, 6);
    assert.deepEqual(steps, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(evaluations, [2, 4, 6]);
    const lines = readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const stepLines = lines.filter((l) => l.type === 'step');
    assert.equal(stepLines.length, 6);
    for (const l of stepLines) {
      assert.ok(
        Number.isFinite(l.loss) && l.learningRate > 0 && l.examplesPerSecond > 0 && Number.isFinite(l.gradNorm),
      );
    }
    assert.deepEqual(
      lines.filter((l) => l.type === 'evaluate').map((l) => l.val),
      [0.2, 0.4, 0.6],
    );
    // the data set's own tensors stay; the trainer adds only optimizer state (m and v per variable, counters)
    const state = trainer.optimizers.reduce(
      (n, o) => n + (o as unknown as { stateNames: string[] }).stateNames.length * 2,
      0,
    );
    assert.equal(tf.memory().numTensors, before + state);
    trainer.optimizers.forEach((o) => o.dispose());
    model.dispose();
  });

  it('stop() and a callback returning "stop" end the run after the current step', async () => {
    const model = mlp(6);
    const trainer = trainerFor(model, { callbacks: { onStep: (i) => (i.step === 2 ? 'stop' : undefined) } });
    const result = await trainer.fit();
    assert.equal(result.step, 3);
    assert.equal(result.stopped, true);
    // the stop is consumed by the run it ended: a later fit() trains on (it ran nothing, the flag never reset)
    const again = await trainer.fit();
    assert.ok(again.step > 3, `a second fit() after a stop ran no step (step ${again.step})`);
    trainer.optimizers.forEach((o) => o.dispose());
    model.dispose();
  });

  it('rejects bad configuration with the argument named', () => {
    const model = mlp(7);
    assert.throws(() => trainerFor(model, { optimizer: 'lion' as never }), /Trainer: unknown optimizer "lion"/);
    assert.throws(() => trainerFor(model, { accumulationSteps: 0 }), /invalid accumulationSteps 0/);
    assert.throws(() => trainerFor(model, { clipGradNorm: -1 }), /invalid clipGradNorm -1/);
    assert.throws(() => trainerFor(model, { steps: undefined, epochs: undefined }), OptimizerArgumentError);
    model.dispose();
  });
});

describe('Trainer checkpoints: refused, never half-loaded', () => {
  before(() => useBackend('cpu'));
  let dir: string;
  let savedWeights: number[][];

  before(async () => {
    dir = freshDir();
    const model = mlp(11);
    const trainer = trainerFor(model, { steps: 4, checkpoint: { dir, every: 2 } });
    await trainer.fit();
    savedWeights = weightsOf(model);
    trainer.optimizers.forEach((o) => o.dispose());
    model.dispose();
  });

  async function refuse(overrides: Partial<TrainerConfig<XY>>, pattern: RegExp, from = dir, inputs = 6) {
    const model = inputs === 6 ? mlp(12) : mlp(12, inputs);
    const before = weightsOf(model);
    const trainer = trainerFor(model, overrides);
    await assert.rejects(trainer.restore(from), (e: unknown) => {
      assert.ok(e instanceof CheckpointError, String(e));
      assert.match(e.message, pattern);
      return true;
    });
    assert.deepEqual(weightsOf(model), before, 'the model changed although the checkpoint was refused');
    assert.equal(trainer.step, 0);
    trainer.optimizers.forEach((o) => o.dispose());
    model.dispose();
  }

  it('keeps the newest checkpoints and restores the latest', async () => {
    assert.deepEqual(
      readdirSync(dir)
        .filter((f) => f.startsWith('step-'))
        .sort(),
      ['step-00000002', 'step-00000004'],
    );
    const model = mlp(12);
    const trainer = trainerFor(model, {});
    await trainer.restore(dir);
    assert.equal(trainer.step, 4);
    assert.deepEqual(weightsOf(model), savedWeights);
    trainer.optimizers.forEach((o) => o.dispose());
    model.dispose();
  });

  it('a different optimizer', () =>
    refuse({ optimizer: 'adamw' }, /written with optimizer "adopt"; this trainer uses "adamw"/));
  it('different parameter groups', () =>
    refuse(
      { paramGroups: [{ pattern: /bias/, weightDecay: 0 }] },
      /has parameter groups \[null\]; this trainer has \["\/bias\/",null\]/,
    ));
  it('a different model shape', () =>
    refuse(
      {},
      /model variable "dense_Dense\d+\/kernel" .* has shape \[6,8\] float32; this model's ".*" has \[5,8\]/,
      dir,
      5,
    ));

  it('a corrupt tensors file, a truncated one, a broken manifest, a missing folder', async () => {
    const copy = (name: string) => {
      const target = join(scratch, name);
      mkdirSync(target, { recursive: true });
      for (const f of readdirSync(join(dir, 'step-00000004')))
        writeFileSync(join(target, f), readFileSync(join(dir, 'step-00000004', f)));
      return target;
    };
    const flipped = copy('flipped');
    const bytes = readFileSync(join(flipped, 'tensors.bin'));
    bytes[10] = bytes[10]! ^ 0xff;
    writeFileSync(join(flipped, 'tensors.bin'), bytes);
    await refuse({}, /tensors.bin is corrupt: .* checksum differs/, flipped);
    const truncated = copy('truncated');
    writeFileSync(join(truncated, 'tensors.bin'), readFileSync(join(truncated, 'tensors.bin')).subarray(0, 100));
    await refuse({}, /is corrupt: 100 bytes/, truncated);
    const broken = copy('broken');
    writeFileSync(join(broken, 'checkpoint.json'), '{"format": "adopt-optim-check');
    await refuse({}, /is not valid JSON; the checkpoint is corrupt/, broken);
    const foreign = copy('foreign');
    writeFileSync(join(foreign, 'checkpoint.json'), JSON.stringify({ format: 'keras' }));
    await refuse({}, /is not an adopt-optim checkpoint/, foreign);
    await refuse({}, /no checkpoint folder at/, join(scratch, 'nowhere'));
  });

  it('a crash mid-write leaves the previous latest checkpoint usable', async () => {
    // what a writer killed half-way leaves behind: a temporary folder and a temporary latest.json
    mkdirSync(join(dir, '.step-00000006.tmp-1-dead'));
    writeFileSync(join(dir, '.step-00000006.tmp-1-dead', 'tensors.bin'), 'partial');
    writeFileSync(join(dir, 'latest.json.tmp-1-dead'), '{"step": 6, "fol');
    const loaded = await readCheckpoint(dir);
    assert.equal(loaded.manifest.step, 4);
  });
});

describe('tf.LayersModel with model.compile({optimizer: adopt()}) and file storage', () => {
  before(() => useBackend('wasm'));

  async function fitSteps(model: tf.LayersModel, steps: number) {
    const rng = new Rng(3);
    const xs = tf.tensor(rng.normals(16 * 6), [16, 6]);
    const ys = tf.tensor(rng.normals(16 * 3), [16, 3]);
    await model.fit(xs, ys, { epochs: steps, batchSize: 16, shuffle: false, verbose: 0 });
    tf.dispose([xs, ys]);
  }

  it('saves with includeOptimizer to a folder, reloads and continues exactly', async (t) => {
    const compiled = (seed: number) => {
      const m = mlp(seed);
      m.compile({ optimizer: adopt(0.01), loss: 'meanSquaredError' });
      return m;
    };
    const straight = compiled(21);
    await fitSteps(straight, 12);
    const first = compiled(21);
    await fitSteps(first, 5);
    const dir = freshDir();
    await first.save(fileSystem(dir), { includeOptimizer: true });
    const modelJson = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    assert.equal(modelJson.format, 'layers-model');
    assert.deepEqual(modelJson.weightsManifest[0].paths, ['./weights.bin']);
    assert.equal(modelJson.trainingConfig.optimizer_config.class_name, 'adopt-optim/ADOPT');
    assert.ok(modelJson.weightsManifest[0].weights.some((w: { group?: string }) => w.group === 'optimizer'));

    registerFileSystemRouter();
    const reloaded = await tf.loadLayersModel(`file://${dir}`);
    assert.equal(reloaded.optimizer.iterations, 5);
    await fitSteps(reloaded, 7);
    const difference = largestDifference(weightsOf(reloaded), weightsOf(straight));
    t.diagnostic(`largest |reloaded - uninterrupted| parameter difference: ${difference}`);
    assert.equal(difference, 0);

    writeFileSync(join(dir, 'weights.bin'), readFileSync(join(dir, 'weights.bin')).subarray(0, 40));
    await assert.rejects(
      tf.loadLayersModel(fileSystem(dir)),
      /hold 40 bytes; model.json lists \d+\. The files are truncated/,
    );
    for (const m of [straight, first, reloaded]) {
      m.optimizer.dispose();
      m.dispose();
    }
  });
});
