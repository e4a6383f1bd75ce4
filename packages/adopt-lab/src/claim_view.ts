/**
 * The claims as readers see them: a Markdown table for the README (one row per claim: its family, its verdicts in
 * that family and under Holm over every claim at once) and an HTML table per comparison for report.html.
 */
import type { Arm, Claim } from './claim_types.js';
import type { ClaimVerdict, ComparisonResult } from './inference.js';
import { formatP } from './stats.js';

const NAMES: Record<string, string> = {
  adopt: 'ADOPT',
  adam: 'Adam',
  adamw: 'AdamW',
  amsgrad: 'AMSGrad',
  'adopt-int8': 'ADOPT 8-bit',
  'adopt-int4': 'ADOPT 4-bit',
  'adamw-int4': 'AdamW 4-bit',
  'adopt-bf16': 'ADOPT bfloat16',
  'adamw-bf16': 'AdamW bfloat16',
  'adopt-eps-add': 'ADOPT ε added',
  'adam-eps6': 'Adam ε 1e-6',
};
const name = (opt: string) => NAMES[opt] ?? opt;

/** "Adam", or "Adam, β2 0.99, own rate" where the claim's comparisons differ in those. */
export function comparisonLabel(x: ComparisonResult, all: ComparisonResult[]): string {
  const mine = all.filter((y) => y.claim === x.claim);
  const varies = (f: (a: Arm) => unknown) => new Set(mine.map((y) => f(y.b))).size > 1;
  const parts = [mine.some((y) => y.a.opt !== 'adopt') ? `${name(x.a.opt)} − ${name(x.b.opt)}` : name(x.b.opt)];
  if (varies((b) => b.beta2)) parts.push(`β2 ${x.b.beta2}`);
  if (varies((b) => b.lr)) parts.push(x.b.lr === 'best' ? `own rate (${x.b.rate})` : `at ${x.b.lr}`);
  return parts.join(', ');
}

/** Verdicts of a claim's distinct comparisons: "better (3)" when all agree, else each by its label. */
export function verdictSummary(claim: string, all: ComparisonResult[], which: 'own' | 'all'): string {
  const mine = [...new Map(all.filter((x) => x.claim === claim).map((x) => [x.key, x])).values()];
  const verdicts = new Set(mine.map((x) => x.verdict[which]));
  if (verdicts.size === 1) return `${[...verdicts][0]}${mine.length > 1 ? ` (all ${mine.length})` : ''}`;
  return mine.map((x) => `${comparisonLabel(x, all)}: ${x.verdict[which]}`).join('; ');
}

/** The fixed-n result beside an extension: "3 seeds: −0.019 ± 0.039, no significant difference". */
function fixedSummary(c: Claim, all: ComparisonResult[]): string {
  if (c.extension === undefined) return '—';
  const mine = [...new Map(all.filter((x) => x.claim === c.id).map((x) => [x.key, x])).values()];
  const each = mine.map((x) => `${x.fixed!.text} ${x.fixed!.verdict}`).join('; ');
  return `${c.extension.fixedSeeds.length} seeds: ${each}`;
}

const familySize = (c: Claim, all: ComparisonResult[]) =>
  new Set(all.filter((x) => x.claim === c.id).map((x) => x.key)).size;

/** The README's claims table (checked by tools/evidence.mjs against this output). */
export function claimsMarkdown(claims: Claim[], all: ComparisonResult[]): string {
  const head =
    '| claim | experiment (seeds) | what | family | margin | verdict in its family (Holm) | ' +
    'verdict README-wide (Holm over all) | before seeds were added |\n|---|---|---|---|---|---|---|---|';
  const rows = claims
    .map((c) =>
      [
        c.id,
        `\`${c.experiment}\` (${c.seeds.length})`,
        `${c.about}; ${c.metric.label}`,
        familySize(c, all),
        c.margin ? `±${c.margin.value}` : '—',
        verdictSummary(c.id, all, 'own'),
        verdictSummary(c.id, all, 'all'),
        fixedSummary(c, all),
      ].join(' | '),
    )
    .map((r) => `| ${r} |`);
  return [head, ...rows].join('\n');
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const list = (items: string[]) => `<ul>${items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>`;
const INTRO =
  'Each claim of the README is declared in the suite (src/claims.ts): its comparisons form its family ' +
  '(Holm ' +
  'within it); the README-wide columns apply Holm once over all N distinct comparisons of all claims, so a verdict ' +
  "there holds however many of the README's claims a reader takes together. Equivalence is two one-sided tests " +
  'against the claim\'s margin, Holm-adjusted in the same families; "no significant difference" claims nothing about ' +
  'equality. A comparison that is constant by construction is left out of every family and named in its declaration.';
const COLUMNS = [
  'claim',
  'experiment',
  'comparison',
  'metric',
  'pairs',
  'a − b (95% CI)',
  'p',
  'p (TOST)',
  'Holm (claim)',
  'verdict (claim)',
  'Holm (README-wide)',
  'verdict (README-wide)',
  'fixed-n result',
];

/** report.html's claims section: every comparison of every claim, with both verdicts. */
export function claimsHtml(claims: Claim[], all: ComparisonResult[], problems: string[], distinct: number): string {
  const mark = (v: ClaimVerdict) => (v === 'no significant difference' ? v : `<strong>${v}</strong>`);
  const rows = all
    .map((x) => {
      const c = claims.find((k) => k.id === x.claim)!;
      const fixed = x.fixed ? `${x.fixed.text}, Holm ${formatP(x.fixed.holm)}, ${x.fixed.verdict}` : '—';
      const cells = [
        x.claim,
        c.experiment,
        comparisonLabel(x, all),
        c.metric.label,
        String(x.seeds.length),
        x.text,
        formatP(x.p),
        Number.isNaN(x.pTost) ? '—' : formatP(x.pTost),
        formatP(x.holm.own),
        x.verdict.own,
        formatP(x.holm.all),
        x.verdict.all,
        fixed,
      ];
      const td = (v: string, k: number) => `<td>${k === 9 || k === 11 ? mark(v as ClaimVerdict) : escapeHtml(v)}</td>`;
      return `<tr>${cells.map(td).join('')}</tr>`;
    })
    .join('');
  const margins = [...new Map(claims.filter((c) => c.margin).map((c) => [c.margin!.value, c.margin!])).values()];
  const excluded = claims.flatMap((c) =>
    (c.excluded ?? []).map((e) => `${c.id}: left out, ${e.metric.label} ${name(e.a.opt)} − ${name(e.b.opt)}: ${e.why}`),
  );
  const extended = claims
    .filter((c) => c.extension)
    .map((c) => `${c.id}: ${c.extension!.why}; the ${c.extension!.fixedSeeds.length}-seed result is shown beside.`);
  return `<section id="claims"><h2>The README's claims, each in its own family and all at once</h2>
<p>${escapeHtml(INTRO.replace('all N', `all ${distinct}`))}</p>
${list(margins.map((m) => `Margin ±${m.value}: ${m.basis}`))}${list([...excluded, ...extended])}
${problems.length ? `<p><strong>Problems with the declarations:</strong></p>${list(problems)}` : ''}
<table><thead><tr>${COLUMNS.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>
<tbody>${rows}</tbody></table></section>`;
}
