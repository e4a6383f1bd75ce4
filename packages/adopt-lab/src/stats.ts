/**
 * Statistics over seeds: the mean with a 95% confidence interval (Student t with n - 1 degrees of
 * freedom) and paired differences between two optimizers over the same seeds, with a verdict.
 */

/** t(0.975, df) for df = 1..30 (standard two-sided 95% table). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
  2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086,
  2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];
/** Beyond 30: tabulated points, interpolated linearly in 1/df (the usual table rule). */
const T975_TAIL: [number, number][] = [[30, 2.042], [40, 2.021], [60, 2.0], [120, 1.98], [Infinity, 1.96]];

/** The 97.5% quantile of Student's t with `df` degrees of freedom (two-sided 95%). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`tQuantile975: df must be an integer >= 1, got ${df}.`);
  if (df <= 30) return T975[df - 1]!;
  for (let i = 1; i < T975_TAIL.length; i++) {
    const [d1, t1] = T975_TAIL[i - 1]!;
    const [d2, t2] = T975_TAIL[i]!;
    if (df <= d2) {
      const f = (1 / d1 - 1 / df) / (1 / d1 - (d2 === Infinity ? 0 : 1 / d2));
      return t1 + f * (t2 - t1);
    }
  }
  return 1.96;
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
  return i.n > 1 ? `${fixed(i.mean, digits)} ± ${fixed(i.half, digits)}${unit}` : `${fixed(i.mean, digits)}${unit} (n = 1)`;
}

export type Verdict = 'ADOPT better' | 'ADOPT worse' | 'tie' | 'n < 2';

export interface PairedComparison extends Interval {
  /** Seeds present in both. */
  seeds: number[];
  verdict: Verdict;
}

/**
 * ADOPT minus a baseline over the seeds both have, as a 95% interval of the mean difference;
 * "tie" when the interval contains 0. `lowerIsBetter` says which sign favours ADOPT.
 */
export function pairedComparison(adopt: Map<number, number>, baseline: Map<number, number>, lowerIsBetter: boolean): PairedComparison {
  const seeds = [...adopt.keys()].filter((s) => baseline.has(s)).sort((a, b) => a - b);
  const diffs = seeds.map((s) => adopt.get(s)! - baseline.get(s)!);
  const i = interval95(diffs);
  let verdict: Verdict;
  if (seeds.length < 2) verdict = 'n < 2';
  else if (i.lower <= 0 && i.upper >= 0) verdict = 'tie';
  else verdict = (i.mean < 0) === lowerIsBetter ? 'ADOPT better' : 'ADOPT worse';
  return { ...i, seeds, verdict };
}

/** "+0.12 ± 0.05" for a difference. */
export function formatDifference(c: Interval, digits: number): string {
  const sign = c.mean >= 0 ? '+' : '';
  return Number.isNaN(c.half) ? `${sign}${fixed(c.mean, digits)}` : `${sign}${fixed(c.mean, digits)} ± ${fixed(c.half, digits)}`;
}

export const INTERVAL_NOTE = 'Intervals are 95% confidence intervals of the mean over seeds: mean ± t(0.975, n - 1) · s / sqrt(n) (Student t, n seeds). ' +
  'Comparisons are paired over the same seeds (ADOPT minus the baseline, per seed); "tie" means the interval of the difference contains 0.';
