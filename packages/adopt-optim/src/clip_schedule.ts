/**
 * Clip schedules for ADOPT: the bound c(t) on the normalised gradient at step t = 1, 2, ...
 *
 * The official implementation (Nov 2024) clips with c(t) = t ** 0.25. A schedule made by
 * `powerClip` remembers its exponent, so an optimizer using it can be saved and restored;
 * an arbitrary function works for training but cannot be serialized.
 */

/** A function of the step t (1, 2, ...) returning the clip bound, >= 0. */
export type ClipSchedule = (t: number) => number;

const EXPONENT = Symbol('adopt-optim.clipExponent');

interface PowerClip extends ClipSchedule {
  readonly [EXPONENT]: number;
}

/** c(t) = t ** exponent. `powerClip(0.25)` is the official default. */
export function powerClip(exponent: number): ClipSchedule {
  if (typeof exponent !== 'number' || !Number.isFinite(exponent) || exponent < 0) {
    throw new RangeError(`powerClip: invalid exponent ${String(exponent)}; expected a finite number >= 0.`);
  }
  const schedule = ((t: number) => t ** exponent) as PowerClip;
  Object.defineProperty(schedule, EXPONENT, { value: exponent });
  return schedule;
}

/** The official clip schedule, c(t) = t ** 0.25. */
export const defaultClip: ClipSchedule = powerClip(0.25);

/** The exponent of a schedule made by `powerClip`, or undefined for any other function. */
export function clipExponent(schedule: ClipSchedule): number | undefined {
  return (schedule as Partial<PowerClip>)[EXPONENT];
}
