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
 * Float32 state is never refused: each backend's kernels say what they run (`supports`, `accepts`; the
 * table BACKENDS below names them), and everything else runs as tfjs ops. Low-bit combinations a path does
 * not implement are refused by the rule's capability table (src/rules/options.ts `incapability`) when the
 * optimizer is built, before anything changes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { callPart, type PhaseCall } from './codegen/modules.js';
import { tfOps } from './codegen/tfops.js';
import { cpuFusedKernels, wasmFusedKernels, type FusedKernels } from './backends/tfjs_fused.js';
import type { GpuFusedKernels } from './backends/gpu_kernels.js';
import { webglFusedKernels } from './backends/webgl_fused.js';
import { webgpuFusedKernels } from './backends/webgpu_fused.js';
import type { LowBitDtype } from './formats/state_formats.js';

/** Where a variable's step ran (the table above). */
export type StepPath = 'wasm' | 'cpu' | 'webgl' | 'webgpu' | 'ops' | LowBitDtype;

/**
 * The backends with kernels of their own: how they are made (each says what it can run: `supports`,
 * `accepts`), and whether a synchronous readback stalls there (a GPU: the non-finite check runs on it, §6.3).
 */
const BACKENDS: Readonly<Record<string, { kernels(backend: object): FusedKernels | null; gpu: boolean }>> = {
  wasm: { kernels: wasmFusedKernels, gpu: false },
  cpu: { kernels: cpuFusedKernels, gpu: false },
  webgl: { kernels: webglFusedKernels, gpu: true },
  webgpu: { kernels: webgpuFusedKernels, gpu: true },
};

/** Each backend instance's kernels, made on first use (null: none, or its internals are not as expected). */
const made = new WeakMap<object, FusedKernels | null>();

/** The active backend's kernels, or null where only tfjs ops can be used. */
export function backendKernels(): FusedKernels | null {
  const backend = tf.backend() as object;
  let kernels = made.get(backend);
  if (kernels === undefined) {
    kernels = BACKENDS[tf.getBackend()]?.kernels(backend) ?? null;
    made.set(backend, kernels);
  }
  return kernels;
}

/** The kernels a step uses (chosen once per step), or null: every variable runs as tfjs ops. */
export function stepKernels(fused: boolean): FusedKernels | null {
  return fused ? backendKernels() : null;
}

/** Backends where a synchronous readback stalls (or breaks): the non-finite check runs on the GPU there (§6.3). */
export function isGpuBackend(name: string): boolean {
  return BACKENDS[name]?.gpu === true;
}

/** The GPU kernels of the active backend, or null (not a GPU backend, or its internals are not as expected). */
export function gpuFusedKernels(): GpuFusedKernels | null {
  return isGpuBackend(tf.getBackend()) ? (backendKernels() as GpuFusedKernels | null) : null;
}

/** Whether a variable's phase runs on the kernels: they implement the plan and hold these tensors. */
export function runsOnKernels(
  kernels: FusedKernels | null,
  call: PhaseCall,
  tensors: tf.Tensor[],
): kernels is FusedKernels {
  return kernels?.supports(call) === true && kernels.accepts(tensors);
}

/**
 * One variable's phase on its path: the kernels in place, or tfjs ops whose results `commit`
 * assigns (`opsScalars`: the step's scalars with a backend-safe epsilon, §7.1).
 */
export function runPhase(
  kernels: FusedKernels | null,
  call: PhaseCall,
  p: tf.Variable,
  g: tf.Tensor,
  slots: readonly [string, tf.Variable][],
  opsScalars: () => object,
  commit: (target: tf.Variable, value: tf.Tensor) => void,
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
