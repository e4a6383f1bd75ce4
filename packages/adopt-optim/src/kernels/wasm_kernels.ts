/**
 * The compiled kernels of optimizer_kernels.wat, instantiated over a given WebAssembly.Memory.
 * The module is 2.5 kB, so it compiles synchronously everywhere (browsers allow up to 4 kB); the 8-bit
 * state kernels (state8_kernels.wat, 2.6 kB) are a module of their own for the same reason.
 */
import { WASM_BASE64 } from './generated/optimizer_kernels.js';
import { lazyWasmModule } from './wasm_module.js';
import { instantiateSharedKernels, isSharedMemory } from './wasm_shared_kernels.js';

/** Pointers are byte offsets into the memory; n counts float32 elements. */
export interface KernelExports {
  adopt_init(p: number, g: number, v: number, n: number, sign: number, wd: number): void;
  adopt_step(
    p: number, g: number, m: number, v: number, n: number,
    lr: number, b1: number, omb1: number, b2: number, omb2: number,
    eps: number, clip: number, sign: number, wd: number, decay: number,
    nesterov: number, hi: number, lo: number,
  ): void;
  adam_step(
    p: number, g: number, m: number, v: number, vmax: number, n: number,
    stepSize: number, b1: number, omb1: number, b2: number, omb2: number,
    eps: number, invSqrtBc2: number, sign: number, wd: number, decay: number, amsgrad: number,
    hi: number, lo: number,
  ): void;
  adopt_caution_count(
    p: number, g: number, m: number, v: number, n: number,
    b1: number, omb1: number, eps: number, clip: number, sign: number, wd: number,
  ): number;
  adam_caution_count(p: number, g: number, m: number, n: number, b1: number, omb1: number, sign: number, wd: number): number;
  all_finite(g: number, n: number): number;
}

/** The compiled module, or null where WebAssembly SIMD is unavailable. */
export const kernelModule = lazyWasmModule(WASM_BASE64);

/** Kernels bound to `memory` (shared or not), or null if they cannot be (no SIMD). */
export function instantiateKernels(memory: WebAssembly.Memory): KernelExports | null {
  if (isSharedMemory(memory)) return instantiateSharedKernels(memory); // tfjs's threaded build
  const module = kernelModule();
  if (module === null) return null;
  try {
    return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  } catch {
    return null; // e.g. the threaded tfjs build's shared memory does not match our import
  }
}
