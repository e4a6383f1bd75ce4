// The README's evidence table against docs/results: every mean ± interval it shows is in the named experiment's result.json.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPUTED_OUTSIDE_THE_LAB, evidenceRows, pairs, shownIn, unsupported } from './evidence.mjs';

const root = join(import.meta.dirname, '..');

describe("the README's evidence table", () => {
  it('every row names an experiment with saved results, and every mean ± interval in it is in that result.json', () => {
    const rows = evidenceRows(readFileSync(join(root, 'README.md'), 'utf8'));
    assert.ok(rows.length >= 30, `${rows.length} rows`);
    assert.deepEqual(unsupported(root, COMPUTED_OUTSIDE_THE_LAB), []);
  });

  it('the exceptions are still in the README (none left over)', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    for (const [label, texts] of Object.entries(COMPUTED_OUTSIDE_THE_LAB)) {
      const row = evidenceRows(readme).filter(([l]) => l === label).map(([, r]) => r).join('\n');
      for (const text of texts) assert.ok(row.includes(text), `${label}: ${text}`);
    }
  });

  it('can fail: a number changed in the last digit shown, a wider interval, a row of another experiment', () => {
    const result = pairs('"2.932 ± 0.027", "-0.0400 ± 0.0270", "97.33 ± 0.23%"');
    assert.ok(shownIn(pairs('2.932 ± 0.027')[0], result));
    assert.ok(shownIn(pairs('better by 0.040 ± 0.027')[0], result), 'a difference written without its sign');
    assert.ok(shownIn(pairs('97.3 ± 0.2%')[0], result), 'fewer digits, rounded');
    assert.ok(!shownIn(pairs('2.933 ± 0.027')[0], result));
    assert.ok(!shownIn(pairs('2.932 ± 0.028')[0], result));
    assert.ok(!shownIn(pairs('97.330 ± 0.230')[0], result), 'more digits than the result holds');
    const readme = '### Results (0.2)\n\n| `charlm-medium-b4` (5) | 2.999 ± 0.027 |\n';
    assert.deepEqual(evidenceRows(readme), [['charlm-medium-b4', '| `charlm-medium-b4` (5) | 2.999 ± 0.027 |']]);
  });
});
