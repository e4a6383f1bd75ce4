// The README's evidence table against docs/results: every mean ± interval it shows is in the named experiment's
// result.json (without claims: the verdict result.json gives; evidence-claims.test.mjs: the claims' verdicts).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimFindings } from './evidence-claims.mjs';
import {
  COMPUTED_OUTSIDE_THE_LAB,
  evidenceRows,
  optimizerOf,
  pairs,
  shownIn,
  unsupported,
  verdictPhrases,
} from './evidence.mjs';

const root = join(import.meta.dirname, '..');
const scratch = mkdtempSync(join(tmpdir(), 'evidence-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A repository of one result and a README row over it. */
function fixture(row) {
  const dir = mkdtempSync(join(scratch, 'root-'));
  mkdirSync(join(dir, 'docs', 'results', 'v0.2', 'gpt'), { recursive: true });
  writeFileSync(
    join(dir, 'docs', 'results', 'v0.2', 'gpt', 'result.json'),
    JSON.stringify({
      summary: {
        columns: ['beta2', 'optimizer', 'bits/char'],
        rows: [
          ['own', 'ADOPT', '2.932 ± 0.027'],
          ['own', 'Adam', '2.972 ± 0.015'],
          ['own', 'ADOPT (8-bit state)', '2.934 ± 0.012'],
        ],
      },
      tables: [
        {
          columns: ['metric', 'baseline', 'ADOPT − baseline', 'verdict'],
          rows: [
            ['bits/char', 'Adam', '-0.040 ± 0.027', 'ADOPT better'],
            ['bits/char', 'ADOPT (8-bit state)', '-0.002 ± 0.011', 'no significant difference'],
          ],
        },
      ],
    }),
  );
  writeFileSync(
    join(dir, 'README.md'),
    '### Results (0.2)\n\n| experiment | ADOPT | Adam | AdamW | AMSGrad | verdict ' +
      `|\n|---|---|---|---|---|---|\n${row}\n`,
  );
  return dir;
}

describe("the README's evidence table", () => {
  it('every row names an experiment with saved results, and every mean ± interval in it is in that result.json', () => {
    const rows = evidenceRows(readFileSync(join(root, 'README.md'), 'utf8'));
    assert.ok(rows.length >= 30, `${rows.length} rows`);
    assert.ok(rows.reduce((a, [, r]) => a + pairs(r).length, 0) >= 200, 'the pairs are found');
    assert.deepEqual(unsupported(root, COMPUTED_OUTSIDE_THE_LAB, claimFindings(root)), []);
    assert.deepEqual(COMPUTED_OUTSIDE_THE_LAB, {}, 'every difference the table quotes is a declared claim comparison');
  });

  it('a true row passes; a changed digit, swapped columns, a flipped sign or verdict, a row without a label fail', () => {
    const good = '| `gpt` (5) | 2.932 ± 0.027 | 2.972 ± 0.015 | — | — | **better**, −0.040 ± 0.027 |';
    assert.deepEqual(unsupported(fixture(good)), []);
    assert.deepEqual(
      unsupported(fixture('| `gpt` (5) | 2.93 ± 0.03 | 8-bit: 2.934 ± 0.012 | — | — | **better** by 0.04 (± 0.03) |')),
      [],
      'rounded, a variant, the shared form',
    );
    assert.deepEqual(
      unsupported(
        fixture(
          '| `gpt` (5) | 2.932 ± 0.027 | — | — | — | **better** by 0.040 ± 0.027; 8-bit: no significant difference ' +
            '(−0.002 ± 0.011) |',
        ),
      ),
      [],
      'each part its own verdict',
    );
    assert.deepEqual(
      unsupported(
        fixture(
          '| `gpt` (5) | — | — | — | — | −0.040 ± 0.027: **better** than Adam, no significant difference with 8-bit ' +
            '(−0.002 ± 0.011) |',
        ),
      ),
      [],
      'each clause its own verdict',
    );
    const bad = {
      digit: good.replace('2.932', '2.933'),
      interval: good.replace('± 0.015', '± 0.016'),
      swapped: good.replace('2.932 ± 0.027 | 2.972 ± 0.015', '2.972 ± 0.015 | 2.932 ± 0.027'),
      sign: good.replace('−0.040', '+0.040'),
      verdict: good.replace('**better**, −0.040', 'worse by 0.040'),
      shared: good.replace('**better**, −0.040 ± 0.027', '**better** by 0.050 (± 0.027'),
      variant: good.replace('2.972 ± 0.015', '8-bit: 2.972 ± 0.015'),
      'understated verdict': good.replace('**better**, −0.040', 'no significant difference, −0.040'),
      'equivalence claimed': good.replace('**better**, −0.040', 'equivalent within ±0.05, −0.040'),
      'verdict of another part': good.replace(
        '| **better**, −0.040 ± 0.027 |',
        '| **better** (8-bit: −0.002 ± 0.011) |',
      ),
      'one verdict for two comparisons': good.replace(
        '| **better**, −0.040 ± 0.027 |',
        '| no significant difference (−0.040 ± 0.027 against Adam, −0.002 ± 0.011 against 8-bit) |',
      ),
      'verdicts swapped within a part': good.replace(
        '| **better**, −0.040 ± 0.027 |',
        '| **better** than 8-bit (−0.002 ± 0.011), no significant difference with Adam (−0.040 ± 0.027) |',
      ),
      'a verdict without its numbers': good.replace(
        '| **better**, −0.040 ± 0.027 |',
        '| **better** than 8-bit; −0.002 ± 0.011 |',
      ),
      'not in bold': good.replace('| **better**, −0.040 ± 0.027 |', '| ADOPT better than 8-bit by 0.002 ± 0.011 |'),
      'a word the check cannot read': good.replace('| **better**, −0.040 ± 0.027 |', '| ahead, −0.040 ± 0.027 |'),
    };
    for (const [what, row] of Object.entries(bad)) assert.notDeepEqual(unsupported(fixture(row)), [], what);
    assert.throws(() => unsupported(fixture(good.replace('`gpt`', 'gpt'))), /names no experiment/);
  });

  it('reads numbers at the precision shown and the optimizer a cell names', () => {
    const result = pairs('"2.932 ± 0.027", "-0.0400 ± 0.0270", "97.33 ± 0.23%"');
    assert.ok(shownIn(pairs('97.3 ± 0.2%')[0], result), 'fewer digits, rounded');
    assert.ok(!shownIn(pairs('97.330 ± 0.230')[0], result), 'more digits than the result holds');
    assert.deepEqual(
      pairs('by 0.077 / 0.080 (± 0.011;').map((p) => [p.mean, p.ci, p.shared]),
      [
        [0.077, 0.011, true],
        [0.08, 0.011, true],
      ],
    );
    assert.equal(optimizerOf(' 8-bit: 98.25 ± 0.14% ', ' 8-bit: 98.25 ± 0.14% ', 'Adam'), 'ADOPT (8-bit state)');
    assert.equal(optimizerOf(' 4-bit: ADOPT 1 ± 1; AdamW 2 ± 1', ' AdamW 2 ± 1', 'Adam'), 'AdamW (4-bit state)');
    assert.equal(
      optimizerOf(' 2.816 ± 0.013; at ε 1e-6: 2.816 ± 0.010', ' at ε 1e-6: 2.816 ± 0.010', 'Adam'),
      'Adam (ε 1e-6)',
    );
    assert.equal(
      optimizerOf(' 2.739 ± 0.013; ε added: 2.734 ± 0.017', ' ε added: 2.734 ± 0.017', 'ADOPT'),
      'ADOPT (ε added)',
    );
    assert.equal(optimizerOf(' 97.90 ± 0.32% ', ' 97.90 ± 0.32% ', 'Adam'), 'Adam');
    const stated = (text) => verdictPhrases(text).map((p) => p.verdict);
    assert.deepEqual(
      stated('**better** than Adam; worse than AdamW, equivalent within ±0.250 points, no significant difference.'),
      ['ADOPT better', 'ADOPT worse', 'equivalent within ±0.25', 'no significant difference'],
    );
    assert.deepEqual(stated('equivalent within ±0.02. 8-bit ahead'), [
      'equivalent within ±0.02',
      'unreadable: "ahead"',
    ]);
  });
});
