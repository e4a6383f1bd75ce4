/**
 * Experimental: the run-time compiler of rules defined by a user (`defineRule`). The definition is checked and
 * turned into a Rule by src/rules/custom.ts; here every fused path is generated from it, as for ADOPT and Adam:
 * WebAssembly (assembled at run time, src/codegen/wasm_binary.ts) for tfjs's wasm and cpu backends and the core,
 * GLSL and WGSL for webgl and webgpu (generated when first run), JavaScript where WebAssembly SIMD is missing.
 * The module text is assembled as the build script's is (src/codegen/module_text.ts, src/codegen/js.ts).
 */
import { ruleOfDefinition, type RuleDefinition } from '../rules/custom.js';
import type { Rule } from '../rules/rule.js';
import { RuleRegistry } from '../rules/rule_names.js';
import { OptimizerArgumentError } from '../validate.js';
import { kernelPlan, type KernelPlan } from '../codegen/modules.js';
import { planFunctionsJs } from '../codegen/js.js';
import { planModuleText } from '../codegen/module_text.js';
import { assembleWat } from '../codegen/wasm_binary.js';
import { foreignShaderIdentifiers } from '../codegen/identifier_check.js';
import { registerRuleModule, wasmKernelsAvailable } from '../kernels/wasm_kernels.js';

// The whole defineRule API from one module: the language (src/rules/custom.ts) and the per-step scalars.
export { MAX_RULE_DEPTH, type RuleBuilder, type RuleDefinition, type RuleWrites } from '../rules/custom.js';
export { stepScalars } from './step_scalars.js';

/**
 * A rule made by defineRule: its definition and hyperparameters, and the kernels generated from it. Pass it to
 * ruleOptimizer (tfjs) or core.ruleOptimizer.
 */
export interface CustomRule {
  /** @internal The rule as the code generators read it. */
  readonly rule: Rule;
  /** What was given to defineRule. */
  readonly definition: RuleDefinition;
  /** The hyperparameters with their defaults. */
  readonly hyperparameters: Readonly<Record<string, number>>;
  /** @internal The kernels of each phase (one flag combination: a custom rule has no kernel options). */
  readonly plan: KernelPlan;
  /** @internal Each slot's identifier in the kernels (src/rules/namespace.ts), in slot order. */
  readonly arrays: readonly string[];
  /** @internal The scalars the update reads (every one must come out of `scalars` at every step). */
  readonly scalarNames: readonly string[];
  /** @internal The phases as JavaScript on Float32Arrays (float64 arithmetic), where WebAssembly SIMD is missing. */
  readonly js: {
    readonly init?: JsKernel;
    readonly step: JsKernel;
    readonly count?: JsCount;
    readonly count_init?: JsCount;
  };
}

/** @internal A generated JavaScript counting kernel (a per-tensor mean's pass). */
export type JsCount = (...args: unknown[]) => number;

/** @internal A generated JavaScript kernel. */
export type JsKernel = (...args: unknown[]) => void;

/** The latest rule defined under each name: what a saved RuleOptimizer config is restored with. */
const byName = new RuleRegistry<CustomRule>();
/** Distinguishes the kernels of rules defined under the same name. */
let serial = 0;

/**
 * The rule most recently defined with this name in this process, if any; or with the name that
 * tfjs-layers camel-cases to this one (a config of a loaded model: src/rules/rule_names.ts).
 */
export function definedRule(name: string): CustomRule | undefined {
  return byName.get(name);
}

