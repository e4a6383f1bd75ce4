/**
 * Runs the structure-aware import fuzzer (./import_fuzz.ts): a short run in CI (ADOPT_IMPORT_FUZZ_RUNS for
 * a long one, `npm run fuzz:import`), each config once unmutated, and a demonstration that it catches
 * seeded bugs (injected by wrapping importState, not by editing it) within the CI budget.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { importState, type NamedStateOptimizer } from '../src/index.js';
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

  it(`random mutations: refused changing nothing, or accepted as the file means (${LONG > 0 ? LONG : CI_RUNS} cases)`, async (t) => {
    await useBackend('cpu');
    const counts = { accepted: 0, refused: 0 };
    const started = Date.now();
    await fc.assert(property(importState, counts), { numRuns: LONG > 0 ? LONG : CI_RUNS, seed: LONG > 0 ? Date.now() : SEED, includeErrorInReport: true });
    t.diagnostic(`${counts.accepted} accepted, ${counts.refused} refused in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.ok(counts.accepted >= (counts.accepted + counts.refused) / 10, 'fewer than 10% accepted: the mutations are too blunt to test meaning');
  });
});

describe('the fuzzer catches seeded bugs within the CI budget', () => {
  // each wraps the real importState with a bug the fixes removed; fc.check must find a counterexample
  const bugs: [string, ImportFn][] = [
    ['a variable-list target reads the tensors as stored (the file\'s axes ignored)', (opt: NamedStateOptimizer, source, file, options) =>
      importState(opt, source, Array.isArray(source) ? rewrite(file, (sd) => { sd.layout = 'tfjs'; sd.param_groups[0].axes = sd.param_groups[0].axes.map(() => null); }) : file, options)],
    ['state of variables the file does not cover is dropped', async (opt, source, file, options) => {
      await importState(opt, source, file, options);
      const names = new Set((Array.isArray(source) ? source : (source.trainableWeights as { read(): { name: string } }[]).map((w) => w.read())).map((v) => v.name));
      const weights = await opt.getWeights();
      await opt.setWeights(weights.filter((w) => !w.name.includes('/') || names.has(w.name.slice(0, w.name.lastIndexOf('/')))));
    }],
  ];
  for (const [what, bug] of bugs) {
    it(what, async () => {
      await useBackend('cpu');
      const r = await fc.check(property(bug), { numRuns: CI_RUNS, seed: SEED });
      assert.ok(r.failed, `the fuzzer missed the bug in ${CI_RUNS} cases`);
    });
  }
});
