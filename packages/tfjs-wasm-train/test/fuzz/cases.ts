/**
 * The differential fuzzer's drawn configurations, one fast-check arbitrary per kernel family, each
 * giving a `Case` (./compare.ts) whose shapes shrink toward small ones. Configurations where tfjs
 * itself is wrong (the README's "known tfjs issues") are left out here, each with its reason.
 */
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import type { Case } from './compare.js';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
type Rounding = 'floor' | 'round' | 'ceil' | undefined;
type Pair = [number, number];
type Four = [number, number, number, number];
type Ins = Record<string, tf.Tensor>;

const seed = fc.integer({ min: 0, max: 0x7fffffff });
const dim = (min: number, max: number) => fc.integer({ min, max });
const pair = (min: number, max: number) => fc.tuple(dim(min, max), dim(min, max));
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Runs kernel `name` through the engine (as tfjs's ops do). */
function kernel(name: string, inputs: Ins, attrs: object): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}

/**
 * Batch shapes for matMul: both suffixes of one shape (with leading 1s sometimes), so tfjs's pairing
 * of matrices (flat index modulo each batch size) is broadcasting. Other broadcasts ([2, 1]·[1, 3])
 * are excluded: tfjs's own kernels, cpu's included, compute the wrong matrices there (known issue).
 */
const batchShapes = fc
  .record({
    base: fc.array(dim(1, 3), { maxLength: 3 }),
    cutA: dim(0, 3),
    cutB: dim(0, 3),
    oneA: fc.boolean(),
    oneB: fc.boolean(),
  })
  .map(({ base, cutA, cutB, oneA, oneB }) => [
    [...(oneA ? [1] : []), ...base.slice(Math.min(cutA, base.length))],
    [...(oneB ? [1] : []), ...base.slice(Math.min(cutB, base.length))],
  ]);

type Dims = { m: number; k: number; n: number; transposeA: boolean; transposeB: boolean };
const matMulDims: fc.Arbitrary<Dims> = fc.record({
  m: dim(1, 24),
  k: dim(1, 48),
  n: dim(1, 24),
  transposeA: fc.boolean(),
  transposeB: fc.boolean(),
});

function operands(batchA: number[], batchB: number[], d: Dims): Case['inputs'] {
  return {
    a: { shape: [...batchA, ...(d.transposeA ? [d.k, d.m] : [d.m, d.k])] },
    b: { shape: [...batchB, ...(d.transposeB ? [d.n, d.k] : [d.k, d.n])] },
  };
}

/**
 * BatchMatMul in every transposition, single matrices, batches, broadcast batches; with `again`, the
 * same b is then reshaped (its last two axes swapped in size; the tensor id stays) and multiplied
 * again, untransposed: a stale XNNPACK packing of b would show there.
 */
export const matMulCase: fc.Arbitrary<Case> = fc
  .tuple(batchShapes, matMulDims, fc.boolean(), seed)
  .map(([[ba, bb], d, again, s]) => {
    const inputs = operands(ba!, bb!, d);
    const bShape = inputs['b']!.shape;
    const swapped = [...bShape.slice(0, -2), bShape[bShape.length - 1]!, bShape[bShape.length - 2]!];
    if (again) inputs['a2'] = { shape: [...ba!, d.m, swapped[swapped.length - 2]!] };
    return {
      what: `matMul ${JSON.stringify({ ba, bb, ...d, again })}`,
      inputs,
      op: (x: Ins) => {
        const first = tf.matMul(x['a']!, x['b']!, d.transposeA, d.transposeB);
        return again ? [first, tf.matMul(x['a2']!, tf.reshape(x['b']!, swapped))] : first;
      },
      check: 'bound' as const,
      terms: Math.max(d.k, d.n),
      seed: s,
    };
  });

