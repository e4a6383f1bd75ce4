/**
 * The Trainer's refusals of bad input: a config field of the wrong kind or out of range is refused when the
 * Trainer is built, naming the field, the value and what was expected; a step whose gradient is bad in any
 * parameter group is refused before any group steps. Nothing changes on a refusal: parameters, optimizer
 * state, checkpoints and the log.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { NonFiniteGradientError, OptimizerArgumentError } from '../src/index.js';
import { Trainer, type TrainerConfig } from '../src/train/index.js';
import { useBackend } from './backends.js';

const scratch = mkdtempSync(join(tmpdir(), 'adopt-trainer-refusals-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let count = 0;
const fresh = () => join(scratch, `run-${count++}`);

type Coef = { c: tf.Tensor[] };

/** Variables g0_<n>, g1_<n>, rest_<n> (unique names: tfjs registers them globally), each of 3 elements. */
function variables(): tf.Variable[] {
  const n = count++;
  return ['g0', 'g1', 'rest'].map((p, i) => tf.variable(tf.tensor([0.5 + i, -1 - i, 2 * i]), true, `${p}_${n}/w`));
}

/** loss = Σ_i Σ v_i · c_i: the gradient of v_i is c_i, exactly. */
const linearLoss = (vars: tf.Variable[]) => (b: Coef) =>
  tf.tidy(() => tf.addN(vars.map((v, i) => tf.sum(tf.mul(v, b.c[i]!)))) as tf.Scalar);

function config(vars: tf.Variable[], coefs: number[][], extra: Record<string, unknown> = {}): TrainerConfig<Coef> {
  const dir = fresh();
  return {
    model: vars,
    loss: linearLoss(vars),
    optimizer: 'adopt',
    learningRate: 0.01,
    steps: 1,
    progress: false,
    data: () => [{ c: coefs.map((c) => tf.tensor(c)) }],
    paramGroups: [
      { pattern: '^g0_', learningRateMultiplier: 2 },
      { pattern: '^g1_', weightDecay: 0.1 },
    ],
    logFile: join(dir, 'log.jsonl'),
    checkpoint: { dir: join(dir, 'ck') },
    ...extra,
  } as TrainerConfig<Coef>;
}

const valuesOf = async (t: Trainer<Coef>, vars: tf.Variable[]) => ({
  params: vars.map((v) => Array.from(v.dataSync())),
  state: await Promise.all(
    t.optimizers.map(async (o) => {
      const weights = await o.getWeights();
      const out = weights.map((w) => [w.name, Array.from(w.tensor.dataSync())]);
      // tfjs's own optimizers hand out a fresh `iter` scalar per call; ours own theirs
      if (!o.getClassName().startsWith('adopt-optim/')) {
        tf.dispose(weights.filter((w) => w.name === 'iter').map((w) => w.tensor));
      }
      return out;
    }),
  ),
});

const release = (t: Trainer<Coef> | undefined, vars: tf.Variable[]) => {
  t?.optimizers.forEach((o) => o.dispose());
  tf.dispose(vars);
};

