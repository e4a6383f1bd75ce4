/**
 * BatchMatMul and _FusedMatMul for wasm that avoid tfjs's slow transposed products.
 *
 * tfjs's wasm backend sends a product to XNNPACK's fully-connected operator only when both
 * operands are one matrix (batch 1) and neither is transposed; every other product runs a plain
 * blocked triple loop in C++ (`slow_batch_matmul`), 10-15x slower. Dense layers' gradients are
 * exactly the transposed forms (dy·wᵀ and xᵀ·dy). Here a transposed operand is first transposed
 * explicitly (the backend's Transpose kernel, into a scratch tensor freed before returning), and
 * a batch of matrices times one matrix is seen as one tall matrix, so the product reaches XNNPACK.
 * Everything else goes to tfjs's kernel unchanged.
 *
 * The scratch operand gets a fresh tensor id on every call, so XNNPACK's operator cache (keyed
 * by the id of `b`) never holds a stale packed copy of it; the cached operator is deleted with
 * the scratch tensor.
 */
import { broadcast_util, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { callKernel, dispose, runWasmKernel, sizeOf, transpose, view, withScratch, type WasmBackendLike } from './backend.js';

/** Swaps the last two axes. */
function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 1] = rank - 2;
  perm[rank - 2] = rank - 1;
  return perm;
}

export type MatMulRoute = 'tfjs' | 'transpose' | 'fold-batch';

/**
 * Which way a product goes: 'transpose' (both single matrices, one or both transposed: make them
 * plain and use XNNPACK), 'fold-batch' (a batch of matrices times one matrix: fold the batch into
 * the rows and use XNNPACK), or 'tfjs' (tfjs's kernel as is).
 */
export function matMulRoute(
  aShape: readonly number[],
  bShape: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
  foldAllowed = true,
): MatMulRoute {
  if (aShape.length < 2 || bShape.length < 2) return 'tfjs';
  const batchA = sizeOf(aShape.slice(0, -2));
  const batchB = sizeOf(bShape.slice(0, -2));
  if (sizeOf(aShape) === 0 || sizeOf(bShape) === 0) return 'tfjs';
  if (batchA === 1 && batchB === 1) return transposeA || transposeB ? 'transpose' : 'tfjs';
  if (batchB === 1 && foldAllowed) return 'fold-batch';
  return 'tfjs';
}

interface MatMulArgs {
  inputs: Record<string, TensorInfo | undefined>;
  backend: WasmBackendLike;
  attrs: NamedAttrMap;
}

function makeFast(original: KernelConfig, name: string, fused: boolean): KernelFunc {
  const originalFunc = original.kernelFunc;
  return ((args: MatMulArgs) => {
    const { inputs, backend, attrs } = args;
    const a = inputs['a'];
    const b = inputs['b'];
    const transposeA = Boolean(attrs['transposeA']);
    const transposeB = Boolean(attrs['transposeB']);
    if (a === undefined || b === undefined || a.dtype !== 'float32' || b.dtype !== 'float32') {
      return originalFunc(args as never);
    }
    // PReLU weights broadcast against the output's shape: keep the batch as tfjs laid it out.
    const foldAllowed = !fused || attrs['activation'] !== 'prelu';
    const route = matMulRoute(a.shape, b.shape, transposeA, transposeB, foldAllowed);
    if (route === 'tfjs') {
      if (fused && (sizeOf(a.shape.slice(0, -2)) > 1 || sizeOf(b.shape.slice(0, -2)) > 1)) {
        return unfusedBatched(backend, a, b, inputs, attrs);
      }
      return originalFunc(args as never);
    }

    return withScratch(backend, (keep) => {
      let a2 = transposeA ? keep(transpose(backend, a, swapLastTwo(a.shape.length))) : a;
      let b2 = transposeB ? keep(transpose(backend, b, swapLastTwo(b.shape.length))) : b;
      const m = a2.shape[a2.shape.length - 2]!;
      const k = a2.shape[a2.shape.length - 1]!;
      const n = b2.shape[b2.shape.length - 1]!;
      const outShape = broadcast_util
        .assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2))
        .concat([m, n]);
      if (b2.shape[b2.shape.length - 2] !== k) {
        throw new Error(`Error in matMul: inner shapes (${k}) and (${b2.shape[b2.shape.length - 2]}) of Tensors with shapes ` +
          `${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
      }
      if (route === 'fold-batch') {
        a2 = view(a2, [1, sizeOf(a2.shape.slice(0, -2)) * m, k]);
        b2 = view(b2, [1, k, n]);
      } else if (fused) {
        // _FusedMatMul takes rank-3 operands (tfjs-core reshapes before running it)
        a2 = view(a2, [1, m, k]);
        b2 = view(b2, [1, k, n]);
      }
      const out = callKernel(originalFunc, name, backend, { ...inputs, a: a2, b: b2 } as Record<string, TensorInfo>,
        { ...attrs, transposeA: false, transposeB: false });
      out.shape = outShape;
      return out;
    });
  }) as unknown as KernelFunc;
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
function unfusedBatched(backend: WasmBackendLike, a: TensorInfo, b: TensorInfo, inputs: Record<string, TensorInfo | undefined>,
  attrs: NamedAttrMap): TensorInfo {
  const activation = String(attrs['activation'] ?? 'linear');
  if (activation !== 'linear' && ACTIVATION_KERNELS[activation] === undefined) {
    throw new Error(`${activation} activation not yet supported for _FusedMatMul in the wasm backend.`);
  }
  let out = runWasmKernel('BatchMatMul', backend, { a, b }, { transposeA: attrs['transposeA'], transposeB: attrs['transposeB'] });
  const bias = inputs['bias'];
  if (bias != null) {
    const next = runWasmKernel('Add', backend, { a: out, b: bias });
    dispose(backend, out);
    out = next;
  }
  if (activation !== 'linear') {
    const name = ACTIVATION_KERNELS[activation]!;
    const next = activation === 'prelu'
      ? runWasmKernel(name, backend, { x: out, alpha: inputs['preluActivationWeights']! })
      : runWasmKernel(name, backend, { x: out }, activation === 'leakyrelu' ? { alpha: attrs['leakyreluAlpha'] ?? 0.2 } : {});
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
