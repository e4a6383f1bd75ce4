/**
 * Transpose for wasm without tfjs's slow general case.
 *
 * tfjs's wasm Transpose has plain C++ loops for ranks 2 to 4 (after dropping size-1 axes) and, for
 * rank 5 and up, a loop that computes every element's position with freshly allocated index
 * vectors: ~180 ns per element, 0.2 s for the [B, T, 3, H, dh] → [3, B, H, T, dh] split of a
 * transformer's fused q/k/v (1M elements). Here the permutation is first simplified: size-1 axes
 * are dropped and input axes that stay neighbours in the output are merged into one (that 5-D
 * permutation is still 5-D; [B, T, H, dh] → [B, H, T, dh] stays 4-D; [N, C] → [C, N] stays 2-D).
 * Then:
 *  - a matrix (or a batch of them) with many rows, swapped (Dense layers' gradients: xᵀ), is
 *    transposed in 64 × 64 tiles ([2048, 640]: 3.4 ms instead of 10.3 ms: tfjs's loop writes a
 *    whole output column at a time);
 *  - other ranks up to 4 go to tfjs's kernel with the simplified shape (its C++ loops do these well);
 *  - higher ranks go to a JavaScript loop over the wasm heap: when the last axis stays last, each
 *    output row is one contiguous run of the input, copied with `copyWithin` (a memmove; 1.1 ms
 *    instead of 89 ms for that 5-D split), otherwise element by element.
 * Elements are moved as 32-bit words, so float32 (NaN payloads included) and int32 are copied
 * bit for bit; every other dtype, and empty tensors, go to tfjs's kernel.
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { callKernel, copyRows, sizeOf, view, type WasmBackendLike } from './backend.js';

export interface SimplifiedTranspose {
  /** input shape with size-1 axes dropped and axes that stay neighbours merged */
  shape: number[];
  /** the permutation of `shape`'s axes */
  perm: number[];
}

/**
 * The smallest transpose equivalent to (`shape`, `perm`): out = transpose(x.reshape(shape), perm)
 * has the elements of transpose(x, perm) in the same order.
 */
export function simplifyTranspose(shape: readonly number[], perm: readonly number[]): SimplifiedTranspose {
  // drop size-1 axes: renumber the others in input order
  const renumber = new Array<number>(shape.length).fill(-1);
  const kept: number[] = [];
  shape.forEach((size, axis) => {
    if (size !== 1) renumber[axis] = kept.push(size) - 1;
  });
  const order = perm.map((axis) => renumber[axis]!).filter((axis) => axis >= 0); // kept axes in output order
  // groups of input axes a, a+1, ... that follow each other in the output
  const groups: number[][] = [];
  for (const axis of order) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last[last.length - 1] === axis - 1) last.push(axis);
    else groups.push([axis]);
  }
  // a group's place in the input: the order of their first axes
  const byInput = [...groups].sort((g, h) => g[0]! - h[0]!);
  return {
    shape: byInput.map((g) => g.reduce((s, axis) => s * kept[axis]!, 1)),
    perm: groups.map((g) => byInput.indexOf(g)),
  };
}

/** Whether `perm` is a permutation of 0..rank-1. */
function isPermutation(perm: unknown, rank: number): perm is number[] {
  if (!Array.isArray(perm) || perm.length !== rank) return false;
  const seen = new Array<boolean>(rank).fill(false);
  for (const p of perm) {
    if (!Number.isInteger(p) || p < 0 || p >= rank || seen[p]) return false;
    seen[p] = true;
  }
  return true;
}

/**
 * Copies `x` (at word `src` of `heap`) transposed by `perm` to word `dst`. `shape` and `perm` are
 * simplified (no size-1 axes, rank ≥ 2).
 */
export function transposeWords(
  heap: Int32Array,
  src: number,
  dst: number,
  shape: readonly number[],
  perm: readonly number[],
): void {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  const outShape = perm.map((p) => shape[p]!);
  const inStride = perm.map((p) => strides[p]!); // input step for one step along each output axis
  // one output row (the last output axis) per point of an odometer over the output's outer axes
  copyRows(
    heap,
    src,
    dst,
    outShape.slice(0, rank - 1),
    inStride.slice(0, rank - 1),
    outShape[rank - 1]!,
    inStride[rank - 1]!,
  );
}

