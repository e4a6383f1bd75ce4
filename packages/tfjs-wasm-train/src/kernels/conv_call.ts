/**
 * The one way our kernels run the backend's Conv2D and DepthwiseConv2dNative: with explicit padding,
 * after checking that tfjs (which allocates the output) and XNNPACK (which writes it) agree on the
 * output's size, and that it is the size the caller expects.
 *
 * tfjs's wasm kernels allocate `computeConv2DInfo(...).outShape` and let XNNPACK compute its own
 * output size from the padded input; where the two differ (e.g. padding that leaves less input than
 * the filter spans: tfjs says 0 rows, XNNPACK writes 1) XNNPACK writes past the output or leaves part
 * of it unwritten, and with 0 input channels it writes nothing at all. Such a call is refused here
 * with an error instead; callers handle empty dimensions before.
 */
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import { runWasmKernel, type WasmBackendLike } from './backend.js';

type Pair = [number, number];

export interface ConvCall {
  strides: [number, number];
  dilations: [number, number];
  /** top, bottom, left, right */
  pads: [number, number, number, number];
}

function refuse(kernel: string, message: string): never {
  throw new Error(`tfjs-wasm-train: internal error, refusing to run ${kernel}: ${message}`);
}

/** XNNPACK's output size along one axis (floor division of what the filter can slide over), or −1 if none. */
function xnnpackSize(
  size: number,
  before: number,
  after: number,
  filter: number,
  stride: number,
  dilation: number,
): number {
  const padded = size + before + after;
  const effective = (filter - 1) * dilation + 1;
  return padded < effective ? -1 : Math.floor((padded - effective) / stride) + 1;
}

/** Runs `kernel` (NHWC) on x and filter, refusing when the output it would write is not `expected`. */
export function runConv(
  backend: WasmBackendLike,
  kernel: 'Conv2D' | 'DepthwiseConv2dNative',
  x: TensorInfo,
  filter: TensorInfo,
  call: ConvCall,
  expected: readonly number[],
): TensorInfo {
  if (x.shape.length !== 4 || filter.shape.length !== 4) {
    refuse(kernel, `x [${x.shape}] and filter [${filter.shape}] must be rank 4`);
  }
  const [b, h, w, c] = x.shape as [number, number, number, number];
  const [fh, fw, fc, fo] = filter.shape as [number, number, number, number];
  if (fc !== c) refuse(kernel, `filter [${filter.shape}] does not fit x [${x.shape}]`);
  if (b * h * w * c * fh * fw * fo === 0) {
    refuse(kernel, `an empty dimension (x [${x.shape}], filter [${filter.shape}])`);
  }
  const [top, bottom, left, right] = call.pads;
  if (call.pads.some((p) => !Number.isInteger(p) || p < 0)) refuse(kernel, `padding [${call.pads}]`);
  const oh = xnnpackSize(h, top, bottom, fh, call.strides[0], call.dilations[0]);
  const ow = xnnpackSize(w, left, right, fw, call.strides[1], call.dilations[1]);
  const ours = [b, oh, ow, kernel === 'Conv2D' ? fo : c * fo];
  type Four = [number, number, number, number];
  const pad = [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ] as [Pair, Pair, Pair, Pair];
  const tfjs = backend_util.computeConv2DInfo(
    x.shape as Four,
    filter.shape as Four,
    call.strides,
    call.dilations,
    pad,
    undefined,
    kernel !== 'Conv2D',
  ).outShape;
  const same = (s: readonly number[]) => s.length === 4 && s.every((v, i) => v === ours[i]);
  if (oh <= 0 || ow <= 0 || !same(tfjs) || !same(expected)) {
    refuse(kernel, `XNNPACK would write [${ours}], tfjs allocates [${tfjs}], expected [${expected}]`);
  }
  const attrs = { strides: call.strides, dilations: call.dilations, pad, dataFormat: 'NHWC' };
  return runWasmKernel(kernel, backend, { x, filter }, attrs);
}