/** a·b in float64 with true broadcasting of the batch axes, and Σ|a·b|, for a and b given row-major. */
function matMulF64(a: ArrayLike<number>, aShape: number[], b: ArrayLike<number>, bShape: number[]) {
  const [m, k, n] = [aShape[aShape.length - 2]!, aShape[aShape.length - 1]!, bShape[bShape.length - 1]!];
  const rank = Math.max(aShape.length, bShape.length);
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s.slice(0, -2)];
  const [pa, pb] = [pad(aShape), pad(bShape)];
  const outBatch = pa.map((d, i) => Math.max(d, pb[i]!));
  const count = size(outBatch);
  const values = new Float64Array(count * m * n);
  const absSum = new Float64Array(count * m * n);
  for (let o = 0; o < count; o++) {
    // the batch index of a and b: each axis of the output index, 0 where that operand's axis is 1
    let [ia, ib, rest] = [0, 0, o];
    for (let i = rank - 3, sa = 1, sb = 1; i >= 0; i--) {
      const idx = rest % outBatch[i]!;
      rest = Math.floor(rest / outBatch[i]!);
      ia += (pa[i] === 1 ? 0 : idx) * sa;
      ib += (pb[i] === 1 ? 0 : idx) * sb;
      sa *= pa[i]!;
      sb *= pb[i]!;
    }
    for (let r = 0; r < m; r++)
      for (let c = 0; c < n; c++) {
        let [sum, abs] = [0, 0];
        for (let j = 0; j < k; j++) {
          const p = a[(ia * m + r) * k + j]! * b[(ib * k + j) * n + c]!;
          sum += p;
          abs += Math.abs(p);
        }
        values[(o * m + r) * n + c] = sum;
        absSum[(o * m + r) * n + c] = abs;
      }
  }
  return { shape: [...outBatch, m, n], values, absSum };
}

/**
 * matMul of batches that broadcast other than as suffixes ([2, 1] against [1, 3], [3, 1] against [3]):
 * tfjs pairs those matrices wrongly on every backend (a known issue); the package repeats both to the
 * output's batch first. Compared with a float64 reference, as cpu is wrong here.
 */
const broadcastAxes = fc.array(fc.tuple(dim(1, 3), fc.constantFrom('a', 'b', 'both')), { minLength: 2, maxLength: 3 });
export const broadcastMatMulCase: fc.Arbitrary<Case> = fc
  .tuple(broadcastAxes, dim(1, 12), dim(1, 24), dim(1, 12), seed)
  .map(([axes, m, k, n, s]): Case => {
    const aBatch = axes.map(([d, who]) => (who === 'b' ? 1 : d));
    const bBatch = axes.map(([d, who]) => (who === 'a' ? 1 : d));
    const inputs = { a: { shape: [...aBatch, m, k] }, b: { shape: [...bBatch.slice(1), k, n] } };
    return {
      what: `matMul (broadcast batches) ${JSON.stringify({ aBatch, bBatch: bBatch.slice(1), m, k, n })}`,
      inputs,
      check: 'bound',
      terms: k,
      seed: s,
      op: (x) => tf.matMul(x['a']!, x['b']!),
      reference: (v) => [matMulF64(v['a']!, inputs.a.shape, v['b']!, inputs.b.shape)],
    };
  });

const ACTIVATIONS = ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'prelu'] as const;

/**
 * tf.fused.matMul with a bias ([n] or [1]) and an activation. Batches of matrices against batches
 * only with both batches equal to one flat batch: tfjs's fused op reshapes to rank 3 first, and
 * broadcasting batches is tf.matMul's (above). 'sigmoid' is left out: tfjs's wasm kernel refuses it.
 */
export const fusedMatMulCase: fc.Arbitrary<Case> = fc
  .tuple(
    fc.constantFrom('one', 'fold', 'batches'),
    dim(2, 3),
    matMulDims,
    fc.constantFrom('none', 'n', '1'),
    fc.constantFrom(...ACTIVATIONS),
    seed,
  )
  .map(([kind, batch, d, biasKind, activation, s]) => {
    const [ba, bb] = kind === 'one' ? [[], []] : kind === 'fold' ? [[batch], []] : [[batch], [batch]];
    const inputs = operands(ba, bb, d);
    if (biasKind !== 'none') inputs['bias'] = { shape: [biasKind === 'n' ? d.n : 1] };
    if (activation === 'prelu') inputs['alpha'] = { shape: [d.n] };
    const fused = (x: Ins, act: string) =>
      tf.fused.matMul({
        a: x['a']!,
        b: x['b']!,
        transposeA: d.transposeA,
        transposeB: d.transposeB,
        bias: x['bias'],
        activation: act as 'relu',
        preluActivationWeights: x['alpha'],
        leakyreluAlpha: 0.3,
      });
    return {
      what: `fused.matMul ${JSON.stringify({ kind, ba, bb, ...d, biasKind, activation })}`,
      inputs,
      op: (x: Ins) => fused(x, activation),
      // the activations are 1-Lipschitz (|alpha| ≤ 1): the linear part's bound holds after them
      boundOp: (x: Ins) => fused(x, 'linear'),
      check: 'bound' as const,
      terms: d.k + 1,
      seed: s,
    };
  });

