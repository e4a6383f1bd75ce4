/**
 * What an update rule declares, as data: its state slots, the static options that select a
 * specialised kernel (flags), the per-step scalars it reads, and its per-element phases written
 * once in the expression language of ./expr.ts. Emitters (src/codegen) turn a phase into every
 * kernel; rules/adopt.ts and rules/adam.ts are the two families the library ships.
 */
import type { Value } from './expr.js';

/**
 * One per-element update: the new value of each array it writes (parameters `p` and state
 * slots), every one computed from the values before the phase (all reads see old values).
 * Writes are listed in the order GPU programs run them (each output reads only old values).
 */
export interface Phase {
  readonly writes: readonly (readonly [target: string, value: Value])[];
}

export interface Rule<F extends string = string> {
  /** Kernel name prefix: 'adopt', 'adam'. */
  readonly name: string;
  /** Boolean options that change the per-element code; each combination is its own kernel. */
  readonly flags: readonly F[];
  /** State arrays, in binding order, for these flags. */
  slots(flags: Flags<F>): readonly string[];
  /** Phases: `init` (a first step that only initialises state, optional) and `step`. */
  phases(flags: Flags<F>): { readonly init?: Phase; readonly step: Phase };
  /**
   * The rule as an optax-style scaling (the core's chain piece, src/core/transform.ts): these
   * scalars fixed and p = 0 make the step's new p the update u, with maximize's sign, weight
   * decay and the learning rate left to the chain's other pieces.
   */
  readonly scaling: Readonly<Record<string, number>>;
}

export type Flags<F extends string> = Readonly<Record<F, boolean>>;

/** Every combination of a rule's flags, all false first. */
export function flagSets<F extends string>(rule: Rule<F>): Flags<F>[] {
  const out: Flags<F>[] = [];
  for (let bits = 0; bits < 1 << rule.flags.length; bits++) {
    out.push(Object.fromEntries(rule.flags.map((f, i) => [f, (bits & (1 << i)) !== 0])) as Flags<F>);
  }
  return out;
}

/** The name of a specialised kernel: `adopt_step`, `adopt_step_nesterov_caution`. */
export function kernelName<F extends string>(rule: Rule<F>, phase: string, flags: Flags<F>): string {
  return [rule.name, phase, ...rule.flags.filter((f) => flags[f])].join('_');
}

/** The arrays a phase touches: p, g, then the rule's slots (binding order of every kernel). */
export function phaseArrays<F extends string>(rule: Rule<F>, flags: Flags<F>): string[] {
  return ['p', 'g', ...rule.slots(flags)];
}
