/**
 * What a claim of the README is made of, as the suite declares it (src/claims.ts): the experiment, the paired
 * comparisons that form its family, the metric, a margin with its basis when it says "equivalent", the seeds fixed
 * before its result was seen, and, where seeds were added after a result, the fixed-n seeds reported beside it.
 */
import type { LabOptimizer } from './common.js';

/** One side of a comparison: an optimizer at a beta2 ('own' = its default) and a rate ('best' = chosen, see Select). */
export interface Arm {
  opt: LabOptimizer;
  beta2: 'own' | number;
  lr: number | 'best';
}

export interface ClaimMetric {
  key: string;
  label: string;
  /** Multiplies the stored value (100 for percentage points, 1 / ln 2 for bits). */
  scale: number;
  digits: number;
  lowerIsBetter: boolean;
}

/** A margin below which a difference is treated as too small to matter, and why that size. */
export interface Margin {
  value: number;
  basis: string;
}

/** How 'best' rates are chosen: on `key` (a metric stored per run), over `seeds` when only some seeds choose. */
export interface Select {
  key: string;
  lowerIsBetter: boolean;
  seeds?: number[];
}

/** A comparison left out of a family because it cannot differ, and why (the check verifies it is constant). */
export interface Excluded {
  a: Arm;
  b: Arm;
  metric: ClaimMetric;
  why: string;
}

export interface Claim {
  /** "C12": cited as (C12) in the README's prose. */
  id: string;
  /** The folder under docs/results/v0.2. */
  experiment: string;
  /** What the claim is about, in a few words. */
  about: string;
  metric: ClaimMetric;
  /** The family: each comparison is a − b over the claim's seeds (a paired t test; TOST with a margin). */
  comparisons: { a: Arm; b: Arm }[];
  margin?: Margin;
  select?: Select;
  /** The seeds the claim's result rests on, fixed in the suite. */
  seeds: number[];
  /**
   * Seeds were added after a result on `fixedSeeds` had been computed (optional stopping): the claim says so,
   * and the fixed-n result is reported beside the extended one.
   */
  extension?: { fixedSeeds: number[]; why: string };
  /** When the claim was declared (YYYY-MM-DD). Runs started before it need `retrospective`. */
  declared: string;
  /** Why a claim declared after its runs is still stated (and what that weakens). */
  retrospective?: string;
  /** Comparisons of the same runs left out of the family as constant by construction. */
  excluded?: Excluded[];
}