const pads: fc.Arbitrary<{ pad: Pad; rounding: Rounding }> = fc.oneof(
  fc.constantFrom('valid', 'same').map((pad) => ({ pad: pad as Pad, rounding: undefined })),
  fc
    .tuple(dim(0, 2), fc.constantFrom(undefined, 'floor', 'round', 'ceil'))
    .map(([pad, rounding]) => ({ pad, rounding: rounding as Rounding })),
  fc.tuple(dim(0, 2), dim(0, 2), dim(0, 2), dim(0, 2)).map(([t, b, l, r]) => ({
    pad: [
      [0, 0],
      [t, b],
      [l, r],
      [0, 0],
    ] as Pad,
    rounding: undefined,
  })),
);

const convGeometry = fc.record({
  batch: dim(1, 3),
  h: dim(1, 9),
  w: dim(1, 9),
  c: fc.oneof(dim(1, 4), fc.constant(0)),
  fh: dim(1, 4),
  fw: dim(1, 4),
  out: fc.oneof(dim(1, 4), fc.constant(0)),
  strides: pair(1, 3),
  pads,
  nchw: fc.boolean(),
  seed,
});

type Geometry = typeof convGeometry extends fc.Arbitrary<infer G> ? G : never;

function convInfo(
  g: Geometry,
  depthwise: boolean,
  nchw: boolean,
  dilations: Pair = [1, 1],
): tf.backend_util.Conv2DInfo {
  const xShape = (nchw ? [g.batch, g.c, g.h, g.w] : [g.batch, g.h, g.w, g.c]) as Four;
  return tf.backend_util.computeConv2DInfo(
    xShape,
    [g.fh, g.fw, g.c, g.out],
    g.strides,
    dilations,
    g.pads.pad as never,
    g.pads.rounding,
    depthwise,
    nchw ? 'channelsFirst' : 'channelsLast',
  );
}

/** A geometry tfjs accepts: some output, and the explicit list padding only with NHWC (tfjs's layout of the list). */
const validFor = (depthwise: boolean) => (g: Geometry) => {
  const nchw = g.nchw && !depthwise;
  if (nchw && Array.isArray(g.pads.pad)) return false;
  const info = convInfo(g, depthwise, nchw);
  return info.outHeight > 0 && info.outWidth > 0;
};

/** The case of a filter gradient (x, dy in) or an input gradient (dy, filter in), bound-checked against cpu. */
function gradientCase(
  name: string,
  what: string,
  attrs: Record<string, unknown>,
  g: Geometry,
  info: ReturnType<typeof convInfo>,
  xShape: number[],
  filterGrad: boolean,
): Case {
  const filterShape = [g.fh, g.fw, g.c, g.out];
  if (filterGrad) {
    return {
      what,
      inputs: { x: { shape: xShape }, dy: { shape: info.outShape } },
      check: 'bound',
      seed: g.seed,
      terms: g.batch * info.outHeight * info.outWidth,
      op: (x) => kernel(name, x, { ...attrs, filterShape }),
    };
  }
  return {
    what,
    inputs: { dy: { shape: info.outShape }, filter: { shape: filterShape } },
    check: 'bound',
    seed: g.seed,
    terms: g.fh * g.fw * g.out,
    op: (x) => kernel(name, x, { ...attrs, inputShape: xShape }),
  };
}

/** Conv2DBackpropFilter and Conv2DBackpropInput (ours), NHWC and NCHW, every padding and rounding. */
export const convGradCase: fc.Arbitrary<Case> = fc
  .tuple(convGeometry.filter(validFor(false)), fc.boolean())
  .map(([g, filterGrad]): Case => {
    const info = convInfo(g, false, g.nchw);
    const dataFormat = g.nchw ? 'NCHW' : 'NHWC';
    const attrs = { strides: g.strides, pad: g.pads.pad, dataFormat, dimRoundingMode: g.pads.rounding };
    const name = filterGrad ? 'Conv2DBackpropFilter' : 'Conv2DBackpropInput';
    const what = `${name} ${JSON.stringify(g)}`;
    const xShape = g.nchw ? [g.batch, g.c, g.h, g.w] : [g.batch, g.h, g.w, g.c];
    return gradientCase(name, what, attrs, g, info, xShape, filterGrad);
  });

/**
 * The depthwise filter and input gradients (ours; NHWC only in tfjs). Dilations stay 1: tfjs's cpu
 * kernels leave the dilation out of their indexing (conv.test.ts checks dilated ones against float64).
 */
