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
 * | `ops`    | any backend; `fused: false`; what a GPU path lacks (a per-tensor mean: caution); webgl/webgpu without `import 'adopt-optim/gpu'` | the rule as tfjs ops (codegen/tfops.ts) |
 * | `int8`   | `stateDtype: 'int8'` (wasm heap, arrays, or webgpu buffers) | generated 8-bit WebAssembly (codegen/wat8.ts) around the generated codec; on webgpu generated WGSL (codegen/wgsl_lowbit.ts) |
 * | `int4`, `bfloat16` | `stateDtype: 'int4'`, `'bfloat16'` (the same routes) | the same generators with that format's codec |
 * | `core`   | `adopt-optim/core`                       | generated WebAssembly (fused) or the generated JS scaling (chain) |
 *
 * The path each step took is reported by `NamedStateOptimizer.lastStepPaths`.
 *
 * Optional pieces register here when their entry point is imported (as tfjs backends register themselves):
 * `import 'adopt-optim/gpu'` fills the webgl and webgpu rows of BACKENDS (src/gpu/index.ts); without it those
 * backends run as tfjs ops and say once which import they lack (`gpuEntryMissing`). Low-bit state
 * (`import 'adopt-optim/lowbit'`, src/lowbit/index.ts) is routed here too: which backends run it, and on which
 * route (`lowBitRoute`: webgpu buffers, the wasm heap, or arrays of their own).
 *
 * Float32 state is never refused: each backend's kernels say what they run (`supports`, `accepts`; the
 * table BACKENDS below names them), and everything else runs as tfjs ops. Low-bit combinations a path does
 * not implement are refused by the rule's capability table (src/rules/options.ts `incapability`) when the
 * optimizer is built, before anything changes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { callPart, type PhaseCall } from './codegen/modules.js';
import { tfOps } from './codegen/tfops.js';
import { wasmFusedKernels, type FusedKernels } from './backends/tfjs_fused.js';
import { cpuFusedKernels } from './backends/cpu_fused.js';
import type { GpuFusedKernels } from './backends/gpu_kernels.js';
import type { LowBitDtype } from './formats/state_formats.js';
import { OptimizerArgumentError, warnOnce } from './validate.js';

/** Where a variable's step ran (the table above). */
export type StepPath = 'wasm' | 'cpu' | 'webgl' | 'webgpu' | 'ops' | LowBitDtype;

/** How a backend's kernels are made (each says what it can run: `supports`, `accepts`), or null: none here. */
export type KernelMaker = (backend: object) => FusedKernels | null;

/**
 * The backends with kernels of their own: how they are made (null until their entry point registers them:
 * `registerBackendKernels`), whether a synchronous readback stalls there (a GPU: the non-finite check runs on it,
 * §6.3), and whether low-bit state runs there. The one table: the GPU rows are filled by `import 'adopt-optim/gpu'`.
 */
const BACKENDS: Record<string, { kernels: KernelMaker | null; readonly gpu: boolean; readonly lowBit: boolean }> = {
  wasm: { kernels: wasmFusedKernels, gpu: false, lowBit: true },
  cpu: { kernels: cpuFusedKernels, gpu: false, lowBit: true },
  webgl: { kernels: null, gpu: true, lowBit: false },
  webgpu: { kernels: null, gpu: true, lowBit: true },
};

/** Each backend instance's kernels, made on first use (null: none, or its internals are not as expected). */
let made = new WeakMap<object, FusedKernels | null>();

/** Fills a GPU backend's row of the table (src/gpu/index.ts, `import 'adopt-optim/gpu'`). */
export function registerBackendKernels(name: 'webgl' | 'webgpu', kernels: KernelMaker): void {
  BACKENDS[name]!.kernels = kernels;
  made = new WeakMap(); // a backend seen before the registration had none
}

/** The import that brings the GPU backends' kernels, the GPU non-finite check and first steps. */
export const GPU_ENTRY = "import 'adopt-optim/gpu'";

/**
 * Whether a GPU backend's pieces are missing (`import 'adopt-optim/gpu'` not made): then said once per backend, in
 * one console warning naming the import, and the step runs as tfjs ops (`lastStepPaths` says 'ops').
 */
export function gpuEntryMissing(name: string): boolean {
  const entry = BACKENDS[name];
  if (entry?.gpu !== true || entry.kernels !== null) return false;
  warnOnce(
    `gpu entry ${name}`,
    `adopt-optim: the ${name} backend's fused kernels and its GPU non-finite check come with ${GPU_ENTRY}; ` +
      'without it every step runs as tfjs ops (lastStepPaths: ops)' +
      (name === 'webgl' ? ' and the non-finite check reads its flags back synchronously' : '') +
      `. Add ${GPU_ENTRY} beside your tfjs backend import. (Shown once per backend.)`,
  );
  return true;
}

/** The active backend's kernels, or null where only tfjs ops can be used. */
export function backendKernels(): FusedKernels | null {
  const backend = tf.backend() as object;
  let kernels = made.get(backend);
  if (kernels === undefined) {
    const name = tf.getBackend();
    kernels = gpuEntryMissing(name) ? null : (BACKENDS[name]?.kernels?.(backend) ?? null);
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

/**
 * Refuses low-bit state on a backend with no route for it (before anything changes): it runs on wasm, cpu and
 * webgpu (whose route needs `import 'adopt-optim/gpu'`).
 */
export function checkLowBitBackend(owner: string, dtype: LowBitDtype): void {
  const name = tf.getBackend();
  if (BACKENDS[name]?.lowBit !== true) {
    throw new OptimizerArgumentError(
      `${owner}: stateDtype '${dtype}' runs on the wasm, cpu and webgpu backends only (fused kernels); ` +
        `the backend is ${name}. Nothing was changed.`,
    );
  }
  if (name === 'webgpu' && lowBitOnGpu(gpuFusedKernels()) === null) {
    const why = BACKENDS[name]!.kernels === null ? `; its kernels come with ${GPU_ENTRY}` : '';
    throw new OptimizerArgumentError(
      `${owner}: stateDtype '${dtype}' on webgpu runs on the fused kernels, which this backend does not have ` +
        `(${why === '' ? 'its internals are not the ones the fused kernels know' : why.slice(2)}). Nothing was changed.`,
    );
  }
}

/** The webgpu kernels' low-bit entry (backends/webgpu_fused.ts), typed where it is used. */
export interface LowBitOnGpu {
  runLowBit(call: PhaseCall, p: tf.Variable, g: tf.Tensor, ...rest: never[]): void;
}

/** The kernels' low-bit entry on the GPU, or null (not webgpu's fused kernels). */
export function lowBitOnGpu(k: unknown): LowBitOnGpu | null {
  return k !== null && typeof k === 'object' && typeof (k as Partial<LowBitOnGpu>).runLowBit === 'function'
    ? (k as LowBitOnGpu)
    : null;
}

/**
 * Where a variable's low-bit phase runs: `gpu` (webgpu buffers), `heap` (in place on tfjs's wasm heap, where the
 * store allows it and the kernels hold p and g), or `memory` (codes in a memory of their own, p and g copied).
 */
export function lowBitRoute(kernels: FusedKernels | null, p: tf.Tensor, g: tf.Tensor, heap: boolean) {
  if (lowBitOnGpu(kernels) !== null) return 'gpu' as const;
  if (heap && kernels?.lowBitHeap !== undefined && kernels.accepts([p, g])) return 'heap' as const;
  return 'memory' as const;
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
