// Rules with hostile slot names for the GPU checks (test/gpu_rules.test.mjs): each slot is named like
// a WGSL or GLSL keyword, a built-in, or an identifier the generated shaders or tfjs's use; on
// webgpu each comparison runs inside a validation error scope, so a dropped command fails it.
import * as tf from '@tensorflow/tfjs';
import 'adopt-optim/gpu'; // the webgl and webgpu fused kernels and the GPU non-finite check
import 'adopt-optim/lowbit'; // int8, int4 and bfloat16 state
import { defineRule, ruleOptimizer, type CustomRule } from 'adopt-optim/rules';
import type { NamedStateOptimizer } from 'adopt-optim';

export const HOSTILE_GROUPS: string[][] = [
  ['u', 'i', 'ok', 'main', 'fn', 'let'],
  ['type', 'target', 'filter', 'array', 'f32', 'G'],
  ['P', 'Ok', 'nAN', 'T', 'id', 'size'],
  ['stride', 'Uniforms', 'struct', 'p_old', 'x0', 'u0'],
  ['w0', 'setOutput', 'result', 'coords', 'getPAtOutCoords', 'gl_x'],
  ['a__b', 'bool', 'vec4', 'mix', 'select', 'var'],
];

/** Slot k: m_k ← c_k·m_k + (k+1)·g; p ← p − lr·Σ m_k, the sum clamped to ±10 where most of its slots are positive. */
function hostileRule(k: number, slots: string[]): CustomRule {
  return defineRule({
    name: `hostile${k}`,
    slots,
    scalars: (lr) => ({ lr }),
    step: ({ p, g, slot, scalar, add, sub, mul, constant, clamp, select, gt }) => {
      const writes: Record<string, ReturnType<typeof add>> = {};
      let sum = constant(0);
      slots.forEach((s, j) => {
        writes[s] = add(mul(slot(s), constant(0.5 + j / 10)), mul(g, constant(j + 1)));
        sum = add(sum, writes[s]!);
      });
      const step = select(gt(sum, constant(0)), clamp(sum, constant(-10), constant(10)), sum);
      return { ...writes, p: sub(p, mul(step, scalar('lr'))) };
    },
  });
}

type Factory = (o: Record<string, unknown>) => NamedStateOptimizer;

/** The hostile rules as optimizer factories, `hostile0`, `hostile1`, ...; each defined when first used. */
export const HOSTILE_OPTIMIZERS: Record<string, Factory> = Object.fromEntries(
  HOSTILE_GROUPS.map((slots, k) => {
    let rule: CustomRule | undefined;
    const make: Factory = (o) => ruleOptimizer((rule ??= hostileRule(k, slots)), 1e-2, o);
    return [`hostile${k}`, make];
  }),
);

type Device = { pushErrorScope(f: string): void; popErrorScope(): Promise<{ message: string } | null> };

/** `run` inside WebGPU validation and internal error scopes (on webgpu): its result and the first GPU error. */
export async function inErrorScope<T>(
  backend: string,
  run: () => Promise<T>,
): Promise<T & { gpuError: string | null }> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} is not available`);
  await tf.ready();
  const device = backend === 'webgpu' ? (tf.backend() as unknown as { device: Device }).device : null;
  device?.pushErrorScope('validation');
  device?.pushErrorScope('internal');
  const result = await run();
  const internal = await device?.popErrorScope();
  const validation = await device?.popErrorScope();
  return { ...result, gpuError: validation?.message ?? internal?.message ?? null };
}
