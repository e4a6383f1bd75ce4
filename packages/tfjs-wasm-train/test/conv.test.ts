/**
 * Conv2DBackpropFilter and DepthwiseConv2dNativeBackpropFilter on wasm (ours) against the cpu
 * backend's kernels, over every stride, padding ('valid', 'same', numbers, explicit lists),
 * dimRoundingMode, dataFormat and (depthwise) dilation that tfjs accepts, on odd sizes; and the
 * configurations we refuse.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { compare, leakCheck, Rng, runOn, size, useBackend, wasmRecords, withWasmTraining } from './helpers.js';

const log = withWasmTraining();

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

/** dy's shape: the output shape of the forward convolution, from tfjs's own shape logic. */
function outShape(
  xShape: number[],
  filterShape: number[],
  strides: [number, number],
  dilations: [number, number],
  pad: Pad,
  rounding: Rounding,
  depthwise: boolean,
  dataFormat: 'NHWC' | 'NCHW',
): number[] {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad as never,
    rounding,
    depthwise,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  ).outShape;
}

async function checkConv(
  rng: Rng,
  xShape: number[],
  filterShape: number[],
  strides: [number, number],
  pad: Pad,
  dataFormat: 'NHWC' | 'NCHW',
  rounding: Rounding = undefined,
): Promise<void> {
  const dyShape = outShape(xShape, filterShape, strides, [1, 1], pad, rounding, false, dataFormat);
  const inputs = {
    x: { shape: xShape, values: rng.array(size(xShape)) },
    dy: { shape: dyShape, values: rng.array(size(dyShape)) },
  };
  const attrs = { strides, pad, dataFormat, dimRoundingMode: rounding, filterShape };
  const what = JSON.stringify({ xShape, filterShape, strides, pad, dataFormat, rounding });
  const ours = await runOn('wasm', 'Conv2DBackpropFilter', inputs, attrs);
  const ref = await runOn('cpu', 'Conv2DBackpropFilter', inputs, attrs);
  const bound = await runOn('cpu', 'Conv2DBackpropFilter', inputs, attrs, true);
  assert.deepEqual(ours.shape, filterShape, what);
  const terms = dyShape[0]! * (dataFormat === 'NHWC' ? dyShape[1]! * dyShape[2]! : dyShape[2]! * dyShape[3]!);
  const c = compare(ours.values, ref.values, bound.values, terms);
  log.add('Conv2DBackpropFilter', c);
  assert.ok(c.maxRatio <= 1, `${what}: error ${c.maxAbs} is ${c.maxRatio}x the float32 bound`);
}

/**
 * The filter gradient of a depthwise convolution computed directly in float64: the reference for
 * dilations > 1, where tfjs's cpu kernel leaves the dilation out of its indexing.
 */
function depthwiseFilterGradF64(
  x: Float32Array,
  xShape: number[],
  dy: Float32Array,
  dyShape: number[],
  filterShape: number[],
  strides: [number, number],
  dilations: [number, number],
  top: number,
  left: number,
  abs: boolean,
): Float32Array {
  const [batch, h, w, c] = xShape as [number, number, number, number];
  const [, oh, ow, co] = dyShape as [number, number, number, number];
  const [fh, fw, , mult] = filterShape as [number, number, number, number];
  const out = new Float32Array(fh * fw * c * mult);
  for (let i = 0; i < fh; i++)
    for (let j = 0; j < fw; j++)
      for (let ch = 0; ch < c; ch++)
        for (let m = 0; m < mult; m++) {
          let sum = 0;
          for (let b = 0; b < batch; b++)
            for (let y = 0; y < oh; y++)
              for (let xx = 0; xx < ow; xx++) {
                const r = y * strides[0] + i * dilations[0] - top;
                const q = xx * strides[1] + j * dilations[1] - left;
                if (r < 0 || r >= h || q < 0 || q >= w) continue;
                const p = x[((b * h + r) * w + q) * c + ch]! * dy[((b * oh + y) * ow + xx) * co + ch * mult + m]!;
                sum += abs ? Math.abs(p) : p;
              }
          out[((i * fw + j) * c + ch) * mult + m] = sum;
        }
  return out;
}