/**
 * Matrices with at least this many rows are transposed by us, in tiles. tfjs's loop writes one
 * column of the output per input row, which is fast while the output rows are short: measured
 * [160, 2048] 0.28 ms (ours 1.0), [640, 2048] 5.3 ms (ours 4.3), [2048, 160] 2.8 ms (ours 0.75),
 * [2048, 640] 10.3 ms (ours 3.4).
 */
const MIN_TILED_ROWS = 512;
/** Tile side: 64 measured best of 16, 32 and 64 ([2048, 640]: 2.5 ms vs 8.7 ms untiled, in JavaScript). */
const TILE = 64;

/** Transposes the rows × cols matrix at word `src` of `heap` into word `dst`, tile by tile. */
export function transposeMatrixWords(heap: Int32Array, src: number, dst: number, rows: number, cols: number): void {
  for (let i0 = 0; i0 < rows; i0 += TILE) {
    const i1 = Math.min(rows, i0 + TILE);
    for (let j0 = 0; j0 < cols; j0 += TILE) {
      const j1 = Math.min(cols, j0 + TILE);
      for (let j = j0; j < j1; j++) {
        let from = src + i0 * cols + j;
        let to = dst + j * rows + i0;
        for (let i = i0; i < i1; i++, from += cols) heap[to++] = heap[from]!;
      }
    }
  }
}

interface Args {
  inputs: { x?: TensorInfo };
  backend: WasmBackendLike;
  attrs: NamedAttrMap;
}

function makeTranspose(original: KernelConfig): KernelFunc {
  const originalFunc = original.kernelFunc;
  return ((args: Args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x;
    const perm = attrs['perm'];
    if (
      x === undefined ||
      (x.dtype !== 'float32' && x.dtype !== 'int32') ||
      !isPermutation(perm, x.shape.length) ||
      sizeOf(x.shape) === 0
    ) {
      return originalFunc(args as never);
    }
    const simple = simplifyTranspose(x.shape, perm);
    const rank = simple.shape.length;
    // identity: tfjs returns the input itself (shared)
    if (rank <= 1) return originalFunc(args as never);
    // matrices and batches of matrices, swapped: in tiles (tfjs's loop writes a whole column at a time)
    const matrices = (rank === 2 || (rank === 3 && simple.perm[0] === 0)) && simple.shape[rank - 2]! >= MIN_TILED_ROWS;
    // other ranks 2 to 4: tfjs's C++ loops (measured faster than ours there: [32, 4, 64, 40] → [0, 2, 1, 3]
    // 0.12 ms vs 0.31 ms), given the simplified shape (a 5-D transpose may simplify to 4-D)
    if (rank <= 4 && !matrices) {
      const out = callKernel(originalFunc, 'Transpose', backend, { x: view(x, simple.shape) }, { perm: simple.perm });
      out.shape = perm.map((p) => x.shape[p]!);
      return out;
    }
    const out = backend.makeOutput(
      perm.map((p) => x.shape[p]!),
      x.dtype as 'float32' | 'int32',
    );
    // views taken after makeOutput, which may grow (and so replace) the heap
    const xs = backend.typedArrayFromHeap(x);
    const os = backend.typedArrayFromHeap(out);
    const heap = new Int32Array(os.buffer);
    if (os.length !== xs.length)
      throw new Error('tfjs-wasm-train: internal error, a transpose whose output does not match x');
    if (matrices) {
      const [rows, cols] = simple.shape.slice(-2) as [number, number];
      const count = rank === 3 ? simple.shape[0]! : 1;
      for (let i = 0; i < count; i++) {
        transposeMatrixWords(
          heap,
          (xs.byteOffset >>> 2) + i * rows * cols,
          (os.byteOffset >>> 2) + i * rows * cols,
          rows,
          cols,
        );
      }
    } else {
      transposeWords(heap, xs.byteOffset >>> 2, os.byteOffset >>> 2, simple.shape, simple.perm);
    }
    return out;
  }) as unknown as KernelFunc;
}

/** Our Transpose for wasm, wrapping tfjs's (`original`). */
export function fastTransposeConfig(original: KernelConfig): KernelConfig {
  return { ...original, kernelFunc: makeTranspose(original) };
}
