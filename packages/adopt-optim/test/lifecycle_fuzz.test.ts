/**
 * Model-based fuzzing of the optimizer lifecycle (test/lifecycle.ts) and of the Trainer's (parameter
 * groups, refused steps, crashes and resumes, export/import: test/lifecycle_trainer.ts): a short run here,
 * a long one with `npm run fuzz` (ADOPT_FUZZ_RUNS sequences of each). Failures found become the regression
 * tests below, replayed as explicit command sequences (a fast-check seed and path would not survive a
 * change of the generators). Seeded bugs, put in through test-only hooks, show the Trainer's part can fail.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Trainer } from '../src/train/index.js';
import {
  commandsFor,
  configs,
  initialShapes,
  Recreate,
  RoundTrip,
  runSequence,
  stats,
  Step,
  withinBfloat16,
} from './lifecycle.js';
import { runTrainerSequence, trainerCommands, trainerConfigs, trainerStats } from './lifecycle_trainer.js';

const scratch = mkdtempSync(join(tmpdir(), 'adopt-lifecycle-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let runs = 0;
const dir = () => join(scratch, `run-${runs++}`);

const LONG = Number(process.env['ADOPT_FUZZ_RUNS'] ?? 0);

describe('the optimizer lifecycle against a model (fast-check)', () => {
  it(
    LONG > 0 ? `${LONG} random sequences (long run)` : '150 random sequences of up to 30 commands (the CI budget)',
    async (t) => {
      const started = Date.now();
      const property = fc.asyncProperty(configs, initialShapes, commandsFor(), (c, shapes, cmds) =>
        runSequence(c, shapes, cmds, dir()),
      );
      const out = await fc.check(property, { numRuns: LONG > 0 ? LONG : 150, seed: LONG > 0 ? Date.now() : 20261202 });
      t.diagnostic(
        [...stats]
          .sort()
          .map(([k, v]) => `${k}: ${v}`)
          .join('; '),
      );
      t.diagnostic(
        `${out.numRuns} sequences in ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${out.seed}` +
          `${out.failed ? `; failed: path "${out.counterexamplePath}"` : ''}`,
      );
      assert.ok(
        !out.failed,
        `${fc.defaultReportMessage(out)}\n${String((out.errorInstance as Error | undefined)?.stack ?? out.errorInstance)}`,
      );
    },
  );

  describe('regressions found by it', () => {
    it('8-bit state of 5 elements was accepted by setWeights for a variable re-created as [4, 2] (format 1 padded both to 8 codes)', async () => {
      for (const backend of ['cpu', 'wasm'] as const) {
        await runSequence(
          { family: 'adopt', stateDtype: 'int8', nonFinite: 'throw', fused: true, backend },
          [[5], [1], [1]],
          [new Step(['fa', 'fc'], ['ok', 'ok'], 0), new Recreate('fa', [4, 2], 1), new RoundTrip()],
          dir(),
        );
      }
    });

    it('the same with bfloat16 state (5 and [4, 2] elements both pad to 16): refused, nothing changes', async () => {
      for (const backend of ['cpu', 'wasm'] as const) {
        await runSequence(
          { family: 'adopt', stateDtype: 'bfloat16', nonFinite: 'throw', fused: true, backend },
          [[5], [1], [1]],
          [new Step(['fa', 'fc'], ['ok', 'ok'], 0), new Step(['fa'], ['ok'], 1), new Recreate('fa', [4, 2], 2)],
          dir(),
        );
      }
    });

    it("the bfloat16 check: a code one spacing off passes, two spacings off (or the sign's) fail", () => {
      const x = 1.2345;
      const code = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0]! >>> 16; // truncation
      withinBfloat16([code(x), code(x) + 1], [x, x], 'neighbours');
      assert.throws(() => withinBfloat16([code(x) + 2], [x], 'two off'), /two off\[0\]/);
      assert.throws(() => withinBfloat16([code(x) - 1], [x], 'one below the lower neighbour'), /below/);
      assert.throws(() => withinBfloat16([code(-x)], [x], 'sign'), /sign\[0\]/);
    });

    it('the same with 4-bit state (5 and [4, 2] elements both pad to 16 codes): refused, nothing changes', async () => {
      for (const backend of ['cpu', 'wasm'] as const) {
        await runSequence(
          { family: 'adopt', stateDtype: 'int4', nonFinite: 'throw', fused: true, backend },
          [[5], [1], [1]],
          [new Step(['fa', 'fc'], ['ok', 'ok'], 0), new Recreate('fa', [4, 2], 1), new RoundTrip()],
          dir(),
        );
      }
    });
  });
});

/** The Trainer property: random configs (groups, multipliers, options) and command sequences. */
const trainerProperty = (configs = trainerConfigs) =>
  fc.asyncProperty(configs, trainerCommands(), (c, cmds) => runTrainerSequence(c, cmds, dir()));
const TRAINER_CI_RUNS = 60;

describe('the Trainer lifecycle against a model (fast-check)', () => {
  const name =
    LONG > 0
      ? `${LONG} random sequences of Trainer commands (long run)`
      : `${TRAINER_CI_RUNS} random sequences of up to 12 Trainer commands (the CI budget)`;
  it(name, async (t) => {
    const started = Date.now();
    const runs = LONG > 0 ? LONG : TRAINER_CI_RUNS;
    const out = await fc.check(trainerProperty(), { numRuns: runs, seed: LONG > 0 ? Date.now() : 20261207 });
    t.diagnostic(
      [...trainerStats]
        .sort()
        .map(([k, v]) => `${k}: ${v}`)
        .join('; '),
    );
    t.diagnostic(
      `${out.numRuns} sequences in ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${out.seed}` +
        `${out.failed ? `; failed: path "${out.counterexamplePath}"` : ''}`,
    );
    const error = (out.errorInstance as Error | undefined)?.stack ?? out.errorInstance;
    assert.ok(!out.failed, `${fc.defaultReportMessage(out)}\n${String(error)}`);
  });

  describe('it catches seeded bugs (test-only hooks on Trainer.prototype, restored after) within the CI budget', () => {
    /** Runs the CI budget with `method` of Trainer.prototype replaced; returns the failure's message. */
    async function withBug(method: string, replacement: unknown, configs = trainerConfigs): Promise<string> {
      const proto = Trainer.prototype as unknown as Record<string, unknown>;
      const original = proto[method];
      assert.equal(typeof original, 'function', `Trainer.prototype.${method} (the hook) is gone`);
      proto[method] = replacement;
      try {
        const options = { numRuns: TRAINER_CI_RUNS, seed: 20261207, endOnFailure: true };
        const out = await fc.check(trainerProperty(configs), options);
        assert.ok(out.failed, `the seeded bug in ${method} was not caught in ${TRAINER_CI_RUNS} sequences`);
        return String((out.errorInstance as Error).message);
      } finally {
        proto[method] = original;
      }
    }

    it('issue 6 back: a bad gradient goes to the optimizers group by group (one steps, a later one refuses)', async () => {
      // without clipping: with it a NaN spreads to every group through the norm, and the first group refuses
      const unclipped = trainerConfigs.map((c) => ({ ...c, clipGradNorm: undefined }));
      const message = await withBug('refuseBadStep', () => false, unclipped);
      assert.match(message, /: group \d state .* changed|: parameter .* changed/);
    });

    it('issue 16 back: the log is not cut on restore (steps redone after a crash are logged twice)', async () => {
      const message = await withBug('prepareLogCut', () => null);
      assert.match(message, /log steps/);
    });
  });
});
