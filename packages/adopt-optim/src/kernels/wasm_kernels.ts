/**
 * The compiled WebAssembly kernels, instantiated over a given WebAssembly.Memory: the modules
 * of the rules (one per rule, flag combination and state format, src/codegen/module_text.ts),
 * assembled from their text when first used, per key and plain / shared memory
 * (src/codegen/wasm_binary.ts: wabt's bytes, checked at build time and by test/wasm_binary.test.ts;
 * each under 5 kB, compiled synchronously as the prebuilt ones were), and the prebuilt finiteness
 * check. A shared memory (tfjs's threaded wasm build on cross-origin-isolated pages) gets the same
 * code with a shared import.
 *
 * In-place updates stay safe on a shared heap: tfjs's worker threads only run inside its own
 * kernels, which have returned before ours runs (every tfjs wasm kernel call is synchronous), and
 * our kernels run on the calling thread.
 */
import { WASM_BASE64 } from './generated/finite.js';
import { builtinModuleText, isBuiltinModule } from '../codegen/module_text.js';
import { assembleWat } from '../codegen/wasm_binary.js';
import { lazyWasmModule } from './wasm_module.js';

/** Pointers are byte offsets into the memory, then n (a count of float32 elements), then the uniforms. */
export interface RuleExports {
  init?(...args: number[]): void;
  step(...args: number[]): void;
  /** How many elements satisfy the step's reduction condition (caution's m · g' > 0). */
  count?(...args: number[]): number;
  /** The same for the init phase's reduction (rules defined by users whose init reads a mean). */
  count_init?(...args: number[]): number;
  /**
   * The table kernels (src/codegen/wat_table.ts): the phase on every row of the table at byte offset
   * `table` (each row: the arrays' offsets, n, the uniforms), in one call. Missing where the phase has a
   * per-tensor mean (its counting pass runs per variable first) and in the low-bit modules.
   */
  init_all?(table: number, rows: number): void;
  step_all?(table: number, rows: number): void;
}

/** Whether a memory is shared (the threaded tfjs wasm build's heap). */
export function isSharedMemory(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

const compiled = new Map<string, () => WebAssembly.Module | null>();
/** Modules of rules defined at run time (src/compiler/define_rule.ts): built when first needed. */
const registered = new Map<string, (shared: boolean) => Uint8Array<ArrayBuffer>>();

/** Registers the kernels of a rule defined at run time: `build(shared)` gives its binary module. */
export function registerRuleModule(key: string, build: (shared: boolean) => Uint8Array<ArrayBuffer>): void {
  if (key === 'finite' || isBuiltinModule(key))
    throw new TypeError(`adopt-optim: "${key}" names a built-in kernel module`);
  registered.set(key, build);
}

function module(key: string, shared: boolean): WebAssembly.Module | null {
  const id = `${key}/${shared}`;
  let get = compiled.get(id);
  if (get === undefined) {
    let build = registered.get(key);
    if (build === undefined && key !== 'finite') {
      const text = builtinModuleText(key);
      if (text === undefined) throw new TypeError(`adopt-optim: no kernels are built for "${key}"`);
      build = (s) => assembleWat(text, s);
    }
    if (build !== undefined) {
      let m: WebAssembly.Module | null | undefined;
      get = () => {
        if (m === undefined) {
          try {
            m = new WebAssembly.Module(build(shared));
          } catch {
            m = null; // no SIMD (or no threads for a shared memory): the caller falls back
          }
        }
        return m;
      };
    } else get = lazyWasmModule(WASM_BASE64, shared);
    compiled.set(id, get);
  }
  return get();
}

/** The compiled module of a key (`shared`: its shared-memory variant), for workers (thread_pool.ts); null: no SIMD. */
export function kernelModule(key: string, shared: boolean): WebAssembly.Module | null {
  return module(key, shared);
}

const instances = new WeakMap<WebAssembly.Memory, Map<string, unknown>>();

function instantiate<T>(memory: WebAssembly.Memory, key: string): T | null {
  let byKey = instances.get(memory);
  if (byKey === undefined) instances.set(memory, (byKey = new Map()));
  if (!byKey.has(key)) {
    const m = module(key, isSharedMemory(memory));
    let exports: unknown = null;
    if (m !== null) {
      try {
        exports = new WebAssembly.Instance(m, { env: { memory } }).exports;
      } catch {
        exports = null; // e.g. a shared memory whose maximum the import does not accept
      }
    }
    byKey.set(key, exports);
  }
  return byKey.get(key) as T | null;
}

/** The kernels of one (rule, flags) module (`kernelPlan(...).key`) bound to `memory`, or null (no SIMD). */
export function ruleKernels(memory: WebAssembly.Memory, key: string): RuleExports | null {
  return instantiate<RuleExports>(memory, key);
}

/** `all_finite(g, n)`: 1 if the n float32 at byte offset g are all finite, else 0; null without SIMD. */
export function finiteKernel(memory: WebAssembly.Memory): ((g: number, n: number) => number) | null {
  return instantiate<{ all_finite(g: number, n: number): number }>(memory, 'finite')?.all_finite ?? null;
}

/** `sum_squares(g, n)`: Σ g² over the n float32 at byte offset g, in float64; null without SIMD. */
export function sumSquaresKernel(memory: WebAssembly.Memory): ((g: number, n: number) => number) | null {
  return instantiate<{ sum_squares(g: number, n: number): number }>(memory, 'finite')?.sum_squares ?? null;
}

/** Whether the kernels can run here (WebAssembly with SIMD). */
export function wasmKernelsAvailable(): boolean {
  return module('finite', false) !== null;
}
