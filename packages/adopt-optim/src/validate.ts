/**
 * Hyperparameter checks shared by the framework-free core and the TensorFlow.js
 * optimizers. Every message names the optimizer, the argument, the value it got
 * and the range it expected, in the style of `torch.optim`.
 */

import { closest, distance } from 'fastest-levenshtein';

/** Thrown for an invalid hyperparameter, gradient or saved state. */
export class OptimizerArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptimizerArgumentError';
  }
}

/**
 * Largest gradient magnitude a step accepts: 2^63 (about 9.2e18). Below it g² < 2^126, so the second
 * moment (an average of g²), √v and the 8-bit √v scale stay finite in float32. Above it a finite gradient
 * overflowed v to Infinity (float32 g² overflows from |g| ≈ 1.8e19) and every later checkpoint was
 * refused (issue 21): such a gradient is handled as a non-finite one, by the `nonFinite` policy, before
 * anything changes. The kernels test it as `|g| · 2^65` overflowing (exact: a power of two) or as the
 * float's exponent bits reaching 127 + 63.
 */
export const GRADIENT_LIMIT = 2 ** 63;

/** Whether a gradient element is finite and below GRADIENT_LIMIT in magnitude (false for NaN). */
export const gradientInRange = (x: number): boolean => Math.abs(x) < GRADIENT_LIMIT;

/** How the errors describe what a refused gradient held. */
export const OUT_OF_RANGE = 'NaN, Infinity or a value beyond ±2^63 (≈9.2e18; its square overflows float32)';

/** Thrown when a gradient holds NaN, Infinity or a value beyond ±GRADIENT_LIMIT and `nonFinite` is `'throw'`. */
export class NonFiniteGradientError extends Error {
  constructor(
    message: string,
    /** Name of the first variable whose gradient is not finite. */
    readonly variableName: string,
    /** Optimizer step (0-based count of applied steps) at which it happened. */
    readonly step: number,
  ) {
    super(message);
    this.name = 'NonFiniteGradientError';
  }
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  return String(value);
}

function fail(owner: string, name: string, value: unknown, expected: string): never {
  throw new OptimizerArgumentError(`${owner}: invalid ${name} ${show(value)}; expected ${expected}.`);
}

/** A finite number >= 0. */
export function checkNonNegative(owner: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(owner, name, value, 'a finite number >= 0');
  }
  return value;
}

/**
 * epsilon: a finite number > 0. PyTorch, timm and the official code accept 0; we refuse it, because an
 * element whose gradient and v are both 0 then computes 0 / 0 = NaN parameters, which no gradient check catches.
 */
export function checkEpsilon(owner: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail(
      owner,
      name,
      value,
      'a finite number > 0 (with 0, an element whose gradient and second moment are both 0 ' + 'computes 0 / 0 = NaN)',
    );
  }
  return value;
}

/** A number in [0, 1): the range PyTorch accepts for betas. */
export function checkBeta(owner: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    fail(owner, name, value, 'a number in [0, 1)');
  }
  return value;
}

export function checkBoolean(owner: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(owner, name, value, 'true or false');
  return value;
}

export function checkOneOf<T extends string>(owner: string, name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(owner, name, value, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  }
  return value as T;
}

/** Rejects option keys the optimizer does not know (a typo would otherwise be silently ignored). */
export function checkKnownKeys(owner: string, options: object, known: readonly string[], what = 'option'): void {
  // a Map's or Set's entries are no keys of the object: read as options they would all be dropped unseen
  if (options instanceof Map || options instanceof Set) {
    const kind = options instanceof Map ? 'Map' : 'Set';
    throw new OptimizerArgumentError(`${owner}: invalid ${what}s a ${kind}; expected a plain object of ${what}s.`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      const guess = didYouMean(key, known);
      throw new OptimizerArgumentError(
        `${owner}: unknown ${what} ${JSON.stringify(key)}; ${guess === undefined ? '' : `did you mean ${guess}? `}expected one of ${known.join(', ')}.`,
      );
    }
  }
}

/** PyTorch's and Keras's names for ours. */
const ALIASES: Record<string, readonly string[]> = {
  lr: ['learningRate'],
  eps: ['epsilon'],
  betas: ['beta1', 'beta2'],
  beta_1: ['beta1'],
  beta_2: ['beta2'],
};

/**
 * What a mistyped or foreign name most likely meant, quoted (`"weightDecay"`, `"beta1" and "beta2"`): PyTorch's
 * and Keras's names (`lr`, `betas`), the same name once case, `_` and `-` are ignored (`weight_decay`,
 * `global_clipnorm`), or one within two edits (`weigthDecay`); undefined when nothing is close.
 */
export function didYouMean(key: string, known: readonly string[]): string | undefined {
  const quote = (names: readonly string[]) => names.map((n) => `"${n}"`).join(' and ');
  const alias = Object.hasOwn(ALIASES, key) ? ALIASES[key] : undefined;
  if (alias?.every((a) => known.includes(a))) return quote(alias);
  const plain = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  const same = known.find((k) => plain(k) === plain(key));
  if (same !== undefined) return quote([same]);
  if (known.length === 0) return undefined;
  const plains = known.map(plain);
  const best = closest(plain(key), plains);
  return distance(plain(key), best) <= Math.min(2, Math.floor(best.length / 3))
    ? quote([known[plains.indexOf(best)]!])
    : undefined;
}

/** The value of a clip schedule at step t must be a finite number >= 0. */
export function checkClipValue(owner: string, value: unknown, t: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new OptimizerArgumentError(
      `${owner}: invalid clip ${show(value)} returned by the clip schedule at step ${t}; ` +
        'expected a finite number >= 0.',
    );
  }
  return value;
}

/** Steps at which a clip schedule is probed at construction, so a bad schedule fails early. */
const CLIP_PROBE_STEPS = [1, 2, 3, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7];

export function checkClipSchedule(owner: string, clip: unknown): ((t: number) => number) | null {
  if (clip === null) return null;
  if (typeof clip !== 'function') {
    fail(owner, 'clip', clip, 'a function of the step t (1, 2, ...) returning a bound >= 0, or null');
  }
  const schedule = clip as (t: number) => number;
  for (const t of CLIP_PROBE_STEPS) checkClipValue(owner, schedule(t), t);
  return schedule;
}

const warned = new Set<string>();

/** `console.warn(message)` once per process for `key` (tfjs's own warnings go to console.warn too). */
export function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  console.warn(message);
}

/**
 * The one refusal of low-bit state where WebAssembly SIMD, which its codecs need, is missing (the tfjs store, its
 * weight reader and the core's init; src/dispatch.ts routes the rest of the low-bit choice).
 */
export function lowBitNeedsSimd(owner: string, dtype: string): OptimizerArgumentError {
  return new OptimizerArgumentError(
    `${owner}: stateDtype '${dtype}' needs WebAssembly SIMD, which is not available here. Nothing was changed.`,
  );
}
