/**
 * tfjs-wasm-train: training at full speed on TensorFlow.js's wasm backend.
 *
 * `enableWasmTraining()` registers, for backend 'wasm' only:
 *  - BatchMatMul and _FusedMatMul that send transposed products (Dense layers' gradients) and
 *    batch-times-matrix products to XNNPACK instead of tfjs's slow C++ loop;
 *  - Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter and DepthwiseConv2dNativeBackpropInput,
 *    which tfjs's wasm backend lacks (so Conv2D models could not be trained there at all), and a
 *    faster Conv2DBackpropInput, all as XNNPACK convolutions;
 *  - a faster MaxPoolGrad for windows that tile the input (MaxPooling2D's default);
 *  - products of batches against batches (attention) as one XNNPACK product per matrix;
 *  - a Transpose without tfjs's very slow loop for rank 5 and up, and with memmoves of whole rows
 *    when the last axis stays last;
 *  - Slice, Unpack (tf.unstack) and SplitV (tf.split) that read the input in place instead of
 *    copying all of it out of the heap for every slice;
 *  - a Sum over leading axes (bias gradients) without tfjs's transpose, bit for bit the same.
 * `disableWasmTraining()` puts back exactly what was registered before. `initWasmThreads()` starts the wasm
 * backend on several threads (XNNPACK's pool; in Node through a runtime shim).
 */