export const depthwiseGradCase: fc.Arbitrary<Case> = fc
  .tuple(convGeometry.filter(validFor(true)), fc.boolean())
  .map(([g, filterGrad]): Case => {
    const info = convInfo(g, true, false);
    const attrs = { strides: g.strides, pad: g.pads.pad, dilations: [1, 1], dimRoundingMode: g.pads.rounding };
    const name = filterGrad ? 'DepthwiseConv2dNativeBackpropFilter' : 'DepthwiseConv2dNativeBackpropInput';
    const what = `${name} ${JSON.stringify({ ...g, nchw: false })}`;
    const xShape = [g.batch, g.h, g.w, g.c];
    return gradientCase(name, what, attrs, g, info, xShape, filterGrad);
  });

/**
 * Forward conv2d and depthwiseConv2d (tfjs's wasm kernels, which our gradients rely on), with
 * dilations, NHWC. Left out as known tfjs issues: 0 channels (the output is never written), numeric
 * padding with a non-square filter, strides or dilations, and any dimRoundingMode (tfjs's output size
 * uses the first dimension's filter and stride for both; XNNPACK's differs), and 'same' padding where
 * a stride exceeds the filter in a dimension (the fuzzer found it also with a square filter: 2 × 2, strides
 * [3, 1]).
 */
export const convForwardCase: fc.Arbitrary<Case> = fc
  .tuple(convGeometry, pair(1, 2), fc.boolean())
  .filter(([g, dil, depthwise]) => {
    if (g.c === 0 || g.out === 0 || g.pads.rounding !== undefined) return false;
    const square = g.fh === g.fw && g.strides[0] === g.strides[1] && dil[0] === dil[1];
    if (typeof g.pads.pad === 'number' && !square) return false;
    if (g.pads.pad === 'same' && (g.strides[0] > g.fh || g.strides[1] > g.fw)) return false;
    if (depthwise && Math.max(...dil) > 1 && Math.max(...g.strides) > 1) return false; // tfjs refuses
    const info = convInfo(g, depthwise, false, dil);
    return info.outHeight > 0 && info.outWidth > 0;
  })
  .map(([g, dil, depthwise]) => ({
    what: `${depthwise ? 'depthwiseConv2d' : 'conv2d'} ${JSON.stringify({ ...g, nchw: false, dil })}`,
    inputs: { x: { shape: [g.batch, g.h, g.w, g.c] }, filter: { shape: [g.fh, g.fw, g.c, g.out] } },
    check: 'bound' as const,
    terms: g.fh * g.fw * g.c,
    seed: g.seed,
    op: (x: Ins) =>
      (depthwise ? tf.depthwiseConv2d : tf.conv2d)(
        x['x'] as tf.Tensor4D,
        x['filter'] as tf.Tensor4D,
        g.strides,
        g.pads.pad as never,
        'NHWC',
        dil,
      ),
  }));

const poolGeometry = fc.record({
  batch: dim(1, 2),
  h: dim(1, 8),
  w: dim(1, 8),
  c: dim(1, 3),
  filter: pair(1, 4),
  strides: pair(1, 4),
  pads,
  specials: fc.constantFrom(0, 0, 0.05, 0.3),
  seed,
});
type PoolGeometry = typeof poolGeometry extends fc.Arbitrary<infer G> ? G : never;

function poolInfo(g: PoolGeometry): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(
    [g.batch, g.h, g.w, g.c],
    g.filter,
    g.strides,
    1,
    g.pads.pad as never,
    g.pads.rounding,
  );
}

/**
 * MaxPoolGrad (ours) on every pooling tfjs accepts, values with ties and (sometimes) NaN, ±∞ and
 * ±3.4028235e38 in the input and in dy; and the forward maxPool (tfjs's kernel), which leaves out
 * NaN (tfjs's wasm maxPool of [NaN, 1] gives −∞) and numeric padding or rounding (tfjs and XNNPACK
 * disagree on the output size).
 */
