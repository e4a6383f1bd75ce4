/**
 * MaxPoolGrad computed directly on the wasm heap, as tfjs's cpu kernel does: the exact path for what
 * the fast paths (./max_pool_grad.ts) cannot take — inputs or gradients that are not all finite, and
 * inputs equal to the most negative float where padding could tie with them.
 *
 * Each window's gradient goes to its first maximum (row-major), NaN is never the maximum, a window with
 * nothing above −∞ routes it nowhere, and padding is never a candidate; each input's gradients are added
 * in float64 and rounded once. Nothing is multiplied by 0, so ±∞ and NaN gradients reach only the
 * maximum (the fast paths' OneHot·dy made 0·∞ = NaN across the window).
 */
import type { backend_util, TensorInfo } from '@tensorflow/tfjs-core';
import { sizeOf, type WasmBackendLike } from './backend.js';

/** dx for x and dy (float32, NHWC, shapes checked against `info` by the caller), as a new tensor. */
export function maxPoolGradExact(
  backend: WasmBackendLike,
  input: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { batchSize: nb, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  if (sizeOf(input.shape) !== nb * h * w * c || sizeOf(dy.shape) !== nb * oh * ow * c) {
    throw new Error(
      `tfjs-wasm-train: internal error, MaxPoolGrad of x [${input.shape}] and dy [${dy.shape}] ` +
        `for [${info.outShape}]`,
    );
  }
  const sums = new Float64Array(nb * h * w * c);
  const out = backend.makeOutput(input.shape, 'float32');
  // views taken after makeOutput, which may grow (and so replace) the heap
  const x = backend.typedArrayFromHeap(input) as Float32Array;
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  let at = 0; // index into dy
  for (let b = 0; b < nb; b++) {
    for (let y = 0; y < oh; y++) {
      const r0 = Math.max(0, y * sh - top);
      const r1 = Math.min(h, y * sh - top + fh);
      for (let xx = 0; xx < ow; xx++) {
        const q0 = Math.max(0, xx * sw - left);
        const q1 = Math.min(w, xx * sw - left + fw);
        for (let ch = 0; ch < c; ch++, at++) {
          let best = -Infinity;
          let where = -1;
          for (let r = r0; r < r1; r++) {
            for (let q = q0; q < q1; q++) {
              const i = ((b * h + r) * w + q) * c + ch;
              if (x[i]! > best) {
                best = x[i]!;
                where = i;
              }
            }
          }
          if (where >= 0) sums[where]! += g[at]!;
        }
      }
    }
  }
  (backend.typedArrayFromHeap(out) as Float32Array).set(sums);
  return out;
}
