// The claims check: declarations recomputed from runs, and each way a claim can be stated wrongly is caught.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimFindings, claimsTableProblems, proseProblems, proseSentences } from './evidence-claims.mjs';
import { evidenceProblems, unsupported } from './evidence.mjs';
import { claimsMarkdown } from '../packages/adopt-lab/dist/claim_view.js';
import { formatP } from '../packages/adopt-lab/dist/stats.js';

const root = join(import.meta.dirname, '..');
const scratch = mkdtempSync(join(tmpdir(), 'evidence-claims-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const DAY = 86_400_000;
/** A results folder with one experiment, `gpt`: per optimizer, a value per seed 1-5 (and a start time per seed). */
function results(values, { late = [] } = {}) {
  const dir = mkdtempSync(join(scratch, 'root-'));
  const runs = join(dir, 'docs', 'results', 'v0.2', 'gpt', 'runs');
  mkdirSync(runs, { recursive: true });
  writeFileSync(join(dir, 'docs', 'results', 'v0.2', 'gpt', 'result.json'), JSON.stringify({ summary: { rows: [] } }));
  for (const [opt, xs] of Object.entries(values)) {
    xs.forEach((x, k) => {
      const seed = k + 1;
      const start = Date.parse('2026-11-01T00:00:00Z') + (late.includes(seed) ? DAY : 0) + seed * 60_000;
      const startedAt = new Date(start).toISOString();
      writeFileSync(
        join(runs, `${opt}-b2own-lr0.001-seed${seed}.json`),
        JSON.stringify({
          optimizer: opt,
          seed,
          setting: { beta2: 'own', learningRate: 0.001 },
          final: { loss: x, spikes: 2 },
          startedAt,
          seconds: 60,
        }),
      );
    });
  }
  return dir;
}

const METRIC = { key: 'loss', label: 'loss', scale: 1, digits: 2, lowerIsBetter: true };
const SPIKES = { key: 'spikes', label: 'spikes', scale: 1, digits: 1, lowerIsBetter: true };
const arm = (opt) => ({ opt, beta2: 'own', lr: 0.001 });
const claim = (id, baselines, extra = {}) => ({
  id,
  experiment: 'gpt',
  about: id,
  metric: METRIC,
  comparisons: baselines.map((b) => ({ a: arm('adopt'), b: arm(b) })),
  seeds: [1, 2, 3, 4, 5],
  declared: '2026-12-01',
  retrospective: 'a test',
  ...extra,
});
// adopt − adam: −0.5, −1.5, −0.2, −1.8, −1.0 (raw p about 0.026); adopt − the others: noise around 0
const VALUES = {
  adopt: [10, 10, 10, 10, 10],
  adam: [10.5, 11.5, 10.2, 11.8, 11.0],
  adamw: [10.1, 9.8, 10.2, 9.9, 10.05],
  amsgrad: [9.9, 10.2, 9.85, 10.1, 9.95],
  nadam: [10.2, 9.7, 10.1, 9.95, 10.0],
  twin: [11, 11, 11, 11, 11],
};

describe('the claims, recomputed from their declarations', () => {
  it('the README holds: every claim, the claims table, the verdict cells and the prose agree with the runs', () => {
    assert.deepEqual(evidenceProblems(root), []);
    const { comparisons } = claimFindings(root);
    assert.ok(comparisons.length >= 100, `${comparisons.length} comparisons`);
  });

  it('AdamW float32 − 4-bit (once computed outside the lab) is what the runs give, by independent arithmetic', () => {
    const dir = join(root, 'docs', 'results', 'v0.2', 'mnist-int4', 'runs');
    const final = (name, seed) =>
      JSON.parse(readFileSync(join(dir, `${name}-b2own-lr0.001-seed${seed}.json`), 'utf8')).final;
    const d = [1, 2, 3, 4, 5].map((s) => 100 * (final('adamw', s).testAccuracy - final('adamw-int4', s).testAccuracy));
    const mean = d.reduce((a, b) => a + b) / 5;
    const half = (2.7764451051977987 * Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / 4)) / Math.sqrt(5);
    const x = claimFindings(root).comparisons.find(
      (c) => c.a.opt === 'adamw' && c.b.opt === 'adamw-int4' && c.text.includes('0.2'),
    );
    assert.equal(x.text, `${mean < 0 ? '−' : '+'}${Math.abs(mean).toFixed(2)} ± ${half.toFixed(2)}`);
  });

  it('fails on a constant comparison inside a family, and on an excluded one that is not constant', () => {
    const dir = join(results(VALUES), 'docs', 'results', 'v0.2');
    const constant = claimFindings(join(dir, '..', '..', '..'), [claim('C1', ['twin'])]);
    assert.match(constant.problems.join('\n'), /constant \(every paired difference is -1\)/);
    assert.deepEqual(
      claimFindings(join(dir, '..', '..', '..'), [claim('C1', ['adam'])]).problems,
      [],
      'a varying one passes',
    );
    const spikes = {
      ...claim('C1', ['adam']),
      excluded: [{ a: arm('adopt'), b: arm('adam'), metric: SPIKES, why: 'equal' }],
    };
    assert.deepEqual(
      claimFindings(join(dir, '..', '..', '..'), [spikes]).problems,
      [],
      'spikes 2 − 2: constant, left out',
    );
    const wrong = {
      ...claim('C1', ['adam']),
      excluded: [{ a: arm('adopt'), b: arm('adam'), metric: METRIC, why: 'said equal' }],
    };
    assert.match(claimFindings(join(dir, '..', '..', '..'), [wrong]).problems.join('\n'), /excluded as constant, but/);
  });

  it('fails when one comparison gets two verdicts (alone it is significant, in a family of five it is not)', () => {
    const dir = results(VALUES);
    const alone = claim('C1', ['adam']);
    const family = claim('C2', ['adam', 'adamw', 'amsgrad', 'nadam']);
    const both = claimFindings(dir, [alone, family]);
    const verdicts = both.comparisons.filter((x) => x.b.opt === 'adam').map((x) => x.verdict.own);
    assert.deepEqual(verdicts, ['better', 'no significant difference']);
    const twoVerdicts = /one comparison \(−1\.00 ± 0\.83\), two verdicts: C1 "better", C2 "no significant diff/;
    assert.match(both.problems.join('\n'), twoVerdicts);
    assert.deepEqual(
      claimFindings(dir, [alone, claim('C2', ['adam'])]).problems,
      [],
      'the same family twice: one verdict',
    );
  });

  it('fails on seeds added after a result unless the claim declares the extension, and reports the fixed-n result', () => {
    const dir = results(VALUES, { late: [4, 5] });
    const undeclared = claimFindings(dir, [claim('C1', ['adam'])]).problems.join('\n');
    assert.match(undeclared, /seeds 4, 5 were run after a result on seeds 1, 2, 3/);
    const declared = claim('C1', ['adam'], { extension: { fixedSeeds: [1, 2, 3], why: 'a test' } });
    const found = claimFindings(dir, [declared]);
    assert.deepEqual(found.problems, []);
    assert.equal(found.comparisons[0].fixed.text, '−0.73 ± 1.69');
    assert.match(claimFindings(results(VALUES), [declared]).problems.join('\n'), /declares an extension .* one batch/);
    const early = { ...claim('C1', ['adam']), declared: '2026-12-01', retrospective: undefined };
    assert.match(claimFindings(results(VALUES), [early]).problems.join('\n'), /before the claim was declared/);
  });
});

describe("the README's words against the claims", () => {
  const dir = results(VALUES);
  const claims = [
    claim('C1', ['adam']),
    claim('C2', ['adamw', 'amsgrad', 'nadam'], { margin: { value: 0.5, basis: 'a test' } }),
  ];
  const { comparisons } = claimFindings(dir, claims);
  const prose = (text) => `What this shows:\n${text}\nThe runs of 0.1`;

  it('a verdict word needs a cited claim whose test gives it; "as many" and "no cost" need equivalence', () => {
    assert.deepEqual(
      comparisons.map((x) => x.verdict.own),
      ['better', 'equivalent', 'equivalent', 'equivalent'],
    );
    assert.deepEqual(
      proseProblems(prose('- ADOPT is better than Adam (C1). It is equivalent to the others (C2).'), comparisons),
      [],
    );
    const bad = {
      'no claim cited': '- ADOPT is better than Adam.',
      'better where the test says equivalent': '- ADOPT is better than AdamW (C2).',
      'as many without equivalence': '- ADOPT has as many as Adam (C1).',
      'no cost without equivalence': '- Adam shows no cost (C1).',
      'no significant difference where it is significant': '- There is no significant difference with Adam (C1).',
      'README-wide where only the family holds': '- README-wide, ADOPT is better than Adam (C1).',
      'a claim that does not exist': '- ADOPT is better (C9).',
    };
    for (const [what, text] of Object.entries(bad))
      assert.notDeepEqual(proseProblems(prose(text), comparisons), [], what);
    assert.deepEqual(proseSentences(prose('- One (C1). Two (C2). Three.')), [
      'What this shows:',
      '- One (C1).',
      'Two (C2).',
      'Three.',
    ]);
  });

  it('the claims table must be the generated one', () => {
    const table = claimsMarkdown(claims, comparisons);
    const start = '<!-- claims: generated by `adopt-lab claims`; checked by tools/evidence.mjs -->';
    const readme = (t) => `${start}\n${t}\n<!-- /claims -->`;
    assert.deepEqual(claimsTableProblems(readme(table), comparisons, claims), []);
    assert.notDeepEqual(
      claimsTableProblems(readme(table.replace('| better |', '| no significant difference |')), comparisons, claims),
      [],
    );
    assert.notDeepEqual(claimsTableProblems('no table', comparisons, claims), []);
    assert.notDeepEqual(
      claimsTableProblems(`Holm over 5 distinct comparisons\n${readme(table)}`, comparisons, claims),
      [],
      'a stale count',
    );
  });

  it("a verdict cell states its claim comparison's verdict and Holm p, and quotes no undeclared difference", () => {
    const findings = { comparisons, problems: [] };
    const adam = comparisons[0];
    const row = (cell) => {
      writeFileSync(
        join(dir, 'README.md'),
        '### Results (0.2)\n\n| experiment | ADOPT | Adam | AdamW | AMSGrad | verdict |\n' +
          '|---|---|---|---|---|---|\n' +
          `| \`gpt\` (5) | — | — | — | — | ${cell} |\n`,
      );
      return unsupported(dir, {}, findings, claims);
    };
    assert.deepEqual(row(`**better**, ${adam.text} (Holm p ${formatP(adam.holm.own)}) (C1)`), []);
    assert.notDeepEqual(row(`no significant difference, ${adam.text} (C1)`), [], 'another verdict');
    assert.notDeepEqual(row(`**better**, ${adam.text} (Holm p 0.30) (C1)`), [], 'another Holm p');
    assert.notDeepEqual(row('**better**, −3.00 ± 0.10 (C1)'), [], 'a difference no claim declares');
    assert.notDeepEqual(row(`no significant difference (${comparisons[1].text}) (C2)`), [], 'equivalence understated');
  });
});