async function checkDepthwise(
  rng: Rng,
  xShape: number[],
  filterShape: number[],
  strides: [number, number],
  dilations: [number, number],
  pad: Pad,
  rounding: Rounding = undefined,
): Promise<void> {
  const dyShape = outShape(xShape, filterShape, strides, dilations, pad, rounding, true, 'NHWC');
  const inputs = {
    x: { shape: xShape, values: rng.array(size(xShape)) },
    dy: { shape: dyShape, values: rng.array(size(dyShape)) },
  };
  const attrs = { strides, dilations, pad, dimRoundingMode: rounding, filterShape };
  const what = JSON.stringify({ xShape, filterShape, strides, dilations, pad, rounding });
  const ours = await runOn('wasm', 'DepthwiseConv2dNativeBackpropFilter', inputs, attrs);
  assert.deepEqual(ours.shape, filterShape, what);
  const terms = dyShape[0]! * dyShape[1]! * dyShape[2]!;
  let ref: Float32Array;
  let bound: Float32Array;
  if (dilations[0] === 1 && dilations[1] === 1) {
    ref = (await runOn('cpu', 'DepthwiseConv2dNativeBackpropFilter', inputs, attrs)).values;
    bound = (await runOn('cpu', 'DepthwiseConv2dNativeBackpropFilter', inputs, attrs, true)).values;
  } else {
    const info = tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number],
      filterShape as [number, number, number, number],
      strides,
      dilations,
      pad as never,
      rounding,
      true,
    );
    const args = [
      inputs.x.values,
      xShape,
      inputs.dy.values,
      dyShape,
      filterShape,
      strides,
      dilations,
      info.padInfo.top,
      info.padInfo.left,
    ] as const;
    ref = depthwiseFilterGradF64(...args, false);
    bound = depthwiseFilterGradF64(...args, true);
  }
  const c = compare(ours.values, ref, bound, terms);
  log.add(
    dilations[0] * dilations[1] > 1
      ? 'DepthwiseConv2dNativeBackpropFilter (dilated, vs float64)'
      : 'DepthwiseConv2dNativeBackpropFilter',
    c,
  );
  assert.ok(c.maxRatio <= 1, `${what}: error ${c.maxAbs} is ${c.maxRatio}x the float32 bound`);
}

/** The input gradient of a (depthwise when multiplier-shaped) convolution in float64, NHWC. */
function inputGradF64(
  dy: Float32Array,
  dyShape: number[],
  w: Float32Array,
  filterShape: number[],
  xShape: number[],
  strides: [number, number],
  dilations: [number, number],
  top: number,
  left: number,
  depthwise: boolean,
  abs: boolean,
): Float32Array {
  const [batch, h, wd, c] = xShape as [number, number, number, number];
  const [, oh, ow, co] = dyShape as [number, number, number, number];
  const [fh, fw, , last] = filterShape as [number, number, number, number];
  const out = new Float64Array(batch * h * wd * c);
  for (let b = 0; b < batch; b++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++)
        for (let i = 0; i < fh; i++)
          for (let j = 0; j < fw; j++) {
            const r = y * strides[0] + i * dilations[0] - top;
            const q = x * strides[1] + j * dilations[1] - left;
            if (r < 0 || r >= h || q < 0 || q >= wd) continue;
            for (let ch = 0; ch < c; ch++) {
              for (let o = 0; o < (depthwise ? last : co); o++) {
                const dyIndex = ((b * oh + y) * ow + x) * co + (depthwise ? ch * last + o : o);
                const p = dy[dyIndex]! * w[((i * fw + j) * c + ch) * last + o]!;
                out[((b * h + r) * wd + q) * c + ch] += abs ? Math.abs(p) : p;
              }
            }
          }
  return Float32Array.from(out);
}

