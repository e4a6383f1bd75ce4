/**
 * BatchMatMul and _FusedMatMul for wasm that avoid tfjs's slow transposed products.
 *
 * tfjs's wasm backend sends a product to XNNPACK's fully-connected operator only when both
 * operands are one matrix (batch 1) and neither is transposed; every other product runs a plain
 * blocked triple loop in C++ (`slow_batch_matmul`), 10-15x slower. Dense layers' gradients are
 * exactly the transposed forms (dy·wᵀ and xᵀ·dy). Here a transposed operand is first transposed
 * explicitly (the backend's Transpose kernel, into a scratch tensor freed before returning), and
 * a batch of matrices times one matrix is seen as one tall matrix, so the product reaches XNNPACK.
 * Batches against batches (attention: q·kᵀ, p·v and their gradients) become one XNNPACK product
 * per matrix, on aliases of the operands' memory (3-6x faster than tfjs's loop at [32, 4, 64, 40]).
 * Everything else goes to tfjs's kernel unchanged.
 *
 * XNNPACK's operator cache (keyed by the id of `b` only) never sees a user's tensor on our routes:
 * a transposed b is a scratch tensor, an untransposed one is given under a fresh id (an alias of
 * its memory), and the cached operator is deleted with either before the kernel returns. On tfjs's
 * own XNNPACK route, the same data seen as another [k, n] (a reshape keeps the id) also gets a
 * fresh id (see `packedOtherwise`).
 */
import {
  broadcast_util,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import {
  callKernel,
  canAlias,
  dispose,
  makeAlias,
  releaseAlias,
  runWasmKernel,
  sizeOf,
  transpose,
  view,
  withScratch,
  type WasmBackendLike,
} from './backend.js';

/** Swaps the last two axes. */
function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 1] = rank - 2;
  perm[rank - 2] = rank - 1;
  return perm;
}

export type MatMulRoute = 'tfjs' | 'transpose' | 'fold-batch' | 'per-matrix';

/**
 * Products of batches against batches smaller than this (m·k·n multiply-adds per matrix) stay in
 * tfjs's loop: below it, the fixed cost of one XNNPACK call (~10 µs: a fresh operator that packs
 * the matrix) outweighs the loop's slowness.
 */
export const PER_MATRIX_MIN_WORK = 4096;

/**
 * Which way a product goes: 'transpose' (both single matrices, one or both transposed: make them
 * plain and use XNNPACK), 'fold-batch' (a batch of matrices times one matrix: fold the batch into
 * the rows and use XNNPACK), 'per-matrix' (batches against batches, e.g. attention: one XNNPACK
 * product per matrix, on the operands' own memory) or 'tfjs' (tfjs's kernel as is).
 * `perMatrixAllowed`: whether the backend can make the per-matrix tensors (see `canAlias`).
 */
export function matMulRoute(
  aShape: readonly number[],
  bShape: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
  foldAllowed = true,
  perMatrixAllowed = true,
): MatMulRoute {
  if (aShape.length < 2 || bShape.length < 2) return 'tfjs';
  const batchA = sizeOf(aShape.slice(0, -2));
  const batchB = sizeOf(bShape.slice(0, -2));
  if (sizeOf(aShape) === 0 || sizeOf(bShape) === 0) return 'tfjs';
  if (batchA === 1 && batchB === 1) return transposeA || transposeB ? 'transpose' : 'tfjs';
  if (batchB === 1 && foldAllowed) return 'fold-batch';
  const m = transposeA ? aShape[aShape.length - 1]! : aShape[aShape.length - 2]!;
  const k = transposeA ? aShape[aShape.length - 2]! : aShape[aShape.length - 1]!;
  const n = transposeB ? bShape[bShape.length - 2]! : bShape[bShape.length - 1]!;
  if (perMatrixAllowed && suffixBatches(aShape.slice(0, -2), bShape.slice(0, -2)) && m * k * n >= PER_MATRIX_MIN_WORK)
    return 'per-matrix';
  return 'tfjs';
}

/**
 * Whether one batch shape, without its leading 1s, ends the other: then tfjs's pairing of output
 * matrix i with a's matrix i mod |a's batch| and b's matrix i mod |b's batch| is broadcasting.
 * Other shapes (e.g. [2, 1] against [1, 3]) tfjs pairs by that modulo all the same, which is not
 * broadcasting; those stay with tfjs's kernel, as they are.
 */
