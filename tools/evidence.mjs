// Checks the README's evidence table against the saved results: every "mean ± interval" in a row is found in the
// result.json of the experiment the row names (docs/results/v0.2/<label>/), at the precision the README shows, in a
// row of that result for the same optimizer (the column's, or the one the cell names), with the sign the README
// writes; the verdict a row states ("better", "worse by", "equivalent within ±m", "no significant difference") must
// be the verdict the result gives the comparison it quotes (each ";"-separated part of the verdict cell on its own).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const NUM = '[+−-]?\\d+(?:\\.\\d+)?';
const PAIR = new RegExp(`(${NUM})(%?) ± (\\d+(?:\\.\\d+)?)`, 'g');
/** "0.077 / 0.080 / 0.078 (± 0.011": several means that share an interval (shown once, to its last digit). */
const SHARED = new RegExp(`(${NUM}(?: / ${NUM})*) \\(± (\\d+(?:\\.\\d+)?)`, 'g');
const COLUMNS = [undefined, 'ADOPT', 'Adam', 'AdamW', 'AMSGrad'];
const decimals = (s) => (s.includes('.') ? s.length - s.indexOf('.') - 1 : 0);
const number = (s) => Number(s.replace('−', '-'));
const signed = (s) => /^[+−-]/.test(s);

function pair(meanText, ciText, shared = false) {
  return { text: `${meanText} ± ${ciText}`, mean: number(meanText), meanDigits: decimals(meanText), signed: signed(meanText), ci: number(ciText), ciDigits: decimals(ciText), shared };
}

/** Every mean ± interval in a text, also the "a / b (± c" form. */
export function pairs(text) {
  const found = [...text.matchAll(PAIR)].map((m) => pair(m[1], m[3]));
  for (const m of text.matchAll(SHARED)) for (const mean of m[1].split(' / ')) found.push(pair(mean, m[2], true));
  return found;
}

/** The rows of the results table: [label, row text]; a row without an experiment label is an error. */
export function evidenceRows(readme) {
  const start = readme.indexOf('### Results (');
  if (start < 0) throw new Error('README.md: no "### Results (" section');
  const table = readme.slice(start).split('\n').slice(1).filter((l) => l.startsWith('|')).slice(2); // after header and rule
  return table.map((line) => {
    const label = line.match(/^\| `([a-z0-9-]+)`/)?.[1];
    if (label === undefined) throw new Error(`README.md: a results row names no experiment: ${line.slice(0, 80)}`);
    return [label, line];
  });
}

/** The optimizer label a cell's segment speaks of ("8-bit: AdamW 98.0 ± 0.1" in the Adam column is "AdamW (8-bit state)"). */
export function optimizerOf(cell, segment, column) {
  const name = segment.trim().replace(/^(8-bit|4-bit|ε added|at ε 1e-6):\s*/, '').match(/^(ADOPT|AdamW|Adam|AMSGrad)\b/)?.[1];
  const variant = (/^\s*(8-bit|4-bit)/.exec(cell) ?? [])[1] ?? (/^\s*(ε added|at ε 1e-6):/.exec(segment) ?? [])[1];
  const base = name ?? (variant === 'at ε 1e-6' ? 'Adam' : variant !== undefined && column === 'Adam' ? 'ADOPT' : column);
  const suffix = { '8-bit': ' (8-bit state)', '4-bit': ' (4-bit state)', 'ε added': ' (ε added)', 'at ε 1e-6': ' (ε 1e-6)' }[variant] ?? '';
  return `${base}${suffix}`;
}

const VERDICT = /^(ADOPT better|ADOPT worse|equivalent within ±[\d.]+|no significant difference)/;

/** The verdicts a part of the README's verdict cell states, in the lab's words. */
export function statedVerdicts(text) {
  const stated = new Set();
  if (text.includes('**better**')) stated.add('ADOPT better');
  if (/\bworse (by|than)\b/.test(text)) stated.add('ADOPT worse');
  if (/no significant difference/.test(text)) stated.add('no significant difference');
  for (const m of text.matchAll(/equivalent within ±([\d.]+)/g)) stated.add(`equivalent within ±${m[1]}`);
  return stated;
}

/** The rows of every table in a result, each with its pairs. */
function resultRows(result) {
  const tables = [result.summary, ...(result.tables ?? [])].filter(Boolean);
  return tables.flatMap((t) => t.rows.map((row) => ({ cells: row.map(String), pairs: pairs(row.map(String).join(' | ')) })));
}

/** Whether a README pair is one a result row shows at as many digits or more, with the same sign when the README gives one. */
export function shownIn(p, resultPairs) {
  const close = (a, b, digits) => Math.abs(a - b) <= 0.5 * 10 ** -digits + 1e-9;
  return resultPairs.some((r) => r.meanDigits >= p.meanDigits && r.ciDigits >= p.ciDigits &&
    (p.signed ? close(r.mean, p.mean, p.meanDigits) : close(Math.abs(r.mean), Math.abs(p.mean), p.meanDigits)) &&
    (p.shared ? Math.abs(r.ci - p.ci) <= 10 ** -p.ciDigits + 1e-9 : close(r.ci, p.ci, p.ciDigits)));
}

/** What in the README is not supported by its experiment's results: [label, text, why]. */
export function unsupported(root, exceptions = {}) {
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
    cells.forEach((cell, c) => {
      const verdictColumn = c === cells.length - 1;
      for (const segment of cell.split(';')) {
        const stated = verdictColumn ? statedVerdicts(segment) : new Set();
        const given = new Set();
        for (const p of pairs(segment)) {
          if ((exceptions[label] ?? []).includes(p.text)) continue;
          const column = COLUMNS[c];
          const optimizer = column === undefined ? undefined : optimizerOf(cell, segment, column);
          const matching = rows.filter((r) => (optimizer === undefined || r.cells.includes(optimizer)) && shownIn(p, r.pairs));
          if (matching.length === 0) out.push([label, p.text, optimizer ? `not in a row of ${optimizer} in result.json` : 'not in result.json']);
          for (const r of matching) {
            const verdict = VERDICT.exec(r.cells.at(-1))?.[1]?.replace(/ %$/, '');
            if (verdict !== undefined) given.add(verdict);
          }
        }
        // a part that states verdicts and quotes comparisons: every verdict it states is one the result gives them
        if (given.size > 0) for (const v of stated) if (!given.has(v)) out.push([label, v, `the result says ${[...given].map((g) => `"${g}"`).join(' / ')} here`]);
      }
    });
  }
  return out;
}

/**
 * Pairs the README shows that no table of the lab holds, each computed from the same saved runs and said so in
 * its row: the README text, and why it is not in result.json.
 */
export const COMPUTED_OUTSIDE_THE_LAB = {
  'mnist-int4': ['−0.08 ± 0.22', '+0.0041 ± 0.0087'], // AdamW float32 − 4-bit: the table pairs ADOPT with each other run
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const missing = unsupported(process.cwd(), COMPUTED_OUTSIDE_THE_LAB);
  for (const [label, text, why] of missing) console.log(`${label}: ${text} ${why}`);
  process.exitCode = missing.length > 0 ? 1 : 0;
}