describe('Trainer: a step with a bad gradient in a later group is refused before any group steps', () => {
  before(() => useBackend('cpu'));
  const bad = [
    [0.1, 0.2, 0.3],
    [0.1, Number.NaN, 0.3],
    [0.4, 0.5, 0.6],
  ];

  for (const optimizer of ['adopt', 'adamw', 'sgd'] as const) {
    it(`${optimizer}: NaN in paramGroups[1] is refused; group 0 (stepped before) unchanged`, async () => {
      const vars = variables();
      const tensorsBefore = tf.memory().numTensors;
      // sgd has no weightDecay
      const groups = [
        { pattern: '^g0_', learningRateMultiplier: 2 },
        { pattern: '^g1_', learningRateMultiplier: 0.5 },
      ];
      const c = config(vars, bad, { optimizer, paramGroups: groups });
      const trainer = new Trainer(c);
      const first = await valuesOf(trainer, vars); // fresh optimizers: no state
      await assert.rejects(
        trainer.fit(),
        (e: unknown) =>
          e instanceof NonFiniteGradientError &&
          e.variableName === vars[1]!.name &&
          e.step === 0 &&
          /\(paramGroups\[1\]\).*no parameter group was stepped/.test(e.message),
      );
      assert.deepEqual(await valuesOf(trainer, vars), first, 'parameters or optimizer state changed');
      assert.equal(trainer.step, 0);
      const log = existsSync(c.logFile!) ? readFileSync(c.logFile!, 'utf8') : '';
      assert.ok(!log.includes('"type":"step"'), 'a step was logged');
      const folders = existsSync(c.checkpoint!.dir) ? readdirSync(c.checkpoint!.dir) : [];
      assert.ok(
        folders.every((f) => !f.startsWith('step-')),
        'a checkpoint was written',
      );
      release(trainer, vars);
      assert.equal(tf.memory().numTensors, tensorsBefore - 3, 'tensors leaked');
    });
  }

  it('Infinity in the variables matching no group, and a value beyond ±2^63, are refused the same way', async () => {
    for (const [i, x] of [
      [2, Infinity],
      [1, -(2 ** 63)],
    ] as const) {
      const vars = variables();
      const coefs = bad.map((c) => c.map((y) => (Number.isNaN(y) ? 0.2 : y)));
      coefs[i]![0] = x;
      const trainer = new Trainer(config(vars, coefs));
      const first = await valuesOf(trainer, vars);
      await assert.rejects(
        trainer.fit(),
        (e: unknown) => e instanceof NonFiniteGradientError && e.variableName === vars[i]!.name,
      );
      assert.deepEqual(await valuesOf(trainer, vars), first);
      release(trainer, vars);
    }
  });

  it("with nonFinite 'skip' the whole step is skipped: no group steps, the step is counted", async () => {
    const vars = variables();
    const trainer = new Trainer(config(vars, bad, { optimizerOptions: { nonFinite: 'skip' } }));
    const first = await valuesOf(trainer, vars);
    const result = await trainer.fit();
    assert.equal(result.step, 1);
    assert.deepEqual(await valuesOf(trainer, vars), first, "a group stepped (ADOPT's first step writes v only)");
    release(trainer, vars);
  });

  it('a learning rate times a multiplier beyond 1e6 at a later step is refused before any group steps', async () => {
    const vars = variables();
    const good = bad.map((c) => c.map((y) => (Number.isNaN(y) ? 0.2 : y)));
    let firstStep: number[][] = [];
    const trainer = new Trainer(
      config(vars, good, {
        learningRate: (step: number) => (step === 0 ? 0.01 : 6e5),
        steps: 2,
        data: () => [0, 1].map(() => ({ c: good.map((c) => tf.tensor(c)) })),
        callbacks: {
          onStep: () => {
            firstStep = vars.map((v) => Array.from(v.dataSync()));
          },
        },
      }),
    );
    await assert.rejects(
      trainer.fit(),
      (e: unknown) =>
        e instanceof OptimizerArgumentError &&
        e.message.startsWith('Trainer: paramGroups[0] has learning rate 1200000 at step 1'),
    );
    assert.equal(trainer.step, 1);
    // group 0 (multiplier 2) would get 1.2e6: refused; group 1 and the rest (6e5) were not stepped either
    assert.deepEqual(
      vars.map((v) => Array.from(v.dataSync())),
      firstStep,
    );
    release(trainer, vars);
  });
});

