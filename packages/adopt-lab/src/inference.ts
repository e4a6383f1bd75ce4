/**
 * Claims recomputed from the saved runs: each comparison's paired differences, t test and TOST, Holm within each
 * claim's family and over all claims at once (README-wide), the fixed-n result beside an extension, and what is
 * wrong with a declaration (a constant comparison in a family, two verdicts for one comparison, undeclared seeds).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import type { Arm, Claim, ClaimMetric } from './claim_types.js';
import { holm, interval95, sampleStd, twoSidedP } from './stats.js';

export type ClaimVerdict = 'better' | 'worse' | 'equivalent' | 'no significant difference' | 'diverged';

interface Run {
  optimizer: string;
  seed: number;
  setting: { beta2: 'own' | number; learningRate: number };
  final: Record<string, number>;
  startedAt: string;
  seconds: number;
}

export interface ComparisonResult {
  claim: string;
  a: Arm & { rate: number };
  b: Arm & { rate: number };
  seeds: number[];
  diffs: number[];
  mean: number;
  half: number;
  /** "−0.040 ± 0.027" as the README shows it (a − b). */
  text: string;
  p: number;
  /** max of the two one-sided p-values against ±margin; NaN without a margin. */
  pTost: number;
  /** Holm over the claim's family, and over every claim's comparisons at once. */
  holm: { own: number; all: number };
  tost: { own: number; all: number };
  verdict: { own: ClaimVerdict; all: ClaimVerdict };
  /** The same comparison over the claim's fixed seeds, when it declares an extension (its own family). */
  fixed?: { text: string; p: number; holm: number; verdict: ClaimVerdict };
  /** What identifies the comparison's data (the same runs in two folders give the same key). */
  key: string;
}

export interface ClaimsResult {
  comparisons: ComparisonResult[];
  problems: string[];
}

const BETA2: Record<string, number> = {
  adopt: 0.9999,
  'adopt-int8': 0.9999,
  'adopt-int4': 0.9999,
  'adopt-bf16': 0.9999,
  'adopt-eps-add': 0.9999,
  'adopt-unclipped': 0.9999,
};
const defaultBeta2 = (opt: string) => BETA2[opt] ?? 0.999;
const matches = (r: Run, opt: string, beta2: 'own' | number) =>
  r.optimizer === opt &&
  (r.setting.beta2 === beta2 ||
    (r.setting.beta2 === 'own' && beta2 === defaultBeta2(opt)) ||
    (beta2 === 'own' && r.setting.beta2 === defaultBeta2(opt)));
const fmt = (x: number, d: number) => (x < 0 ? '−' : '+') + Math.abs(x).toFixed(d);

const cache = new Map<string, Run[]>();
/** Every saved run of an experiment folder. */
export function loadRuns(dir: string): Run[] {
  if (!cache.has(dir)) {
    const runs = join(dir, 'runs');
    const files = existsSync(runs) ? readdirSync(runs).filter((f) => f.endsWith('.json')) : [];
    cache.set(
      dir,
      files.map((f) => JSON.parse(readFileSync(join(runs, f), 'utf8')) as Run),
    );
  }
  return cache.get(dir)!;
}

/** The rate an arm runs at: its number, or the one with the best mean of `select.key` over the choosing seeds. */
function rateOf(runs: Run[], c: Claim, a: Arm): number {
  if (a.lr !== 'best') return a.lr;
  const s = c.select;
  if (s === undefined) throw new Error(`${c.id}: a 'best' rate needs a select rule`);
  const mine = runs.filter(
    (r) => matches(r, a.opt, a.beta2) && (s.seeds ? s.seeds.includes(r.seed) : c.seeds.includes(r.seed)),
  );
  let best = NaN;
  let score = NaN;
  for (const lr of [...new Set(mine.map((r) => r.setting.learningRate))].sort((x, y) => x - y)) {
    const v = mine.filter((r) => r.setting.learningRate === lr).map((r) => r.final[s.key]!);
    const m = v.some((x) => !Number.isFinite(x))
      ? s.lowerIsBetter
        ? Infinity
        : -Infinity
      : v.reduce((x, y) => x + y, 0) / v.length;
    if (Number.isNaN(score) || (s.lowerIsBetter ? m < score : m > score)) [best, score] = [lr, m];
  }
  return best;
}

const armRuns = (runs: Run[], a: Arm, rate: number) =>
  runs.filter((r) => matches(r, a.opt, a.beta2) && r.setting.learningRate === rate);

/** Paired t test and TOST of a − b over `seeds`. */
function test(diffs: number[], margin: number | undefined) {
  const n = diffs.length;
  const i = interval95(diffs);
  const se = sampleStd(diffs) / Math.sqrt(n);
  const p = se === 0 ? NaN : twoSidedP(i.mean / se, n - 1);
  const pTost =
    margin === undefined || se === 0
      ? NaN
      : Math.max(1 - tCdf((i.mean + margin) / se, n - 1), tCdf((i.mean - margin) / se, n - 1));
  return { mean: i.mean, half: i.half, p, pTost };
}

