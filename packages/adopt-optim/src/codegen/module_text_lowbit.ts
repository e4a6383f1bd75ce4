/**
 * The WebAssembly text of a built-in low-bit kernel module (rule, flags, format): the rule's phases on block-wise
 * low-bit state (./wat8.ts) around the format's codec (./wat_codec.ts). Apart from ./module_text.ts so that the
 * float32 kernels do not bring the codecs: the low-bit kernels (src/kernels/lowbit_arrays.ts) register it there.
 */
import { kernelPlan } from './modules.js';
import type { Flags, Rule } from '../rules/rule.js';
import { watModule } from './wat.js';
import { wat8Phase } from './wat8.js';
import type { LowBitFormat } from '../formats/state_formats.js';
import { watCodec } from './wat_codec.js';

/** The module of (rule, flags) on block-wise low-bit state of `format`. */
export function lowBitModuleText(rule: Rule, flags: Flags, format: LowBitFormat): string {
  const plan = kernelPlan(rule, flags);
  const key = `${plan.key}_${format.key}`;
  return watModule(`The ${key} kernels: the ${plan.key} rule on block-wise ${format.bits}-bit state.`, [
    watCodec(format),
    ...(plan.init ? [wat8Phase('init', plan.init.sig, plan.init.phase, [], format)] : []),
    wat8Phase('step', plan.step.sig, plan.step.phase, ['sign', 'decay'], format),
  ]);
}
