/**
 * What an update rule declares, as data: its options (defaults, checks, which ones select a
 * specialised kernel: ./options.ts), the combinations a path cannot run, its state slots, and its
 * per-element phases written once in the expression language of ./expr.ts. Emitters (src/codegen)
 * turn a phase into every kernel; rules/adopt.ts and rules/adam.ts are the two families shipped.
 */
import type { Value } from './expr.js';
import type { Incapability, OptionSpecs } from './options.js';

/**
 * One per-element update: the new value of each array it writes (parameters `p` and state
 * slots), every one computed from the values before the phase (all reads see old values).
 * Writes are listed in the order GPU programs run them (each output reads only old values).
 */
export interface Phase {
  readonly writes: readonly (readonly [target: string, value: Value])[];
}

/** The values of a rule's kernel options (role 'kernel'), by name. */
export type Flags = Readonly<Record<string, unknown>>;

export interface Rule {
  /** Kernel name prefix: 'adopt', 'adam'. */
  readonly name: string;
  /** Options, in their documented order; those with role 'kernel' select a specialised kernel. */
  readonly options: OptionSpecs;
  /** What a path does not implement (the one table refusals come from). */
  readonly capabilities: readonly Incapability[];
  /** State arrays, in binding order, for these flags. */
  slots(flags: Flags): readonly string[];
  /** Phases: `init` (a first step that only initialises state, optional) and `step`. */
  phases(flags: Flags): { readonly init?: Phase; readonly step: Phase };
  /**
   * The rule as an optax-style scaling (the core's chain piece, src/core/transform.ts): these
   * scalars fixed and p = 0 make the step's new p the update u, with maximize's sign, weight
   * decay and the learning rate left to the chain's other pieces.
   */
  readonly scaling: Readonly<Record<string, number>>;
}

/** The names of a rule's kernel options. */
export function ruleFlags(rule: Rule): string[] {
  return Object.keys(rule.options).filter((k) => rule.options[k]!.role === 'kernel');
}

/** The kernel options' values in `options` (resolved: every one present). */
export function flagsOf(rule: Rule, options: Readonly<Record<string, unknown>>): Flags {
  return Object.fromEntries(ruleFlags(rule).map((f) => [f, options[f] ?? rule.options[f]!.default]));
}

/** Every combination of a rule's kernel options, defaults first. */
export function flagSets(rule: Rule): Flags[] {
  let out: Record<string, unknown>[] = [{}];
  for (const f of ruleFlags(rule)) {
    const values = rule.options[f]!.values ?? [rule.options[f]!.default];
    out = out.flatMap((partial) => values.map((v) => ({ ...partial, [f]: v })));
  }
  return out;
}

/** The module key of (rule, flags): `adopt`, `adopt_nesterov_caution`, `adopt_epsilonMode_add`. */
export function moduleKey(rule: Rule, flags: Flags): string {
  const parts = ruleFlags(rule).flatMap((f) => {
    const value = flags[f];
    if (value === rule.options[f]!.default) return [];
    return typeof value === 'boolean' ? [f] : [`${f}_${String(value)}`];
  });
  return [rule.name, ...parts].join('_');
}

/** The arrays a phase touches: p, g, then the rule's slots (binding order of every kernel). */
export function phaseArrays(rule: Rule, flags: Flags): string[] {
  return ['p', 'g', ...rule.slots(flags)];
}
