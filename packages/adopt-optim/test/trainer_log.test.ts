/**
 * The Trainer's log after a crash and a resume: each step logged once, with the resumed run's values
 * (the steps between the last checkpoint and the crash were logged twice before), and a refused restore
 * or a crash during the cut leaves the log as it was.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs, { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, Trainer, type TrainerConfig } from '../src/train/index.js';
import { keptAfterRestore } from '../src/train/trainer_log.js';
import { useBackend } from './backends.js';
import { Rng } from './reference.js';

const scratch = mkdtempSync(join(tmpdir(), 'adopt-trainer-log-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let count = 0;

type XY = { x: tf.Tensor; y: tf.Tensor };

/** Two variables in two groups; a least-squares loss on deterministic data (epoch e gives the same batches). */
function setup(dir: string, extra: Partial<TrainerConfig<XY>> = {}) {
  const n = count++;
  const w = tf.variable(tf.tensor([0.3, -0.2, 0.1, 0.4], [4, 1]), true, `log_w_${n}`);
  const b = tf.variable(tf.tensor([0.05]), true, `log_b_${n}`);
  const config = {
    model: [w, b],
    optimizer: 'adopt',
    learningRate: 0.05,
    steps: 12,
    progress: false,
    loss: (batch: XY) => tf.tidy(() => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(batch.x, w), b), batch.y)))),
    data: (epoch: number) => {
      const rng = new Rng(50 + epoch);
      return Array.from({ length: 5 }, () => ({
        x: tf.tensor(rng.normals(8 * 4), [8, 4]),
        y: tf.tensor(rng.normals(8), [8, 1]),
      }));
    },
    paramGroups: [{ pattern: '^log_b', learningRateMultiplier: 0.5 }],
    logFile: join(dir, 'log.jsonl'),
    checkpoint: { dir: join(dir, 'ck'), every: 4 },
    ...extra,
  } as TrainerConfig<XY>;
  return {
    config,
    release: (t: Trainer<XY>) => {
      t.optimizers.forEach((o) => o.dispose());
      tf.dispose([w, b]);
    },
  };
}

const records = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown> & { type: string; step: number });
const stepLines = (file: string) =>
  records(file)
    .filter((r) => r['type'] === 'step')
    .map((r) => ({ step: r['step'], loss: r['loss'] }));

/** A run that "crashes" after step `at` (an exception out of onStep: no final checkpoint, nothing after it). */
async function crashAfter(config: TrainerConfig<XY>, at: number): Promise<Trainer<XY>> {
  const onStep = (i: { step: number }) => {
    if (i.step === at) throw new Error('crash');
  };
  const t = new Trainer<XY>({ ...config, callbacks: { onStep } });
  await assert.rejects(t.fit(), /crash/);
  return t;
}