async function checkInput(
  kernel: 'Conv2DBackpropInput' | 'DepthwiseConv2dNativeBackpropInput',
  rng: Rng,
  xShape: number[],
  filterShape: number[],
  strides: [number, number],
  dilations: [number, number],
  pad: Pad,
  dataFormat: 'NHWC' | 'NCHW',
  rounding: Rounding = undefined,
): Promise<void> {
  const depthwise = kernel === 'DepthwiseConv2dNativeBackpropInput';
  const dyShape = outShape(xShape, filterShape, strides, dilations, pad, rounding, depthwise, dataFormat);
  const inputs = {
    dy: { shape: dyShape, values: rng.array(size(dyShape)) },
    filter: { shape: filterShape, values: rng.array(size(filterShape)) },
  };
  const attrs = depthwise
    ? { strides, dilations, pad, dimRoundingMode: rounding, inputShape: xShape }
    : { strides, pad, dataFormat, dimRoundingMode: rounding, inputShape: xShape };
  const what = JSON.stringify({ kernel, xShape, filterShape, strides, dilations, pad, dataFormat, rounding });
  const ours = await runOn('wasm', kernel, inputs, attrs);
  assert.deepEqual(ours.shape, xShape, what);
  let ref: Float32Array;
  let bound: Float32Array;
  if (dilations[0] === 1 && dilations[1] === 1) {
    ref = (await runOn('cpu', kernel, inputs, attrs)).values;
    bound = (await runOn('cpu', kernel, inputs, attrs, true)).values;
  } else {
    const info = tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number],
      filterShape as [number, number, number, number],
      strides,
      dilations,
      pad as never,
      rounding,
      depthwise,
    );
    const args = [
      inputs.dy.values,
      dyShape,
      inputs.filter.values,
      filterShape,
      xShape,
      strides,
      dilations,
      info.padInfo.top,
      info.padInfo.left,
      depthwise,
    ] as const;
    ref = inputGradF64(...args, false);
    bound = inputGradF64(...args, true);
  }
  const terms = filterShape[0]! * filterShape[1]! * filterShape[3]!;
  const c = compare(ours.values, ref, bound, terms);
  log.add(dilations[0] * dilations[1] > 1 ? `${kernel} (dilated, vs float64)` : kernel, c);
  assert.ok(c.maxRatio <= 1, `${what}: error ${c.maxAbs} is ${c.maxRatio}x the float32 bound`);
}

const STRIDES: [number, number][] = [
  [1, 1],
  [2, 2],
  [3, 3],
  [1, 2],
  [3, 1],
];

function pads(rng: Rng, dataFormat: 'NHWC' | 'NCHW'): Pad[] {
  const t = rng.int(0, 3);
  const b = rng.int(0, 3);
  const l = rng.int(0, 3);
  const r = rng.int(0, 3);
  const explicit: Pad =
    dataFormat === 'NHWC'
      ? [
          [0, 0],
          [t, b],
          [l, r],
          [0, 0],
        ]
      : [
          [0, 0],
          [0, 0],
          [t, b],
          [l, r],
        ];
  return ['valid', 'same', 0, 1, 2, explicit];
}