function verdictOf(mean: number, pAdj: number, tostAdj: number, m: ClaimMetric): ClaimVerdict {
  if (pAdj < 0.05) return mean < 0 === m.lowerIsBetter ? 'better' : 'worse';
  return tostAdj < 0.05 ? 'equivalent' : 'no significant difference';
}

/** A claim's comparisons over its seeds, with Holm and verdicts within its family (problems found are added). */
function family(c: Claim, runs: Run[], problems: string[]): { mine: ComparisonResult[]; used: Run[] } {
  const mine: ComparisonResult[] = [];
  const used: Run[] = [];
  for (const { a, b } of c.comparisons) {
    const ra = rateOf(runs, c, a);
    const rb = rateOf(runs, c, b);
    const [xa, xb] = [armRuns(runs, a, ra), armRuns(runs, b, rb)];
    used.push(...xa, ...xb);
    const name = `${c.id}: ${a.opt} (β2 ${a.beta2}, ${ra}) − ${b.opt} (β2 ${b.beta2}, ${rb})`;
    const declared = (seed: number) => c.seeds.includes(seed) || (c.select?.seeds ?? []).includes(seed);
    const extra = [...xa, ...xb].map((r) => r.seed).filter((seed) => !declared(seed));
    if (extra.length > 0) {
      problems.push(`${name}: runs of seeds ${[...new Set(extra)].join(', ')} are not in the claim's declared seeds`);
    }
    const value = (rs: Run[], s: number) => rs.find((r) => r.seed === s)?.final[c.metric.key];
    const present = c.seeds.filter((s) => value(xa, s) !== undefined && value(xb, s) !== undefined);
    if (present.length !== c.seeds.length) {
      problems.push(`${name}: ${present.length} of the declared ${c.seeds.length} seeds have runs on both sides`);
      continue;
    }
    const va = present.map((s) => value(xa, s)! * c.metric.scale);
    const vb = present.map((s) => value(xb, s)! * c.metric.scale);
    const diffs = va.map((x, k) => x - vb[k]!);
    const diverged = diffs.some((d) => !Number.isFinite(d));
    if (!diverged && sampleStd(diffs) === 0) {
      problems.push(
        `${name}: constant (every paired difference is ${diffs[0]}): no test, ` +
          'leave it out of the family and say why',
      );
    }
    const t = diverged ? { mean: NaN, half: NaN, p: NaN, pTost: NaN } : test(diffs, c.margin?.value);
    const key = `${c.metric.key}|${va.join(',')}|${vb.join(',')}`;
    mine.push({
      claim: c.id,
      a: { ...a, rate: ra },
      b: { ...b, rate: rb },
      seeds: present,
      diffs,
      ...t,
      key,
      text: `${fmt(t.mean, c.metric.digits)} ± ${t.half.toFixed(c.metric.digits)}`,
      holm: { own: NaN, all: NaN },
      tost: { own: NaN, all: NaN },
      verdict: { own: 'diverged', all: 'diverged' },
    });
  }
  // Holm over the family's distinct comparisons (one listed twice, a best rate that is the shared one, counts once)
  const distinct = [...new Map(mine.map((x) => [x.key, x])).values()];
  const ownP = holm(distinct.map((x) => x.p));
  const ownT = holm(distinct.map((x) => x.pTost));
  const adjusted = new Map(distinct.map((x, k) => [x.key, [ownP[k]!, ownT[k]!] as const]));
  for (const x of mine) {
    [x.holm.own, x.tost.own] = adjusted.get(x.key)!;
    if (!Number.isNaN(x.mean)) x.verdict.own = verdictOf(x.mean, x.holm.own, x.tost.own, c.metric);
  }
  return { mine, used };
}

/** Every claim recomputed from `resultsDir` (docs/results/v0.2), with what is wrong in the declarations. */
export function evaluateClaims(resultsDir: string, claims: Claim[]): ClaimsResult {
  const problems: string[] = [];
  const out: ComparisonResult[] = [];
  for (const c of claims) {
    const dir = join(resultsDir, c.experiment);
    const runs = loadRuns(dir);
    if (runs.length === 0) {
      problems.push(`${c.id}: no saved runs in ${c.experiment}`);
      continue;
    }
    const { mine, used } = family(c, runs, problems);
    checkExcluded(c, runs, problems);
    checkTiming(c, runs, used, mine, problems);
    out.push(...mine);
  }
  readmeWide(out, claims);
  sameComparisonOneVerdict(out, problems);
  return { comparisons: out, problems };
}

