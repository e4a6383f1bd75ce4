/**
 * Fused optimizer steps on GPU backends: WebGL programs (webgl_fused.ts) and a WebGPU compute
 * shader (webgpu_fused.ts), generated from the rules, chosen by backend. A phase with a per-tensor
 * mean (caution, §10.2) runs as tfjs ops there (`supports`); 8-bit state reads back to the CPU.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { FusedKernels } from './tfjs_fused.js';
import { webglFusedKernels } from './webgl_fused.js';
import { webgpuFusedKernels } from './webgpu_fused.js';

/** Kernels for a GPU backend: told the step's verdict (§6.3) before the updates, and when the step ends. */
export interface GpuFusedKernels extends FusedKernels {
  /** `ok`: a bool scalar on the GPU (false: the step changes nothing), or null (no check). */
  beginStep(ok: tf.Tensor | null): void;
  /** One flag per gradient, on the GPU: 0 when every element is finite, nonzero or NaN otherwise (§6.3). */
  gradientFlags(gs: tf.Tensor[]): tf.Tensor;
  endStep(): void;
}

/** The GPU kernels of the active backend, or null (not a GPU backend, or its internals are not as expected). */
export function gpuFusedKernels(): GpuFusedKernels | null {
  const name = tf.getBackend();
  if (name === 'webgl') return webglFusedKernels(tf.backend());
  if (name === 'webgpu') return webgpuFusedKernels(tf.backend());
  return null;
}