describe('Conv2DBackpropFilter on wasm matches cpu', () => {
  for (const dataFormat of ['NHWC', 'NCHW'] as const) {
    it(`${dataFormat}: every stride × padding ('valid', 'same', 0, 1, 2, explicit) on random odd shapes`, async () => {
      const rng = new Rng(dataFormat === 'NHWC' ? 10 : 11);
      for (const strides of STRIDES) {
        for (const pad of pads(rng, dataFormat)) {
          const [b, h, w, c] = [rng.int(1, 3), rng.int(5, 13), rng.int(5, 13), rng.int(1, 5)];
          const filterShape = [rng.int(1, 4), rng.int(1, 4), c, rng.int(1, 6)];
          const xShape = dataFormat === 'NHWC' ? [b, h, w, c] : [b, c, h, w];
          await checkConv(rng, xShape, filterShape, strides, pad, dataFormat);
        }
      }
    });
  }

  it('numeric padding with each dimRoundingMode (floor, round, ceil), including outputs that read past the input', async () => {
    const rng = new Rng(12);
    for (const rounding of ['floor', 'round', 'ceil'] as const) {
      for (const pad of [0, 1, 2]) {
        for (const strides of [
          [2, 2],
          [3, 2],
        ] as [number, number][]) {
          await checkConv(rng, [2, 8, 9, 3], [3, 2, 3, 4], strides, pad, 'NHWC', rounding);
        }
      }
    }
  });

  it('filters as large as the input, 1×1 filters, padding larger than the filter, single pixels', async () => {
    const rng = new Rng(13);
    await checkConv(rng, [2, 6, 7, 3], [6, 7, 3, 2], [1, 1], 'valid', 'NHWC');
    await checkConv(rng, [3, 9, 5, 7], [1, 1, 7, 5], [2, 1], 'valid', 'NHWC');
    await checkConv(
      rng,
      [2, 4, 4, 2],
      [2, 2, 2, 3],
      [1, 1],
      [
        [0, 0],
        [5, 1],
        [0, 6],
        [0, 0],
      ],
      'NHWC',
    );
    await checkConv(rng, [1, 1, 1, 1], [1, 1, 1, 1], [1, 1], 'same', 'NHWC');
    await checkConv(rng, [4, 28, 28, 1], [3, 3, 1, 8], [1, 1], 'valid', 'NHWC');
  });
});

describe('DepthwiseConv2dNativeBackpropFilter on wasm matches cpu', () => {
  it('every stride × padding, channel multipliers 1-3, random odd shapes', async () => {
    const rng = new Rng(20);
    for (const strides of STRIDES) {
      for (const pad of pads(rng, 'NHWC')) {
        const [b, h, w, c] = [rng.int(1, 3), rng.int(5, 13), rng.int(5, 13), rng.int(1, 5)];
        await checkDepthwise(rng, [b, h, w, c], [rng.int(1, 4), rng.int(1, 4), c, rng.int(1, 3)], strides, [1, 1], pad);
      }
    }
  });

  it('numeric padding with each dimRoundingMode', async () => {
    const rng = new Rng(21);
    for (const rounding of ['floor', 'round', 'ceil'] as const) {
      for (const pad of [0, 1, 2]) await checkDepthwise(rng, [2, 9, 8, 3], [3, 3, 3, 2], [2, 3], [1, 1], pad, rounding);
    }
  });

  it('dilations > 1 (stride 1) computed correctly, against a float64 reference (tfjs cpu ignores the dilation here)', async () => {
    const rng = new Rng(22);
    for (const dilations of [
      [2, 2],
      [3, 2],
      [1, 3],
    ] as [number, number][]) {
      for (const pad of ['valid', 'same', 1] as Pad[]) {
        await checkDepthwise(
          rng,
          [2, rng.int(9, 13), rng.int(9, 13), 3],
          [3, 2, 3, rng.int(1, 2)],
          [1, 1],
          dilations,
          pad,
        );
      }
    }
  });
});

