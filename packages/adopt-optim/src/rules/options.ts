/**
 * Options as data: each rule declares its options (default, check, and how it reaches the
 * kernels) and the combinations a path cannot run (its capability table). Resolving, checking,
 * saving and refusing all read these declarations, so an option is added in its rule's module.
 */
import { defaultClip } from '../clip_schedule.js';
import { GRADIENT_CLIP_OPTIONS } from '../gradient_clipping.js';
import { OptimizerArgumentError, checkBoolean, checkNonNegative, checkOneOf } from '../validate.js';
import { LOW_BIT_FORMATS, type LowBitDtype } from '../formats/state_formats.js';

/** What to do when a gradient holds NaN or Infinity. */
export type NonFinitePolicy = 'throw' | 'skip' | 'off';
export const NON_FINITE_POLICIES: readonly NonFinitePolicy[] = ['throw', 'skip', 'off'];

/**
 * How m and v are stored: float32, block-wise 8-bit codes with a float32 scale per 256 (§11), or
 * block-wise 4-bit codes with a float32 scale per 128 (§12).
 */
export type StateDtype = 'float32' | LowBitDtype;
/** float32 and every low-bit format of the format table (src/formats/state_formats.ts). */
export const STATE_DTYPES: readonly StateDtype[] = ['float32', ...LOW_BIT_FORMATS.map((f) => f.dtype)];

export type Checker = (owner: string, name: string, value: unknown) => unknown;

export interface OptionSpec {
  readonly default: unknown;
  readonly check: Checker;
  /**
   * 'kernel': the option changes the per-element code (each value is its own generated kernel;
   * `values` lists them); 'scaling': also accepted by the rule's optax-style scaling piece.
   */
  readonly role?: 'kernel' | 'scaling';
  readonly values?: readonly unknown[];
  /** Set by the optimizer class, not accepted as an option (AMSGrad's `amsgrad`). */
  readonly internal?: boolean;
  /** How the option is saved in getConfig where it is not plain JSON (ADOPT's clip as `clipExponent`). */
  readonly config?: {
    readonly key: string;
    save(owner: string, value: unknown): unknown;
    load(owner: string, saved: unknown): unknown;
  };
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/**
 * The paths the capability table refuses on: 'lowbit', 8-bit and 4-bit state (one set of kernels, two codecs). Float32
 * state is never refused: what a backend's kernels do not run goes to tfjs ops (src/dispatch.ts).
 */
export type Path = 'lowbit';

/** A combination a path does not implement: refused before anything changes, saying what to use instead. */
export interface Incapability {
  readonly option: string;
  readonly value: unknown;
  readonly path: Path;
  /** The option as the message names it: "caution: true", "AMSGrad (its running maximum vmax)". */
  readonly what?: string;
  readonly instead: string;
}

export const kernelOption = (values: readonly unknown[]): OptionSpec => ({
  default: values[0],
  values,
  role: 'kernel',
  check: (owner, name, value) =>
    typeof values[0] === 'boolean'
      ? checkBoolean(owner, name, value)
      : checkOneOf(owner, name, value, values as readonly string[]),
});

/** The options both families share (docs/ALGORITHM.md §3, §6, §7, §10.3, §11), in their documented order. */
export const WEIGHT_DECAY_OPTIONS = {
  weightDecay: { default: 0, check: checkNonNegative },
  decoupled: { default: false, check: checkBoolean },
} as const satisfies OptionSpecs;

export const PATH_OPTIONS = {
  maximize: { default: false, check: checkBoolean },
  nonFinite: {
    default: 'throw',
    check: (o: string, n: string, v: unknown) => checkOneOf(o, n, v, NON_FINITE_POLICIES),
  },
  fused: { default: true, check: checkBoolean },
} as const satisfies OptionSpecs;

export const STATE_OPTIONS = {
  correctedWeightDecay: { default: false, check: checkBoolean },
  stateDtype: { default: 'float32', check: (o: string, n: string, v: unknown) => checkOneOf(o, n, v, STATE_DTYPES) },
} as const satisfies OptionSpecs;

export { defaultClip };

/** The options every family shares: not part of a rule's scaling (maximize, weight decay, paths, state). */
export type CommonOptionKey =
  | 'weightDecay'
  | 'decoupled'
  | 'maximize'
  | 'nonFinite'
  | 'fused'
  | 'correctedWeightDecay'
  | 'stateDtype'
  | 'clipnorm'
  | 'clipvalue'
  | 'globalClipnorm';
// CommonOptionKey lists exactly the keys of the shared option groups (a compile error otherwise)
type SharedKeys =
  | keyof typeof WEIGHT_DECAY_OPTIONS
  | keyof typeof PATH_OPTIONS
  | keyof typeof STATE_OPTIONS
  | keyof typeof GRADIENT_CLIP_OPTIONS;
const sameKeys: [SharedKeys] extends [CommonOptionKey]
  ? [CommonOptionKey] extends [SharedKeys]
    ? true
    : false
  : false = true;
void sameKeys;

export { GRADIENT_CLIP_OPTIONS };

/** The defaults of a set of option specs, by name (the published *_DEFAULTS objects). */
export function defaultsOf(specs: OptionSpecs): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(specs)
      .filter(([, s]) => !s.internal)
      .map(([k, s]) => [k, s.default]),
  );
}

