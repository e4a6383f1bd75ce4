// What the toy view says about a finished run: where each optimizer's median θ ended, read from its trajectory,
// and why clipped ADOPT first heads to +1 (its clip needs about k⁴ steps to open), in words for a newcomer.
import type { ToyOptimizer } from 'adopt-lab/toy';

/** A median θ at or below this is at the optimum (−1); at or above its negative, at the wrong end (+1). */
const NEAR = -0.9;

export type ToyOutcome = 'optimum' | 'wrong end' | 'warming up' | 'moving' | 'stalled';

/** Steps until clipped ADOPT's clip t^0.25 reaches the rare gradient's normalised size, about k: t ≈ k⁴. */
export const clipOpensAfter = (k: number): number => k ** 4;

/**
 * Where a run ended. A median that fell by more than 0.02 over the run's last fifth is still moving towards −1;
 * clipped ADOPT short of −1 before its clip has opened (t < k⁴) is still warming up, not at the wrong end.
 */
export function toyOutcome(
  optimizer: ToyOptimizer,
  k: number,
  steps: number,
  points: { t: number; median: number }[],
): ToyOutcome {
  const last = points.at(-1)?.median ?? 0;
  if (last <= NEAR) return 'optimum';
  const earlier = points[Math.floor(points.length * 0.8)]?.median ?? last;
  if (last < earlier - 0.02) return 'moving';
  if (optimizer === 'adopt' && steps < clipOpensAfter(k)) return 'warming up';
  return last >= -NEAR ? 'wrong end' : 'stalled';
}

const count = (n: number): string => n.toLocaleString('en');

/** The sentence after "median θ … after N steps —". */
export function outcomeText(outcome: ToyOutcome, k: number): string {
  switch (outcome) {
    case 'optimum':
      return 'reached the optimum (−1).';
    case 'wrong end':
      return 'went to the wrong end (+1).';
    case 'warming up':
      return (
        `still on its way: its clip opens after about k⁴ = ${count(clipOpensAfter(k))} steps, ` +
        'more than this run has; until then it is held towards +1 (see “Why ADOPT first heads to +1” above).'
      );
    case 'moving':
      return 'still on its way to the optimum (−1): it was still moving towards it at the last step.';
    case 'stalled':
      return 'between the two ends and barely moving at the last step: it has not reached the optimum.';
  }
}

/** The class of the result's line: green for the optimum, red for the wrong end, plain while still on its way. */
export const outcomeClass = (o: ToyOutcome): string =>
  o === 'optimum' ? 'good' : o === 'wrong end' || o === 'stalled' ? 'bad' : 'pending';

/** The toy view's paragraph on clipped ADOPT's warm-up, for the chosen k. */
export function warmUpText(k: number): string {
  const opens = clipOpensAfter(k);
  return (
    `Why ADOPT first heads to +1: ADOPT, as in the paper's code, clips each normalised gradient at t^0.25 ` +
    `(t is the step). The rare large gradient normalises to about k, so it is cut short until t^0.25 reaches k, that ` +
    `is until t ≈ k⁴ = ${count(opens)} steps for k = ${k}. Until then the frequent small gradients win and its ` +
    `line sits near +1; once the clip has opened it turns back towards −1` +
    (opens > 2_000_000 ? `, which is after more steps than this page runs (2,000,000 at most).` : '.') +
    " ADOPT (unclipped), the rule of the paper's theory, has no such warm-up."
  );
}
