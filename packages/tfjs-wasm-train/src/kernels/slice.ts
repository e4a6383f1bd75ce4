/**
 * Slice, Unpack and SplitV for wasm without copying the whole input first.
 *
 * tfjs 4.22's wasm Slice starts with `backend.readSync(x)`, a copy of all of x out of the wasm
 * heap, for every slice; Unpack (tf.unstack) and SplitV (tf.split) call it once per output, so
 * unstacking [3, 32, 4, 64, 40] copies the 4 MB input three times (8 ms instead of 1), and ranks
 * above 4 then take a generic element-by-element path. Ours read x on the heap directly: the
 * innermost axes that are taken whole form one contiguous run, and each run is copied with
 * `copyWithin` (a memmove), at any rank. Elements move as 32-bit words: float32 (bit for bit) and
 * int32; other dtypes, and anything tfjs would reject, go to tfjs's kernels.
 */
import {
  backend_util,
  slice_util,
  util,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { copyRows, sizeOf, type WasmBackendLike } from './backend.js';

/**
 * Copies the block `begin`..`begin + size` of a tensor of `shape` at word `src` of `heap` to word
 * `dst` (row-major, contiguous). Bounds must have been checked.
 */
export function sliceWords(
  heap: Int32Array,
  src: number,
  dst: number,
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
): void {
  const rank = shape.length;
  if (rank === 0) {
    heap[dst] = heap[src]!;
    return;
  }
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  let from = src;
  for (let i = 0; i < rank; i++) from += begin[i]! * strides[i]!;
  // axes inner..rank-1 form one contiguous run: every axis after `inner` is taken whole
  let inner = rank - 1;
  let run = size[inner]!;
  while (inner > 0 && size[inner] === shape[inner]) {
    inner--;
    run *= size[inner]!;
  }
  copyRows(heap, from, dst, size.slice(0, inner), strides.slice(0, inner), run, 1);
}

function wordDtype(t: TensorInfo | undefined): t is TensorInfo & { dtype: 'float32' | 'int32' } {
  return t !== undefined && (t.dtype === 'float32' || t.dtype === 'int32');
}

/** Whether begin/size (already parsed: no -1) lie inside `shape`. */
function inBounds(shape: readonly number[], begin: readonly number[], size: readonly number[]): boolean {
  if (begin.length !== shape.length || size.length !== shape.length) return false;
  for (let i = 0; i < shape.length; i++) {
    const b = begin[i]!;
    const s = size[i]!;
    if (!Number.isInteger(b) || !Number.isInteger(s) || b < 0 || s < 0 || b + s > shape[i]!) return false;
  }
  return true;
}

/** The slices of x (begins and sizes already checked), each a new tensor of `outShapes[i]`. */
function sliceMany(
  backend: WasmBackendLike,
  x: TensorInfo & { dtype: 'float32' | 'int32' },
  blocks: { begin: number[]; size: number[] }[],
  outShapes: number[][],
): TensorInfo[] {
  // each output holds exactly its block: the copies below write no more than it holds
  if (blocks.some(({ size }, i) => sizeOf(size) !== sizeOf(outShapes[i]!))) {
    throw new Error('tfjs-wasm-train: internal error, a slice whose output does not match its block');
  }
  const outs: TensorInfo[] = [];
  try {
    for (let i = 0; i < blocks.length; i++) outs.push(backend.makeOutput(outShapes[i]!, x.dtype));
  } catch (e) {
    for (const out of outs) backend.disposeData(out.dataId);
    throw e;
  }
  // views taken after every makeOutput, which may grow (and so replace) the heap
  const xs = backend.typedArrayFromHeap(x);
  const heap = new Int32Array(xs.buffer);
  blocks.forEach(({ begin, size }, i) => {
    if (sizeOf(size) === 0) return;
    const os = backend.typedArrayFromHeap(outs[i]!);
    sliceWords(heap, xs.byteOffset >>> 2, os.byteOffset >>> 2, x.shape, begin, size);
  });
  return outs;
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: WasmBackendLike;
  attrs: NamedAttrMap;
}

function makeSlice(original: KernelConfig): KernelFunc {
  return ((args: Args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x'];
    if (!wordDtype(x)) return original.kernelFunc(args as never);
    const [begin, size] = slice_util.parseSliceParams(x, attrs['begin'] as number[], attrs['size'] as number[]);
    if (!inBounds(x.shape, begin!, size!)) return original.kernelFunc(args as never);
    return sliceMany(backend, x, [{ begin: begin!, size: size! }], [size!])[0]!;
  }) as unknown as KernelFunc;
}

function makeUnpack(original: KernelConfig): KernelFunc {
  return ((args: Args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['value'];
    const rank = x?.shape.length ?? 0;
    let axis = attrs['axis'] as number;
    if (Number.isInteger(axis) && axis < 0) axis += rank;
    if (!wordDtype(x) || rank === 0 || !Number.isInteger(axis) || axis < 0 || axis >= rank)
      return original.kernelFunc(args as never);
    const outShape = x.shape.filter((_, i) => i !== axis);
    const blocks = Array.from({ length: x.shape[axis]! }, (_, i) => {
      const begin = new Array<number>(rank).fill(0);
      begin[axis] = i;
      const size = x.shape.slice();
      size[axis] = 1;
      return { begin, size };
    });
    return sliceMany(
      backend,
      x,
      blocks,
      blocks.map(() => outShape),
    );
  }) as unknown as KernelFunc;
}

function makeSplitV(original: KernelConfig): KernelFunc {
  return ((args: Args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x'];
    if (!wordDtype(x) || x.shape.length === 0) return original.kernelFunc(args as never);
    // tfjs's own checks (axis, split sizes summing to the axis), before anything is allocated
    const axis = util.parseAxisParam(attrs['axis'] as number, x.shape)[0]!;
    const sizes = backend_util.prepareSplitSize(x, attrs['numOrSizeSplits'] as number | number[], axis);
    let at = 0;
    const blocks = sizes.map((s) => {
      const begin = new Array<number>(x.shape.length).fill(0);
      begin[axis] = at;
      at += s;
      const size = x.shape.slice();
      size[axis] = s;
      return { begin, size };
    });
    if (!blocks.every((b) => inBounds(x.shape, b.begin, b.size))) return original.kernelFunc(args as never);
    return sliceMany(
      backend,
      x,
      blocks,
      blocks.map((b) => b.size),
    );
  }) as unknown as KernelFunc;
}

/** Our Slice for wasm, wrapping tfjs's (`original`). */
export function fastSliceConfig(original: KernelConfig): KernelConfig {
  return { ...original, kernelFunc: makeSlice(original) };
}

/** Our Unpack for wasm, wrapping tfjs's (`original`). */
export function fastUnpackConfig(original: KernelConfig): KernelConfig {
  return { ...original, kernelFunc: makeUnpack(original) };
}

/** Our SplitV for wasm, wrapping tfjs's (`original`). */
export function fastSplitVConfig(original: KernelConfig): KernelConfig {
  return { ...original, kernelFunc: makeSplitV(original) };
}
