// Checks the README's evidence against the saved results and the claims declared in the suite (evidence-claims.mjs: the
// claims table, the prose's verdict words, the declarations themselves). The table: every "mean ± interval" in a row is
// found in the result.json of the experiment the row names (docs/results/v0.2/<label>/), at the precision the README
// shows, in a row of that result for the same optimizer (the column's, or the one the cell names), with the sign the
// README writes; in the verdict cell, each verdict phrase ("better", "worse", "equivalent within ±m", "no significant
// difference") must be the verdict the result gives every comparison its clause quotes (the phrase and the numbers
// after it, up to the next phrase; ";" separates parts), and a verdict word it cannot read is an error.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLAIMS, claimFindings, claimsTableProblems, phraseOf, proseProblems } from './evidence-claims.mjs';

const NUM = '[+−-]?\\d+(?:\\.\\d+)?';
const PAIR = new RegExp(`(${NUM})(%?) ± (\\d+(?:\\.\\d+)?)`, 'g');
/** "0.077 / 0.080 / 0.078 (± 0.011": several means that share an interval (shown once, to its last digit). */
const SHARED = new RegExp(`(${NUM}(?: / ${NUM})*) \\(± (\\d+(?:\\.\\d+)?)`, 'g');
const COLUMNS = [undefined, 'ADOPT', 'Adam', 'AdamW', 'AMSGrad'];
const decimals = (s) => (s.includes('.') ? s.length - s.indexOf('.') - 1 : 0);
const number = (s) => Number(s.replace('−', '-'));
const signed = (s) => /^[+−-]/.test(s);

function pair(meanText, ciText, shared = false, at = 0) {
  return {
    text: `${meanText} ± ${ciText}`,
    mean: number(meanText),
    meanDigits: decimals(meanText),
    signed: signed(meanText),
    ci: number(ciText),
    ciDigits: decimals(ciText),
    shared,
    at,
  };
}

/** Every mean ± interval in a text, also the "a / b (± c" form. */
export function pairs(text) {
  const found = [...text.matchAll(PAIR)].map((m) => pair(m[1], m[3], false, m.index));
  for (const m of text.matchAll(SHARED)) {
    let offset = 0;
    for (const mean of m[1].split(' / ')) {
      found.push(pair(mean, m[2], true, m.index + offset));
      offset += mean.length + 3;
    }
  }
  return found;
}

/** The rows of the results table: [label, row text]; a row without an experiment label is an error. */
export function evidenceRows(readme) {
  const start = readme.indexOf('### Results (');
  if (start < 0) throw new Error('README.md: no "### Results (" section');
  const lines = readme.slice(start).split('\n').slice(1);
  const first = lines.findIndex((l) => l.startsWith('|'));
  const end = lines.findIndex((l, i) => i > first && !l.startsWith('|'));
  const table = lines.slice(first, end < 0 ? undefined : end).slice(2); // the first table: after header and rule
  return table.map((line) => {
    const label = line.match(/^\| `([a-z0-9-]+)`/)?.[1];
    if (label === undefined) throw new Error(`README.md: a results row names no experiment: ${line.slice(0, 80)}`);
    return [label, line];
  });
}

/**
 * The optimizer label a cell's segment speaks of ("8-bit: AdamW 98.0 ± 0.1" in the Adam column is "AdamW (8-bit
 * state)").
 */
export function optimizerOf(cell, segment, column) {
  const name = segment
    .trim()
    .replace(/^(8-bit|4-bit|bfloat16|ε added|at ε 1e-6):\s*/, '')
    .match(/^(ADOPT|AdamW|Adam|AMSGrad)\b/)?.[1];
  const variant =
    (/^\s*(8-bit|4-bit|bfloat16)/.exec(cell) ?? [])[1] ?? (/^\s*(ε added|at ε 1e-6):/.exec(segment) ?? [])[1];
  const base =
    name ?? (variant === 'at ε 1e-6' ? 'Adam' : variant !== undefined && column === 'Adam' ? 'ADOPT' : column);
  const suffix =
    {
      '8-bit': ' (8-bit state)',
      '4-bit': ' (4-bit state)',
      bfloat16: ' (bfloat16 state)',
      'ε added': ' (ε added)',
      'at ε 1e-6': ' (ε 1e-6)',
    }[variant] ?? '';
  return `${base}${suffix}`;
}

const VERDICT = /^(ADOPT better|ADOPT worse|equivalent within ±\d+(?:\.\d+)?|no significant difference)/;
const normal = (verdict) => verdict.replace(/±(\d+(?:\.\d+)?)/, (_, m) => `±${Number(m)}`);