function suffixBatches(a: readonly number[], b: readonly number[]): boolean {
  const strip = (s: readonly number[]) => {
    let i = 0;
    while (i < s.length && s[i] === 1) i++;
    return s.slice(i);
  };
  const [x, y] = [strip(a), strip(b)];
  const [short, long] = x.length <= y.length ? [x, y] : [y, x];
  return short.every((d, i) => d === long[long.length - short.length + i]);
}

interface MatMulArgs {
  inputs: Record<string, TensorInfo | undefined>;
  backend: WasmBackendLike;
  attrs: NamedAttrMap;
}

/**
 * XNNPACK's operator cache in tfjs's wasm backend keeps each right-hand matrix packed, keyed by its
 * tensor id only; `reshape` keeps the id. For every user tensor whose own id we let reach XNNPACK
 * (tfjs's untransposed single-matrix route), the [k, n] it was first packed as: the same data later
 * seen as another [k, n] gets a fresh id instead (tfjs alone reuses the old packing there: wrong
 * results, or XNNPACK writing past its output).
 */
const packedAs = new WeakMap<object, string>();

/** Whether `b` (as [k, n]) must not reach XNNPACK under its own id. Records the first shape. */
function packedOtherwise(b: TensorInfo, k: number, n: number): boolean {
  const key = `${k}x${n}`;
  const seen = packedAs.get(b.dataId as object);
  if (seen === undefined) packedAs.set(b.dataId as object, key);
  return seen !== undefined && seen !== key;
}

/**
 * Runs `body` with `b` under a fresh tensor id (an alias of its memory with `shape`), released
 * afterwards with the XNNPACK operator and packed copy made for it.
 */
function withFreshId<T>(backend: WasmBackendLike, b: TensorInfo, shape: number[], body: (fresh: TensorInfo) => T): T {
  const fresh = makeAlias(backend, b, 0, shape);
  try {
    return body(fresh);
  } finally {
    releaseAlias(backend, fresh);
  }
}

/**
 * Whether tfjs would pair the matrices of these batch shapes wrongly: they broadcast (e.g. [2, 1] and
 * [1, 3]), but not as one's suffix of the other, and tfjs's kernels (cpu's too) pair output matrix i with
 * a's matrix i mod |a's batch| and b's i mod |b's batch|, which is broadcasting only for suffixes.
 */
function pairedWrongly(aBatch: number[], bBatch: number[]): boolean {
  if (sizeOf(aBatch) <= 1 || sizeOf(bBatch) <= 1 || suffixBatches(aBatch, bBatch)) return false;
  try {
    broadcast_util.assertAndGetBroadcastShape(aBatch, bBatch);
    return true;
  } catch {
    return false; // not broadcastable: tfjs's kernel gives its own error
  }
}

/** `t` ([...batch, r, c]) repeated along its batch axes to `outBatch` (the backend's Tile; a new tensor). */
function tileToBatch(backend: WasmBackendLike, t: TensorInfo, outBatch: number[]): TensorInfo {
  const padded = [...new Array<number>(outBatch.length + 2 - t.shape.length).fill(1), ...t.shape];
  const reps = padded.map((d, i) => (i < outBatch.length ? outBatch[i]! / d : 1));
  return runWasmKernel('Tile', backend, { x: view(t, padded) }, { reps });
}

