/**
 * Runs the structure-aware import fuzzer (./import_fuzz.ts): a short run in CI (ADOPT_IMPORT_FUZZ_RUNS for
 * a long one, `npm run fuzz:import`), each config once unmutated, and a demonstration that it catches
 * seeded bugs (injected by wrapping importState, not by editing it) within the CI budget.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type * as tf from '@tensorflow/tfjs';
import { importState } from '../src/interop/index.js';
import { useBackend } from './backends.js';
import { CONFIG_COUNT, property, runCase, type ImportFn } from './import_fuzz.js';
import { rewrite } from './interop_helpers.js';

const LONG = Number(process.env['ADOPT_IMPORT_FUZZ_RUNS'] ?? 0);
const CI_RUNS = 150;
const SEED = 20261207;

describe('import fuzzer', () => {
  it('every config: the unmutated export is accepted and means what the reference says', async () => {
    await useBackend('cpu');
    for (let k = 0; k < CONFIG_COUNT; k++) assert.equal(await runCase(k, [], false), 'accepted', `config ${k}`);
  });

  const runs = LONG > 0 ? LONG : CI_RUNS;
  it(`random mutations: refused changing nothing, or accepted as the file means (${runs} cases)`, async (t) => {
    await useBackend('cpu');
    const counts = { accepted: 0, refused: 0 };
    const started = Date.now();
    const seed = LONG > 0 ? Date.now() : SEED;
    t.diagnostic(`seed ${seed}`);
    await fc.assert(property(importState, counts), { numRuns: runs, seed, includeErrorInReport: true });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    t.diagnostic(`${counts.accepted} accepted, ${counts.refused} refused in ${seconds} s`);
    const few = 'fewer than 10% accepted: the mutations are too blunt to test meaning';
    assert.ok(counts.accepted >= (counts.accepted + counts.refused) / 10, few);
  });
});

describe('the fuzzer catches seeded bugs within the CI budget', () => {
  // each wraps the real importState with a bug the fixes removed; fc.check must find a counterexample
  const bugs: [string, ImportFn][] = [
    [
      "a variable-list target reads the tensors as stored (the file's axes ignored)",
      (opt, source, file, options) => {
        const asStored = (sd: Record<string, any>) => {
          sd.layout = 'tfjs';
          sd.param_groups[0].axes = sd.param_groups[0].axes.map(() => null);
        };
        return importState(opt, source, Array.isArray(source) ? rewrite(file, asStored) : file, options);
      },
    ],
    [
      'state of variables the file does not cover is dropped',
      async (opt, source, file, options) => {
        await importState(opt, source, file, options);
        const weights = Array.isArray(source)
          ? source
          : (source.trainableWeights as { read(): tf.Variable }[]).map((w) => w.read());
        const names = new Set(weights.map((v) => v.name));
        const own = (name: string) => !name.includes('/') || names.has(name.slice(0, name.lastIndexOf('/')));
        await opt.setWeights((await opt.getWeights()).filter((w) => own(w.name)));
      },
    ],
  ];
  for (const [what, bug] of bugs) {
    it(what, async () => {
      await useBackend('cpu');
      const r = await fc.check(property(bug), { numRuns: CI_RUNS, seed: SEED });
      assert.ok(r.failed, `the fuzzer missed the bug in ${CI_RUNS} cases`);
    });
  }
});
