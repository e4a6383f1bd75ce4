/**
 * Conv2DBackpropFilter and DepthwiseConv2dNativeBackpropFilter for wasm, both as one XNNPACK
 * convolution through the backend's own Conv2D / DepthwiseConv2dNative kernels.
 *
 * The filter gradient of a convolution is itself a convolution:
 *
 *   dW[i, j, c, o] = Σ_b Σ_y Σ_x  in[b, y·s + i·d − top, x·s' + j·d' − left, c] · dy[b, y, x, o]
 *
 * Read with the input's channels as the batch and its batch as the channels (x → [C, H, W, B]) and
 * dy as the filter (dy → [OH, OW, B, O]), this is a plain NHWC convolution whose output [C, FH, FW, O]
 * is dW with its axes permuted: stride and dilation swap roles (stride d, dilation s), the padding
 * is the forward pass's top/left padding, and the bottom/right padding is whatever makes the output
 * exactly FH × FW (zeros where the forward pass read zeros; rows it never read are cropped).
 *
 * Depthwise: each channel only meets its own dy channels. Folding the batch into the channels
 * (x → [1, H, W, B·C], dy → [OH, OW, B·C, M]) makes it one depthwise convolution whose output
 * [FH, FW, B, C·M] is summed over B.
 */
import {
  backend_util,
  type Conv2DBackpropFilterAttrs,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { runWasmKernel, sizeOf, transpose, view, withScratch, WASM, type WasmBackendLike } from './backend.js';
import { runConv } from './conv_call.js';

interface Args<A> {
  inputs: { x?: TensorInfo; dy?: TensorInfo };
  backend: WasmBackendLike;
  attrs: A;
}

function fail(kernel: string, message: string): never {
  throw new Error(`${kernel} (tfjs-wasm-train, backend 'wasm'): ${message}`);
}

function checkInputs(kernel: string, x: TensorInfo | undefined, dy: TensorInfo | undefined): asserts x is TensorInfo {
  if (x === undefined || dy === undefined) fail(kernel, 'needs inputs x and dy');
  for (const [what, t] of [
    ['x', x],
    ['dy', dy],
  ] as const) {
    if (t.shape.length !== 4) fail(kernel, `${what} must be rank 4, got shape [${t.shape}]`);
    if (t.dtype !== 'float32') fail(kernel, `only float32 is supported, got ${what} of dtype ${t.dtype}`);
  }
}

function checkDy(kernel: string, dy: TensorInfo, expected: number[]): void {
  if (dy.shape.some((v, i) => v !== expected[i])) {
    fail(kernel, `dy has shape [${dy.shape}] but the convolution of this x and filter gives [${expected}]`);
  }
}

interface Geometry {
  /** the forward pass's top and left padding */
  top: number;
  left: number;
  /** padding after the input (bottom, right) that makes the output FH × FW; may be negative (crop) */
  bottom: number;
  right: number;
}

/** Padding of the gradient convolution, from the forward pass's convInfo. */
function geometry(info: backend_util.Conv2DInfo): Geometry {
  const {
    padInfo,
    filterHeight,
    filterWidth,
    outHeight,
    outWidth,
    strideHeight,
    strideWidth,
    dilationHeight,
    dilationWidth,
  } = info;
  // The input rows the forward pass touched span (FH−1)·d + (OH−1)·s + 1 rows from −top.
  const spanH = (filterHeight - 1) * dilationHeight + (outHeight - 1) * strideHeight + 1;
  const spanW = (filterWidth - 1) * dilationWidth + (outWidth - 1) * strideWidth + 1;
  return {
    top: padInfo.top,
    left: padInfo.left,
    bottom: spanH - padInfo.top - info.inHeight,
    right: spanW - padInfo.left - info.inWidth,
  };
}

/** True when the forward pass read no input at all, only padding (huge explicit padding): dW = 0. */
function readsOnlyPadding(info: backend_util.Conv2DInfo, g: Geometry): boolean {
  return (
    info.inHeight + Math.min(0, g.bottom) <= 0 ||
    info.inWidth + Math.min(0, g.right) <= 0 ||
    info.outHeight === 0 ||
    info.outWidth === 0 ||
    info.batchSize === 0
  );
}

/** Zeros of `shape`; an empty one is only allocated (nothing to write: no wasm call sees a 0 size). */
function zeros(backend: WasmBackendLike, shape: number[]): TensorInfo {
  if (sizeOf(shape) === 0) return backend.makeOutput(shape, 'float32');
  return runWasmKernel('Fill', backend, {}, { shape, value: 0, dtype: 'float32' });
}

/**
 * True when dW is empty or a sum over nothing: no channel in or out (XNNPACK then divides by zero:
 * a trap that also leaks wasm stack), or no batch, or a forward pass that read only padding.
 */
function nothingToSum(info: backend_util.Conv2DInfo, g: Geometry, filterShape: readonly number[]): boolean {
  return sizeOf(filterShape) === 0 || info.inChannels === 0 || readsOnlyPadding(info, g);
}

/**
 * Crops `t` ([N, H, W, C]) to what the forward pass read when the padding after it is negative,
 * returning the input and the (non-negative) padding to use.
 */
function cropIfNeeded(
  backend: WasmBackendLike,
  keep: (t: TensorInfo) => TensorInfo,
  t: TensorInfo,
  g: Geometry,
): [TensorInfo, number, number] {
  if (g.bottom >= 0 && g.right >= 0) return [t, g.bottom, g.right];
  const [n, h, w, c] = t.shape as [number, number, number, number];
  const size = [n, h + Math.min(0, g.bottom), w + Math.min(0, g.right), c];
  const cropped = keep(runWasmKernel('Slice', backend, { x: t }, { begin: [0, 0, 0, 0], size }));
  return [cropped, Math.max(0, g.bottom), Math.max(0, g.right)];
}

const CONV2D_FILTER = 'Conv2DBackpropFilter';

function conv2DBackpropFilter(args: Args<Conv2DBackpropFilterAttrs>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  checkInputs(CONV2D_FILTER, x, dy);
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  if (dataFormat !== 'NHWC' && dataFormat !== 'NCHW')
    fail(CONV2D_FILTER, `dataFormat '${dataFormat}' is not supported (NHWC or NCHW)`);
  if (filterShape.length !== 4) fail(CONV2D_FILTER, `filterShape must have 4 entries, got [${filterShape}]`);
  const channelsLast = dataFormat === 'NHWC';
  const inChannels = channelsLast ? x.shape[3] : x.shape[1];
  if (filterShape[2] !== inChannels)
    fail(CONV2D_FILTER, `filterShape [${filterShape}] has ${filterShape[2]} input channels, x has ${inChannels}`);
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  checkDy(CONV2D_FILTER, dy!, info.outShape);
  const g = geometry(info);
  if (nothingToSum(info, g, filterShape)) return zeros(backend, filterShape);
  return withScratch(backend, (keep) => {
    // x → [C, H, W, B] (channels as the batch), dy → [OH, OW, B, O] (the filter)
    const xT = keep(transpose(backend, x, channelsLast ? [3, 1, 2, 0] : [1, 2, 3, 0]));
    const dyT = keep(transpose(backend, dy!, channelsLast ? [1, 2, 0, 3] : [2, 3, 0, 1]));
    const [input, bottom, right] = cropIfNeeded(backend, keep, xT, g);
    const grad = keep(
      runConv(
        backend,
        'Conv2D',
        input,
        dyT,
        {
          strides: [info.dilationHeight, info.dilationWidth],
          dilations: [info.strideHeight, info.strideWidth],
          pads: [g.top, bottom, g.left, right],
        },
        [info.inChannels, info.filterHeight, info.filterWidth, info.outChannels],
      ),
    );
    // [C, FH, FW, O] → [FH, FW, C, O]
    return transpose(backend, grad, [1, 2, 0, 3]);
  });
}

const DEPTHWISE_FILTER = 'DepthwiseConv2dNativeBackpropFilter';

function depthwiseConv2dNativeBackpropFilter(args: Args<DepthwiseConv2dNativeBackpropFilterAttrs>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  checkInputs(DEPTHWISE_FILTER, x, dy);
  const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs;
  if (filterShape.length !== 4) fail(DEPTHWISE_FILTER, `filterShape must have 4 entries, got [${filterShape}]`);
  const [batch, , , channels] = x.shape as [number, number, number, number];
  if (filterShape[2] !== channels)
    fail(DEPTHWISE_FILTER, `filterShape [${filterShape}] has ${filterShape[2]} input channels, x has ${channels}`);
  const multiplier = filterShape[3];
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    dilations ?? [1, 1],
    pad,
    dimRoundingMode,
    true,
  );
  checkDy(DEPTHWISE_FILTER, dy!, info.outShape);
  const g = geometry(info);
  const [fh, fw] = [info.filterHeight, info.filterWidth];
  if (nothingToSum(info, g, filterShape)) return zeros(backend, filterShape);
  return withScratch(backend, (keep) => {
    // x → [1, H, W, B·C], dy → [OH, OW, B·C, M]
    const xT = keep(transpose(backend, x, [1, 2, 0, 3]));
    const xFolded = view(xT, [1, info.inHeight, info.inWidth, batch * channels]);
    const dyT = keep(transpose(backend, dy!, [1, 2, 0, 3]));
    const filter = view(dyT, [info.outHeight, info.outWidth, batch * channels, multiplier]);
    const [input, bottom, right] = cropIfNeeded(backend, keep, xFolded, g);
    const perBatch = runConv(
      backend,
      'DepthwiseConv2dNative',
      input,
      filter,
      {
        strides: [info.dilationHeight, info.dilationWidth],
        dilations: [info.strideHeight, info.strideWidth],
        pads: [g.top, bottom, g.left, right],
      },
      [1, fh, fw, batch * channels * multiplier],
    );
    // [1, FH, FW, B·C·M] → [FH, FW, B, C·M] → Σ over B → [FH, FW, C, M]
    if (batch === 1) {
      perBatch.shape = [fh, fw, channels, multiplier];
      return perBatch;
    }
    keep(perBatch);
    const summed = runWasmKernel(
      'Sum',
      backend,
      { x: view(perBatch, [fh, fw, batch, channels * multiplier]) },
      { axis: [2], keepDims: false },
    );
    summed.shape = [fh, fw, channels, multiplier];
    return summed;
  });
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: CONV2D_FILTER,
  backendName: WASM,
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};

export const depthwiseConv2dNativeBackpropFilterConfig: KernelConfig = {
  kernelName: DEPTHWISE_FILTER,
  backendName: WASM,
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as KernelFunc,
};