/**
 * Verdict words the check reads, in the lab's words; any other verdict-like word is an error (it would go unchecked).
 */
const PHRASES = [
  [/\bbetter\b/g, () => 'ADOPT better'],
  [/\bworse\b/g, () => 'ADOPT worse'],
  [/no significant difference/g, () => 'no significant difference'],
  [/equivalent within ±(\d+(?:\.\d+)?)/g, (m) => normal(`equivalent within ±${m[1]}`)],
  [
    /\b(?:ahead|behind|tie[sd]?|equivalent(?! within ±\d)|outperform\w*|beats?|wins?|loses)\b/g,
    (m) => `unreadable: "${m[0]}"`,
  ],
];

/** The verdict phrases of a text, in order: where each starts and the verdict it states. */
export function verdictPhrases(text) {
  return PHRASES.flatMap(([re, verdict]) =>
    [...text.matchAll(re)].map((m) => ({ at: m.index, verdict: verdict(m) })),
  ).sort((a, b) => a.at - b.at);
}

/**
 * A part of a verdict cell as clauses: each verdict phrase with the text up to the next one (its numbers follow it:
 * "no significant difference (+0.19 ± 0.23)"); text before the first phrase belongs to the first clause
 * ("−0.07 ± 0.06: no significant difference").
 */
export function clauses(text) {
  const phrases = verdictPhrases(text);
  return phrases.map((p, i) => ({
    verdict: p.verdict,
    from: i === 0 ? 0 : p.at,
    to: phrases[i + 1]?.at ?? text.length,
  }));
}

/** The rows of every table in a result, each with its pairs. */
function resultRows(result) {
  const tables = [result.summary, ...(result.tables ?? [])].filter(Boolean);
  return tables.flatMap((t) =>
    t.rows.map((row) => ({ cells: row.map(String), pairs: pairs(row.map(String).join(' | ')) })),
  );
}

/**
 * Whether a README pair is one a result row shows at as many digits or more, with the same sign when the README gives
 * one.
 */
export function shownIn(p, resultPairs) {
  const close = (a, b, digits) => Math.abs(a - b) <= 0.5 * 10 ** -digits + 1e-9;
  return resultPairs.some(
    (r) =>
      r.meanDigits >= p.meanDigits &&
      r.ciDigits >= p.ciDigits &&
      (p.signed ? close(r.mean, p.mean, p.meanDigits) : close(Math.abs(r.mean), Math.abs(p.mean), p.meanDigits)) &&
      (p.shared ? Math.abs(r.ci - p.ci) <= 10 ** -p.ciDigits + 1e-9 : close(r.ci, p.ci, p.ciDigits)),
  );
}

/** Whether a p-value the README shows ("0.030", "< 0.001") is `p` at the digits shown. */
function sameP(shown, p) {
  if (shown.startsWith('<')) return p < Number(shown.slice(1));
  return Math.abs(p - Number(shown)) <= 0.5 * 10 ** -decimals(shown) + 1e-12;
}

/**
 * What in the README is not supported by its experiment's results: [label, text, why]. With `findings` (the claims
 * recomputed, evidence-claims.mjs) a verdict in the verdict cell is the verdict of the claim comparison whose
 * difference it quotes (a quoted difference no claim declares is an error), and each "Holm p" / "raw p" it shows is
 * that of a claim comparison of the row; without, the verdict is the one result.json's table gives.
 */