describe('Trainer log after a resume', () => {
  before(() => useBackend('cpu'));

  it('a crash after step 10 (checkpoint at 8), a resume: each step logged once, with the resumed values', async () => {
    const straightDir = join(scratch, `straight-${count}`);
    const s = setup(straightDir);
    const straight = new Trainer<XY>(s.config);
    const full = await straight.fit();
    s.release(straight);

    const dir = join(scratch, `crash-${count}`);
    const a = setup(dir);
    a.release(await crashAfter(a.config, 9)); // steps 0..9 done and logged, checkpoints at 4 and 8
    assert.deepEqual(
      stepLines(a.config.logFile!).map((l) => l.step),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    const b = setup(dir);
    const resumed = new Trainer<XY>(b.config);
    assert.equal((await resumed.restore()).step, 8);
    const rest = await resumed.fit();
    b.release(resumed);
    const lines = stepLines(b.config.logFile!);
    assert.deepEqual(
      lines.map((l) => l.step),
      Array.from({ length: 12 }, (_, i) => i),
      'each step once, in order',
    );
    const losses = rest.losses.map((l) => ({ step: l.step, loss: l.loss }));
    assert.deepEqual(lines, losses, "the log holds the resumed run's losses");
    assert.deepEqual(rest.losses, full.losses, "and they are the uninterrupted run's");
    const all = records(b.config.logFile!);
    assert.deepEqual(
      all.filter((r) => r.type === 'checkpoint').map((r) => r.step),
      [4, 8, 12],
    );
    assert.deepEqual(
      all.filter((r) => r.type === 'restore').map((r) => r.step),
      [8],
    );
    assert.deepEqual(readdirSync(dir).sort(), ['ck', 'log.jsonl'], 'no temporary file left');
  });

  it('a line cut short by the crash is dropped; a refused restore leaves the log byte for byte', async () => {
    const dir = join(scratch, `partial-${count}`);
    const a = setup(dir);
    a.release(await crashAfter(a.config, 5));
    appendFileSync(a.config.logFile!, '{"time":"2026-12-07T00:00:00Z","type":"st');
    const before = readFileSync(a.config.logFile!, 'utf8');
    // a trainer of another model shape: refused, nothing changes
    const n = count++;
    const model = [tf.variable(tf.zeros([5, 1]), true, `log_wo${n}`), tf.variable(tf.zeros([1]), true, `log_bo${n}`)];
    const other = setup(dir, { model });
    const refused = new Trainer<XY>(other.config);
    await assert.rejects(refused.restore(), CheckpointError);
    tf.dispose(other.config.model as tf.Variable[]);
    refused.optimizers.forEach((o) => o.dispose());
    assert.equal(readFileSync(a.config.logFile!, 'utf8'), before, 'a refused restore changed the log');
    const b = setup(dir);
    const resumed = new Trainer<XY>(b.config);
    assert.equal((await resumed.restore()).step, 4);
    await resumed.fit();
    b.release(resumed);
    const text = readFileSync(b.config.logFile!, 'utf8');
    assert.ok(text.endsWith('\n') && !text.includes('"type":"st\n') && !text.includes('"st{'), 'a partial line');
    assert.deepEqual(
      stepLines(b.config.logFile!).map((l) => l.step),
      Array.from({ length: 12 }, (_, i) => i),
    );
  });

  it("a failure at the rename (the cut's commit point) leaves the log byte for byte, restores nothing", async () => {
    const dir = join(scratch, `cut-crash-${count}`);
    const a = setup(dir);
    a.release(await crashAfter(a.config, 6));
    const before = readFileSync(a.config.logFile!, 'utf8');
    const kept = before
      .trim()
      .split('\n')
      .filter((l) => keptAfterRestore(l, 4));
    assert.deepEqual(
      kept.map((l) => JSON.parse(l).step),
      [0, 1, 2, 3, 4],
    );
    const b = setup(dir);
    const resumed = new Trainer<XY>(b.config);
    const vars = b.config.model as tf.Variable[];
    const values = vars.map((v) => Array.from(v.dataSync()));
    const rename = fs.renameSync;
    fs.renameSync = () => {
      throw new Error('EIO: injected at the rename');
    };
    syncBuiltinESMExports();
    try {
      await assert.rejects(resumed.restore(), /injected at the rename/);
    } finally {
      fs.renameSync = rename;
      syncBuiltinESMExports();
    }
    assert.equal(readFileSync(b.config.logFile!, 'utf8'), before, 'the log changed');
    assert.deepEqual(readdirSync(dir).sort(), ['ck', 'log.jsonl'], 'the temporary file was left');
    assert.equal(resumed.step, 0);
    assert.deepEqual(
      vars.map((v) => Array.from(v.dataSync())),
      values,
      'the model was assigned',
    );
    assert.equal((await resumed.restore()).step, 4);
    assert.deepEqual(
      stepLines(b.config.logFile!).map((l) => l.step),
      [0, 1, 2, 3],
    );
    b.release(resumed);
  });
});