describe('Conv2DBackpropInput and DepthwiseConv2dNativeBackpropInput on wasm match cpu', () => {
  for (const dataFormat of ['NHWC', 'NCHW'] as const) {
    it(`Conv2DBackpropInput ${dataFormat}: every stride × padding on random odd shapes`, async () => {
      const rng = new Rng(dataFormat === 'NHWC' ? 50 : 51);
      for (const strides of STRIDES) {
        for (const pad of pads(rng, dataFormat)) {
          const [b, h, w, c] = [rng.int(1, 3), rng.int(5, 13), rng.int(5, 13), rng.int(1, 5)];
          const xShape = dataFormat === 'NHWC' ? [b, h, w, c] : [b, c, h, w];
          await checkInput(
            'Conv2DBackpropInput',
            rng,
            xShape,
            [rng.int(1, 4), rng.int(1, 4), c, rng.int(1, 6)],
            strides,
            [1, 1],
            pad,
            dataFormat,
          );
        }
      }
    });
  }

  it('Conv2DBackpropInput with each dimRoundingMode, filters as large as the input, 1×1 filters', async () => {
    const rng = new Rng(52);
    for (const rounding of ['floor', 'round', 'ceil'] as const) {
      for (const pad of [0, 1, 2])
        await checkInput('Conv2DBackpropInput', rng, [2, 8, 9, 3], [3, 2, 3, 4], [3, 2], [1, 1], pad, 'NHWC', rounding);
    }
    await checkInput('Conv2DBackpropInput', rng, [2, 6, 7, 3], [6, 7, 3, 2], [1, 1], [1, 1], 'valid', 'NHWC');
    await checkInput('Conv2DBackpropInput', rng, [3, 9, 5, 7], [1, 1, 7, 5], [2, 1], [1, 1], 'valid', 'NHWC');
    await checkInput(
      'Conv2DBackpropInput',
      rng,
      [2, 4, 4, 2],
      [2, 2, 2, 3],
      [1, 1],
      [1, 1],
      [
        [0, 0],
        [5, 1],
        [0, 6],
        [0, 0],
      ],
      'NHWC',
    );
  });

  it('DepthwiseConv2dNativeBackpropInput: every stride × padding, multipliers 1-3, each dimRoundingMode', async () => {
    const rng = new Rng(53);
    for (const strides of STRIDES) {
      for (const pad of pads(rng, 'NHWC')) {
        const [b, h, w, c] = [rng.int(1, 3), rng.int(5, 13), rng.int(5, 13), rng.int(1, 5)];
        await checkInput(
          'DepthwiseConv2dNativeBackpropInput',
          rng,
          [b, h, w, c],
          [rng.int(1, 4), rng.int(1, 4), c, rng.int(1, 3)],
          strides,
          [1, 1],
          pad,
          'NHWC',
        );
      }
    }
    for (const rounding of ['floor', 'round', 'ceil'] as const) {
      await checkInput(
        'DepthwiseConv2dNativeBackpropInput',
        rng,
        [2, 9, 8, 3],
        [3, 3, 3, 2],
        [2, 3],
        [1, 1],
        1,
        'NHWC',
        rounding,
      );
    }
  });

  it('DepthwiseConv2dNativeBackpropInput with dilations > 1, against a float64 reference', async () => {
    const rng = new Rng(54);
    for (const dilations of [
      [2, 2],
      [3, 2],
      [1, 3],
    ] as [number, number][]) {
      for (const pad of ['valid', 'same', 1] as Pad[]) {
        await checkInput(
          'DepthwiseConv2dNativeBackpropInput',
          rng,
          [2, rng.int(9, 13), rng.int(9, 13), 3],
          [3, 2, 3, rng.int(1, 2)],
          [1, 1],
          dilations,
          pad,
          'NHWC',
        );
      }
    }
  });
});

