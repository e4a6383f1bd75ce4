// The claims' declarations (src/claims.ts) against the suite, and the equivalence test against its 90% interval.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import { CLAIMS, MARGINS } from '../src/claims.js';
import type { Claim } from '../src/claim_types.js';
import { evaluateClaims } from '../src/inference.js';
import { SUITE } from '../src/suite.js';

const scratch = mkdtempSync(join(tmpdir(), 'claims-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the claims, declared in the suite', () => {
  it('ids C1, C2, ... in order; each names a suite experiment and only seeds that entry runs', () => {
    assert.deepEqual(
      CLAIMS.map((c) => c.id),
      CLAIMS.map((_, k) => `C${k + 1}`),
    );
    for (const c of CLAIMS) {
      const entry = SUITE.find((e) => e.label === c.experiment);
      assert.ok(entry, `${c.id}: ${c.experiment} is a suite entry`);
      for (const s of [...c.seeds, ...(c.select?.seeds ?? [])]) {
        assert.ok(entry.seeds.includes(s), `${c.id}: seed ${s} is the suite's`);
      }
      assert.ok(c.comparisons.length > 0, c.id);
      const best = c.comparisons.some(({ a, b }) => a.lr === 'best' || b.lr === 'best');
      assert.equal(best, c.select !== undefined, `${c.id}: a chosen rate comes with the rule that chooses it`);
      const ext = c.extension;
      if (ext) assert.ok(ext.fixedSeeds.every((s) => c.seeds.includes(s)) && ext.why.length > 20, c.id);
      for (const e of c.excluded ?? []) assert.ok(e.why.length > 20, `${c.id}: an exclusion says why`);
    }
  });

  it('every margin states its basis, and the claims use only those margins', () => {
    for (const m of Object.values(MARGINS)) assert.ok(m.basis.length > 80, `±${m.value}`);
    for (const c of CLAIMS) if (c.margin) assert.ok(Object.values(MARGINS).includes(c.margin), c.id);
  });
});

describe('equivalence by two one-sided tests', () => {
  /** A folder with ADOPT at 0 in every seed and Adam at -d per seed (so ADOPT − Adam = d). */
  function folder(diffs: number[]): string {
    const root = mkdtempSync(join(scratch, 'r-'));
    const runs = join(root, 'x', 'runs');
    mkdirSync(runs, { recursive: true });
    diffs.forEach((d, k) => {
      for (const [opt, v] of [
        ['adopt', 0],
        ['adam', -d],
      ] as const) {
        const setting = { beta2: 'own', learningRate: 0.001 };
        const startedAt = '2026-12-01T00:00:00Z';
        const run = { optimizer: opt, seed: k + 1, setting, final: { m: v }, startedAt, seconds: 1 };
        writeFileSync(join(runs, `${opt}-${k}.json`), JSON.stringify(run));
      }
    });
    return root;
  }
  const claim = (n: number, margin: number): Claim => ({
    id: 'C1',
    experiment: 'x',
    about: 'x',
    metric: { key: 'm', label: 'm', scale: 1, digits: 3, lowerIsBetter: true },
    comparisons: [{ a: { opt: 'adopt', beta2: 'own', lr: 0.001 }, b: { opt: 'adam', beta2: 'own', lr: 0.001 } }],
    margin: { value: margin, basis: 'a test' },
    seeds: Array.from({ length: n }, (_, k) => k + 1),
    declared: '2026-12-07',
    retrospective: 'a test',
  });

  it('passes exactly when the 90% interval lies inside ±margin (against t quantiles, on both sides of it)', () => {
    const diffs = [0.1, -0.05, 0.2, 0.05, 0.15];
    const mean = 0.09;
    const sd = Math.sqrt(diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / 4);
    const edge = mean + (tQuantile(0.95, 4) * sd) / Math.sqrt(5); // the 90% interval's upper end
    for (const [margin, holds] of [
      [edge * 1.01, true],
      [edge * 0.99, false],
    ] as const) {
      const [x] = evaluateClaims(folder(diffs), [claim(5, margin)]).comparisons;
      assert.equal(x!.pTost < 0.05, holds, `margin ${margin}`);
      assert.equal(x!.verdict.own, holds ? 'equivalent' : 'no significant difference');
    }
  });
});
