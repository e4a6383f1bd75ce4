/**
 * Which kernels exist: one WebAssembly module per (rule, flag combination), holding `init` (where
 * the rule has a first-step phase), `step`, and `count` (where the step needs a per-tensor mean).
 * Used by scripts/build-kernels.ts to generate them and by the runtime to call them.
 */
import { ADAM, type AdamScalars } from '../rules/adam.js';
import { ADOPT, type AdoptScalars } from '../rules/adopt.js';
import { flagSets, flagsOf, moduleKey, type Flags, type Phase, type Rule } from '../rules/rule.js';
import { meansOf, type Cond } from '../rules/expr.js';
import { specialize } from './specialize.js';
import { countSignature, phaseReduction, phaseSignature, type Signature } from './signature.js';

export const RULES: readonly Rule[] = [ADOPT, ADAM];

export interface KernelPlan {
  /** Module key: the rule's name and its flags that are on, `adopt_nesterov_caution`. */
  key: string;
  init?: { phase: Phase; sig: Signature };
  step: { phase: Phase; sig: Signature };
  count?: { cond: Cond; sig: Signature };
  /** The init phase's counting pass, where init reads a per-tensor mean (only rules defined by users). */
  initCount?: { cond: Cond; sig: Signature };
}

/**
 * The rule as the core's chain piece (rule.scaling, ./specialize.ts): the same phases with the
 * scaling's scalars fixed and p = 0, so the step's "new p" is the update u. Its kernels are
 * generated as JavaScript (./js.ts), named `<key>_scale_init`, `_scale_step`, `_scale_count`.
 */
export function scalingPlan(rule: Rule, flags: Flags): KernelPlan {
  return planOf(`${moduleKey(rule, flags)}_scale`, rule, flags, () => {
    const phases = rule.phases(flags);
    return {
      ...(phases.init !== undefined ? { init: specialize(phases.init, rule.scaling, ['p']) } : {}),
      step: specialize(phases.step, rule.scaling, ['p']),
    };
  });
}

const plans = new Map<string, KernelPlan>();

/** The kernels of (rule, flags), with their signatures; the same object every call. */
export function kernelPlan(rule: Rule, flags: Flags): KernelPlan {
  return planOf(moduleKey(rule, flags), rule, flags, () => rule.phases(flags));
}

/** The plan cached under `key`, made from `phases` (run once) on first use. */
function planOf(key: string, rule: Rule, flags: Flags, phases: () => { init?: Phase; step: Phase }): KernelPlan {
  let plan = plans.get(key);
  if (plan === undefined) {
    const { init, step } = phases();
    const cond = phaseReduction(step);
    const initCond = init === undefined ? null : phaseReduction(init);
    plan = {
      key,
      ...(init !== undefined ? { init: { phase: init, sig: phaseSignature(rule, flags, init) } } : {}),
      step: { phase: step, sig: phaseSignature(rule, flags, step) },
      ...(cond !== null ? { count: { cond, sig: countSignature(rule, flags, cond) } } : {}),
      ...(initCond !== null ? { initCount: { cond: initCond, sig: countSignature(rule, flags, initCond) } } : {}),
    };
    plans.set(key, plan);
  }
  return plan;
}

/** Every (rule, flags) the library ships kernels for. */
export function allPlans(): { rule: Rule; flags: Flags; plan: KernelPlan; scaling: KernelPlan }[] {
  return RULES.flatMap((rule) =>
    flagSets(rule).map((flags) => ({
      rule,
      flags,
      plan: kernelPlan(rule, flags),
      scaling: scalingPlan(rule, flags),
    })),
  );
}

/** One kernel call: which plan and phase, with the step's float64 scalars (rules/*.ts). */
export interface PhaseCall {
  readonly plan: KernelPlan;
  readonly phase: 'init' | 'step';
  readonly scalars: Readonly<Record<string, number>>;
}

/** The phase a call runs, with its signature. */
export function callPart(call: PhaseCall): { phase: Phase; sig: Signature } {
  const part = call.phase === 'init' ? call.plan.init : call.plan.step;
  if (part === undefined) throw new TypeError(`adopt-optim: the ${call.plan.key} kernels have no ${call.phase} phase`);
  return part;
}

/**
 * The counting pass a call needs before its phase runs (the phase reads a per-tensor mean), with
 * the name of its WebAssembly export and its JavaScript kernel; undefined where none is needed.
 */
export function callCount(call: PhaseCall): { cond: Cond; sig: Signature; fn: 'count' | 'count_init' } | undefined {
  const part = call.phase === 'init' ? call.plan.initCount : call.plan.count;
  return part === undefined ? undefined : { ...part, fn: call.phase === 'init' ? 'count_init' : 'count' };
}

/** The means map of a phase (`step` unless said) whose reduction counted `count` of `n` elements. */
export function meansFromCount(
  plan: KernelPlan,
  count: number,
  n: number,
  phase: 'init' | 'step' = 'step',
): Map<Cond | object, number> {
  const means = new Map<object, number>();
  const part = phase === 'init' ? plan.init : plan.step;
  if ((phase === 'init' ? plan.initCount : plan.count) !== undefined && part !== undefined) {
    for (const node of meanNodes(part.phase)) means.set(node, n === 0 ? 1 : count / n);
  }
  return means;
}

function meanNodes(phase: Phase): object[] {
  return meansOf(phase.writes.map(([, v]) => v));
}

/** The kernel call for one phase of `rule` with these (resolved) options and the step's scalars (rules/scalars.ts). */
export function ruleCall(rule: Rule, options: object, phase: 'init' | 'step', scalars: object): PhaseCall {
  return {
    plan: kernelPlan(rule, flagsOf(rule, options as Record<string, unknown>)),
    phase,
    scalars: scalars as Record<string, number>,
  };
}

/** The kernel call for one ADOPT phase. */
export function adoptCall(options: object, phase: 'init' | 'step', scalars: AdoptScalars): PhaseCall {
  return ruleCall(ADOPT, options, phase, scalars);
}

/** The kernel call for one Adam-family step. */
export function adamCall(options: object, scalars: AdamScalars): PhaseCall {
  return ruleCall(ADAM, options, 'step', scalars);
}
