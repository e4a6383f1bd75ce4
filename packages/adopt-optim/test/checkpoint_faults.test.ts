/**
 * (a) Fault injection: a training run whose checkpoint writes crash after file-system call N, for
 *     every N the run makes (a crashing write leaves half its bytes, as a torn write would). The
 *     newest committed checkpoint must restore, bit-identical to the uninterrupted run at that
 *     step, and the resumed run must end bit-identical to the uninterrupted one.
 * (b) Bit flips: ~1,000 single-bit flips spread over every byte region of every checkpoint file
 *     (checkpoint.json, tensors.bin of both checkpoints, latest.json). No flip may restore wrong
 *     values silently, refuse after changing the model, or leak a tensor.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, writeFile as writeFileCb } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, nodeCheckpointFs, type CheckpointFs, type TrainerConfig } from '../src/train/index.js';
import { useBackend } from './backends.js';
import {
  disposeTrainer,
  leftovers,
  mlp,
  scratchDirs,
  snapshot,
  stepFolders,
  trainerFor,
  weightsOf,
  type XY,
} from './checkpoint_helpers.js';
import { Rng } from '../src/random.js';

const freshDir = scratchDirs('adopt-ckpt-faults-');
const writeFileRaw = promisify(writeFileCb);

/** Node's fs, crashing from call `failAt` on (every later call fails too: the process is "dead"). */
function crashingFs(failAt: number) {
  const record = { calls: 0, committed: undefined as number | undefined, crashed: false };
  const fs = {} as CheckpointFs;
  for (const key of Object.keys(nodeCheckpointFs) as (keyof CheckpointFs)[]) {
    (fs as unknown as Record<string, unknown>)[key] = async (...args: unknown[]) => {
      record.calls++;
      if (record.calls >= failAt) {
        if (record.calls === failAt && key === 'writeFile') {
          const data = args[1] as string | Uint8Array;
          await writeFileRaw(args[0] as string, data.slice(0, Math.floor(data.length / 2))); // torn write
        }
        record.crashed = true;
        throw Object.assign(new Error(`injected crash at file-system call ${record.calls} (${key})`), { code: 'EIO' });
      }
      const result = await (nodeCheckpointFs[key] as (...a: unknown[]) => Promise<unknown>)(...args);
      if (key === 'rename' && basename(args[1] as string) === 'latest.json') {
        record.committed = JSON.parse(readFileSync(args[1] as string, 'utf8')).step;
      }
      return result;
    };
  }
  return { fs, record };
}

