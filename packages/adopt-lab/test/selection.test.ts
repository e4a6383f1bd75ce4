// Choosing each optimizer's learning rate on held-out seeds (RL has no held-out data): the choice comes from
// those seeds' runs only, and no reported row or comparison includes them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RunRecord } from '../src/runs.js';
import { standardTables, type SummarySpec } from '../src/summary.js';

const record = (optimizer: string, seed: number, learningRate: number, score: number) =>
  ({ optimizer, seed, setting: { beta2: 'own', learningRate }, final: { score } }) as unknown as RunRecord;

// on the held-out seeds (1001, 1002) ADOPT does best at 3e-3; on the reported seeds (1, 2) at 1e-3
const records = [
  ...[1001, 1002].flatMap((s) => [
    record('adopt', s, 1e-3, 10),
    record('adopt', s, 3e-3, 20),
    record('adam', s, 1e-3, 15),
    record('adam', s, 3e-3, 5),
  ]),
  ...[1, 2].flatMap((s) => [
    record('adopt', s, 1e-3, 30 + s),
    record('adopt', s, 3e-3, 12 + s),
    record('adam', s, 1e-3, 14 + s),
    record('adam', s, 3e-3, 40 + s),
  ]),
];
const spec = (held: boolean): SummarySpec => ({
  metrics: [{ key: 'score', label: 'score', digits: 1, lowerIsBetter: false, compare: true }],
  defaultLr: 1e-3,
  select: { key: 'score', lowerIsBetter: false, on: 'score', ...(held ? { seeds: (s: number) => s >= 1001 } : {}) },
});

describe('rates chosen on held-out seeds', () => {
  it('chooses on the held-out seeds and reports the others only', () => {
    const t = standardTables(records, spec(true));
    assert.equal(t.selection.best.get('own|adopt'), 3e-3);
    assert.equal(t.selection.best.get('own|adam'), 1e-3);
    const own = t.summary.rows.filter((r) => String(r[2]).startsWith('own best'));
    // ADOPT at 3e-3 on seeds 1, 2: 13 and 14; Adam at 1e-3: 15 and 16; two seeds each, no held-out run
    assert.deepEqual(
      own.map((r) => [r[1], r[2], r[3], r[4]]),
      [
        ['ADOPT', 'own best: 0.003', 2, '13.5 ± 6.4'],
        ['Adam', 'own best: 0.001', 2, '15.5 ± 6.4'],
      ],
    );
    assert.ok(t.notes.some((n) => /held-out seeds 1001, 1002/.test(n)));
    // the sweep table shows what the choice saw: the held-out seeds' scores (ADOPT 10 and 20, Adam 15 and 5)
    const sweep = t.tables.find((x) => x.title.startsWith('Learning-rate sweep'))!;
    assert.deepEqual(
      sweep.rows.map((r) => [r[1], r[2], r[3], r[4]]),
      [
        ['ADOPT', 1e-3, '10.0 ± 0.0', ''],
        ['ADOPT', 3e-3, '20.0 ± 0.0', '←'],
        ['Adam', 1e-3, '15.0 ± 0.0', '←'],
        ['Adam', 3e-3, '5.0 ± 0.0', ''],
      ],
    );
  });
  it('without held-out seeds the choice is made on the reported runs (negative control)', () => {
    const t = standardTables(records, spec(false));
    assert.equal(t.selection.best.get('own|adopt'), 1e-3);
    assert.equal(t.selection.best.get('own|adam'), 3e-3);
  });
});