/** Holm over every claim's comparisons at once (a comparison found in two claims is counted once). */
function readmeWide(all: ComparisonResult[], claims: Claim[]) {
  const unique = [...new Map(all.map((x) => [x.key, x])).values()];
  const ps = holm(unique.map((x) => x.p));
  const ts = holm(unique.map((x) => x.pTost));
  const byKey = new Map(unique.map((x, k) => [x.key, [ps[k]!, ts[k]!] as const]));
  for (const x of all) {
    const [p, t] = byKey.get(x.key)!;
    x.holm.all = p;
    x.tost.all = t;
    const metric = claims.find((c) => c.id === x.claim)!.metric;
    if (!Number.isNaN(x.mean)) x.verdict.all = verdictOf(x.mean, p, t, metric);
  }
}

/** One verdict per comparison: the same data in two claims (or two folders) must not be given two verdicts. */
function sameComparisonOneVerdict(all: ComparisonResult[], problems: string[]) {
  const byKey = new Map<string, ComparisonResult[]>();
  for (const x of all) byKey.set(x.key, [...(byKey.get(x.key) ?? []), x]);
  for (const xs of byKey.values()) {
    const verdicts = new Set(xs.map((x) => x.verdict.own));
    if (verdicts.size > 1) {
      const each = xs.map((x) => `${x.claim} "${x.verdict.own}"`).join(', ');
      problems.push(`one comparison (${xs[0]!.text}), two verdicts: ${each}`);
    }
  }
}

/** An excluded comparison must be constant, or it is a result left out of its family. */
function checkExcluded(c: Claim, runs: Run[], problems: string[]) {
  for (const e of c.excluded ?? []) {
    const [xa, xb] = [armRuns(runs, e.a, rateOf(runs, c, e.a)), armRuns(runs, e.b, rateOf(runs, c, e.b))];
    const value = (rs: Run[], s: number) => rs.find((r) => r.seed === s)?.final[e.metric.key] ?? NaN;
    const diffs = c.seeds.map((s) => value(xa, s) - value(xb, s));
    if (diffs.some((d) => Number.isNaN(d)) || sampleStd(diffs) !== 0) {
      problems.push(
        `${c.id}: excluded as constant, but ${e.a.opt} − ${e.b.opt} in ${e.metric.key} varies: ` + diffs.join(', '),
      );
    }
  }
}

/**
 * A seed's paired result could be read once every run of the claim for that seed had ended. Seeds that end more
 * than an hour after all earlier ones were added after a result on those could be read: the claim must declare the
 * extension, and its fixed-n result is computed beside. Runs that started before the claim was declared need
 * `retrospective`.
 */
function checkTiming(c: Claim, runs: Run[], used: Run[], mine: ComparisonResult[], problems: string[]) {
  const reported = used.filter((r) => c.seeds.includes(r.seed));
  if (reported.length === 0) return;
  const firstStart = Math.min(...reported.map((r) => Date.parse(r.startedAt)));
  if (c.retrospective === undefined && firstStart < Date.parse(c.declared)) {
    problems.push(`${c.id}: runs started before the claim was declared (${c.declared}) and it does not say so`);
  }
  const end = (r: Run) => Date.parse(r.startedAt) + r.seconds * 1000;
  const ends = (s: number) => reported.filter((r) => r.seed === s).map(end);
  const done = (s: number) => Math.max(...ends(s));
  const order = [...c.seeds].sort((x, y) => done(x) - done(y));
  const gap = order.findIndex((s, k) => k > 0 && done(s) > done(order[k - 1]!) + 3_600_000);
  const fixed = gap < 0 ? order : order.slice(0, gap);
  const added = gap < 0 ? [] : order.slice(gap);
  fixed.sort((x, y) => x - y);
  added.sort((x, y) => x - y);
  if (added.length > 0 && c.extension === undefined) {
    problems.push(
      `${c.id}: seeds ${added.join(', ')} were run after a result on seeds ${fixed.join(', ')} ` +
        'could be read; declare the extension',
    );
  } else if (c.extension !== undefined && (added.length === 0 || String(c.extension.fixedSeeds) !== String(fixed))) {
    const shown = added.length ? `seeds ${fixed.join(', ')} first` : 'one batch';
    const from = c.extension.fixedSeeds.join(', ');
    problems.push(`${c.id}: declares an extension from seeds ${from}, but the runs show ${shown}`);
  }
  if (c.extension === undefined) return;
  // the result as it stood on the fixed seeds: rates chosen again on those seeds alone, Holm within the family
  const { mine: fixedMine } = family({ ...c, seeds: c.extension.fixedSeeds }, runs, []);
  mine.forEach((x, k) => {
    const f = fixedMine[k]!;
    const rates = f.a.rate !== x.a.rate || f.b.rate !== x.b.rate ? ` (rates ${f.a.rate} / ${f.b.rate})` : '';
    x.fixed = { text: `${f.text}${rates}`, p: f.p, holm: f.holm.own, verdict: f.verdict.own };
  });
}