export const poolCase: fc.Arbitrary<Case> = fc
  .tuple(poolGeometry, fc.boolean())
  .filter(([g, grad]) => {
    if (Array.isArray(g.pads.pad)) return false; // pools take no lists
    if (!grad && (g.specials > 0 || g.pads.rounding !== undefined || typeof g.pads.pad === 'number')) return false;
    const info = poolInfo(g);
    return info.outHeight > 0 && info.outWidth > 0;
  })
  .map(([g, grad]): Case => {
    const info = poolInfo(g);
    const xShape = [g.batch, g.h, g.w, g.c];
    if (!grad) {
      return {
        what: `maxPool ${JSON.stringify(g)}`,
        inputs: { x: { shape: xShape, quantized: true } },
        check: 'exact',
        seed: g.seed,
        op: (x) => tf.maxPool(x['x'] as tf.Tensor4D, g.filter, g.strides, g.pads.pad as never),
      };
    }
    const attrs = { filterSize: g.filter, strides: g.strides, pad: g.pads.pad, dimRoundingMode: g.pads.rounding };
    return {
      what: `MaxPoolGrad ${JSON.stringify(g)}`,
      inputs: {
        input: { shape: xShape, quantized: true, specials: g.specials },
        dy: { shape: info.outShape, specials: g.specials / 3 },
      },
      check: 'bound',
      // each input gets the dy of at most this many windows
      terms: Math.ceil(g.filter[0] / g.strides[0]) * Math.ceil(g.filter[1] / g.strides[1]),
      absInputs: ['dy'],
      seed: g.seed,
      op: (x) => kernel('MaxPoolGrad', { dy: x['dy']!, input: x['input']!, output: tf.zeros(info.outShape) }, attrs),
    };
  });

/** Transposes of rank 1-6 (and tall matrices for the tiled path), float32 and int32: bit for bit. */
export const transposeCase: fc.Arbitrary<Case> = fc
  .tuple(
    fc.oneof(
      fc.array(dim(1, 4), { minLength: 1, maxLength: 6 }),
      fc.tuple(dim(512, 600), dim(1, 5)).map(([r, c]) => [r, c]),
    ),
    fc.constantFrom('float32', 'int32'),
    seed,
    fc.integer(),
  )
  .map(([shape, dtype, s, permSeed]): Case => {
    const perm = shape.map((_, i) => i);
    for (let i = perm.length - 1, r = permSeed >>> 0; i > 0; i--, r = (Math.imul(r, 1103515245) + 12345) >>> 0) {
      const j = r % (i + 1);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    return {
      what: `transpose ${JSON.stringify({ shape, perm, dtype })}`,
      inputs: { x: { shape, dtype: dtype as 'float32' } },
      check: 'exact',
      seed: s,
      op: (x) => tf.transpose(x['x']!, perm),
    };
  });

/** Slice, tf.unstack (Unpack) and tf.split (SplitV) of rank 1-5, float32 and int32: bit for bit. */
export const sliceCase: fc.Arbitrary<Case> = fc
  .tuple(
    fc.array(dim(1, 5), { minLength: 1, maxLength: 5 }),
    fc.constantFrom('float32', 'int32'),
    fc.constantFrom('slice', 'unstack', 'split'),
    fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
    seed,
  )
  .map(([shape, dtype, kind, r, s]): Case => {
    const axis = r[0]! % shape.length;
    const begin = shape.map((d, i) => r[1 + i]! % d);
    const sizes = shape.map((d, i) => r[6 + i]! % (d - begin[i]! + 1));
    const cut = 1 + (r[11]! % shape[axis]!);
    const parts = cut === shape[axis] ? [cut] : [cut, shape[axis]! - cut];
    const op =
      kind === 'slice'
        ? (x: Ins) => tf.slice(x['x']!, begin, sizes)
        : kind === 'unstack'
          ? (x: Ins) => tf.unstack(x['x']!, axis)
          : (x: Ins) => tf.split(x['x']!, parts, axis);
    return {
      what: `${kind} ${JSON.stringify({ shape, dtype, axis, begin, sizes, parts })}`,
      inputs: { x: { shape, dtype: dtype as 'float32' } },
      check: 'exact',
      seed: s,
      op,
    };
  });

/** Sum over leading axes (ours, column sums) and other axes (tfjs's): within the summation bound. */
export const sumCase: fc.Arbitrary<Case> = fc
  .tuple(fc.array(dim(1, 6), { minLength: 1, maxLength: 4 }), fc.nat(), fc.boolean(), seed)
  .map(([shape, r, keepDims, s]): Case => {
    const axes = shape.map((_, i) => i).filter((i) => (r >> i) & 1);
    return {
      what: `sum ${JSON.stringify({ shape, axes, keepDims })}`,
      inputs: { x: { shape } },
      check: 'bound',
      seed: s,
      terms: size(axes.map((i) => shape[i]!)),
      op: (x) => tf.sum(x['x']!, axes.length > 0 ? axes : undefined, keepDims),
    };
  });
