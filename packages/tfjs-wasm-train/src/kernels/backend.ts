/**
 * The little of tfjs's wasm backend that our kernels touch, and helpers to run the backend's own
 * kernels (Transpose, Slice, Conv2D, ...) from inside ours.
 *
 * Kernels of the wasm backend call each other directly (`transpose({inputs, backend, attrs})`), not
 * through the engine: a nested engine.runKernel would be recorded on the gradient tape and counted
 * as a tensor. We do the same with the kernel functions tfjs registered, looked up in the kernel
 * registry, and free every intermediate with `backend.disposeData` before returning.
 */
import { getKernel, type DataId, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';

/** The part of `BackendWasm` (tfjs-backend-wasm) that is used here. */
export interface WasmBackendLike {
  dataIdMap: {
    get(dataId: DataId): { id: number; shape?: number[]; dtype?: string; memoryOffset?: number | null } | undefined;
    delete?(dataId: DataId): boolean;
  };
  disposeData(dataId: DataId, force?: boolean): boolean;
  /** With `memoryOffset`: a tensor record for memory that is already there (not allocated). */
  makeOutput(shape: number[], dtype: 'float32' | 'int32', memoryOffset?: number): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  /** the Emscripten module: `tfjs.disposeData(id)` drops the C++ record of a tensor id (and its XNNPACK operators) */
  wasm?: { tfjs?: { disposeData?: (id: number) => void } };
}

export const WASM = 'wasm';

/** Runs the kernel function registered for `name` on the wasm backend (the one registered now). */
export function runWasmKernel(
  name: string,
  backend: WasmBackendLike,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const config = getKernel(name, WASM);
  if (config === undefined) {
    throw new Error(
      `tfjs-wasm-train: kernel '${name}' is not registered for backend 'wasm' (import ` +
        "'@tensorflow/tfjs-backend-wasm' first)",
    );
  }
  return callKernel(config.kernelFunc, name, backend, inputs, attrs);
}

/** Calls a kernel function and checks that it produced one tensor. */
export function callKernel(
  kernelFunc: KernelFunc,
  name: string,
  backend: WasmBackendLike,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const out = kernelFunc({ inputs, backend: backend as never, attrs });
  if (Array.isArray(out)) {
    if (out.length !== 1) throw new Error(`tfjs-wasm-train: kernel '${name}' returned ${out.length} outputs`);
    return out[0]!;
  }
  return out;
}

/**
 * The same data seen with another shape (a reshape that copies nothing and takes no reference).
 * Only to pass as a kernel input while `t` is alive; never dispose it.
 */
export function view(t: TensorInfo, shape: number[]): TensorInfo {
  // a view larger than its data would let the kernel it is given read or write past it
  if (sizeOf(shape) !== sizeOf(t.shape)) {
    throw new Error(`tfjs-wasm-train: internal error, a view [${shape}] of a tensor [${t.shape}] (sizes differ)`);
  }
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/** Transposes with the backend's Transpose kernel into a new (scratch or output) tensor. */
export function transpose(backend: WasmBackendLike, x: TensorInfo, perm: number[]): TensorInfo {
  return runWasmKernel('Transpose', backend, { x }, { perm });
}

/** Frees intermediates made by our kernels (each holds one reference). */
export function dispose(backend: WasmBackendLike, ...tensors: (TensorInfo | null | undefined)[]): void {
  for (const t of tensors) if (t != null) backend.disposeData(t.dataId);
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Runs of at least this many contiguous words are copied with copyWithin (a memmove), shorter ones word by word. */
const MIN_RUN_FOR_COPY_WITHIN = 12;

/**
 * Gathers rows of `run` words from `heap` into one contiguous block at word `dst`: the rows are the
 * points of an odometer over `counts` (outermost first) whose axes step by `strides` words from
 * `src`; inside a row, words are `step` apart (1: a contiguous run). The shared inner loop of
 * Slice (./slice.ts) and Transpose (./transpose.ts). Bounds must have been checked by the caller.
 */
export function copyRows(
  heap: Int32Array,
  src: number,
  dst: number,
  counts: readonly number[],
  strides: readonly number[],
  run: number,
  step: number,
): void {
  const outer = counts.length;
  const index = new Array<number>(outer).fill(0);
  const rows = sizeOf(counts);
  let from = src;
  let to = dst;
  for (let row = 0; row < rows; row++) {
    if (step !== 1) for (let j = 0, f = from; j < run; j++, f += step) heap[to + j] = heap[f]!;
    else if (run >= MIN_RUN_FOR_COPY_WITHIN) heap.copyWithin(to, from, from + run);
    else for (let j = 0; j < run; j++) heap[to + j] = heap[from + j]!;
    to += run;
    // next row: increment the odometer from its innermost axis
    for (let axis = outer - 1; axis >= 0; axis--) {
      from += strides[axis]!;
      if (++index[axis]! < counts[axis]!) break;
      from -= strides[axis]! * counts[axis]!;
      index[axis] = 0;
    }
  }
}

/**
 * Runs `body` with a `keep` that marks tensors as scratch, and disposes them afterwards (also when
 * `body` throws), except the tensor `body` returns when it is one of them.
 */
export function withScratch<T extends TensorInfo>(
  backend: WasmBackendLike,
  body: (keep: (t: TensorInfo) => TensorInfo) => T,
): T {
  const scratch: TensorInfo[] = [];
  let result: T | undefined;
  try {
    result = body((t) => {
      scratch.push(t);
      return t;
    });
    return result;
  } finally {
    dispose(backend, ...scratch.filter((t) => result === undefined || t.dataId !== result.dataId));
  }
}

/** Whether `backend` can make aliases (tensor records for a part of another tensor's memory). */
export function canAlias(backend: WasmBackendLike): boolean {
  return typeof backend.dataIdMap.delete === 'function' && typeof backend.wasm?.tfjs?.disposeData === 'function';
}

/**
 * A tensor record for `shape` at element `offset` of float32 tensor `t`'s memory, with a fresh id: the
 * backend's kernels read it as an ordinary tensor, without any copy. Only while `t` is alive; free it
 * with `releaseAlias`, never with `disposeData` (which would free the memory of `t`).
 */
export function makeAlias(backend: WasmBackendLike, t: TensorInfo, offset: number, shape: number[]): TensorInfo {
  if (!Number.isInteger(offset) || offset < 0 || offset + sizeOf(shape) > sizeOf(t.shape)) {
    throw new Error(
      `tfjs-wasm-train: internal error, an alias [${shape}] at ${offset} lies outside a tensor [${t.shape}]`,
    );
  }
  const base = backend.typedArrayFromHeap(t).byteOffset;
  const memoryOffset = base + offset * 4;
  const alias = backend.makeOutput(shape, 'float32', memoryOffset);
  if (backend.dataIdMap.get(alias.dataId)?.memoryOffset !== memoryOffset) {
    backend.disposeData(alias.dataId);
    throw new Error('tfjs-wasm-train: this version of the wasm backend does not make tensors for existing memory');
  }
  return alias;
}

/** Drops an alias made by `makeAlias` (its records in JavaScript and C++, not the memory). */
export function releaseAlias(backend: WasmBackendLike, alias: TensorInfo): void {
  const data = backend.dataIdMap.get(alias.dataId);
  if (data === undefined) return;
  backend.dataIdMap.delete!(alias.dataId);
  backend.wasm!.tfjs!.disposeData!(data.id);
}