describe('refused inputs give clear errors', () => {
  it('non-float32, wrong ranks, a dy that does not fit, mismatched channels, unknown dataFormat', async () => {
    await useBackend('wasm');
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 3, 3, 4]);
    const attrs = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 2, 4] };
    const run = (inputs: Record<string, tf.Tensor>, a: Record<string, unknown> = attrs) =>
      tf.engine().runKernel('Conv2DBackpropFilter', inputs, a as tf.NamedAttrMap);
    const xi = tf.zeros([1, 5, 5, 2], 'int32');
    assert.throws(
      () => run({ x: xi, dy }),
      /Conv2DBackpropFilter \(tfjs-wasm-train, backend 'wasm'\): only float32 is supported, got x of dtype int32/,
    );
    assert.throws(() => run({ x: tf.zeros([5, 5, 2]), dy }), /x must be rank 4/);
    assert.throws(
      () => run({ x, dy: tf.zeros([1, 4, 4, 4]) }),
      /dy has shape \[1,4,4,4\] but the convolution of this x and filter gives \[1,3,3,4\]/,
    );
    assert.throws(() => run({ x, dy }, { ...attrs, filterShape: [3, 3, 3, 4] }), /has 3 input channels, x has 2/);
    assert.throws(() => run({ x, dy }, { ...attrs, dataFormat: 'NWHC' }), /dataFormat 'NWHC' is not supported/);
    assert.throws(
      () =>
        tf
          .engine()
          .runKernel(
            'DepthwiseConv2dNativeBackpropFilter',
            { x, dy: tf.zeros([1, 3, 3, 3]) },
            { strides: [1, 1], dilations: [1, 1], pad: 'valid', filterShape: [3, 3, 2, 2] },
          ),
      /DepthwiseConv2dNativeBackpropFilter \(tfjs-wasm-train, backend 'wasm'\): dy has shape \[1,3,3,3\] but the convolution of this x and filter gives \[1,3,3,4\]/,
    );
    assert.throws(
      () =>
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropInput',
            { dy, filter: tf.zeros([3, 3, 2, 4], 'int32') },
            { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', inputShape: [1, 5, 5, 2] },
          ),
      /Conv2DBackpropInput \(tfjs-wasm-train, backend 'wasm'\): only float32 is supported, got filter of dtype int32/,
    );
    assert.throws(
      () =>
        tf
          .engine()
          .runKernel(
            'DepthwiseConv2dNativeBackpropInput',
            { dy, filter: tf.zeros([3, 3, 2, 2]) },
            { strides: [1, 1], dilations: [1, 1], pad: 'valid', inputShape: [1, 6, 5, 2] },
          ),
      /dy has shape \[1,3,3,4\] but the convolution of an input \[1,6,5,2\] with this filter gives \[1,4,3,4\]/,
    );
    tf.dispose([x, dy, xi]);
  });

  it("tfjs's own refusals stand: gradients of dilated Conv2D", async () => {
    await useBackend('wasm');
    const x = tf.randomNormal([1, 7, 7, 2]);
    const f = tf.randomNormal([3, 3, 2, 2]);
    assert.throws(
      () => tf.grad((w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid', 'NHWC', 2).sum())(f),
      /dilation rates greater than 1/,
    );
    tf.dispose([x, f]);
  });
});

describe('no leaks', () => {
  it('the kernels leave no tensor and no wasm record behind, also when they throw', async () => {
    await useBackend('wasm');
    const x = tf.randomNormal([2, 9, 9, 3]);
    const records = wasmRecords();
    const run = (kernel: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>) =>
      tf.engine().runKernel(kernel, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
    const leak = await leakCheck(() => {
      tf.tidy(() => {
        run(
          'Conv2DBackpropFilter',
          { x, dy: tf.randomNormal([2, 4, 4, 5]) },
          { strides: [2, 2], pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 3, 5] },
        );
        run(
          'Conv2DBackpropFilter',
          { x, dy: tf.randomNormal([2, 5, 5, 5]) },
          { strides: [2, 2], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 3, 5] },
        );
        // a negative bottom padding (the forward pass never read the last rows): the input is cropped
        run(
          'Conv2DBackpropFilter',
          { x, dy: tf.randomNormal([2, 3, 3, 5]) },
          { strides: [3, 3], pad: 'valid', dataFormat: 'NHWC', filterShape: [2, 2, 3, 5] },
        );
        // padding so large the forward pass read padding only: dW = 0
        const zero = run(
          'Conv2DBackpropFilter',
          { x, dy: tf.randomNormal([2, 1, 9, 5]) },
          {
            strides: [40, 1],
            pad: [
              [0, 0],
              [30, 0],
              [1, 1],
              [0, 0],
            ],
            dataFormat: 'NHWC',
            filterShape: [3, 3, 3, 5],
          },
        );
        assert.equal(tf.max(tf.abs(zero)).dataSync()[0], 0);
        run(
          'DepthwiseConv2dNativeBackpropFilter',
          { x, dy: tf.randomNormal([2, 9, 9, 6]) },
          { strides: [1, 1], dilations: [1, 1], pad: 'same', filterShape: [3, 3, 3, 2] },
        );
        run(
          'DepthwiseConv2dNativeBackpropFilter',
          { x: tf.slice(x, [0, 0, 0, 0], [1, 9, 9, 3]), dy: tf.randomNormal([1, 7, 7, 3]) },
          { strides: [1, 1], dilations: [1, 1], pad: 'valid', filterShape: [3, 3, 3, 1] },
        );
        // input gradients: zeros inserted (PadV2), crops (Slice), NCHW transposes, Σ over the multiplier
        run(
          'Conv2DBackpropInput',
          { dy: tf.randomNormal([2, 3, 3, 5]), filter: tf.randomNormal([2, 2, 3, 5]) },
          { strides: [3, 3], pad: 'valid', dataFormat: 'NHWC', inputShape: [2, 9, 9, 3] },
        );
        run(
          'Conv2DBackpropInput',
          { dy: tf.randomNormal([2, 3, 5, 5]), filter: tf.randomNormal([3, 3, 5, 3]) },
          { strides: [2, 2], pad: 'same', dataFormat: 'NCHW', inputShape: [2, 5, 9, 9] },
        );
        run(
          'DepthwiseConv2dNativeBackpropInput',
          { dy: tf.randomNormal([2, 5, 5, 6]), filter: tf.randomNormal([3, 3, 3, 2]) },
          { strides: [2, 2], dilations: [1, 1], pad: 'same', inputShape: [2, 9, 9, 3] },
        );
      });
      const dy = tf.randomNormal([2, 4, 4, 5]);
      assert.throws(
        () =>
          run(
            'Conv2DBackpropFilter',
            { x, dy },
            { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 3, 5] },
          ),
        /dy has shape/,
      );
      dy.dispose();
    });
    assert.deepEqual(leak, { tensors: 0, bytes: 0 });
    assert.equal(wasmRecords(), records);
    x.dispose();
  });
});

