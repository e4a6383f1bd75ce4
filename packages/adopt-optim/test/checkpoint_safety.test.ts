/**
 * Checkpoint safety: pruning only this run's older checkpoints, one writer per folder, a last
 * step saved once, checkpoints never rewritten in place, fallback to the newest checkpoint that
 * verifies, a manifest protected by a checksum, restores checked whole before anything is assigned.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { OptimizerArgumentError } from '../src/index.js';
import { CheckpointError, readCheckpoint, type Trainer, writeCheckpoint } from '../src/train/index.js';
import { useBackend } from './backends.js';
import {
  dataset,
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

const freshDir = scratchDirs('adopt-ckpt-safety-');
const latestOf = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as { step: number; folder: string; runId: string };

async function expectRefused(model: tf.LayersModel, trainer: Trainer<XY>, from: string, pattern: RegExp) {
  const weights = weightsOf(model);
  const step = trainer.step;
  const tensors = tf.memory().numTensors;
  await assert.rejects(trainer.restore(from), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
  assert.deepEqual(weightsOf(model), weights, 'the model changed although the restore was refused');
  assert.equal(trainer.step, step);
  assert.equal(tf.memory().numTensors, tensors, 'a refused restore leaked tensors');
}

describe('checkpoint safety', () => {
  before(() => useBackend('cpu'));

  describe("1. keep prunes only this run's older checkpoints; one writer per folder", () => {
    it("a fresh run in a folder holding a longer run's checkpoints keeps what it writes", async () => {
      const dir = freshDir();
      const long = mlp(1);
      const a = trainerFor(long, { steps: 10, checkpoint: { dir, every: 2, keep: 2 } });
      await a.fit();
      assert.deepEqual(stepFolders(dir), ['step-00000008', 'step-00000010']);
      disposeTrainer(a, long);

      const model = mlp(2);
      const folders: string[] = [];
      const b = trainerFor(model, {
        steps: 6,
        checkpoint: { dir, every: 2, keep: 2 },
        callbacks: {
          onCheckpoint: (_, f) => {
            folders.push(f);
          },
        },
      });
      await b.fit();
      for (const f of folders.slice(-2)) assert.ok(existsSync(f), `${f}, just written, was deleted`);
      const latest = latestOf(dir);
      assert.equal(latest.step, 6);
      assert.equal(latest.runId, b.runId);
      assert.ok(existsSync(join(dir, latest.folder)), 'latest.json names a missing folder');
      // the other run's checkpoints are not this run's to prune; this run keeps 2 of 4, 6
      assert.deepEqual(stepFolders(dir), ['step-00000004', 'step-00000006', 'step-00000008', 'step-00000010']);
      assert.deepEqual(leftovers(dir), []);
      const saved = weightsOf(model);
      disposeTrainer(b, model);

      const other = mlp(3);
      const c = trainerFor(other, { checkpoint: { dir } });
      const info = await c.restore();
      assert.equal(info.step, 6);
      assert.equal(info.fellBack, false);
      assert.deepEqual(weightsOf(other), saved);
      disposeTrainer(c, other);
    });

    it('keep and every must be integers >= 1 (keep: -1 deleted everything, keep: 0 kept all, every: 0 was accepted)', () => {
      const model = mlp(4);
      const dir = freshDir();
      for (const keep of [-1, 0, 1.5, Number.NaN, Infinity]) {
        assert.throws(
          () => trainerFor(model, { checkpoint: { dir, keep } }),
          (e: unknown) =>
            e instanceof OptimizerArgumentError &&
            /invalid checkpoint\.keep .*; expected an integer >= 1/.test(e.message),
        );
      }
      for (const every of [0, -2, 1.5, Number.NaN, Infinity]) {
        assert.throws(
          () => trainerFor(model, { checkpoint: { dir, every } }),
          /invalid checkpoint\.every .*; expected an integer >= 1/,
        );
      }
      assert.throws(() => trainerFor(model, { checkpoint: { dir: '' } }), /invalid checkpoint\.dir/);
      model.dispose();
    });

    it('property: every keep and every that is not an integer >= 1 is refused, by the Trainer and by writeCheckpoint', async () => {
      const model = mlp(5);
      const dir = freshDir();
      const bad = fc.oneof(
        fc.integer({ max: 0 }),
        fc.double().filter((x) => !Number.isInteger(x) || x < 1),
        fc.constantFrom(Number.NaN, Infinity, -Infinity, '3', null, true, [2], {}),
      );
      fc.assert(
        fc.property(bad, fc.constantFrom('keep', 'every'), (value, key) => {
          assert.throws(
            () => trainerFor(model, { checkpoint: { dir, [key]: value as number } }),
            OptimizerArgumentError,
          );
        }),
        { numRuns: 200 },
      );
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 }), (keep, every) => {
          const t = trainerFor(model, { checkpoint: { dir, keep, every } });
          t.optimizers.forEach((o) => o.dispose());
        }),
        { numRuns: 50 },
      );
      const x = tf.scalar(1);
      await fc.assert(
        fc.asyncProperty(bad, async (keep) => {
          await assert.rejects(
            writeCheckpoint(dir, 1, {}, { g: [{ name: 'x', tensor: x }] }, { keep: keep as number }),
            /writeCheckpoint: invalid keep/,
          );
        }),
        { numRuns: 100 },
      );
      assert.equal(existsSync(dir), false, 'a refused writeCheckpoint touched the folder');
      x.dispose();
      model.dispose();
    });

    it('property: for any sequence of runs and keep values, latest.json names an existing folder and each run keeps its newest `keep`', async () => {
      const x = tf.variable(tf.tensor([1, 2, 3]));
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              steps: fc.integer({ min: 1, max: 6 }),
              keep: fc.integer({ min: 1, max: 3 }),
              run: fc.constantFrom('a', 'b', 'c'),
            }),
            { minLength: 1, maxLength: 6 },
          ),
          async (writes) => {
            const dir = freshDir();
            const written = new Map<string, string[]>();
            const stepOf = new Map<string, number>();
            const aliveBefore = new Map<string, boolean>();
            for (const [i, w] of writes.entries()) {
              const step = w.steps + i; // runs may write lower steps than others did before
              const folder = await writeCheckpoint(
                dir,
                step,
                {},
                { model: [{ name: 'x', tensor: x }] },
                { keep: w.keep, runId: w.run, onWarning: () => undefined },
              );
              // a pruned folder's name may be used again: the old entry is gone
              for (const [run, fs] of written)
                written.set(
                  run,
                  fs.filter((f) => f !== folder),
                );
              const mine = [...(written.get(w.run) ?? []), folder];
              written.set(w.run, mine);
              stepOf.set(folder, step);
              assert.ok(existsSync(folder));
              assert.equal(join(dir, latestOf(dir).folder), folder);
              // this run: of its checkpoints up to this step, the newest `keep` survive (the new one
              // included); those of later steps (written before a resume from an earlier one) and
              // other runs' are not older than the new one and stay
              const upTo = mine.filter((f) => stepOf.get(f)! <= step && (f === folder || aliveBefore.get(f)));
              const alive = upTo.filter((f) => existsSync(f));
              const newest = upTo
                .map((f, k) => [f, k] as const)
                .sort((p, q) => stepOf.get(q[0])! - stepOf.get(p[0])! || q[1] - p[1])
                .slice(0, w.keep)
                .map(([f]) => f);
              for (const f of newest)
                assert.ok(alive.includes(f), `${f} of run ${w.run} was pruned although among its newest ${w.keep}`);
              assert.ok(alive.length <= w.keep, `run ${w.run} keeps ${alive.length} > ${w.keep}`);
              for (const f of mine.filter((g) => stepOf.get(g)! > step && aliveBefore.get(g)))
                assert.ok(existsSync(f), `${f}, of a later step, was pruned`);
              for (const [run, theirs] of written)
                if (run !== w.run)
                  for (const f of theirs) assert.equal(existsSync(f), aliveBefore.get(f), `${f} of run ${run} changed`);
              for (const fs of written.values()) for (const f of fs) aliveBefore.set(f, existsSync(f));
            }
            assert.deepEqual(leftovers(dir), []);
            assert.equal(
              (await readCheckpoint(dir, { onWarning: () => undefined })).folder,
              join(dir, latestOf(dir).folder),
            );
          },
        ),
        { numRuns: 60 },
      );
      x.dispose();
    });

    it('a second writer on the same folder is refused with a clear error; the first finishes', async () => {
      const dir = freshDir();
      let open!: () => void;
      const gate = new Promise<void>((r) => {
        open = r;
      });
      const slow = async function* (epoch: number) {
        await gate;
        yield* dataset(8, 5)(epoch);
      };
      const m1 = mlp(6);
      const m2 = mlp(7);
      const first = trainerFor(m1, { data: slow, steps: 4, checkpoint: { dir, every: 2 } });
      const second = trainerFor(m2, { steps: 4, checkpoint: { dir, every: 2 } });
      const running = first.fit();
      // the first writer takes the lock before it waits at the gate: wait for it (a fixed 20 ms was too short on a
      // loaded machine: the test failed there, the lock not yet written)
      for (let i = 0; i < 500 && !existsSync(join(dir, 'writer.lock')); i++)
        await new Promise((r) => setTimeout(r, 20));
      const lock = JSON.parse(readFileSync(join(dir, 'writer.lock'), 'utf8'));
      assert.equal(lock.pid, process.pid);
      assert.equal(lock.runId, first.runId);
      await assert.rejects(
        second.fit(),
        (e: unknown) =>
          e instanceof CheckpointError &&
          e.message.includes(`${dir} is being written by process ${process.pid}`) &&
          /another writer in this process/.test(e.message),
      );
      await assert.rejects(second.save(), /is being written by process/);
      assert.equal(second.step, 0, 'the refused writer trained');
      open();
      await running;
      assert.deepEqual(leftovers(dir), [], 'the lock was not released');
      await second.fit(); // now free
      disposeTrainer(first, m1);
      disposeTrainer(second, m2);
    });

    it('a lock left by a process that is gone is taken over with a warning; crash leftovers are cleaned', async () => {
      const dir = freshDir();
      mkdirSync(dir, { recursive: true });
      const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
      writeFileSync(
        join(dir, 'writer.lock'),
        JSON.stringify({ pid: gone, hostname: hostname(), runId: 'dead', token: 'x', acquiredAt: '2020-01-01' }),
      );
      mkdirSync(join(dir, '.step-00000006.tmp-1-dead'));
      writeFileSync(join(dir, '.step-00000006.tmp-1-dead', 'tensors.bin'), 'partial');
      writeFileSync(join(dir, 'latest.json.tmp-1-dead'), '{"step": 6, "fol');
      mkdirSync(join(dir, '.step-00000002.del-1-dead'));
      const warnings: string[] = [];
      const model = mlp(8);
      const t = trainerFor(model, {
        steps: 2,
        checkpoint: { dir },
        callbacks: {
          onWarning: (w) => {
            warnings.push(w);
          },
        },
      });
      await t.fit();
      assert.ok(
        warnings.some((w) => w.includes(`left by process ${gone} (run dead), which is no longer running`)),
        warnings.join('\n'),
      );
      assert.deepEqual(readdirSync(dir).sort(), ['latest.json', 'step-00000002']);

      // a lock from another host cannot be judged: refused, saying how to clear it
      writeFileSync(
        join(dir, 'writer.lock'),
        JSON.stringify({ pid: 1, hostname: 'elsewhere', runId: 'remote', token: 'z', acquiredAt: '2020-01-01' }),
      );
      await assert.rejects(
        t.save(),
        /is being written by process 1 on elsewhere \(run remote.*delete .*writer\.lock if that process is no longer running/,
      );
      // a live process of this host holding the lock: refused
      writeFileSync(
        join(dir, 'writer.lock'),
        JSON.stringify({
          pid: process.ppid,
          hostname: hostname(),
          runId: 'alive',
          token: 'y',
          acquiredAt: '2020-01-01',
        }),
      );
      await assert.rejects(
        t.save(),
        /is being written by process \d+ on .* \(run alive.*Use another folder, or, if process \d+ is not writing checkpoints \(its pid reused since that writer stopped\), delete .*writer\.lock\./,
      );
      // pid 0 and -1 name no process (kill(0) and kill(-1) signal groups): stale, taken over (issue 21)
      for (const pid of [0, -1]) {
        writeFileSync(
          join(dir, 'writer.lock'),
          JSON.stringify({ pid, hostname: hostname(), runId: `group${pid}`, token: 'w', acquiredAt: '2020-01-01' }),
        );
        warnings.length = 0;
        await t.save();
        assert.ok(
          warnings.some((w) => w.includes(`left by process ${pid} (run group${pid}), which is no longer running`)),
          warnings.join('\n'),
        );
      }
      disposeTrainer(t, model);
    });
  });

  describe('2. the last step is saved once; a checkpoint named by latest.json is never rewritten', () => {
    it('steps a multiple of every: onCheckpoint fires at 2, 4 (not 2, 4, 4)', async () => {
      const dir = freshDir();
      const model = mlp(9);
      const seen: number[] = [];
      const t = trainerFor(model, {
        steps: 4,
        checkpoint: { dir, every: 2 },
        callbacks: {
          onCheckpoint: (s) => {
            seen.push(s);
          },
        },
      });
      await t.fit();
      assert.deepEqual(seen, [2, 4]);
      // fit() again with nothing left to do, after a restore: no new checkpoint either
      const again = trainerFor(mlp(9), {
        steps: 4,
        checkpoint: { dir, every: 2 },
        callbacks: {
          onCheckpoint: (s) => {
            seen.push(s);
          },
        },
      });
      await again.restore();
      await again.fit();
      assert.deepEqual(seen, [2, 4]);
      disposeTrainer(t, model);
      again.optimizers.forEach((o) => o.dispose());
    });

    it('saving a step again writes a new folder; the one latest.json named stays byte for byte', async () => {
      const dir = freshDir();
      const model = mlp(10);
      const t = trainerFor(model, { steps: 4, checkpoint: { dir, every: 2, keep: 5 } });
      await t.fit();
      const first = latestOf(dir).folder;
      const files = readdirSync(join(dir, first)).map((f) => [f, readFileSync(join(dir, first, f))] as const);
      const inode = statSync(join(dir, first)).ino;
      const second = await t.save();
      assert.match(second, /step-00000004-[0-9a-f]{8}$/);
      assert.equal(join(dir, latestOf(dir).folder), second);
      assert.equal(statSync(join(dir, first)).ino, inode);
      for (const [f, bytes] of files) assert.deepEqual(readFileSync(join(dir, first, f)), bytes);
      disposeTrainer(t, model);
    });

    it('with latest.json unreadable, the most recently written checkpoint that verifies is restored, with a warning', async () => {
      const dir = freshDir();
      const a = mlp(50);
      const ta = trainerFor(a, { steps: 8, checkpoint: { dir, every: 2, keep: 2 } });
      await ta.fit();
      disposeTrainer(ta, a);
      await new Promise((r) => setTimeout(r, 5)); // distinct savedAt
      const b = mlp(51);
      const tb = trainerFor(b, { steps: 2, checkpoint: { dir, keep: 2 } });
      await tb.fit();
      const saved = await snapshot(tb, b);
      disposeTrainer(tb, b);
      writeFileSync(join(dir, 'latest.json'), '{"step": 2, "fol');
      const m = mlp(52);
      const t = trainerFor(m, { checkpoint: { dir } });
      const info = await t.restore();
      assert.equal(info.step, 2);
      assert.equal(info.fellBack, true);
      assert.match(
        info.warnings[0]!,
        /latest\.json could not be used \(.*not valid JSON.*\); restoring .*step-00000002 \(step 2\) instead/,
      );
      assert.deepEqual(await snapshot(t, m), saved);
      disposeTrainer(t, m);
    });

    it('falls back to the newest checkpoint that verifies, saying so', async () => {
      const dir = freshDir();
      const model = mlp(11);
      const states: Record<number, Awaited<ReturnType<typeof snapshot>>> = {};
      const t = trainerFor(model, { steps: 4, checkpoint: { dir, every: 2 } });
      await t.fit();
      states[4] = await snapshot(t, model);
      disposeTrainer(t, model);
      const reference = mlp(12);
      const r = trainerFor(reference, {});
      await r.restore(join(dir, 'step-00000002'));
      states[2] = await snapshot(r, reference);
      disposeTrainer(r, reference);

      const bin = join(dir, 'step-00000004', 'tensors.bin');
      const bytes = readFileSync(bin);
      bytes[3] = bytes[3]! ^ 0x10;
      writeFileSync(bin, bytes);
      const warnings: string[] = [];
      const m = mlp(13);
      const u = trainerFor(m, {
        checkpoint: { dir },
        callbacks: {
          onWarning: (w) => {
            warnings.push(w);
          },
        },
      });
      const info = await u.restore();
      assert.equal(info.step, 2);
      assert.equal(info.fellBack, true);
      assert.match(info.folder, /step-00000002$/);
      assert.equal(info.skipped.length, 1);
      assert.match(info.skipped[0]!.reason, /tensors\.bin is corrupt/);
      assert.equal(warnings.length, 1);
      assert.match(
        warnings[0]!,
        /step-00000004 could not be used \(.*tensors\.bin is corrupt.*\); restoring .*step-00000002 \(step 2\) instead/,
      );
      assert.deepEqual(info.warnings, warnings);
      assert.deepEqual(await snapshot(u, m), states[2]);
      // the step folder named directly is never substituted
      await expectRefused(m, u, join(dir, 'step-00000004'), /tensors\.bin is corrupt/);
      // after a fallback, fit() writes a fresh checkpoint even at a step already on disk
      disposeTrainer(u, m);
    });
  });

  describe('3. the whole checkpoint is verified, and checked against the trainer before anything is assigned', () => {
    let dir: string;
    before(async () => {
      dir = freshDir();
      const model = mlp(14);
      const t = trainerFor(model, { steps: 2, checkpoint: { dir, keep: 1 } });
      await t.fit();
      disposeTrainer(t, model);
    });

    it('an edited manifest that is still valid JSON is refused: values, step, losses, RNG, data position', async () => {
      const folder = join(dir, latestOf(dir).folder);
      const original = readFileSync(join(folder, 'checkpoint.json'), 'utf8');
      const edits: [string, (m: Record<string, any>) => void][] = [
        [
          'step',
          (m) => {
            m.step = 3;
          },
        ],
        [
          'a loss',
          (m) => {
            m.state.losses[0].loss += 1;
          },
        ],
        [
          'the RNG',
          (m) => {
            m.state.rngState ^= 1;
          },
        ],
        [
          'the data position',
          (m) => {
            m.state.batchInEpoch = 0;
          },
        ],
        [
          'a tensor offset',
          (m) => {
            const e = m.tensors.model[1];
            e.offset += 4;
          },
        ],
        [
          'a shape',
          (m) => {
            m.tensors.model[0].shape = [8, 6];
          },
        ],
      ];
      const model = mlp(15);
      const t = trainerFor(model, {});
      for (const [what, edit] of edits) {
        const m = JSON.parse(original);
        edit(m);
        writeFileSync(join(folder, 'checkpoint.json'), JSON.stringify(m, null, 1));
        await t$(what, () =>
          expectRefused(
            model,
            t,
            folder,
            /checkpoint\.json is corrupt: its checksum \(manifestSha256\) does not match its content/,
          ),
        );
        await t$(what, () =>
          expectRefused(model, t, dir, /no usable checkpoint in .*checksum \(manifestSha256\) does not match/),
        );
      }
      writeFileSync(join(folder, 'checkpoint.json'), original);
      await t.restore(dir);
      disposeTrainer(t, model);
    });

    it('optimizer state that does not fit the live model is refused before the model is touched, leaking nothing', async () => {
      // consistent checksums, wrong content: written through writeCheckpoint itself
      const loaded = await readCheckpoint(dir);
      const model = mlp(16);
      const t = trainerFor(model, {});
      const variants: [string, (groups: Record<string, { name: string; tensor: tf.Tensor }[]>) => void, RegExp][] = [
        [
          'a slot of another shape',
          (g) => {
            const i = g['optimizer/0']!.findIndex((w) => w.name.endsWith('/m'));
            g['optimizer/0']![i] = { name: g['optimizer/0']![i]!.name, tensor: tf.zeros([2]) };
          },
          /has shape \[2\] float32; its variable .* has \[/,
        ],
        [
          'a missing slot',
          (g) => {
            g['optimizer/0'] = g['optimizer/0']!.filter((w) => !w.name.endsWith('/v'));
          },
          /lacks v/,
        ],
        [
          'a NaN in a slot',
          (g) => {
            const i = g['optimizer/0']!.findIndex((w) => w.name.endsWith('/m'));
            const w = g['optimizer/0']![i]!;
            g['optimizer/0']![i] = { name: w.name, tensor: tf.fill(w.tensor.shape, Number.NaN) };
          },
          /holds NaN or Infinity/,
        ],
        [
          'a negative step counter',
          (g) => {
            const i = g['optimizer/0']!.findIndex((w) => w.name.endsWith('/step'));
            g['optimizer/0']![i] = { name: g['optimizer/0']![i]!.name, tensor: tf.scalar(-1, 'int32') };
          },
          /must hold one integer >= 0/,
        ],
        [
          "a negative v (refused by the optimizer's own setWeights, run first on a spare optimizer)",
          (g) => {
            const i = g['optimizer/0']!.findIndex((w) => w.name.endsWith('/v'));
            const w = g['optimizer/0']![i]!;
            g['optimizer/0']![i] = { name: w.name, tensor: tf.fill(w.tensor.shape, -1) };
          },
          /optimizer\/0: ADOPT\.setWeights: weight .*\/v" holds -1 at index 0/,
        ],
        [
          'a model variable of another shape',
          (g) => {
            g['model']![3] = { name: g['model']![3]!.name, tensor: tf.zeros([4]) };
          },
          /model variable "dense_Dense\d+\/bias" .* has shape \[4\]/,
        ],
        [
          'a missing optimizer group',
          (g) => {
            delete g['optimizer/0'];
          },
          /holds tensor groups \["model"\]/,
        ],
      ];
      for (const [what, change, pattern] of variants) {
        const groups = Object.fromEntries(Object.keys(loaded.manifest.tensors).map((g) => [g, loaded.tensors(g)]));
        const made = Object.values(groups)
          .flat()
          .map((w) => w.tensor);
        change(groups);
        const target = freshDir();
        await writeCheckpoint(target, loaded.manifest.step, loaded.manifest.state, groups);
        tf.dispose([
          ...made,
          ...Object.values(groups)
            .flat()
            .map((w) => w.tensor),
        ]);
        await t$(what, () => expectRefused(model, t, target, pattern));
      }
      disposeTrainer(t, model);
    });

    for (const optimizer of ['sgd', 'momentum', 'rmsprop', 'adam', 'amsgrad'] as const) {
      it(`${optimizer}: resumes exactly, and a checkpoint of another model shape is refused without a leak`, async () => {
        const common = { optimizer, learningRate: 0.01, steps: 5 };
        const straightModel = mlp(30);
        const straight = trainerFor(straightModel, common);
        const full = await straight.fit();
        const d = freshDir();
        const firstModel = mlp(30);
        const first = trainerFor(firstModel, { ...common, steps: 3, checkpoint: { dir: d } });
        await first.fit();
        const beforeSave = tf.memory().numTensors;
        await first.save(freshDir()); // tfjs's optimizers hand out a new "iter" scalar each save: disposed
        assert.equal(tf.memory().numTensors, beforeSave, 'save() leaked tensors');
        const model = mlp(31);
        const resumed = trainerFor(model, { ...common, checkpoint: { dir: d } });
        const tensors = tf.memory().numTensors;
        await resumed.restore();
        const added = tf.memory().numTensors - tensors; // the optimizer's restored state
        await resumed.fit();
        assert.deepEqual(resumed.losses, full.losses);
        assert.deepEqual(weightsOf(model), weightsOf(straightModel));
        const narrow = mlp(32, 5);
        const refused = trainerFor(narrow, { ...common });
        await expectRefused(
          narrow,
          refused,
          d,
          /model variable "dense_Dense\d+\/kernel" .* has shape \[6,8\] float32; this model's ".*" has \[5,8\]/,
        );
        assert.ok(added >= 0);
        for (const [tr, m] of [
          [straight, straightModel],
          [first, firstModel],
          [resumed, model],
          [refused, narrow],
        ] as const)
          disposeTrainer(tr, m);
      });
    }

    it("tfjs's momentum: accumulators of another shape, order or owner are refused (its setWeights takes anything)", async () => {
      const d = freshDir();
      const m0 = mlp(40);
      const t0 = trainerFor(m0, { optimizer: 'momentum', learningRate: 0.01, steps: 2, checkpoint: { dir: d } });
      await t0.fit();
      disposeTrainer(t0, m0);
      const loaded = await readCheckpoint(d);
      const model = mlp(41);
      const t = trainerFor(model, { optimizer: 'momentum', learningRate: 0.01 });
      const variants: [string, (o: { name: string; tensor: tf.Tensor }[]) => void, RegExp][] = [
        [
          'another shape',
          (o) => {
            o[1] = { name: o[1]!.name, tensor: tf.zeros([3]) };
          },
          /has shape \[3\] float32; its variable/,
        ],
        [
          '"iter" not first',
          (o) => {
            o.reverse();
          },
          /the first weight must be the "iter" counter/,
        ],
        [
          'no variable of this model',
          (o) => {
            o[1] = { name: 'elsewhere/momentum', tensor: o[1]!.tensor };
          },
          /"elsewhere\/momentum" is not the state of a variable of this parameter group/,
        ],
      ];
      const x = tf.scalar(1);
      await assert.rejects(
        writeCheckpoint(
          freshDir(),
          1,
          {},
          {
            g: [
              { name: 'a', tensor: x },
              { name: 'a', tensor: x },
            ],
          },
        ),
        /group "g" has two tensors named "a"/,
      );
      x.dispose();
      for (const [what, change, pattern] of variants) {
        const groups = Object.fromEntries(Object.keys(loaded.manifest.tensors).map((g) => [g, loaded.tensors(g)]));
        const made = Object.values(groups)
          .flat()
          .map((w) => w.tensor);
        change(groups['optimizer/0']!);
        const target = freshDir();
        await writeCheckpoint(target, loaded.manifest.step, loaded.manifest.state, groups);
        tf.dispose([
          ...made,
          ...Object.values(groups)
            .flat()
            .map((w) => w.tensor),
        ]);
        await t$(what, () => expectRefused(model, t, target, pattern));
      }
      disposeTrainer(t, model);
    });

    it('a version 1 checkpoint (before manifest checksums) still restores, with a warning', async () => {
      const v1 = freshDir();
      const folder = join(v1, 'step-00000002');
      mkdirSync(folder, { recursive: true });
      const source = join(dir, latestOf(dir).folder);
      const m = JSON.parse(readFileSync(join(source, 'checkpoint.json'), 'utf8'));
      delete m.manifestSha256;
      delete m.runId;
      m.version = 1;
      writeFileSync(join(folder, 'checkpoint.json'), JSON.stringify(m, null, 1));
      writeFileSync(join(folder, 'tensors.bin'), readFileSync(join(source, 'tensors.bin')));
      writeFileSync(join(v1, 'latest.json'), JSON.stringify({ step: 2, folder: 'step-00000002' }));
      const model = mlp(17);
      const t = trainerFor(model, {});
      const info = await t.restore(v1);
      assert.equal(info.step, 2);
      assert.equal(info.fellBack, false);
      assert.match(info.warnings.join(), /version 1 checkpoint; its manifest has no checksum/);
      disposeTrainer(t, model);
    });
  });
});

/** Runs `f`, prefixing a failure with what was being tried. */
async function t$(what: string, f: () => Promise<void>): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (e instanceof Error) e.message = `${what}: ${e.message}`;
    throw e;
  }
}
