/**
 * The WebAssembly text of a built-in kernel module from (rule, flags, low-bit format): one
 * function for the build script (which writes the readable .wat files and checks them against
 * wabt) and the run time (src/kernels/wasm_kernels.ts assembles a module when first used).
 * The low-bit modules' text is ./module_text_lowbit.ts, registered here by the low-bit kernels
 * (src/kernels/lowbit_arrays.ts) so that the float32 kernels do not bring the codecs.
 */
import { kernelPlan, RULES, type KernelPlan } from './modules.js';
import { flagSets, moduleKey, type Flags, type Rule } from '../rules/rule.js';
import { watCount, watModule, watPhase } from './wat.js';
import { incapability } from '../rules/options.js';
import { LOW_BIT_FORMATS, type LowBitFormat } from '../formats/state_formats.js';
import { watTablePhase } from './wat_table.js';

/** The low-bit modules' text (./module_text_lowbit.ts), once the low-bit kernels have registered it. */
type LowBitText = (rule: Rule, flags: Flags, format: LowBitFormat) => string;
let lowBitText: LowBitText | null = null;

/** Called by the low-bit kernels (src/kernels/lowbit_arrays.ts) before they assemble a module. */
export function registerLowBitModuleText(text: LowBitText): void {
  lowBitText = text;
}

/** The module of (rule, flags): float32 state (`format` null) or block-wise low-bit state. */
export function moduleText(rule: Rule, flags: Flags, format: LowBitFormat | null): string {
  if (format !== null) {
    if (lowBitText === null) {
      throw new TypeError(`adopt-optim: ${format.bits}-bit kernels come with import 'adopt-optim/lowbit'`);
    }
    return lowBitText(rule, flags, format);
  }
  const plan = kernelPlan(rule, flags);
  return planModuleText(plan, (n) => `The ${plan.key} kernels: ${n} functions.`);
}

/**
 * The float32-state module of a kernel plan: `init`, `step`, `count` and `count_init` where the plan has them. The
 * built-in modules (above) and a rule defined at run time (src/compiler/define_rule.ts) are both made by it.
 */
export function planModuleText(plan: KernelPlan, comment: string | ((functions: number) => string)): string {
  const functions = [
    ...(plan.init ? [watPhase('init', plan.init.sig, plan.init.phase)] : []),
    watPhase('step', plan.step.sig, plan.step.phase),
    ...(plan.count ? [watCount('count', plan.count.sig, plan.count.cond)] : []),
    ...(plan.initCount ? [watCount('count_init', plan.initCount.sig, plan.initCount.cond)] : []),
    ...tableFunctions(plan),
  ];
  return watModule(typeof comment === 'string' ? comment : comment(functions.length), functions);
}

/**
 * The table kernels of a float32-state plan (./wat_table.ts): `init_all` and `step_all`, one call for every
 * variable of a step. A phase with a per-tensor mean (caution) has none: its counting pass comes first, per
 * variable, and such variables keep the per-variable call.
 */
function tableFunctions(plan: KernelPlan): string[] {
  return [
    ...(plan.init && !plan.initCount ? [watTablePhase('init', plan.init.sig)] : []),
    ...(plan.count ? [] : [watTablePhase('step', plan.step.sig)]),
  ];
}

/** What a built-in module is made from. */
export interface ModuleSource {
  rule: Rule;
  flags: Flags;
  format: LowBitFormat | null;
}

/**
 * Every built-in module, by key (`<plan key>` or `<plan key>_<format key>`), in the build's order;
 * no kernel plan is made here (a module's text makes only its own).
 */
export function builtinModules(): Map<string, ModuleSource> {
  const out = new Map<string, ModuleSource>();
  for (const rule of RULES) {
    for (const flags of flagSets(rule)) {
      const key = moduleKey(rule, flags);
      out.set(key, { rule, flags, format: null });
      // low-bit state (§11, §12) where the rule allows it
      if (incapability(rule.name, rule.capabilities, flags, 'lowbit') === null) {
        for (const format of LOW_BIT_FORMATS) out.set(`${key}_${format.key}`, { rule, flags, format });
      }
    }
  }
  return out;
}

let builtins: ReturnType<typeof builtinModules> | undefined;

/** Whether the library has a built-in module by that key. */
export function isBuiltinModule(key: string): boolean {
  builtins ??= builtinModules();
  return builtins.has(key);
}

/** The text of the built-in module `key` (built only when asked for), or undefined if there is none. */
export function builtinModuleText(key: string): string | undefined {
  builtins ??= builtinModules();
  const entry = builtins.get(key);
  return entry === undefined ? undefined : moduleText(entry.rule, entry.flags, entry.format);
}
