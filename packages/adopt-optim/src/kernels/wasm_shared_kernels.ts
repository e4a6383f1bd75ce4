/**
 * The optimizer kernels compiled against a *shared* memory import: the variant for tfjs's threaded
 * wasm build (cross-origin-isolated pages), whose heap is a shared WebAssembly.Memory that the
 * plain module (an unshared import) cannot be instantiated against. Same code as
 * optimizer_kernels.wat (scripts/build-kernels.mjs derives it by changing only the import).
 *
 * In-place updates stay safe there: tfjs's worker threads only run inside its own kernels, which
 * have returned before ours runs (every tfjs wasm kernel call is synchronous), and our kernels run
 * on the calling thread.
 */
import { WASM_BASE64 } from './generated/optimizer_kernels_shared.js';
import { lazyWasmModule } from './wasm_module.js';
import type { KernelExports } from './wasm_kernels.js';

/** Whether a memory is shared (the threaded tfjs wasm build's heap). */
export function isSharedMemory(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

/** The shared-memory module, or null without SIMD or threads support. */
const sharedModule = lazyWasmModule(WASM_BASE64);

/** Kernels bound to a shared memory, or null if they cannot be. */
export function instantiateSharedKernels(memory: WebAssembly.Memory): KernelExports | null {
  const module = sharedModule();
  if (module === null) return null;
  try {
    return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  } catch {
    return null; // e.g. a maximum above the 65536 pages the import declares
  }
}
