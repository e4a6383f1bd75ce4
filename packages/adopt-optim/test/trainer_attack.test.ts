/**
 * Regressions from an outside attack on the packed package (repros 04, 06, 07, 08, 12): a paramGroups pattern
 * with the g flag, a global norm whose Σ g² overflows (or underflows) float32, a log left by a run that crashed
 * before its first checkpoint, a model list that is empty or names a variable twice, and option keys that are
 * Object.prototype's properties.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as lib from '../src/index.js';
import * as rules from '../src/rules/index.js';
import * as interop from '../src/interop/index.js';
import * as core from '../src/core/index.js';
import { OptimizerArgumentError } from '../src/index.js';
import { createOptimizer, Trainer, type StepInfo, type TrainerConfig } from '../src/train/index.js';
import { globalNorm } from '../src/tfjs/clip_ops.js';
import { useBackend } from './backends.js';

const scratch = mkdtempSync(join(tmpdir(), 'adopt-trainer-attack-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let count = 0;

type Empty = Record<string, never>;
const batches = (n: number) => () => Array.from({ length: n }, () => ({}) as Empty);

describe('Trainer attack regressions', () => {
  before(() => useBackend('cpu'));

  it('a paramGroups pattern with the g (or y) flag matches every variable it names (repro 06)', async () => {
    for (const pattern of [/bias/g, /bias/gy, /BIAS/gi]) {
      const n = count++;
      const vs = ['l1/bias', 'l2/bias', 'l3/bias', 'l1/kernel'].map((p) =>
        tf.variable(tf.ones([2]), true, `g${n}_${p}`),
      );
      const t = new Trainer<Empty>({
        model: vs,
        optimizer: 'adopt',
        learningRate: 0.1,
        progress: false,
        steps: 2,
        data: batches(2),
        loss: () => vs.reduce((a: tf.Scalar, v) => a.add(v.sum()), tf.scalar(0)),
        paramGroups: [{ pattern, learningRateMultiplier: 0 }],
      });
      assert.deepEqual(
        t.groupMembers.map((g) => g.length),
        [3, 1],
        String(pattern),
      );
      await t.fit();
      const firsts = vs.map((v) => v.dataSync()[0]);
      assert.deepEqual(firsts.slice(0, 3), [1, 1, 1], `${pattern}: the frozen biases stay`);
      assert.notEqual(firsts[3], 1, `${pattern}: the kernel trains`);
      assert.equal(pattern.lastIndex, 0, 'the given RegExp is not used (its lastIndex untouched)');
      t.optimizers.forEach((o) => o.dispose());
      tf.dispose(vs);
    }
  });

  it('the global norm of 1e20 and 1e-30 gradients equals the float64 norm (no overflow or underflow; repro 07)', () => {
    for (const scale of [1e20, 1e-30, 3e38 / 8, 1]) {
      const parts = [[1, -2, 3], [0.5, 0], [-4]].map((xs) => Float32Array.from(xs, (x) => x * scale));
      const exact = Math.sqrt(parts.flatMap((p) => Array.from(p, (x) => x * x)).reduce((a, b) => a + b, 0));
      const ts = parts.map((p) => tf.tensor(p));
      const norm = globalNorm(ts);
      const got = norm.dataSync()[0]!;
      tf.dispose([...ts, norm]);
      assert.ok(Number.isFinite(got) && Math.abs(got - exact) <= 2e-6 * exact, `scale ${scale}: ${got} vs ${exact}`);
    }
    const zeros = [tf.zeros([3]), tf.zeros([2])];
    const zero = globalNorm(zeros);
    assert.equal(zero.dataSync()[0], 0);
    tf.dispose([...zeros, zero]);
  });

  it('clipGradNorm with a 1e20 gradient moves the parameters as a float64 reference (repro 07)', async () => {
    const w = tf.variable(tf.fill([3], 1), true, `clip_${count++}`);
    const norms: number[] = [];
    const t = new Trainer<Empty>({
      model: [w],
      optimizer: 'sgd',
      learningRate: 0.1,
      progress: false,
      steps: 3,
      clipGradNorm: 1,
      data: batches(3),
      loss: () => w.mul(tf.scalar(1e20)).sum(),
      callbacks: {
        onStep: (i: StepInfo) => {
          norms.push(i.gradNorm);
        },
      },
    });
    await t.fit();
    const g = Math.fround(1e20);
    const exactNorm = Math.sqrt(3) * g;
    for (const n of norms) assert.ok(Math.abs(n - exactNorm) <= 2e-6 * exactNorm, `gradNorm ${n} vs ${exactNorm}`);
    // float64: each clipped gradient g / (‖g‖ + 1e-6) = 1/√3; sgd: w = 1 - 3 · 0.1 / √3
    const expected = 1 - (3 * 0.1) / Math.sqrt(3);
    for (const x of w.dataSync()) assert.ok(Math.abs(x - expected) < 1e-5, `w ${x} vs ${expected}`);
    t.optimizers.forEach((o) => o.dispose());
    w.dispose();
  });

  it('a fresh Trainer on a log left by a run that crashed before its first checkpoint logs each step once (repro 08)', async () => {
    const dir = join(scratch, `log-${count++}`);
    const logFile = join(dir, 'log.jsonl');
    const run = async (onStep?: (i: StepInfo) => void) => {
      const w = tf.variable(tf.ones([3]), true, `log_${count++}`);
      const t = new Trainer<Empty>({
        model: [w],
        optimizer: 'adopt',
        learningRate: 0.01,
        progress: false,
        steps: 10,
        logFile,
        data: batches(10),
        checkpoint: { dir: join(dir, 'ck'), every: 5 },
        loss: () => w.square().sum(),
        callbacks: { onStep },
      } as TrainerConfig<Empty>);
      try {
        await t.fit();
      } finally {
        t.optimizers.forEach((o) => o.dispose());
        w.dispose();
      }
    };
    await assert.rejects(
      run((i) => {
        if (i.step === 2) throw new Error('crash');
      }),
      /crash/,
    );
    appendFileSync(logFile, '{"type":"step","step":3'); // a line cut short by the crash
    await run();
    const lines = readFileSync(logFile, 'utf8').trim().split('\n');
    const records = lines.map((l) => JSON.parse(l) as { type: string; step: number });
    assert.deepEqual(
      records.filter((r) => r.type === 'step').map((r) => r.step),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });

  it('model [] and a model listing a variable twice are refused when the Trainer is built (repro 12)', () => {
    const v = tf.variable(tf.ones([2]), true, `twice_${count++}`);
    const config = (model: tf.Variable[]) =>
      ({
        model,
        optimizer: 'adopt',
        learningRate: 0.1,
        progress: false,
        steps: 1,
        loss: () => v.sum(),
        data: batches(1),
      }) as TrainerConfig<Empty>;
    assert.throws(
      () => new Trainer(config([])),
      (e: Error) =>
        e instanceof OptimizerArgumentError &&
        /invalid model \[\]; expected a non-empty array of tf.Variable/.test(e.message),
    );
    assert.throws(
      () => new Trainer(config([v, v])),
      (e: Error) =>
        e instanceof OptimizerArgumentError &&
        e.message.includes(`invalid model[1] "${v.name}"; expected each tf.Variable once`) &&
        e.message.includes(`(variable "${v.name}" is model[0] too)`),
    );
    v.dispose();
  });

  it('a weightDecay in paramGroups that the optimizer lacks names the group', () => {
    const v = tf.variable(tf.ones([2]), true, `sgd_wd_${count++}`);
    assert.throws(
      () =>
        new Trainer<Empty>({
          model: [v],
          optimizer: 'sgd',
          learningRate: 0.1,
          progress: false,
          steps: 1,
          loss: () => v.sum(),
          data: batches(1),
          paramGroups: [{ pattern: /x/ }, { pattern: /sgd/, weightDecay: 0.1 }],
        }),
      (e: Error) =>
        e instanceof OptimizerArgumentError &&
        /paramGroups\[1\]/.test(e.message) &&
        /unknown option "?weightDecay/.test(e.message),
    );
    v.dispose();
  });
});

describe('option keys named like Object.prototype properties (repro 04)', () => {
  before(() => useBackend('cpu'));
  const KEYS = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'];
  /** {key: 1} as an own property (JSON.parse makes "__proto__" one). */
  const options = (key: string) => JSON.parse(`{${JSON.stringify(key)}: 1}`) as Record<string, unknown>;
  const unknownOption = (key: string) => (e: Error) =>
    e instanceof OptimizerArgumentError && e.message.includes(`unknown option ${JSON.stringify(key)}`);

  it('adopt, adam, core.adopt, ruleOptimizer and createOptimizer report them as unknown options', () => {
    const rule = rules.defineRule({
      name: `proto_${count++}`,
      slots: [],
      hyperparameters: {},
      scalars: (lr: number) => ({ lr }),
      step: ({ p, g, scalar: s, sub, mul }) => ({ p: sub(p, mul(g, s('lr'))) }),
    });
    for (const key of KEYS) {
      assert.throws(() => lib.adopt(1e-3, options(key)), unknownOption(key), `adopt ${key}`);
      assert.throws(() => lib.adam(1e-3, options(key)), unknownOption(key), `adam ${key}`);
      assert.throws(() => core.adopt(1e-3, options(key)), unknownOption(key), `core.adopt ${key}`);
      assert.throws(() => rules.ruleOptimizer(rule, 1e-3, options(key)), unknownOption(key), `ruleOptimizer ${key}`);
      assert.throws(() => createOptimizer('adopt', options(key)), unknownOption(key), `createOptimizer ${key}`);
    }
  });

  it('exportState and importState report them as unknown options', async () => {
    const dense = tf.layers.dense({ units: 2, inputShape: [3], name: `proto_d_${count++}` });
    const model = tf.sequential({ layers: [dense] });
    const opt = lib.adopt(1e-2);
    model.compile({ optimizer: opt, loss: 'meanSquaredError' });
    await model.fit(tf.ones([4, 3]), tf.zeros([4, 2]), { epochs: 1, verbose: 0 });
    const { file } = await interop.exportState(opt, model);
    for (const key of KEYS) {
      await assert.rejects(interop.exportState(opt, model, options(key)), unknownOption(key), `exportState ${key}`);
      await assert.rejects(
        interop.importState(opt, model, file, options(key)),
        unknownOption(key),
        `importState ${key}`,
      );
    }
    model.dispose();
    opt.dispose();
  });
});
