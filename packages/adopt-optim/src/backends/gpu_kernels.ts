/**
 * What the GPU backends' kernels offer beyond the wasm and cpu ones (webgl_fused.ts, webgpu_fused.ts): the
 * step's verdict (§6.3) before the updates, the gradients' flags on the GPU, and the end of the step.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { FusedKernels } from './tfjs_fused.js';

/** Kernels for a GPU backend: told the step's verdict (§6.3) before the updates, and when the step ends. */
export interface GpuFusedKernels extends FusedKernels {
  /** `ok`: a bool scalar on the GPU (false: the step changes nothing), or null (no check). */
  beginStep(ok: tf.Tensor | null): void;
  /** One flag per gradient, on the GPU: 0 when every element is finite, nonzero or NaN otherwise (§6.3). */
  gradientFlags(gs: tf.Tensor[]): tf.Tensor;
  endStep(): void;
}
