/**
 * Experimental: rules defined by a user. A rule is its state slots, its per-step scalars (float64,
 * from the learning rate, the step number and its hyperparameters) and its per-element update,
 * written with the expression builders of ./expr.ts; every fused path is then generated from it,
 * as for ADOPT and Adam: WebAssembly (assembled at run time, src/codegen/wasm_binary.ts) for tfjs's
 * wasm and cpu backends and the core, GLSL and WGSL for webgl and webgpu, tfjs ops elsewhere.
 *
 *   const lion = defineRule({
 *     name: 'lion', slots: ['m'], hyperparameters: { beta1: 0.9, beta2: 0.99, weightDecay: 0 },
 *     scalars: (lr, _t, h) => ({ lr, b1: h.beta1, omb1: 1 - h.beta1, b2: h.beta2, omb2: 1 - h.beta2, decay: 1 - lr * h.weightDecay }),
 *     step: ({ p, g, slot, scalar: s, add, sub, mul, select, gt, lt, constant }) => {
 *       const c = add(mul(slot('m'), s('b1')), mul(g, s('omb1')));
 *       const sign = select(gt(c, constant(0)), constant(1), select(lt(c, constant(0)), constant(-1), constant(0)));
 *       return { m: add(mul(slot('m'), s('b2')), mul(g, s('omb2'))), p: sub(mul(p, s('decay')), mul(sign, s('lr'))) };
 *     },
 *   });
 *   model.compile({ optimizer: ruleOptimizer(lion, 1e-4), loss });
 */
import * as E from './expr.js';
import type { Phase, Rule } from './rule.js';
import { OptimizerArgumentError } from '../validate.js';
import { kernelPlan, type KernelPlan } from '../codegen/modules.js';
import { watCount, watModule, watPhase } from '../codegen/wat.js';
import { assembleWat } from '../codegen/wasm_binary.js';
import { jsCount, jsPhase } from '../codegen/js.js';
import { registerRuleModule } from '../kernels/wasm_kernels.js';

/** The expression builders a rule's update is written with. */
export interface RuleBuilder {
  /** This element of the parameters, and of the gradient. */
  p: E.Value;
  g: E.Value;
  /** This element of a state slot. */
  slot(name: string): E.Value;
  /** A per-step scalar, by the name `scalars` gives it. */
  scalar(name: string): E.Value;
  constant(value: number): E.Value;
  add: typeof E.add; sub: typeof E.sub; mul: typeof E.mul; div: typeof E.div;
  min: typeof E.min; max: typeof E.max; sqrt: typeof E.sqrt; abs: typeof E.abs; neg: typeof E.neg;
  clamp: typeof E.clamp; select: typeof E.select;
  gt: typeof E.gt; ge: typeof E.ge; lt: typeof E.lt; le: typeof E.le;
  /** a · b > 0, without the product's float32 underflow. */
  sameSign: typeof E.sameSign;
  /** The fraction of the tensor's elements where a condition holds (runs as tfjs ops on webgl and webgpu). */
  mean: typeof E.mean;
}

/** The new values a phase writes: `p` and slots, by name. */
export type RuleWrites = Readonly<Record<string, E.Value>>;

export interface RuleDefinition {
  /** The rule's name: a letter, then letters, digits or _ (its kernels are named after it). */
  name: string;
  /** State arrays, each zeros at the start and shaped like its parameter. */
  slots: readonly string[];
  /** Hyperparameters and their defaults; an optimizer may override them. */
  hyperparameters?: Readonly<Record<string, number>>;
  /** The scalars the update reads, in float64, once per step: `t` is the step number (1, 2, ...). */
  scalars(lr: number, t: number, hyperparameters: Readonly<Record<string, number>>): Record<string, number>;
  /** The update of every later step (of every step without `init`). */
  step(x: RuleBuilder): RuleWrites;
  /** Optional: the first step only initialises state (as ADOPT's does): these writes, and p unchanged. */
  init?(x: RuleBuilder): RuleWrites;
}

/** A rule defined with defineRule: pass it to ruleOptimizer (tfjs) or core.ruleOptimizer. */
export interface CustomRule {
  readonly rule: Rule;
  readonly definition: RuleDefinition;
  readonly hyperparameters: Readonly<Record<string, number>>;
  /** The kernels of each phase (one flag combination: a custom rule has no kernel options). */
  readonly plan: KernelPlan;
  /** The phases as JavaScript on Float32Arrays (float64 arithmetic), where WebAssembly SIMD is missing. */
  readonly js: { readonly init?: JsKernel; readonly step: JsKernel; readonly count?: (...a: unknown[]) => number };
}

export type JsKernel = (...args: unknown[]) => void;

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const defined = new Map<string, RuleDefinition>();

function fail(message: string): never {
  throw new OptimizerArgumentError(`defineRule: ${message}`);
}

