/**
 * Model-based fuzzing of the optimizer lifecycle (test/lifecycle.ts): a short run here, a long one
 * with `npm run fuzz` (ADOPT_FUZZ_RUNS sequences). Failures found become the regression tests below,
 * replayed as explicit command sequences (a fast-check seed and path would not survive a change of
 * the generators).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { commandsFor, configs, initialShapes, Recreate, RoundTrip, runSequence, stats, Step } from './lifecycle.js';

const scratch = mkdtempSync(join(tmpdir(), 'adopt-lifecycle-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let runs = 0;
const dir = () => join(scratch, `run-${runs++}`);

const LONG = Number(process.env['ADOPT_FUZZ_RUNS'] ?? 0);

describe('the optimizer lifecycle against a model (fast-check)', () => {
  it(LONG > 0 ? `${LONG} random sequences (long run)` : '150 random sequences of up to 30 commands (the CI budget)', async (t) => {
    const started = Date.now();
    const property = fc.asyncProperty(configs, initialShapes, commandsFor(), (c, shapes, cmds) => runSequence(c, shapes, cmds, dir()));
    const out = await fc.check(property, { numRuns: LONG > 0 ? LONG : 150, seed: LONG > 0 ? Date.now() : 20261202 });
    t.diagnostic([...stats].sort().map(([k, v]) => `${k}: ${v}`).join('; '));
    t.diagnostic(`${out.numRuns} sequences in ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${out.seed}` +
      `${out.failed ? `; failed: path "${out.counterexamplePath}"` : ''}`);
    assert.ok(!out.failed, `${fc.defaultReportMessage(out)}\n${String((out.errorInstance as Error | undefined)?.stack ?? out.errorInstance)}`);
  });

  describe('regressions found by it', () => {
    it('8-bit state of 5 elements was accepted by setWeights for a variable re-created as [4, 2] (format 1 padded both to 8 codes)', async () => {
      for (const backend of ['cpu', 'wasm'] as const) {
        await runSequence({ family: 'adopt', stateDtype: 'int8', nonFinite: 'throw', fused: true, backend }, [[5], [1], [1]],
          [new Step(['fa', 'fc'], ['ok', 'ok'], 0), new Recreate('fa', [4, 2], 1), new RoundTrip()], dir());
      }
    });

    it('the same with 4-bit state (5 and [4, 2] elements both pad to 16 codes): refused, nothing changes', async () => {
      for (const backend of ['cpu', 'wasm'] as const) {
        await runSequence({ family: 'adopt', stateDtype: 'int4', nonFinite: 'throw', fused: true, backend }, [[5], [1], [1]],
          [new Step(['fa', 'fc'], ['ok', 'ok'], 0), new Recreate('fa', [4, 2], 1), new RoundTrip()], dir());
      }
    });
  });
});
