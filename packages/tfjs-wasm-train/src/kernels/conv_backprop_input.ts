/**
 * Conv2DBackpropInput (faster than tfjs's wasm kernel, a plain C++ loop) and
 * DepthwiseConv2dNativeBackpropInput (which tfjs's wasm backend lacks), as one XNNPACK convolution.
 *
 * The input gradient of a convolution is a convolution of dy with the filter flipped in space:
 *
 *   dx[b, r, q, c] = Σ_i Σ_j Σ_o  dy°[b, r + top − i·d, q + left − j·d', o] · W[i, j, c, o]
 *
 * where dy° is dy with s − 1 zero rows (s' − 1 zero columns) inserted after each row (column), so
 * that dy°[y·s] = dy[y]. With i' = FH − 1 − i this is a plain correlation, stride 1, dilation d, of
 * dy° padded by (FH − 1)·d − top before, with W flipped and its in/out channels swapped. The zeros are
 * inserted with the backend's PadV2 kernel; padding that comes out negative is a crop (Slice).
 * Depthwise: the same with a depthwise correlation over dy's C·M channels, then Σ over M.
 */
import {
  backend_util,
  type Conv2DBackpropInputAttrs,
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { runWasmKernel, sizeOf, transpose, view, withScratch, WASM, type WasmBackendLike } from './backend.js';
import { runConv } from './conv_call.js';

export interface Args<A> {
  inputs: { dy?: TensorInfo; filter?: TensorInfo };
  backend: WasmBackendLike;
  attrs: A;
}

function fail(kernel: string, message: string): never {
  throw new Error(`${kernel} (tfjs-wasm-train, backend 'wasm'): ${message}`);
}

function checkInputs(
  kernel: string,
  dy: TensorInfo | undefined,
  filter: TensorInfo | undefined,
  inputShape: number[],
): asserts dy is TensorInfo {
  if (dy === undefined || filter === undefined) fail(kernel, 'needs inputs dy and filter');
  for (const [what, t] of [
    ['dy', dy],
    ['filter', filter],
  ] as const) {
    if (t.shape.length !== 4) fail(kernel, `${what} must be rank 4, got shape [${t.shape}]`);
    if (t.dtype !== 'float32') fail(kernel, `only float32 is supported, got ${what} of dtype ${t.dtype}`);
  }
  if (inputShape.length !== 4) fail(kernel, `inputShape must have 4 entries, got [${inputShape}]`);
}

/**
 * dx when it is empty (only allocated: nothing to write) or a sum over nothing (no output channel,
 * channel multiplier 0, no dy pixel): zeros. tfjs's wasm Sum over an empty axis and XNNPACK with 0
 * channels write nothing, which left the output holding whatever the heap held (issue 21; the differential fuzzer).
 */
function emptyResult(
  backend: WasmBackendLike,
  inputShape: number[],
  dy: TensorInfo,
  filter: TensorInfo,
): TensorInfo | undefined {
  if (sizeOf(inputShape) === 0) return backend.makeOutput(inputShape, 'float32');
  if (sizeOf(dy.shape) === 0 || sizeOf(filter.shape) === 0) {
    return runWasmKernel('Fill', backend, {}, { shape: inputShape, value: 0, dtype: 'float32' });
  }
  return undefined;
}

function checkDy(kernel: string, dy: TensorInfo, inputShape: number[], expected: number[]): void {
  if (dy.shape.some((v, i) => v !== expected[i])) {
    fail(
      kernel,
      `dy has shape [${dy.shape}] but the convolution of an input [${inputShape}] with this filter gives [${expected}]`,
    );
  }
}

/**
 * dx (NHWC) from dy (NHWC) and `flipped` (the filter flipped in space, laid out for the forward
 * kernel `kernel`: Conv2D [FH, FW, O, C] or DepthwiseConv2dNative [FH, FW, C·M, 1]).
 */
function transposedConv(
  backend: WasmBackendLike,
  keep: (t: TensorInfo) => TensorInfo,
  dy: TensorInfo,
  flipped: TensorInfo,
  info: backend_util.Conv2DInfo,
  kernel: 'Conv2D' | 'DepthwiseConv2dNative',
): TensorInfo {
  const [b, oh, ow, k] = dy.shape as [number, number, number, number];
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, padInfo } = info;
  if (k === 0 || oh === 0 || ow === 0) {
    // a sum over no channel or no pixel of dy: dx = 0. (XNNPACK given 0 input channels writes
    // nothing, and the output was returned with whatever the heap held there: issue 21.)
    return runWasmKernel(
      'Fill',
      backend,
      {},
      {
        shape: [b, info.inHeight, info.inWidth, kernel === 'Conv2D' ? info.inChannels : k],
        value: 0,
        dtype: 'float32',
      },
    );
  }
  // insert the zeros: [B, OH, OW, K] → [B, OH·sh, OW·sw, K]
  let z = dy;
  if (sh > 1) {
    z = keep(
      runWasmKernel(
        'PadV2',
        backend,
        { x: view(z, [b * oh, 1, ow, k]) },
        {
          paddings: [
            [0, 0],
            [0, sh - 1],
            [0, 0],
            [0, 0],
          ],
          constantValue: 0,
        },
      ),
    );
    z = view(z, [b, oh * sh, ow, k]);
  }
  if (sw > 1) {
    z = keep(
      runWasmKernel(
        'PadV2',
        backend,
        { x: view(z, [b * oh * sh * ow, 1, 1, k]) },
        {
          paddings: [
            [0, 0],
            [0, sw - 1],
            [0, 0],
            [0, 0],
          ],
          constantValue: 0,
        },
      ),
    );
    z = view(z, [b, oh * sh, ow * sw, k]);
  }
  const [lh, lw] = [oh * sh, ow * sw];
  const top = (info.filterHeight - 1) * dh - padInfo.top;
  const left = (info.filterWidth - 1) * dw - padInfo.left;
  const bottom = info.inHeight + padInfo.top - lh;
  const right = info.inWidth + padInfo.left - lw;
  if (top < 0 || left < 0 || bottom < 0 || right < 0) {
    const begin = [0, Math.max(0, -top), Math.max(0, -left), 0];
    const size = [b, lh - begin[1]! - Math.max(0, -bottom), lw - begin[2]! - Math.max(0, -right), k];
    if (size[1]! <= 0 || size[2]! <= 0) {
      // no input pixel was read at all: dx = 0
      return runWasmKernel(
        'Fill',
        backend,
        {},
        {
          shape: [b, info.inHeight, info.inWidth, kernel === 'Conv2D' ? info.inChannels : k],
          value: 0,
          dtype: 'float32',
        },
      );
    }
    z = keep(runWasmKernel('Slice', backend, { x: z }, { begin, size }));
  }
  return runConv(
    backend,
    kernel,
    z,
    flipped,
    {
      strides: [1, 1],
      dilations: [dh, dw],
      pads: [Math.max(0, top), Math.max(0, bottom), Math.max(0, left), Math.max(0, right)],
    },
    [b, info.inHeight, info.inWidth, kernel === 'Conv2D' ? info.inChannels : k],
  );
}