/** @experimental Defines a rule whose every fused path is generated from its update (see the module comment). */
export function defineRule(definition: RuleDefinition): CustomRule {
  if (typeof definition !== 'object' || definition === null) fail('expected a rule definition object.');
  const { name, slots, hyperparameters = {}, scalars, step, init } = definition;
  if (typeof name !== 'string' || !NAME.test(name)) fail(`invalid name ${JSON.stringify(name)}; expected a letter, then letters, digits or _.`);
  if (defined.has(name) && defined.get(name) !== definition) fail(`a different rule named "${name}" is already defined; choose another name.`);
  if (!Array.isArray(slots) || slots.some((s) => typeof s !== 'string' || !NAME.test(s) || s === 'p' || s === 'g' || s === 'n')) {
    fail(`invalid slots ${JSON.stringify(slots)}; expected names (letters, digits, _), not p, g or n.`);
  }
  if (new Set(slots).size !== slots.length) fail(`slots ${JSON.stringify(slots)} name one slot twice.`);
  if (slots.length > 6) fail(`${slots.length} slots; at most 6 are supported.`);
  if (typeof scalars !== 'function' || typeof step !== 'function' || (init !== undefined && typeof init !== 'function')) {
    fail('scalars and step must be functions (and init, when given).');
  }
  for (const [k, v] of Object.entries(hyperparameters)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`hyperparameter "${k}" is ${String(v)}; expected a finite number.`);
  }
  const builder: RuleBuilder = {
    p: E.array('p'), g: E.array('g'),
    slot: (s) => (slots.includes(s) ? E.array(s) : fail(`the update reads slot "${s}", which is not one of ${JSON.stringify(slots)}.`)),
    scalar: (s) => E.scalar(s), constant: E.constant,
    add: E.add, sub: E.sub, mul: E.mul, div: E.div, min: E.min, max: E.max, sqrt: E.sqrt, abs: E.abs, neg: E.neg,
    clamp: E.clamp, select: E.select, gt: E.gt, ge: E.ge, lt: E.lt, le: E.le, sameSign: E.sameSign, mean: E.mean,
  };
  const phase = (what: string, writes: RuleWrites): Phase => {
    if (typeof writes !== 'object' || writes === null) fail(`${what} must return the new values, e.g. { p: ..., m: ... }.`);
    const targets = Object.keys(writes);
    for (const t of targets) if (t !== 'p' && !slots.includes(t)) fail(`${what} writes "${t}", which is neither p nor a slot.`);
    if (targets.length === 0) fail(`${what} writes nothing.`);
    // slots first, p last: the order the GPU programs run in (each reads only old values)
    const ordered = [...targets.filter((t) => t !== 'p'), ...targets.filter((t) => t === 'p')];
    return { writes: ordered.map((t) => [t, writes[t]!] as const) };
  };
  const phases = { ...(init ? { init: phase('init', init(builder)) } : {}), step: phase('step', step(builder)) };
  // every scalar the update reads must come out of `scalars`: checked now, not at the first step
  const given = scalars(1e-3, 1, { ...hyperparameters });
  const read = E.scalarsRead([...(phases.init?.writes ?? []), ...phases.step.writes].map(([, v]) => v));
  const missing = read.filter((s) => typeof given?.[s] !== 'number');
  if (missing.length > 0) fail(`the update reads scalar(s) ${missing.map((s) => `"${s}"`).join(', ')}, which scalars() does not return.`);
  const rule: Rule = {
    name: `custom_${name}`,
    options: {},
    capabilities: [],
    slots: () => slots,
    phases: () => phases,
    scaling: {},
  };
  const plan = kernelPlan(rule, {});
  defined.set(name, definition);
  const functions = [
    ...(plan.init ? [watPhase('init', plan.init.sig, plan.init.phase)] : []),
    watPhase('step', plan.step.sig, plan.step.phase),
    ...(plan.count ? [watCount('count', plan.count.sig, plan.count.cond)] : []),
  ];
  const text = watModule(`The kernels of the user-defined rule ${name}.`, functions);
  try {
    registerRuleModule(plan.key, (shared) => assembleWat(text, shared));
  } catch {
    // defined again with the same definition: already registered
  }
  const compile = (source: string): JsKernel => new Function(`return ${source}`)() as JsKernel;
  const js = {
    ...(plan.init ? { init: compile(jsPhase('init', plan.init.sig, plan.init.phase, false)) } : {}),
    step: compile(jsPhase('step', plan.step.sig, plan.step.phase, false)),
    ...(plan.count ? { count: compile(jsCount('count', plan.count.sig, plan.count.cond, false)) as unknown as (...a: unknown[]) => number } : {}),
  };
  return { rule, definition, hyperparameters: { ...hyperparameters }, plan, js };
}

/** Hyperparameters over a rule's defaults, checked: known names, finite numbers. */
export function resolveHyperparameters(owner: string, custom: CustomRule, given: unknown): Record<string, number> {
  const out = { ...custom.hyperparameters };
  if (given === undefined) return out;
  if (typeof given !== 'object' || given === null) throw new OptimizerArgumentError(`${owner}: invalid hyperparameters ${String(given)}; expected an object.`);
  for (const [k, v] of Object.entries(given)) {
    if (!(k in out)) {
      throw new OptimizerArgumentError(`${owner}: unknown hyperparameter "${k}"; the rule "${custom.definition.name}" has ${Object.keys(out).join(', ') || 'none'}.`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new OptimizerArgumentError(`${owner}: hyperparameter "${k}" is ${String(v)}; expected a finite number.`);
    out[k] = v;
  }
  return out;
}

/** The step's scalars, checked: every one a finite number. */
export function stepScalars(owner: string, custom: CustomRule, lr: number, t: number, h: Record<string, number>): Record<string, number> {
  const s = custom.definition.scalars(lr, t, h);
  for (const [k, v] of Object.entries(s ?? {})) {
    if (typeof v !== 'number' || Number.isNaN(v)) {
      throw new OptimizerArgumentError(`${owner}: scalars() returned ${String(v)} for "${k}" at step ${t}; expected a number. Nothing was changed.`);
    }
  }
  return s;
}