function fail(message: string): never {
  throw new OptimizerArgumentError(`defineRule: ${message}`);
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/**
 * @experimental Defines a rule: its state slots, its per-step scalars (float64, from the learning rate, the step
 * number and its hyperparameters) and its per-element update, written with the expression builders. Every fused path
 * is generated from it: WebAssembly for tfjs's wasm and cpu backends and the core, GLSL and WGSL for webgl and
 * webgpu, tfjs ops elsewhere. Lion, for example:
 *
 * ```ts
 * const lion = defineRule({
 *   name: 'lion', slots: ['m'], hyperparameters: { beta1: 0.9, beta2: 0.99, weightDecay: 0 },
 *   scalars: (lr, _t, h) => ({
 *     lr, b1: h.beta1, omb1: 1 - h.beta1, b2: h.beta2, omb2: 1 - h.beta2, decay: 1 - lr * h.weightDecay,
 *   }),
 *   step: ({ p, g, slot, scalar: s, add, sub, mul, select, gt, lt, constant }) => {
 *     const c = add(mul(slot('m'), s('b1')), mul(g, s('omb1')));
 *     const sign = select(gt(c, constant(0)), constant(1), select(lt(c, constant(0)), constant(-1), constant(0)));
 *     return { m: add(mul(slot('m'), s('b2')), mul(g, s('omb2'))), p: sub(mul(p, s('decay')), mul(sign, s('lr'))) };
 *   },
 * });
 * model.compile({ optimizer: ruleOptimizer(lion, 1e-4), loss: 'meanSquaredError' });
 * ```
 *
 * A definition the kernels cannot run is refused here with an `OptimizerArgumentError`; the limits (depth, means,
 * names) are in docs/api.md.
 */
export function defineRule(definition: RuleDefinition): CustomRule {
  const { rule, arrays, scalarNames, hyperparameters } = ruleOfDefinition(
    definition,
    (n) => byName.clashOf(n),
    (n) => `custom${++serial}_${n}`,
  );
  const { name } = definition;
  const plan = kernelPlan(rule, {});
  const leaked = foreignShaderIdentifiers(plan);
  for (const [lang, ids] of Object.entries(leaked)) {
    if (ids.length > 0) {
      fail(
        `the generated ${lang.toUpperCase()} of "${name}" names ${ids.join(', ')} outside the user namespace ` +
          '(an internal error; please report it).',
      );
    }
  }
  const text = planModuleText(plan, `The kernels of the user-defined rule ${name}.`);
  const bytes = assembleWat(text); // assembled now: a rule whose kernels cannot be built is refused here
  if (wasmKernelsAvailable() && !WebAssembly.validate(bytes))
    fail(`the WebAssembly kernels of "${name}" do not validate (an internal error; please report it).`);
  registerRuleModule(plan.key, (shared) => (shared ? assembleWat(text, true) : bytes));
  const sources = planFunctionsJs(plan);
  const compile = (source: string): JsKernel => new Function(`return ${source}`)() as JsKernel;
  const counter = (source: string): JsCount => compile(source) as unknown as JsCount;
  const js = {
    ...(sources.init !== undefined ? { init: compile(sources.init) } : {}),
    step: compile(sources.step),
    ...(sources.count !== undefined ? { count: counter(sources.count) } : {}),
    ...(sources.count_init !== undefined ? { count_init: counter(sources.count_init) } : {}),
  };
  const made: CustomRule = {
    rule,
    definition,
    hyperparameters,
    plan,
    arrays,
    scalarNames,
    js,
  };
  byName.set(name, made);
  return made;
}

/** Throws unless `rule` was made by defineRule. */
export function checkCustomRule(owner: string, rule: unknown): CustomRule {
  const r = rule as Partial<CustomRule> | null;
  if (
    r === null ||
    typeof r !== 'object' ||
    r.rule === undefined ||
    r.plan === undefined ||
    r.definition === undefined
  ) {
    const what = rule && typeof rule === 'object' ? "an object without defineRule's fields" : rule;
    throw new OptimizerArgumentError(`${owner}: invalid rule ${show(what)}; expected the result of defineRule({...}).`);
  }
  return r as CustomRule;
}

/** Hyperparameters over a rule's defaults, checked: known names, finite numbers. */
export function resolveHyperparameters(owner: string, custom: CustomRule, given: unknown): Record<string, number> {
  const out = { ...custom.hyperparameters };
  if (given === undefined) return out;
  if (typeof given !== 'object' || given === null)
    throw new OptimizerArgumentError(`${owner}: invalid hyperparameters ${String(given)}; expected an object.`);
  for (const [k, v] of Object.entries(given)) {
    if (!Object.hasOwn(custom.hyperparameters, k)) {
      throw new OptimizerArgumentError(
        `${owner}: unknown hyperparameter "${k}"; the rule "${custom.definition.name}" has ` +
          `${Object.keys(out).join(', ') || 'none'}.`,
      );
    }
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new OptimizerArgumentError(`${owner}: hyperparameter "${k}" is ${show(v)}; expected a finite number.`);
    out[k] = v;
  }
  return out;
}