/**
 * The refusal for running these options on `path`, from the capability table, or null:
 * "ADOPT: stateDtype 'int8' is not supported yet with caution: true; use stateDtype 'float32' for it."
 */
export function incapability(
  owner: string,
  table: readonly Incapability[],
  options: Readonly<Record<string, unknown>>,
  path: Path,
): OptimizerArgumentError | null {
  for (const c of table) {
    if (c.path === path && options[c.option] === c.value) {
      const what = c.what ?? `${c.option}: ${typeof c.value === 'string' ? `'${c.value}'` : String(c.value)}`;
      const on = path === 'lowbit' ? `stateDtype '${String(options.stateDtype ?? 'int8')}'` : `the ${path} path`;
      return new OptimizerArgumentError(`${owner}: ${on} is not supported yet with ${what}; ${c.instead}.`);
    }
  }
  return null;
}

/**
 * The options a rule's scaling piece takes (roles 'scaling' and 'kernel', internal ones
 * included: scaleByAdam takes `amsgrad`), with their defaults and checks.
 */
export function scalingOptions(specs: OptionSpecs): { specs: OptionSpecs; defaults: Record<string, unknown> } {
  const picked = Object.fromEntries(
    Object.entries(specs).filter(([, s]) => s.role === 'scaling' || s.role === 'kernel'),
  );
  return { specs: picked, defaults: Object.fromEntries(Object.entries(picked).map(([k, s]) => [k, s.default])) };
}

/** Options the base optimizer saves itself (NamedStateOptimizer.baseConfig). */
const BASE_CONFIG = new Set(['nonFinite', 'fused']);

/** The options of `source` (an optimizer's fields) as getConfig writes them, in their declared order. */
export function optionsConfig(owner: string, specs: OptionSpecs, source: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    if (spec.internal || BASE_CONFIG.has(key)) continue;
    const value = (source as Record<string, unknown>)[key];
    if (spec.config !== undefined) out[spec.config.key] = spec.config.save(owner, value);
    else out[key] = value;
  }
  return out;
}

/** The options in a saved config (as optionsConfig wrote it), ready for the constructor. */
export function optionsFromConfig(
  owner: string,
  specs: OptionSpecs,
  config: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const [key, spec] of Object.entries(specs)) {
    if (spec.config === undefined || !(spec.config.key in out)) continue;
    const saved = out[spec.config.key];
    delete out[spec.config.key];
    out[key] = spec.config.load(owner, saved);
  }
  return out;
}

/** The options of `resolved` that a rule's scaling piece takes (see scalingOptions). */
export function pickScaling(specs: OptionSpecs, resolved: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(scalingOptions(specs).specs).map((k) => [k, (resolved as Record<string, unknown>)[k]]),
  );
}