import '@tensorflow/tfjs-backend-wasm'; // registers tfjs's wasm kernels, which ours wrap and call
import { engine, getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { WASM } from './kernels/backend.js';
import { fastBatchMatMulConfig, fastFusedMatMulConfig } from './kernels/batch_mat_mul.js';
import {
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
} from './kernels/conv_backprop_filter.js';
import { conv2DBackpropInputConfig, depthwiseConv2dNativeBackpropInputConfig } from './kernels/conv_backprop_input.js';
import { fastMaxPoolGradConfig } from './kernels/max_pool_grad.js';
import { fastSliceConfig, fastSplitVConfig, fastUnpackConfig } from './kernels/slice.js';
import { fastSumConfig } from './kernels/sum.js';
import { fastTransposeConfig } from './kernels/transpose.js';

export { matMulRoute, PER_MATRIX_MIN_WORK, type MatMulRoute } from './kernels/batch_mat_mul.js';
export { simplifyTranspose } from './kernels/transpose.js';
export {
  initWasmThreads,
  MAX_WASM_THREADS,
  threadsUnavailable,
  type WasmThreadsInfo,
  type WasmThreadsOptions,
} from './threads.js';

/** The kernels `enableWasmTraining()` registers for backend 'wasm'. */
export const WASM_TRAINING_KERNELS = [
  'BatchMatMul',
  '_FusedMatMul',
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'MaxPoolGrad',
  'Transpose',
  'Slice',
  'Unpack',
  'SplitV',
  'Sum',
] as const;

export type WasmTrainingKernel = (typeof WASM_TRAINING_KERNELS)[number];

/** What `enableWasmTraining()` returns. */
export interface WasmTrainingHandle {
  /** The kernel names registered for 'wasm'. */
  readonly kernels: readonly WasmTrainingKernel[];
  /** Same as `disableWasmTraining()`. */
  disable(): void;
}

interface Installed {
  /** what was registered under each name before (undefined: nothing) */
  previous: Map<WasmTrainingKernel, KernelConfig | undefined>;
  /** the configs we registered */
  ours: Map<WasmTrainingKernel, KernelConfig>;
  handle: WasmTrainingHandle;
}

// One installation per process, shared by the ESM and CJS builds of this package (as tfjs's
// kernel registry is), so that enabling from both is still idempotent.
const STATE_KEY = Symbol.for('tfjs-wasm-train/installed');
type Global = { [STATE_KEY]?: Installed };

function state(): Installed | undefined {
  return (globalThis as Global)[STATE_KEY];
}

function replace(config: KernelConfig): void {
  if (getKernel(config.kernelName, config.backendName) !== undefined)
    unregisterKernel(config.kernelName, config.backendName);
  registerKernel(config);
}

function original(name: string): KernelConfig {
  const config = getKernel(name, WASM);
  if (config === undefined) {
    throw new Error(
      `tfjs-wasm-train: tfjs's wasm kernel '${name}' is not registered; is @tensorflow/tfjs-backend-wasm installed ` +
        '(4.x)?',
    );
  }
  return config;
}

/**
 * Registers our kernels for backend 'wasm'. Call once, before or after `tf.setBackend('wasm')`;
 * calling again returns the same handle. Other backends are not touched.
 */
export function enableWasmTraining(): WasmTrainingHandle {
  const installed = state();
  if (installed !== undefined) return installed.handle;
  const ours = new Map<WasmTrainingKernel, KernelConfig>([
    ['BatchMatMul', fastBatchMatMulConfig(original('BatchMatMul'))],
    ['_FusedMatMul', fastFusedMatMulConfig(original('_FusedMatMul'))],
    ['Conv2DBackpropFilter', conv2DBackpropFilterConfig],
    ['Conv2DBackpropInput', conv2DBackpropInputConfig],
    ['DepthwiseConv2dNativeBackpropFilter', depthwiseConv2dNativeBackpropFilterConfig],
    ['DepthwiseConv2dNativeBackpropInput', depthwiseConv2dNativeBackpropInputConfig],
    ['MaxPoolGrad', fastMaxPoolGradConfig(original('MaxPoolGrad'))],
    ['Transpose', fastTransposeConfig(original('Transpose'))],
    ['Slice', fastSliceConfig(original('Slice'))],
    ['Unpack', fastUnpackConfig(original('Unpack'))],
    ['SplitV', fastSplitVConfig(original('SplitV'))],
    ['Sum', fastSumConfig(original('Sum'))],
  ]);
  const previous = new Map<WasmTrainingKernel, KernelConfig | undefined>();
  for (const name of WASM_TRAINING_KERNELS) previous.set(name, getKernel(name, WASM));
  for (const name of WASM_TRAINING_KERNELS) replace(ours.get(name)!);
  const handle: WasmTrainingHandle = { kernels: WASM_TRAINING_KERNELS, disable: disableWasmTraining };
  (globalThis as Global)[STATE_KEY] = { previous, ours, handle };
  return handle;
}

/**
 * Unregisters our kernels and registers again the configs that were there before (tfjs's own
 * BatchMatMul, _FusedMatMul, Transpose, ..., the very same objects). Does nothing when not enabled.
 *
 * tfjs runs a kernel's `setupFunc` (which binds its C++ function) once, when the backend starts,
 * for the kernels registered then. Enabled before `setBackend('wasm')` (tfjs-wasm-train/register),
 * ours were registered at that moment, so tfjs's own Conv2DBackpropInput was never set up and
 * failed after disable with "wasmConv2DBackpropInput is not a function" (issue 21): a started
 * backend's setup runs again for each config put back (binding twice is harmless).
 */
export function disableWasmTraining(): void {
  const installed = state();
  if (installed === undefined) return;
  const started = (engine() as unknown as { registry: Record<string, object | undefined> }).registry[WASM];
  for (const name of WASM_TRAINING_KERNELS) {
    const ours = installed.ours.get(name)!;
    // leave alone a kernel someone else registered over ours since
    if (getKernel(name, WASM) === ours) unregisterKernel(name, WASM);
    const previous = installed.previous.get(name);
    if (previous !== undefined && getKernel(name, WASM) === undefined) {
      registerKernel(previous);
      if (started !== undefined) previous.setupFunc?.(started);
    }
  }
  delete (globalThis as Global)[STATE_KEY];
}

/** Whether `enableWasmTraining()` is in effect. */
export function isWasmTrainingEnabled(): boolean {
  return state() !== undefined;
}
