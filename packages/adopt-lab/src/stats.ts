/**
 * Statistics over seeds: the mean with a 95% confidence interval (Student t with n - 1 degrees of
 * freedom), paired differences between two optimizers over the same seeds with a p-value, Holm's
 * adjustment across a table, and an equivalence test (two one-sided tests) against a stated margin.
 * Student's t comes from stdlib (@stdlib/stats-base-dists-t-*), not from a hand-written table.
 */
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';

/** The 97.5% quantile of Student's t with `df` degrees of freedom (two-sided 95%). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`tQuantile975: df must be an integer >= 1, got ${df}.`);
  return tQuantile(0.975, df);
}

/** Two-sided p-value of a one-sample t statistic with `df` degrees of freedom. */
export function twoSidedP(t: number, df: number): number {
  if (Number.isNaN(t)) return NaN;
  return Math.min(1, 2 * (1 - tCdf(Math.abs(t), df)));
}

export function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (n - 1); 0 for one value. */
export function sampleStd(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

export interface Interval {
  n: number;
  mean: number;
  /** Half-width of the 95% interval; NaN with one value (no interval). */
  half: number;
  lower: number;
  upper: number;
}

/** Mean ± t(0.975, n - 1) · s / sqrt(n). */
export function interval95(xs: number[]): Interval {
  const n = xs.length;
  const m = mean(xs);
  const half = n > 1 ? (tQuantile975(n - 1) * sampleStd(xs)) / Math.sqrt(n) : NaN;
  return { n, mean: m, half, lower: n > 1 ? m - half : m, upper: n > 1 ? m + half : m };
}

/** "mean ± half" (95% interval), or the mean alone with "(n = 1)" when there is one seed. */
/** `digits` decimals, or 3 significant digits in exponent form from 1e6 up (a diverged run's loss). */
export function fixed(x: number, digits: number): string {
  return Math.abs(x) >= 1e6 && Number.isFinite(x) ? x.toExponential(2) : x.toFixed(digits);
}

export function formatInterval(xs: number[], digits: number, unit = ''): string {
  if (xs.length === 0) return '—';
  const i = interval95(xs);
  return i.n > 1
    ? `${fixed(i.mean, digits)} ± ${fixed(i.half, digits)}${unit}`
    : `${fixed(i.mean, digits)}${unit} (n = 1)`;
}

/**
 * What a comparison concludes. "no significant difference" is not equivalence: that is claimed only
 * by the equivalence test against a stated margin ("equivalent within ±margin"). "diverged": a run
 * of the pair ended non-finite, which gives no verdict (it is counted instead).
 */
export type Verdict =
  | 'ADOPT better'
  | 'ADOPT worse'
  | 'no significant difference'
  | 'equivalent'
  | 'diverged'
  | 'n < 2'
  | 'constant';

export interface PairedComparison extends Interval {
  /** Seeds present in both. */
  seeds: number[];
  /** Paired seeds whose result is not finite (NaN, ±Infinity), for ADOPT and for the baseline. */
  diverged: { adopt: number; baseline: number };
  /**
   * Two-sided p-value of the paired t test: NaN with fewer than 2 finite pairs, or with no spread (the same difference
   * in every seed, e.g. 0 − 0 spikes: 'constant', no test, and left out of Holm's family).
   */
  p: number;
  /** The verdict of this comparison alone at the 5% level (before any adjustment across a table). */
  verdict: Verdict;
  /** The equivalence margin tested, when one was given, and whether the 90% interval lies inside ±margin. */
  equivalence?: { margin: number; holds: boolean };
}

/**
 * ADOPT minus a baseline over the seeds both have, as a 95% interval of the mean difference, with the
 * paired t test's p-value. A pair in which either run is non-finite gives no verdict ('diverged',
 * counted in `diverged`). With `margin`, two one-sided tests at 5% (the 90% interval inside ±margin)
 * decide equivalence. `lowerIsBetter` says which sign favours ADOPT.
 */
export function pairedComparison(
  adopt: Map<number, number>,
  baseline: Map<number, number>,
  lowerIsBetter: boolean,
  options: { margin?: number } = {},
): PairedComparison {
  const seeds = [...adopt.keys()].filter((s) => baseline.has(s)).sort((a, b) => a - b);
  const diverged = {
    adopt: seeds.filter((s) => !Number.isFinite(adopt.get(s)!)).length,
    baseline: seeds.filter((s) => !Number.isFinite(baseline.get(s)!)).length,
  };
  const finite = seeds.filter((s) => Number.isFinite(adopt.get(s)!) && Number.isFinite(baseline.get(s)!));
  const diffs = finite.map((s) => adopt.get(s)! - baseline.get(s)!);
  const i = interval95(diffs);
  const sd = sampleStd(diffs);
  const p = diffs.length < 2 || sd === 0 ? NaN : twoSidedP(i.mean / (sd / Math.sqrt(diffs.length)), diffs.length - 1);
  let verdict: Verdict;
  if (diverged.adopt + diverged.baseline > 0) verdict = 'diverged';
  else if (seeds.length < 2) verdict = 'n < 2';
  else if (sd === 0) verdict = 'constant';
  else verdict = verdictOf(p, i.mean, lowerIsBetter);
  let equivalence: PairedComparison['equivalence'];
  if (options.margin !== undefined && verdict !== 'diverged' && verdict !== 'n < 2' && verdict !== 'constant') {
    const half90 = (tQuantile(0.95, diffs.length - 1) * sd) / Math.sqrt(diffs.length);
    const holds = i.mean - half90 > -options.margin && i.mean + half90 < options.margin;
    equivalence = { margin: options.margin, holds };
    if (holds && verdict === 'no significant difference') verdict = 'equivalent';
  }
  return { ...i, seeds, diverged, p, verdict, ...(equivalence ? { equivalence } : {}) };
}

function verdictOf(p: number, meanDifference: number, lowerIsBetter: boolean): Verdict {
  if (!(p < 0.05)) return 'no significant difference';
  return meanDifference < 0 === lowerIsBetter ? 'ADOPT better' : 'ADOPT worse';
}

/**
 * Holm's step-down adjustment of p-values (family-wise error 5% across a table): the i-th smallest
 * p is multiplied by (m - i + 1), and the results made monotone. NaN p-values (no test) are left out
 * of the family and stay NaN.
 */
export function holm(ps: number[]): number[] {
  const tested = ps
    .map((p, k) => [p, k] as const)
    .filter(([p]) => !Number.isNaN(p))
    .sort((a, b) => a[0] - b[0]);
  const out = ps.map(() => NaN);
  let running = 0;
  tested.forEach(([p, k], i) => {
    running = Math.max(running, Math.min(1, (tested.length - i) * p));
    out[k] = running;
  });
  return out;
}

/** The verdict of a comparison after Holm's adjustment across its table (equivalence is kept: it is its own claim). */
export function adjustedVerdict(c: PairedComparison, adjustedP: number, lowerIsBetter: boolean): Verdict {
  if (c.verdict === 'diverged' || c.verdict === 'n < 2' || c.verdict === 'constant') return c.verdict;
  const v = verdictOf(adjustedP, c.mean, lowerIsBetter);
  return v === 'no significant difference' && c.equivalence?.holds ? 'equivalent' : v;
}

/** A p-value for a table: 2 significant digits, "< 0.001" below that, "—" when there is no test. */
export function formatP(p: number): string {
  return Number.isNaN(p) ? '—' : p < 0.001 ? '< 0.001' : p.toPrecision(2);
}

/** "+0.12 ± 0.05" for a difference. */
export function formatDifference(c: Interval, digits: number): string {
  const sign = c.mean >= 0 ? '+' : '';
  return Number.isNaN(c.half)
    ? `${sign}${fixed(c.mean, digits)}`
    : `${sign}${fixed(c.mean, digits)} ± ${fixed(c.half, digits)}`;
}

export const INTERVAL_NOTE =
  'Intervals are 95% confidence intervals of the mean over seeds: mean ± t(0.975, n - 1) · s / sqrt(n) (Student t, n ' +
  'seeds). Comparisons are paired over the same seeds (ADOPT minus the baseline, per seed) with a paired t test; the ' +
  "verdict is taken after Holm's adjustment across all comparisons of the table (5% family-wise), the raw interval " +
  'and p beside it. "no significant difference" is not a claim that the two are the same: "equivalent" is claimed ' +
  'only where a stated margin is given and both one-sided tests pass (the 90% interval inside ±margin). A pair in ' +
  'which a run diverged (a non-finite result) gives no verdict and is counted as diverged. A comparison whose ' +
  'difference is the same in every seed (e.g. 0 − 0 spikes) has no test ("constant") and is left out of Holm\'s ' +
  'family.';