describe('checkpoint fault injection and bit flips (cpu)', () => {
  before(() => useBackend('cpu'));

  it('(a) a crash after any file-system call of a run leaves the newest committed checkpoint restorable, exactly', async (t) => {
    const common: Partial<TrainerConfig<XY>> = { steps: 6, accumulationSteps: 1 };
    // the uninterrupted run, with the state at each checkpoint
    const counting = crashingFs(Infinity);
    const referenceModel = mlp(1);
    const states = new Map<number, Awaited<ReturnType<typeof snapshot>>>();
    const reference = trainerFor(referenceModel, {
      ...common,
      checkpoint: { dir: freshDir(), every: 2, keep: 2, fs: counting.fs },
    });
    const origSave = reference.save.bind(reference);
    reference.save = async (dir?: string) => {
      const folder = await origSave(dir);
      states.set(reference.step, await snapshot(reference, referenceModel));
      return folder;
    };
    const full = await reference.fit();
    const finalWeights = weightsOf(referenceModel);
    disposeTrainer(reference, referenceModel);
    const total = counting.record.calls;
    assert.deepEqual([...states.keys()], [2, 4, 6]);

    const outcomes = new Map<string, number>();
    const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    for (let failAt = 1; failAt <= total; failAt++) {
      const dir = freshDir();
      const { fs, record } = crashingFs(failAt);
      const crashingModel = mlp(1);
      const crashing = trainerFor(crashingModel, { ...common, checkpoint: { dir, every: 2, keep: 2, fs } });
      // a crash in the final unlock is not reported (the lock is left for the next writer to find stale)
      await crashing.fit().catch((e: unknown) => assert.match(String(e), /injected crash/));
      assert.ok(record.crashed);
      disposeTrainer(crashing, crashingModel);

      let model = mlp(99); // other initial weights: everything must come from the checkpoint
      let resumed = trainerFor(model, { ...common, checkpoint: { dir, every: 2, keep: 2 } });
      const weights = weightsOf(model);
      const tensors = tf.memory().numTensors;
      let restoredStep = 0;
      try {
        const info = await resumed.restore();
        restoredStep = info.step;
        assert.ok(
          info.step >= (record.committed ?? 0),
          `crash at ${failAt}: restored step ${info.step}, but step ${record.committed} was committed`,
        );
        assert.deepEqual(
          await snapshot(resumed, model),
          states.get(info.step),
          `crash at ${failAt}: restored state differs from the run's at step ${info.step}`,
        );
        const note =
          info.step === record.committed
            ? ''
            : record.committed === undefined
              ? ' (its folder complete, latest.json not yet written)'
              : ' (complete, newer than latest.json)';
        count(`restored step ${info.step}${note}${info.fellBack ? ' via fallback' : ''}`);
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        assert.equal(
          record.committed,
          undefined,
          `crash at ${failAt}: step ${record.committed} was committed but the restore failed: ${e.message}`,
        );
        assert.deepEqual(weightsOf(model), weights);
        assert.equal(tf.memory().numTensors, tensors);
        count('refused: nothing committed yet');
        disposeTrainer(resumed, model); // start over, as the crashed run did
        model = mlp(1);
        resumed = trainerFor(model, { ...common, checkpoint: { dir, every: 2, keep: 2 } });
      }
      const rest = await resumed.fit();
      assert.deepEqual(rest.losses, full.losses, `crash at ${failAt}: the resumed run's losses differ`);
      assert.deepEqual(weightsOf(model), finalWeights, `crash at ${failAt}: the resumed run's weights differ`);
      assert.deepEqual(leftovers(dir), [], `crash at ${failAt}: leftovers after the resumed run`);
      assert.ok(stepFolders(dir).includes('step-00000006'));
      assert.ok(restoredStep <= 6);
      disposeTrainer(resumed, model);
    }
    t.diagnostic(
      `${total} crash points (file-system calls of a 6-step run checkpointing at 2, 4, 6): ` +
        `${JSON.stringify(Object.fromEntries(outcomes))}`,
    );
  });

  it('(b) ~1,000 single-bit flips over every checkpoint file: no silent wrong restore, no partial restore, no leak', async (t) => {
    const dir = freshDir();
    const writerModel = mlp(3);
    const writer = trainerFor(writerModel, { steps: 4, checkpoint: { dir, every: 2, keep: 2 } });
    await writer.fit();
    disposeTrainer(writer, writerModel);
    assert.deepEqual(stepFolders(dir), ['step-00000002', 'step-00000004']);

    const model = mlp(4);
    const trainer = trainerFor(model, { checkpoint: { dir } });
    const states = new Map<number, Awaited<ReturnType<typeof snapshot>>>();
    for (const step of [2, 4]) {
      await trainer.restore(join(dir, `step-0000000${step}`));
      states.set(step, await snapshot(trainer, model));
    }
    const settled = tf.memory().numTensors; // the trainer holds restored optimizer state from here on

    const files = [
      { path: join(dir, 'latest.json'), flips: 'every byte' as const, folder: undefined },
      { path: join(dir, 'step-00000004', 'checkpoint.json'), flips: 380, folder: 'step-00000004' },
      { path: join(dir, 'step-00000004', 'tensors.bin'), flips: 240, folder: 'step-00000004' },
      { path: join(dir, 'step-00000002', 'checkpoint.json'), flips: 80, folder: 'step-00000002' },
      { path: join(dir, 'step-00000002', 'tensors.bin'), flips: 60, folder: 'step-00000002' },
    ];
    const rng = new Rng(5);
    const tally: Record<string, number> = {};
    const add = (k: string) => {
      tally[k] = (tally[k] ?? 0) + 1;
    };
    let flips = 0;
    let wrong = 0;
    let partial = 0;
    let leaks = 0;
    const attempt = async (from: string, what: string): Promise<number | 'refused'> => {
      const weights = weightsOf(model);
      const step = trainer.step;
      try {
        // (`?? ...`: lets this suite measure versions whose restore() returned nothing)
        const info = (await trainer.restore(from)) ?? { step: trainer.step, fellBack: false, warnings: [] };
        const expected = states.get(info.step);
        const same =
          expected !== undefined && JSON.stringify(await snapshot(trainer, model)) === JSON.stringify(expected);
        if (!same) wrong++;
        if (info.step !== 4 && !(info.fellBack && info.warnings.length > 0)) wrong++; // an older checkpoint, silently
        if (tf.memory().numTensors !== settled) leaks++;
        return info.fellBack ? (`${info.step} via fallback` as unknown as number) : info.step;
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw new Error(`${what}: not a CheckpointError: ${e}`);
        if (JSON.stringify(weightsOf(model)) !== JSON.stringify(weights) || trainer.step !== step) partial++;
        if (tf.memory().numTensors !== settled) leaks++;
        return 'refused';
      }
    };
    for (const file of files) {
      const original = readFileSync(file.path);
      const positions =
        file.flips === 'every byte'
          ? original.map((_, i) => i)
          : Array.from({ length: file.flips }, (_, k) =>
              Math.min(original.length - 1, Math.floor(((k + rng.next()) * original.length) / (file.flips as number))),
            );
      const name = file.folder === undefined ? 'latest.json' : `${file.folder}/${basename(file.path)}`;
      for (const position of positions) {
        const bytes = Buffer.from(original);
        bytes[position] = bytes[position]! ^ (1 << rng.int(8));
        writeFileSync(file.path, bytes);
        flips++;
        const fromDir = await attempt(dir, `${name} byte ${position}`);
        add(
          `${name}: restore(dir) → ` +
            `${fromDir === 'refused' ? 'refused' : fromDir === 4 ? 'step 4 (intact)' : `step ${fromDir}, with a warning`}`,
        );
        if (file.folder !== undefined) {
          const direct = await attempt(join(dir, file.folder), `${name} byte ${position} (folder)`);
          add(`${name}: restore(folder) → ${direct === 'refused' ? 'refused' : 'restored (values checked)'}`);
        }
        writeFileSync(file.path, original);
      }
    }
    t.diagnostic(`${flips} flips; silent wrong restores ${wrong}, partial restores ${partial}, leaks ${leaks}`);
    for (const [k, v] of Object.entries(tally)) t.diagnostic(`  ${k}: ${v}`);
    assert.ok(flips >= 900, `only ${flips} flips`);
    assert.equal(wrong, 0);
    assert.equal(partial, 0);
    assert.equal(leaks, 0);
    disposeTrainer(trainer, model);
  });
});