export function unsupported(root, exceptions = {}, findings = undefined, claims = CLAIMS) {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const out = [];
  for (const [label, row] of evidenceRows(readme)) {
    const path = join(root, 'docs', 'results', 'v0.2', label, 'result.json');
    if (!existsSync(path)) {
      out.push([label, '', `no ${path}`]);
      continue;
    }
    const rows = resultRows(JSON.parse(readFileSync(path, 'utf8')));
    const cells = row.split('|').slice(1, -1);
    /**
     * The verdicts of the result rows a README pair is found in (the optimizer's rows when the column names one); a
     * pair found in none is reported.
     */
    const verdictsOf = (p, cell, segment, c) => {
      const optimizer = COLUMNS[c] === undefined ? undefined : optimizerOf(cell, segment, COLUMNS[c]);
      const matching = rows.filter(
        (r) => (optimizer === undefined || r.cells.includes(optimizer)) && shownIn(p, r.pairs),
      );
      if (matching.length === 0)
        out.push([label, p.text, optimizer ? `not in a row of ${optimizer} in result.json` : 'not in result.json']);
      return new Set(
        matching
          .map((r) => VERDICT.exec(r.cells.at(-1))?.[1])
          .filter(Boolean)
          .map(normal),
      );
    };
    const exempt = (p) => (exceptions[label] ?? []).includes(p.text);
    const experimentOf = (id) => claims.find((k) => k.id === id)?.experiment;
    const rowClaims = (findings?.comparisons ?? []).filter((x) => experimentOf(x.claim) === label);
    /**
     * The claim comparisons a difference quotes, as [comparison, verdict phrase]: its result, or its fixed-n result.
     */
    const claimed = (p) =>
      rowClaims.flatMap((x) => [
        ...(shownIn(p, pairs(x.text)) ? [phraseOf(x, claims)] : []),
        ...(x.fixed && shownIn(p, pairs(x.fixed.text))
          ? [phraseOf({ ...x, verdict: { own: x.fixed.verdict } }, claims)]
          : []),
      ]);
    cells.forEach((cell, c) => {
      if (c < cells.length - 1) {
        for (const segment of cell.split(';'))
          for (const p of pairs(segment)) if (!exempt(p)) verdictsOf(p, cell, segment, c);
        return;
      }
      // the verdict cell: every clause's verdict is the one the result gives each comparison the clause quotes
      const inCell = new Set();
      const numberless = [];
      for (const segment of cell.split(';')) {
        const parts = clauses(segment);
        for (const { verdict } of parts)
          if (verdict.startsWith('unreadable'))
            out.push([label, verdict, 'say it as better, worse, equivalent within ±m or no significant difference']);
        const quoted = pairs(segment).filter((q) => !exempt(q));
        for (const [, kind, shown] of segment.matchAll(/\b(Holm|raw)(?: p)? (?:[≥≤] )?(< ?0\.\d+|\d+(?:\.\d+)?)/g)) {
          const value = shown.replace(' ', '');
          if (
            findings &&
            !rowClaims.some(
              (x) =>
                sameP(value, kind === 'Holm' ? x.holm.own : x.p) ||
                (x.fixed && sameP(value, kind === 'Holm' ? x.fixed.holm : x.fixed.p)),
            )
          )
            out.push([label, `${kind} p ${shown}`, 'no claim comparison of this row has this p']);
        }
        for (const p of quoted) {
          const fromClaims = claimed(p);
          const clauseOf = parts.find((k) => k.from <= p.at && p.at < k.to);
          if (findings && fromClaims.length === 0 && clauseOf && !clauseOf.verdict.startsWith('unreadable')) {
            out.push([label, p.text, 'a verdict on a difference no claim declares (src/claims.ts)']);
            continue;
          }
          const given = fromClaims.length > 0 ? new Set(fromClaims) : verdictsOf(p, cell, segment, c);
          for (const v of given) inCell.add(v);
          const clause = parts.find((k) => k.from <= p.at && p.at < k.to);
          if (clause === undefined || given.size === 0 || clause.verdict.startsWith('unreadable')) continue;
          if (!given.has(clause.verdict))
            out.push([
              label,
              `${clause.verdict} (${p.text})`,
              `the result says ${[...given].map((g) => `"${g}"`).join(' / ')}`,
            ]);
        }
        if (quoted.length === 0) numberless.push(...parts);
      }
      // a part that quotes no numbers: "better" and "worse" must be a verdict of some comparison the cell quotes
      for (const { verdict } of numberless) {
        if ((verdict === 'ADOPT better' || verdict === 'ADOPT worse') && inCell.size > 0 && !inCell.has(verdict))
          out.push([label, verdict, 'no comparison the row quotes has this verdict']);
      }
    });
  }
  return out;
}

/**
 * Pairs the README shows that no table of the lab holds, each computed from the same saved runs and said so in
 * its row: the README text, and why it is not in result.json.
 */
export const COMPUTED_OUTSIDE_THE_LAB = {};

/** Everything the README states that the saved runs and the claims' declarations do not support. */
export function evidenceProblems(root) {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const findings = claimFindings(root);
  return [
    ...findings.problems.map((p) => ['claims', '', p]),
    ...unsupported(root, COMPUTED_OUTSIDE_THE_LAB, findings),
    ...claimsTableProblems(readme, findings.comparisons),
    ...proseProblems(readme, findings.comparisons),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const missing = evidenceProblems(process.cwd());
  for (const [label, text, why] of missing) console.log(`${label}: ${text} ${why}`);
  process.exitCode = missing.length > 0 ? 1 : 0;
}