const CONV2D_INPUT = 'Conv2DBackpropInput';

function conv2DBackpropInput(args: Args<Conv2DBackpropInputAttrs>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  checkInputs(CONV2D_INPUT, dy, filter, inputShape);
  if (dataFormat !== 'NHWC' && dataFormat !== 'NCHW')
    fail(CONV2D_INPUT, `dataFormat '${dataFormat}' is not supported (NHWC or NCHW)`);
  const channelsLast = dataFormat === 'NHWC';
  const info = backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filter!.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (filter!.shape[2] !== info.inChannels)
    fail(
      CONV2D_INPUT,
      `filter [${filter!.shape}] has ${filter!.shape[2]} input channels, inputShape [${inputShape}] has ` +
        `${info.inChannels}`,
    );
  checkDy(CONV2D_INPUT, dy, inputShape, info.outShape);
  const empty = emptyResult(backend, inputShape, dy, filter!);
  if (empty !== undefined) return empty;
  return withScratch(backend, (keep) => {
    const dyNHWC = channelsLast ? dy : keep(transpose(backend, dy, [0, 2, 3, 1]));
    // W[i, j, c, o] → flipped in i, j, channels swapped: [FH, FW, O, C]
    const reversed = keep(runWasmKernel('Reverse', backend, { x: filter! }, { dims: [0, 1] }));
    const flipped = keep(transpose(backend, reversed, [0, 1, 3, 2]));
    const dx = transposedConv(backend, keep, dyNHWC, flipped, info, 'Conv2D');
    if (channelsLast) return dx;
    keep(dx);
    return transpose(backend, dx, [0, 3, 1, 2]);
  });
}

const DEPTHWISE_INPUT = 'DepthwiseConv2dNativeBackpropInput';

export function depthwiseConv2dNativeBackpropInput(args: Args<DepthwiseConv2dNativeBackpropInputAttrs>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs;
  checkInputs(DEPTHWISE_INPUT, dy, filter, inputShape);
  const [fh, fw, channels, multiplier] = filter!.shape as [number, number, number, number];
  if (channels !== inputShape[3])
    fail(
      DEPTHWISE_INPUT,
      `filter [${filter!.shape}] has ${channels} input channels, inputShape [${inputShape}] has ${inputShape[3]}`,
    );
  const info = backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filter!.shape as [number, number, number, number],
    strides,
    dilations ?? [1, 1],
    pad,
    dimRoundingMode,
    true,
  );
  checkDy(DEPTHWISE_INPUT, dy, inputShape, info.outShape);
  const empty = emptyResult(backend, inputShape, dy, filter!);
  if (empty !== undefined) return empty;
  return withScratch(backend, (keep) => {
    // W[i, j, c, m] flipped in i, j, as a depthwise filter over dy's C·M channels: [FH, FW, C·M, 1]
    const reversed = keep(runWasmKernel('Reverse', backend, { x: filter! }, { dims: [0, 1] }));
    const dxPerM = transposedConv(
      backend,
      keep,
      dy,
      view(reversed, [fh, fw, channels * multiplier, 1]),
      info,
      'DepthwiseConv2dNative',
    );
    if (multiplier === 1) return dxPerM;
    keep(dxPerM);
    const [b, h, w] = [inputShape[0], info.inHeight, info.inWidth];
    const dx = runWasmKernel(
      'Sum',
      backend,
      { x: view(dxPerM, [b, h, w, channels, multiplier]) },
      { axis: [4], keepDims: false },
    );
    return dx;
  });
}

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: CONV2D_INPUT,
  backendName: WASM,
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};

export const depthwiseConv2dNativeBackpropInputConfig: KernelConfig = {
  kernelName: DEPTHWISE_INPUT,
  backendName: WASM,
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as KernelFunc,
};
