/**
 * Fused optimizer steps on GPU backends: WebGL programs (webgl_fused.ts) and a WebGPU compute
 * shader (webgpu_fused.ts), chosen by backend. They implement the plain rules of
 * docs/ALGORITHM.md §2 and §4 with every option of §3 (§7.2); where a variant option is on
 * (nesterov, caution, correctedWeightDecay, 8-bit state), or the backend's internals are not as expected,
 * this returns null and the optimizer uses tfjs ops.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { FusedKernels } from './tfjs_fused.js';
import { webglFusedKernels } from './webgl_fused.js';
import { webgpuFusedKernels } from './webgpu_fused.js';

/** Option names of variants the GPU kernels do not implement: any of them on means tfjs ops. */
/** Kernels for a GPU backend: told the step's verdict (§6.3) before the updates, and when the step ends. */
export interface GpuFusedKernels extends FusedKernels {
  /** `ok`: a bool scalar on the GPU (false: the step changes nothing), or null (no check). */
  beginStep(ok: tf.Tensor | null): void;
  /** One flag per gradient, on the GPU: 0 when every element is finite, nonzero or NaN otherwise (§6.3). */
  gradientFlags(gs: tf.Tensor[]): tf.Tensor;
  endStep(): void;
}

const UNSUPPORTED_VARIANTS = ['nesterov', 'caution', 'correctedWeightDecay', 'stateBits', 'quantized', 'eightBit', 'stateDtype'];

export function gpuFusedKernels(optimizer: object): GpuFusedKernels | null {
  const o = optimizer as Record<string, unknown>;
  if (UNSUPPORTED_VARIANTS.some((k) => o[k] !== undefined && o[k] !== false && o[k] !== null && o[k] !== 32 && o[k] !== 'float32')) return null;
  const name = tf.getBackend();
  if (name === 'webgl') return webglFusedKernels(tf.backend());
  if (name === 'webgpu') return webgpuFusedKernels(tf.backend());
  return null;
}
