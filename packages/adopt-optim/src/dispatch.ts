/**
 * The one dispatcher: for each step it chooses the kernels of the backend, and for each variable
 * the path its phase runs on, from (rule, options, backend, state dtype) — as PyTorch's adam()
 * chooses _single_tensor_ / _multi_tensor_ / _fused_ once. What runs where:
 *
 * | path     | where                                   | runs                                               |
 * |----------|-----------------------------------------|----------------------------------------------------|
 * | `wasm`   | tfjs wasm backend, `fused: true`         | generated WebAssembly, in place on tfjs's heap      |
 * | `cpu`    | tfjs cpu backend, `fused: true`          | generated WebAssembly over chunks of the arrays     |
 * | `webgl`  | tfjs webgl backend, `fused: true`        | generated GLSL, one program per array written       |
 * | `webgpu` | tfjs webgpu backend, `fused: true`       | generated WGSL, one dispatch per variable           |
 * | `ops`    | any backend; `fused: false`; what a GPU path lacks (a per-tensor mean: caution) | the rule as tfjs ops (codegen/tfops.ts) |
 * | `int8`   | `stateDtype: 'int8'` (wasm heap, arrays, or webgpu buffers) | generated 8-bit WebAssembly (codegen/wat8.ts) around the hand-written codec; on webgpu generated WGSL (codegen/wgsl_lowbit.ts) |
 * | `int4`   | `stateDtype: 'int4'` (the same routes)   | the same generators with the 4-bit format and codec |
 * | `core`   | `adopt-optim/core`                       | generated WebAssembly (fused) or the generated JS scaling (chain) |
 *
 * The path each step took is reported by `NamedStateOptimizer.lastStepPaths`.
 *
 * Combinations a path does not implement are refused by the rule's capability table
 * (src/rules/options.ts `incapability`) when the optimizer is built, before anything changes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { callPart, type PhaseCall } from './codegen/modules.js';
import { tfOps } from './codegen/tfops.js';
import { fusedKernelsForBackend, type FusedKernels } from './backends/tfjs_fused.js';
import { gpuFusedKernels } from './backends/gpu_fused.js';
import type { LowBitDtype } from './formats/state_formats.js';

/** Where a variable's step ran (the table above). */
export type StepPath = 'wasm' | 'cpu' | 'webgl' | 'webgpu' | 'ops' | LowBitDtype;

/** The kernels a step uses (chosen once per step), or null: every variable runs as tfjs ops. */
export function stepKernels(fused: boolean): FusedKernels | null {
  return fused ? (fusedKernelsForBackend() ?? gpuFusedKernels()) : null;
}

/** Whether a variable's phase runs on the kernels: they implement the plan and hold these tensors. */
export function runsOnKernels(kernels: FusedKernels | null, call: PhaseCall, tensors: tf.Tensor[]): kernels is FusedKernels {
  return kernels !== null && kernels.supports(call) && kernels.accepts(tensors);
}

/**
 * One variable's phase on its path: the kernels in place, or tfjs ops whose results `commit`
 * assigns (`opsScalars`: the step's scalars with a backend-safe epsilon, §7.1).
 */
export function runPhase(
  kernels: FusedKernels | null, call: PhaseCall, p: tf.Variable, g: tf.Tensor, slots: readonly [string, tf.Variable][],
  opsScalars: () => object, commit: (target: tf.Variable, value: tf.Tensor) => void,
): StepPath {
  const slotTensors = slots.map(([, t]) => t);
  if (runsOnKernels(kernels, call, [p, g, ...slotTensors])) {
    kernels.run(call, p, g, slotTensors);
    return kernels.path;
  }
  const named = Object.fromEntries(slots) as Record<string, tf.Variable>;
  for (const [target, value] of tfOps(callPart(call).phase, { p, g, ...named }, opsScalars())) {
    commit(target === 'p' ? p : named[target]!, value);
  }
  return 'ops';
}