function makeFast(original: KernelConfig, name: string, fused: boolean): KernelFunc {
  const originalFunc = original.kernelFunc;
  const fast = (args: MatMulArgs): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const a = inputs['a'];
    const b = inputs['b'];
    const transposeA = Boolean(attrs['transposeA']);
    const transposeB = Boolean(attrs['transposeB']);
    if (
      a === undefined ||
      b === undefined ||
      a.dtype !== 'float32' ||
      b.dtype !== 'float32' ||
      a.shape.length < 2 ||
      b.shape.length < 2
    ) {
      return originalFunc(args as never) as TensorInfo;
    }
    const [aBatch, bBatch] = [a.shape.slice(0, -2), b.shape.slice(0, -2)];
    if (!fused && pairedWrongly(aBatch, bBatch)) {
      // a correct path: both repeated to the output's batch shape first (batched fused products come here
      // through unfusedBatched)
      const outBatch = broadcast_util.assertAndGetBroadcastShape(aBatch, bBatch);
      return withScratch(backend, (keep) =>
        fast({
          inputs: { a: keep(tileToBatch(backend, a, outBatch)), b: keep(tileToBatch(backend, b, outBatch)) },
          backend,
          attrs,
        }),
      );
    }
    const n = transposeB ? b.shape[b.shape.length - 2]! : b.shape[b.shape.length - 1]!;
    const bias = inputs['bias'];
    // XNNPACK (tfjs's route and ours) reads n bias values: a bias of another size (e.g. [1]) is added by Add
    const empty = sizeOf(a.shape) * sizeOf(b.shape) === 0;
    if (fused && bias != null && bias.shape.length === 1 && bias.shape[0] !== n && !empty) {
      return unfusedBatched(backend, a, b, inputs, attrs);
    }
    const aliases = canAlias(backend);
    // PReLU weights broadcast against the output's shape: keep the batch as tfjs laid it out.
    const foldAllowed = !fused || attrs['activation'] !== 'prelu';
    // batched fused products go through BatchMatMul (below), which takes this route itself
    let route = matMulRoute(a.shape, b.shape, transposeA, transposeB, foldAllowed, !fused && aliases);
    // our XNNPACK routes hand the user's b to XNNPACK under a fresh id (below): without aliases, tfjs's loop
    if (route !== 'per-matrix' && route !== 'tfjs' && !transposeB && !aliases) route = 'tfjs';
    if (route === 'per-matrix') return perMatrix(backend, originalFunc, a, b, transposeA, transposeB);
    if (route === 'tfjs') {
      const batched = sizeOf(a.shape.slice(0, -2)) > 1 || sizeOf(b.shape.slice(0, -2)) > 1;
      if (fused && batched) return unfusedBatched(backend, a, b, inputs, attrs);
      // tfjs's XNNPACK route (single untransposed matrices) packs b under its id
      if (!batched && !transposeA && !transposeB && aliases && packedOtherwise(b, b.shape[b.shape.length - 2]!, n)) {
        return withFreshId(backend, b, b.shape, (fresh) =>
          callKernel(originalFunc, name, backend, { ...inputs, b: fresh } as Record<string, TensorInfo>, attrs),
        );
      }
      return originalFunc(args as never) as TensorInfo;
    }

    return withScratch(backend, (keep) => {
      let a2 = transposeA ? keep(transpose(backend, a, swapLastTwo(a.shape.length))) : a;
      const b2 = transposeB ? keep(transpose(backend, b, swapLastTwo(b.shape.length))) : b;
      const m = a2.shape[a2.shape.length - 2]!;
      const k = a2.shape[a2.shape.length - 1]!;
      const outShape = broadcast_util
        .assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2))
        .concat([m, n]);
      if (b2.shape[b2.shape.length - 2] !== k) {
        throw new Error(
          `Error in matMul: inner shapes (${k}) and (${b2.shape[b2.shape.length - 2]}) of Tensors with shapes ` +
            `${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
        );
      }
      if (route === 'fold-batch') a2 = view(a2, [1, sizeOf(a2.shape.slice(0, -2)) * m, k]);
      else if (fused) a2 = view(a2, [1, m, k]); // _FusedMatMul takes rank-3 operands (tfjs-core reshapes first)
      const bShape = route === 'fold-batch' || fused ? [1, k, n] : b2.shape;
      const run = (bIn: TensorInfo) =>
        callKernel(originalFunc, name, backend, { ...inputs, a: a2, b: bIn } as Record<string, TensorInfo>, {
          ...attrs,
          transposeA: false,
          transposeB: false,
        });
      // b2 is a scratch tensor (a fresh id, freed below) or the user's b: that one gets a fresh id too
      const out = b2 === b ? withFreshId(backend, b, bShape, run) : run(view(b2, bShape));
      out.shape = outShape;
      return out;
    });
  };
  return fast as unknown as KernelFunc;
}

/**
 * A product of batches against batches as one XNNPACK product per output matrix: tfjs's kernel
 * (`originalFunc`, BatchMatMul) gets each pair of matrices as [1, m, k] and [1, k, n] tensors that
 * are aliases of the operands' memory (transposed operands are transposed first, into scratch), so
 * it takes its XNNPACK path; each result is copied into its place in the output. Every alias has a
 * fresh id, so XNNPACK's operator cache never keeps a packed matrix beyond this call (releasing the
 * alias deletes the operator).
 */
function perMatrix(
  backend: WasmBackendLike,
  originalFunc: KernelFunc,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): TensorInfo {
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const m = transposeA ? a.shape[a.shape.length - 1]! : a.shape[a.shape.length - 2]!;
  const k = transposeA ? a.shape[a.shape.length - 2]! : a.shape[a.shape.length - 1]!;
  const kB = transposeB ? b.shape[b.shape.length - 1]! : b.shape[b.shape.length - 2]!;
  const n = transposeB ? b.shape[b.shape.length - 2]! : b.shape[b.shape.length - 1]!;
  // the same checks and messages as tfjs's kernel, before anything is written
  const outBatch = broadcast_util.assertAndGetBroadcastShape(aBatch, bBatch);
  if (k !== kB) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kB}) of Tensors with shapes ${a.shape} and ${b.shape} and ` +
        `transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  return withScratch(backend, (keep) => {
    const a2 = transposeA ? keep(transpose(backend, a, swapLastTwo(a.shape.length))) : a;
    const b2 = transposeB ? keep(transpose(backend, b, swapLastTwo(b.shape.length))) : b;
    const out = keep(backend.makeOutput([...outBatch, m, n], 'float32'));
    const count = sizeOf(outBatch);
    // matMulRoute sends only batches where tfjs's pairing (output i: a's matrix i mod |a's batch|,
    // b's i mod |b's batch|) is broadcasting
    const batchA = sizeOf(aBatch);
    const batchB = sizeOf(bBatch);
    for (let i = 0; i < count; i++) {
      let ai: TensorInfo | undefined;
      let bi: TensorInfo | undefined;
      let product: TensorInfo | undefined;
      try {
        ai = makeAlias(backend, a2, (i % batchA) * m * k, [1, m, k]);
        bi = makeAlias(backend, b2, (i % batchB) * k * n, [1, k, n]);
        product = callKernel(
          originalFunc,
          'BatchMatMul',
          backend,
          { a: ai, b: bi },
          { transposeA: false, transposeB: false },
        );
        // views taken after the product, which may have grown the heap
        (backend.typedArrayFromHeap(out) as Float32Array).set(
          backend.typedArrayFromHeap(product) as Float32Array,
          i * m * n,
        );
      } finally {
        dispose(backend, product);
        // releasing b's alias also deletes the XNNPACK operator (and packed copy) made for it
        if (bi !== undefined) releaseAlias(backend, bi);
        if (ai !== undefined) releaseAlias(backend, ai);
      }
    }
    return out;
  });
}

const ACTIVATION_KERNELS: Record<string, string> = {
  relu: 'Relu',
  relu6: 'Relu6',
  elu: 'Elu',
  leakyrelu: 'LeakyRelu',
  prelu: 'Prelu',
  sigmoid: 'Sigmoid',
};

/**
 * A fused product of batches done as three kernels: tfjs 4.22's wasm _FusedMatMul gets batches
 * wrong (its C++ loop adds the bias by flat output index instead of by column, and adds it and
 * clamps ReLU/ReLU6 once per 48-long block of the inner dimension). BatchMatMul, then Add, then
 * the activation's own kernel are each right.
 */
function unfusedBatched(
  backend: WasmBackendLike,
  a: TensorInfo,
  b: TensorInfo,
  inputs: Record<string, TensorInfo | undefined>,
  attrs: NamedAttrMap,
): TensorInfo {
  const activation = String(attrs['activation'] ?? 'linear');
  if (activation !== 'linear' && ACTIVATION_KERNELS[activation] === undefined) {
    throw new Error(`${activation} activation not yet supported for _FusedMatMul in the wasm backend.`);
  }
  let out = runWasmKernel(
    'BatchMatMul',
    backend,
    { a, b },
    { transposeA: attrs['transposeA'], transposeB: attrs['transposeB'] },
  );
  const bias = inputs['bias'];
  if (bias != null) {
    const next = runWasmKernel('Add', backend, { a: out, b: bias });
    dispose(backend, out);
    out = next;
  }
  if (activation !== 'linear') {
    const name = ACTIVATION_KERNELS[activation]!;
    const next =
      activation === 'prelu'
        ? runWasmKernel(name, backend, { x: out, alpha: inputs['preluActivationWeights']! })
        : runWasmKernel(
            name,
            backend,
            { x: out },
            activation === 'leakyrelu' ? { alpha: attrs['leakyreluAlpha'] ?? 0.2 } : {},
          );
    dispose(backend, out);
    out = next;
  }
  return out;
}

/** Our BatchMatMul for wasm, wrapping tfjs's (`original`). */
export function fastBatchMatMulConfig(original: KernelConfig): KernelConfig {
  return { ...original, kernelFunc: makeFast(original, 'BatchMatMul', false) };
}

/** Our _FusedMatMul for wasm, wrapping tfjs's (`original`). */
export function fastFusedMatMulConfig(original: KernelConfig): KernelConfig {
  return { ...original, kernelFunc: makeFast(original, '_FusedMatMul', true) };
}