describe('MaxPoolGrad on wasm matches cpu', () => {
  async function checkPool(
    rng: Rng,
    xShape: number[],
    filterSize: [number, number],
    strides: [number, number],
    pad: Pad,
    zeros: number,
    rounding: Rounding = undefined,
  ): Promise<void> {
    const info = tf.backend_util.computePool2DInfo(
      xShape as [number, number, number, number],
      filterSize,
      strides,
      1,
      pad as never,
      rounding,
    );
    // many exact ties, as after a ReLU: a share `zeros` of the inputs is 0
    const x = rng.array(size(xShape)).map((v) => (rng.next() < zeros ? 0 : v));
    const inputs = {
      dy: { shape: info.outShape, values: rng.array(size(info.outShape)) },
      input: { shape: xShape, values: x },
    };
    await useBackend('cpu');
    const output = tf.tidy(
      () =>
        tf
          .maxPool(
            tf.tensor4d(x, xShape as [number, number, number, number]),
            filterSize,
            strides,
            pad as never,
            rounding,
          )
          .dataSync()
          .slice() as Float32Array,
    );
    const all = { ...inputs, output: { shape: info.outShape, values: output } };
    const attrs = { filterSize, strides, pad, dimRoundingMode: rounding };
    const ours = await runOn('wasm', 'MaxPoolGrad', all, attrs);
    const ref = await runOn('cpu', 'MaxPoolGrad', all, attrs);
    assert.deepEqual(ours.shape, xShape);
    // each dx element is one dy value or 0 (tiled windows) or a short sum (overlapping ones)
    // the bound: the same routing of |dy| (|x| would move the maxima)
    const absDy = { ...all, dy: { shape: info.outShape, values: all.dy.values.map(Math.abs) } };
    const c = compare(ours.values, ref.values, (await runOn('cpu', 'MaxPoolGrad', absDy, attrs)).values, 9);
    log.add('MaxPoolGrad', c);
    assert.ok(c.maxRatio <= 1, `${JSON.stringify({ xShape, filterSize, strides, pad })}: error ${c.maxAbs}`);
  }

  it('tiling windows (the fast path): 2×2, 3×3, 2×3, odd sizes that leave rows and columns out, with ties', async () => {
    const rng = new Rng(60);
    for (const [f, s] of [
      [
        [2, 2],
        [2, 2],
      ],
      [
        [3, 3],
        [3, 3],
      ],
      [
        [2, 3],
        [2, 3],
      ],
      [
        [1, 1],
        [1, 1],
      ],
      [
        [4, 2],
        [4, 2],
      ],
    ] as [number, number][][]) {
      for (let i = 0; i < 3; i++) {
        await checkPool(rng, [rng.int(1, 3), rng.int(4, 13), rng.int(4, 13), rng.int(1, 6)], f!, s!, 'valid', 0.5);
      }
    }
    await checkPool(rng, [8, 26, 26, 16], [2, 2], [2, 2], 'valid', 0.6);
    await checkPool(rng, [3, 10, 12, 5], [2, 2], [2, 2], 'same', 0.5, undefined);
    await checkPool(rng, [3, 9, 11, 4], [3, 3], [3, 3], 0, 0.5, 'floor');
    // padded windows: 'same' on odd sizes, explicit padding, each dimRoundingMode
    await checkPool(rng, [3, 9, 11, 4], [2, 2], [2, 2], 'same', 0.5);
    await checkPool(rng, [2, 13, 7, 3], [3, 3], [3, 3], 'same', 0.5);
    for (const rounding of ['floor', 'round', 'ceil'] as const) {
      for (const pad of [1, 2]) await checkPool(rng, [2, 9, 10, 3], [3, 2], [3, 2], pad, 0.5, rounding);
    }
  });

  it("overlapping windows (tfjs's own wasm kernel is wrong there), padded or not, with ties", async () => {
    const rng = new Rng(61);
    await checkPool(rng, [2, 9, 10, 3], [3, 3], [1, 1], 'valid', 0.5);
    await checkPool(rng, [2, 9, 10, 3], [3, 3], [2, 2], 'valid', 0.5);
    await checkPool(rng, [2, 9, 9, 3], [3, 3], [2, 2], 'same', 0.5);
    await checkPool(rng, [1, 11, 8, 2], [3, 2], [2, 1], 'same', 0.5);
    await checkPool(rng, [2, 9, 9, 3], [3, 3], [2, 2], 1, 0.5, 'ceil');
    await checkPool(
      rng,
      [2, 7, 9, 4],
      [4, 4],
      [3, 2],
      [
        [0, 0],
        [2, 1],
        [0, 3],
        [0, 0],
      ] as never,
      0.5,
    );
  });

  it('inputs holding ±Infinity: tiled windows, and overlapping windows (the exact slow path)', async () => {
    const rng = new Rng(63);
    for (const [f, s, pad] of [
      [[2, 2], [2, 2], 'valid'],
      [[3, 3], [2, 2], 'same'],
      [[3, 3], [1, 1], 'valid'],
    ] as [[number, number], [number, number], Pad][]) {
      const xShape = [2, 8, 9, 3];
      const info = tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], f, s, 1, pad as never);
      const x = rng.array(size(xShape)).map((v, i) => (i % 17 === 0 ? -Infinity : i % 23 === 0 ? Infinity : v));
      const all = {
        dy: { shape: info.outShape, values: rng.array(size(info.outShape)) },
        input: { shape: xShape, values: x },
        output: { shape: info.outShape, values: new Float32Array(size(info.outShape)) },
      };
      const attrs = { filterSize: f, strides: s, pad };
      const ours = await runOn('wasm', 'MaxPoolGrad', all, attrs);
      const ref = await runOn('cpu', 'MaxPoolGrad', all, attrs);
      const absDy = { ...all, dy: { shape: info.outShape, values: all.dy.values.map(Math.abs) } };
      const c = compare(ours.values, ref.values, (await runOn('cpu', 'MaxPoolGrad', absDy, attrs)).values, 9);
      assert.ok(c.maxRatio <= 1, `${JSON.stringify({ f, s, pad })}: error ${c.maxAbs}`);
    }
  });

  it('leaves no tensor and no wasm record behind', async () => {
    await useBackend('wasm');
    const records = wasmRecords();
    const leak = await leakCheck(() => {
      tf.tidy(() => {
        const x = tf.relu(tf.randomNormal([2, 9, 11, 3]));
        tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid').sum())(x);
        tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, 3, 2, 'same').sum())(x);
        tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, 2, 2, 'same').sum())(x);
      });
    });
    assert.deepEqual(leak, { tensors: 0, bytes: 0 });
    assert.equal(wasmRecords(), records);
  });
});
