/**
 * MaxPoolGrad for wasm: faster than tfjs's (a plain C++ loop that took a third to a half of a small
 * CNN's training step) for windows that tile the input (filter size = stride: MaxPooling2D's
 * default), and right where tfjs 4.22's is wrong (overlapping windows, e.g. pool 3 stride 2).
 *
 * Each window's elements are gathered into one row (Transpose), the backend's ArgMax picks the
 * first maximum in the window's row-major order (tfjs's rule on ties, e.g. all-zero ReLU windows),
 * OneHot·dy puts dy there, and the inverse Transpose scatters the rows back; padding is −∞ going in
 * and cropped coming out. Overlapping windows, which tfjs 4.22's wasm kernel gets wrong, take a
 * slower path (below). Inputs or gradients holding ±∞ or NaN, and overlapping windows over padding
 * with an input equal to the most negative float (which would tie with the padding), take the exact
 * path of ./max_pool_grad_exact.ts. Only dilated pooling and empty tensors go to tfjs's kernel.
 */
import {
  backend_util,
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { depthwiseConv2dNativeBackpropInput } from './conv_backprop_input.js';
import { dispose, runWasmKernel, sizeOf, transpose, view, withScratch, type WasmBackendLike } from './backend.js';
import { runConv } from './conv_call.js';
import { maxPoolGradExact } from './max_pool_grad_exact.js';

/** The most negative float32: the overlapping path's padding (−∞ would make −∞·0 = NaN in its convolution). */
const LOWEST = -3.4028234663852886e38;

interface Args {
  inputs: { dy?: TensorInfo; input?: TensorInfo; output?: TensorInfo };
  backend: WasmBackendLike;
  attrs: MaxPoolGradAttrs;
}

/** Whether the windows do not overlap (filter size = stride, no dilation): the fast path. */
export function tiledPooling(info: backend_util.Conv2DInfo): boolean {
  return (
    info.filterHeight === info.strideHeight &&
    info.filterWidth === info.strideWidth &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1 &&
    info.outHeight > 0 &&
    info.outWidth > 0 &&
    info.batchSize > 0 &&
    info.inChannels > 0
  );
}

/**
 * `t` ([N, H, W, C]) moved down by `top` and right by `left` rows/columns (negative: up, left) in a
 * frame of `height` × `width`: out[n, i, j, c] = t[n, i − top, j − left, c], `fill` outside t.
 */
function reframe(
  backend: WasmBackendLike,
  keep: (t: TensorInfo) => TensorInfo,
  t: TensorInfo,
  top: number,
  left: number,
  height: number,
  width: number,
  fill: number,
): TensorInfo {
  const [n, h, w, c] = t.shape as [number, number, number, number];
  if (top === 0 && left === 0 && height === h && width === w) return t;
  const [r0, r1] = [Math.max(0, -top), Math.min(h, height - top)];
  const [c0, c1] = [Math.max(0, -left), Math.min(w, width - left)];
  if (r1 <= r0 || c1 <= c0)
    return keep(runWasmKernel('Fill', backend, {}, { shape: [n, height, width, c], value: fill, dtype: 'float32' }));
  let part = t;
  if (r0 > 0 || c0 > 0 || r1 < h || c1 < w) {
    part = keep(runWasmKernel('Slice', backend, { x: t }, { begin: [0, r0, c0, 0], size: [n, r1 - r0, c1 - c0, c] }));
  }
  const before = [Math.max(0, top), Math.max(0, left)];
  const after = [height - before[0]! - (r1 - r0), width - before[1]! - (c1 - c0)];
  if (before[0] === 0 && before[1] === 0 && after[0] === 0 && after[1] === 0) return part;
  return keep(
    runWasmKernel(
      'PadV2',
      backend,
      { x: part },
      {
        paddings: [
          [0, 0],
          [before[0], after[0]],
          [before[1], after[1]],
          [0, 0],
        ],
        constantValue: fill,
      },
    ),
  );
}

function makeMaxPoolGrad(original: KernelConfig): KernelFunc {
  return ((args: Args) => {
    const { inputs, backend, attrs } = args;
    const { dy, input } = inputs;
    if (
      dy === undefined ||
      input === undefined ||
      input.dtype !== 'float32' ||
      dy.dtype !== 'float32' ||
      input.shape.length !== 4
    ) {
      return original.kernelFunc(args as never);
    }
    const info = backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    if (
      dy.shape.length !== 4 ||
      dy.shape.some((v, i) => v !== info.outShape[i]) ||
      info.outHeight === 0 ||
      info.outWidth === 0 ||
      sizeOf(input.shape) === 0 ||
      info.dilationHeight !== 1 ||
      info.dilationWidth !== 1
    ) {
      return original.kernelFunc(args as never);
    }
    const tiled = tiledPooling(info);
    if (needsExact(backend, input, dy, tiled)) return maxPoolGradExact(backend, input, dy, info);
    if (!tiled) return overlapping(backend, input, dy, info);
    const {
      batchSize: b,
      inHeight: h,
      inWidth: w,
      inChannels: c,
      outHeight: oh,
      outWidth: ow,
      filterHeight: fh,
      filterWidth: fw,
    } = info;
    const { top, left } = info.padInfo;
    return withScratch(backend, (keep) => {
      // the rows and columns the windows cover, padding as −∞ (never the maximum)
      const covered = reframe(backend, keep, input, top, left, oh * fh, ow * fw, -Infinity);
      // [B·OH, FH, OW, FW, C] → [B·OH, OW, C, FH, FW]: one window per row
      const windows = keep(transpose(backend, view(covered, [b * oh, fh, ow, fw, c]), [0, 2, 4, 1, 3]));
      const n = b * oh * ow * c;
      const routed = routeToMaximum(backend, keep, view(windows, [n, fh * fw]), view(dy, [n, 1]));
      // back: [B·OH, OW, C, FH, FW] → [B·OH, FH, OW, FW, C] = [B, OH·FH, OW·FW, C], then into the input's frame
      const grid = keep(transpose(backend, view(routed, [b * oh, ow, c, fh, fw]), [0, 3, 1, 4, 2]));
      // (the scratch tensor returned here is not disposed: withScratch keeps the result)
      const dx = reframe(backend, keep, view(grid, [b, oh * fh, ow * fw, c]), -top, -left, h, w, 0);
      return { dataId: dx.dataId, shape: [b, h, w, c], dtype: 'float32' } as TensorInfo;
    });
  }) as unknown as KernelFunc;
}

/**
 * dy of each window [N, 1] put at its window's maximum, windows [N, K] in row-major order: the first
 * maximum (tfjs's rule on ties). Only for finite windows and dy (see `needsExact`).
 */
function routeToMaximum(
  backend: WasmBackendLike,
  keep: (t: TensorInfo) => TensorInfo,
  windows: TensorInfo,
  dy: TensorInfo,
): TensorInfo {
  const k = windows.shape[1]!;
  const argmax = keep(runWasmKernel('ArgMax', backend, { x: windows }, { axis: [1] }));
  // (tfjs 4.22's wasm OneHot writes int32 bits whatever dtype it is asked for: ask int32, then cast)
  const hotInt = keep(
    runWasmKernel('OneHot', backend, { indices: argmax }, { depth: k, onValue: 1, offValue: 0, dtype: 'int32' }),
  );
  const hot = keep(runWasmKernel('Cast', backend, { x: hotInt }, { dtype: 'float32' }));
  return keep(runWasmKernel('Multiply', backend, { a: hot, b: dy }));
}

/** True when every element of `t` is finite (two backend kernels and a one-byte read). */
function allFinite(backend: WasmBackendLike, t: TensorInfo): boolean {
  const finite = runWasmKernel('IsFinite', backend, { x: view(t, [sizeOf(t.shape)]) });
  try {
    const all = runWasmKernel('All', backend, { x: finite }, { axis: [0], keepDims: false });
    const result = backend.typedArrayFromHeap(all)[0] !== 0;
    dispose(backend, all);
    return result;
  } finally {
    dispose(backend, finite);
  }
}

/** The smallest element of the finite float32 tensor `t`. */
function smallest(backend: WasmBackendLike, t: TensorInfo): number {
  const min = runWasmKernel('Min', backend, { x: view(t, [sizeOf(t.shape)]) }, { axis: [0], keepDims: false });
  const value = backend.typedArrayFromHeap(min)[0]!;
  dispose(backend, min);
  return value;
}

/**
 * Whether the fast paths would be wrong: ±∞ or NaN in the input (ArgMax picks a NaN) or in dy (OneHot·dy
 * spreads 0·∞ = NaN over the window, and the overlapping path's convolution onto every pixel), or, with
 * overlapping windows, an input equal to the most negative float, which ties with their padding (the
 * padding came first and took the gradient).
 */
function needsExact(backend: WasmBackendLike, input: TensorInfo, dy: TensorInfo, tiled: boolean): boolean {
  if (!allFinite(backend, input) || !allFinite(backend, dy)) return true;
  return !tiled && smallest(backend, input) <= LOWEST;
}

/** The 0/1 depthwise filter [FH, FW, C, K]: tap (p, q) of channel c feeds output channel c·K + p·FW + q. */
function windowFilter(
  backend: WasmBackendLike,
  keep: (t: TensorInfo) => TensorInfo,
  fh: number,
  fw: number,
  c: number,
): TensorInfo {
  const k = fh * fw;
  const filter = keep(backend.makeOutput([fh, fw, c, k], 'float32'));
  const f = backend.typedArrayFromHeap(filter);
  f.fill(0);
  for (let p = 0; p < fh; p++)
    for (let q = 0; q < fw; q++) for (let ch = 0; ch < c; ch++) f[((p * fw + q) * c + ch) * k + p * fw + q] = 1;
  return filter;
}

/**
 * Overlapping windows (stride < filter size; tfjs 4.22's wasm kernel gets these wrong), finite inputs
 * above the most negative float and finite dy. The window elements are gathered by a depthwise
 * convolution with a 0/1 filter (exact: each output is one input times 1 plus zeros; padding is the
 * most negative float, not −∞, as −∞·0 is NaN), ArgMax/OneHot·dy as above, and the values are added
 * back to their pixels by the transposed depthwise convolution with the same filter (our
 * DepthwiseConv2dNativeBackpropInput).
 */
function overlapping(
  backend: WasmBackendLike,
  input: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const {
    batchSize: b,
    inHeight: h,
    inWidth: w,
    inChannels: c,
    outHeight: oh,
    outWidth: ow,
    filterHeight: fh,
    filterWidth: fw,
    strideHeight: sh,
    strideWidth: sw,
  } = info;
  const { top, left } = info.padInfo;
  const k = fh * fw;
  const [hf, wf] = [(oh - 1) * sh + fh, (ow - 1) * sw + fw];
  const n = b * oh * ow * c;
  return withScratch(backend, (keep) => {
    const filter = windowFilter(backend, keep, fh, fw, c);
    const frame = reframe(backend, keep, input, top, left, hf, wf, LOWEST);
    // [B, OH, OW, C·K] = [N, K]
    const windows = keep(
      runConv(
        backend,
        'DepthwiseConv2dNative',
        frame,
        filter,
        { strides: [sh, sw], dilations: [1, 1], pads: [0, 0, 0, 0] },
        [b, oh, ow, c * k],
      ),
    );
    const routed = routeToMaximum(backend, keep, view(windows, [n, k]), view(dy, [n, 1]));
    const grid = keep(
      depthwiseConv2dNativeBackpropInput({
        inputs: { dy: view(routed, [b, oh, ow, c * k]), filter },
        backend,
        attrs: {
          strides: [sh, sw],
          dilations: [1, 1],
          pad: 'valid',
          inputShape: [b, hf, wf, c],
        } as DepthwiseConv2dNativeBackpropInputAttrs,
      }),
    );
    // (the scratch tensor returned here is not disposed: withScratch keeps the result)
    const dx = reframe(backend, keep, grid, -top, -left, h, w, 0);
    return { dataId: dx.dataId, shape: [b, h, w, c], dtype: 'float32' } as TensorInfo;
  });
}

/** Our MaxPoolGrad for wasm, wrapping tfjs's (`original`). */
export function fastMaxPoolGradConfig(original: KernelConfig): KernelConfig {
  return { ...original, kernelFunc: makeMaxPoolGrad(original) };
}