describe('Trainer: a config field of the wrong kind is refused when built, naming field, value and expectation', () => {
  before(() => useBackend('cpu'));
  const refused = (extra: Record<string, unknown>, message: string | RegExp) => {
    const vars = variables();
    const c = config(
      vars,
      [
        [1, 1, 1],
        [1, 1, 1],
        [1, 1, 1],
      ],
      extra,
    ) as unknown as Record<string, unknown>;
    const logFile = c['logFile'] as string;
    try {
      assert.throws(
        () => new Trainer(c as never),
        (e: unknown) =>
          e instanceof OptimizerArgumentError &&
          (typeof message === 'string' ? e.message === message : message.test(e.message)),
        `${JSON.stringify(Object.keys(extra))}: ${message}`,
      );
      assert.ok(!existsSync(logFile), 'a log was written');
    } finally {
      tf.dispose(vars);
    }
  };
  const MULT = 'expected a finite number in [0, 1000000] (0 freezes the group).';

  it('paramGroups[].learningRateMultiplier: NaN, -1, "x", Infinity, 1e12 (a step failed after group 0 stepped)', () => {
    const bad = [
      [NaN, 'NaN'],
      [-1, '-1'],
      ['x', '"x"'],
      [Infinity, 'Infinity'],
      [1e12, '1000000000000'],
    ] as const;
    for (const [m, shown] of bad) {
      refused(
        { paramGroups: [{ pattern: 'g0' }, { pattern: 'g1', learningRateMultiplier: m }] },
        `Trainer: invalid paramGroups[1].learningRateMultiplier ${shown}; ${MULT}`,
      );
    }
    refused(
      { learningRate: 10, paramGroups: [{ pattern: 'g0', learningRateMultiplier: 2e5 }] },
      "Trainer: paramGroups[0] has learning rate 2000000 at step 0 (the schedule's rate times its " +
        'learningRateMultiplier); expected a finite number in [0, 1000000].',
    );
  });

  it('optimizerOptions that is not a plain object (a Map trained with the default decay)', () => {
    const expected = 'expected a plain object of options, e.g. {weightDecay: 0.1}.';
    const map = new Map([['weightDecay', 0.5]]);
    refused({ optimizerOptions: map }, `Trainer: invalid optimizerOptions a Map; ${expected}`);
    refused({ optimizerOptions: 5 }, `Trainer: invalid optimizerOptions 5; ${expected}`);
    refused({ optimizerOptions: true }, `Trainer: invalid optimizerOptions true; ${expected}`);
    const f = () => ({ weightDecay: 0.5 });
    refused({ optimizerOptions: f }, `Trainer: invalid optimizerOptions a function; ${expected}`);
    refused({ optimizerOptions: [0.5] }, `Trainer: invalid optimizerOptions [0.5]; ${expected}`);
    refused({ optimizerOptions: null }, `Trainer: invalid optimizerOptions null; ${expected}`);
  });

  it('paramGroups not an array ("specs.map is not a function"), and its items', () => {
    const item = 'an object {pattern, weightDecay?, learningRateMultiplier?}';
    refused(
      { paramGroups: { pattern: 'g0' } },
      `Trainer: invalid paramGroups {"pattern":"g0"}; expected an array of ${item}.`,
    );
    refused({ paramGroups: null }, `Trainer: invalid paramGroups null; expected an array of ${item}.`);
    refused({ paramGroups: [{ pattern: 'g0' }, null] }, `Trainer: invalid paramGroups[1] null; expected ${item}.`);
    refused(
      { paramGroups: [{ pattern: 3 }] },
      /^Trainer: invalid paramGroups\[0\]\.pattern 3; expected a RegExp or a string/,
    );
    refused(
      { paramGroups: [{ pattern: '(' }] },
      /^Trainer: invalid paramGroups\[0\]\.pattern "\("; expected a RegExp or a valid regular expression/,
    );
    refused(
      { paramGroups: [{ pattern: 'g0', weightDecay: -0.1 }] },
      'Trainer: invalid paramGroups[0].weightDecay -0.1; expected a finite number >= 0.',
    );
  });

  it('every other field: null, a string for a number, a number for a function, an object for a boolean', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ model: null }, 'Trainer: invalid model null; expected a tf.LayersModel or an array of tf.Variable.'],
      [{ model: [1] }, 'Trainer: invalid model[0] 1; expected a tf.Variable (model is an array of tf.Variable).'],
      [
        { model: {} },
        'Trainer: invalid model {}; expected a tf.LayersModel or an array of tf.Variable ' +
          '(its trainableWeights is undefined, not a list of layer weights).',
      ],
      [{ loss: 'mse' }, 'Trainer: invalid loss "mse"; expected a function (batch, context) => tf.Scalar.'],
      [
        { data: [1, 2] },
        'Trainer: invalid data [1, 2]; expected a tf.data.Dataset or a function of the epoch returning batches.',
      ],
      [
        { learningRate: '0.1' },
        'Trainer: invalid learningRate "0.1"; expected a number, or a schedule of the optimizer step (a function).',
      ],
      [
        { learningRate: NaN },
        'Trainer: invalid learningRate NaN; expected a finite number in [0, 1000000], or a schedule of the optimizer ' +
          'step.',
      ],
      [{ steps: '10' }, 'Trainer: invalid steps "10"; expected an integer >= 0.'],
      [{ steps: 1.5 }, 'Trainer: invalid steps 1.5; expected an integer >= 0.'],
      [{ epochs: -1 }, 'Trainer: invalid epochs -1; expected an integer >= 0.'],
      [{ clipGradNorm: '1' }, 'Trainer: invalid clipGradNorm "1"; expected a finite number > 0.'],
      [{ clipGradNorm: Infinity }, 'Trainer: invalid clipGradNorm Infinity; expected a finite number > 0.'],
      [{ accumulationSteps: null }, 'Trainer: invalid accumulationSteps null; expected an integer >= 1.'],
      [{ evaluate: null }, 'Trainer: invalid evaluate null; expected an object {every, run}.'],
      [{ evaluate: { every: 2, run: 1 } }, 'Trainer: invalid evaluate.run 1; expected a function (step) => metrics.'],
      [{ checkpoint: 'out' }, 'Trainer: invalid checkpoint "out"; expected an object {dir, every?, keep?, fs?}.'],
      [
        { checkpoint: { dir: 'x', fs: 1 } },
        'Trainer: invalid checkpoint.fs 1; expected an object of file operations (CheckpointFs).',
      ],
      [{ logFile: 1 }, 'Trainer: invalid logFile 1; expected a path.'],
      [{ progress: 'yes' }, 'Trainer: invalid progress "yes"; expected true or false.'],
      [{ seed: 0.5 }, 'Trainer: invalid seed 0.5; expected an integer.'],
      [{ batchSize: 8 }, 'Trainer: invalid batchSize 8; expected a function (batch) => size.'],
      [{ callbacks: { onStep: 'stop' } }, 'Trainer: invalid callbacks.onStep "stop"; expected a function.'],
      [
        { callbacks: null },
        'Trainer: invalid callbacks null; expected an object {onStep?, onEvaluate?, onCheckpoint?, onWarning?}.',
      ],
    ];
    for (const [extra, message] of cases) refused(extra, message);
  });
});
