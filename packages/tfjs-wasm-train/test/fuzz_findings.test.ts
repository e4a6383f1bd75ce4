/**
 * Regression tests for the differential fuzzer's findings (an outside tester's report, items 7-13), each against
 * tfjs's cpu backend (or float64 where cpu is wrong): stale XNNPACK packings after a reshape, MaxPoolGrad with
 * non-finite dy and with the most negative float next to padding, a fused bias of shape [1], and empty channel
 * dimensions of the depthwise gradients; and the guard for batch shapes tfjs pairs wrongly (item 13).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { runConv } from '../src/kernels/conv_call.js';
import { leakCheck, useBackend, wasmRecords, withWasmTraining } from './helpers.js';

withWasmTraining();

/** Runs `f` on wasm (our kernels) and on cpu, returning each result's values (NaN and ±∞ kept). */
async function onBoth(f: () => tf.Tensor[]): Promise<{ wasm: number[][]; cpu: number[][] }> {
  const out: Record<string, number[][]> = {};
  for (const backend of ['wasm', 'cpu'] as const) {
    await useBackend(backend);
    out[backend] = tf.tidy(() => f().map((t) => Array.from(t.dataSync())));
  }
  return { wasm: out['wasm']!, cpu: out['cpu']! };
}

/** Small integers: every product and sum below is exact in float32, so results must be equal. */
const ints = (n: number, seed: number) => Array.from({ length: n }, (_, i) => ((i * 7 + seed) % 9) - 4);
const int = (shape: number[], seed: number) =>
  tf.tensor(
    ints(
      shape.reduce((p, q) => p * q, 1),
      seed,
    ),
    shape,
  );

describe('a reshaped right-hand matrix never meets a stale XNNPACK packing (item 7)', () => {
  // b [6, 4] first, then the same data (same tensor id) as [4, 6] and [3, 8]
  const sequences: [string, (b: tf.Tensor) => tf.Tensor[]][] = [
    ['transposed a', (b) => [6, 4, 3].map((k) => tf.matMul(int([k, 5], k), b.reshape([k, 24 / k]), true, false))],
    ['a batch times one matrix', (b) => [6, 4, 3].map((k) => tf.matMul(int([2, 5, k], k), b.reshape([k, 24 / k])))],
    [
      "tfjs's own route (plain single matrices)",
      (b) => [6, 4, 3].map((k) => tf.matMul(int([5, k], k), b.reshape([k, 24 / k]))),
    ],
    [
      "ours, then tfjs's",
      (b) => [
        tf.matMul(tf.tensor(ints(30, 1), [6, 5]), b, true, false),
        tf.matMul(tf.tensor(ints(20, 2), [5, 4]), b.reshape([4, 6])),
        tf.matMul(tf.tensor(ints(40, 3), [2, 5, 4]), b.reshape([4, 6])),
      ],
    ],
    [
      'fused, with a bias',
      (b) =>
        [6, 4].map((k) =>
          tf.fused.matMul({ a: int([k, 5], k), b: b.reshape([k, 24 / k]), transposeA: true, bias: tf.ones([24 / k]) }),
        ),
    ],
  ];
  for (const [what, run] of sequences) {
    it(what, async () => {
      const { wasm, cpu } = await onBoth(() => run(tf.tensor(ints(24, 0), [6, 4])));
      assert.deepEqual(wasm, cpu);
    });
  }
  it('leaves no tensor and no wasm record behind', async () => {
    await useBackend('wasm');
    const b = tf.tensor(ints(24, 0), [6, 4]);
    const records = wasmRecords();
    const leak = await leakCheck(() => {
      tf.tidy(() => [6, 4, 3].forEach((k) => tf.matMul(tf.ones([2, 5, k]), b.reshape([k, 24 / k])).dataSync()));
    });
    assert.deepEqual(leak, { tensors: 0, bytes: 0 });
    assert.equal(wasmRecords(), records);
    b.dispose();
  });
});

describe('MaxPoolGrad with a non-finite dy puts it only at the maximum (item 8)', () => {
  const cases: [string, number[], number[], number[], number[], number[]][] = [
    // [what, x (1 × 1 × W × 1), dy, filter, strides, cpu's dx]
    ['overlapping windows', [0, 1, 0, 2], [-Infinity, 1], [1, 3], [1, 1], [0, -Infinity, 0, 1]],
    ['tiled windows', [0, 1, 0, 2], [Infinity, 1], [1, 2], [1, 2], [0, Infinity, 0, 1]],
    ['NaN in dy', [3, 1, 0, 2], [NaN, 1], [1, 2], [1, 2], [NaN, 0, 0, 1]],
  ];
  for (const [what, x, dy, filterSize, strides, expected] of cases) {
    it(what, async () => {
      const { wasm, cpu } = await onBoth(() => [
        tf.engine().runKernel(
          'MaxPoolGrad',
          {
            dy: tf.tensor4d(dy, [1, 1, dy.length, 1]),
            input: tf.tensor4d(x, [1, 1, x.length, 1]),
            output: tf.zeros([1, 1, dy.length, 1]),
          },
          { filterSize, strides, pad: 'valid' },
        ) as tf.Tensor,
      ]);
      assert.deepEqual(cpu, [expected]);
      assert.deepEqual(wasm, cpu);
    });
  }
});

describe('MaxPoolGrad routes to an input equal to the most negative float next to padding (item 9)', () => {
  for (const [f, s] of [
    [3, 1],
    [3, 2],
    [2, 1],
  ] as const) {
    it(`pool ${f} stride ${s} 'same'`, async () => {
      const x = [-3.4028234663852886e38, 5, -3.4028234663852886e38, -3.4028234663852886e38];
      const { wasm, cpu } = await onBoth(() => {
        const input = tf.tensor4d(x, [1, 2, 2, 1]);
        const info = tf.backend_util.computePool2DInfo([1, 2, 2, 1], [f, f], [s, s], 1, 'same');
        const output = tf.zeros(info.outShape);
        return [
          tf
            .engine()
            .runKernel(
              'MaxPoolGrad',
              { dy: tf.ones(info.outShape), input, output },
              { filterSize: [f, f], strides: [s, s], pad: 'same' },
            ) as tf.Tensor,
          tf.engine().runKernel(
            'MaxPoolGrad',
            {
              dy: tf.ones([1, 1, 1, 1]),
              input: tf.tensor4d([-3.4028234663852886e38], [1, 1, 1, 1]),
              output: tf.zeros([1, 1, 1, 1]),
            },
            { filterSize: [3, 3], strides: [1, 1], pad: 'same' },
          ) as tf.Tensor,
        ];
      });
      assert.deepEqual(cpu[1], [1]);
      assert.deepEqual(wasm, cpu);
    });
  }
});

describe('_FusedMatMul with a bias of shape [1] adds it to every column (item 10)', () => {
  const cases: [string, number[], number[], boolean, boolean][] = [
    ['a transposed', [4, 3], [4, 5], true, false],
    ['b transposed', [3, 4], [5, 4], false, true],
    ['a batch times one matrix', [2, 3, 4], [4, 5], false, false],
    ["tfjs's own route (plain single matrices)", [3, 4], [4, 5], false, false],
  ];
  for (const [what, aShape, bShape, transposeA, transposeB] of cases) {
    it(what, async () => {
      const { wasm, cpu } = await onBoth(() =>
        ['linear', 'relu'].map((activation) =>
          tf.fused.matMul({
            a: int(aShape, 1),
            b: int(bShape, 2),
            transposeA,
            transposeB,
            bias: tf.tensor1d([2.5]),
            activation: activation as 'relu',
          }),
        ),
      );
      assert.deepEqual(wasm, cpu);
    });
  }
});

/** Leaves freed heap memory full of 7s, so that an output nobody wrote shows them. */
async function dirtyHeap(): Promise<void> {
  await useBackend('wasm');
  for (let i = 0; i < 4; i++) tf.fill([4096], 7).dataSync();
}

describe('empty channel dimensions of the depthwise gradients (items 11 and 12)', () => {
  it('DepthwiseConv2dNativeBackpropInput with channel multiplier 0 gives zeros (item 11)', async () => {
    await dirtyHeap();
    const { wasm, cpu } = await onBoth(() => [
      tf.engine().runKernel(
        'DepthwiseConv2dNativeBackpropInput',
        {
          dy: tf.zeros([2, 3, 3, 0]),
          filter: tf.zeros([2, 2, 3, 0]),
        },
        { strides: [1, 1], pad: 'same', dilations: [1, 1], inputShape: [2, 3, 3, 3] },
      ) as tf.Tensor,
    ]);
    assert.equal(cpu[0]!.length, 54);
    assert.deepEqual(wasm, cpu);
  });
  it('DepthwiseConv2dNativeBackpropFilter with 0 input channels: an empty filter, 400 times (item 12)', async () => {
    await useBackend('wasm');
    const attrs = { strides: [1, 1], pad: 'same', dilations: [1, 1], filterShape: [2, 2, 0, 2] };
    const leak = await leakCheck(() => {
      for (let i = 0; i < 400; i++) {
        const shape = tf.tidy(
          () =>
            (
              tf
                .engine()
                .runKernel(
                  'DepthwiseConv2dNativeBackpropFilter',
                  { x: tf.zeros([1, 3, 3, 0]), dy: tf.zeros([1, 3, 3, 0]) },
                  attrs as never,
                ) as tf.Tensor
            ).shape,
        );
        assert.deepEqual(shape, [2, 2, 0, 2]);
      }
    });
    assert.deepEqual(leak, { tensors: 0, bytes: 0 });
    // the module still works
    assert.deepEqual(Array.from(tf.add(tf.ones([2]), 1).dataSync()), [2, 2]);
  });
  it('the other gradient kernels with 0 channels: empty, or zeros where cpu gives zeros', async () => {
    await dirtyHeap();
    const { wasm, cpu } = await onBoth(() => [
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x: tf.zeros([1, 3, 3, 0]), dy: tf.ones([1, 3, 3, 2]) },
          { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [2, 2, 0, 2] },
        ) as tf.Tensor,
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropInput',
          { dy: tf.ones([1, 3, 3, 2]), filter: tf.ones([2, 2, 0, 2]) },
          { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', inputShape: [1, 3, 3, 0] },
        ) as tf.Tensor,
      tf
        .engine()
        .runKernel(
          'DepthwiseConv2dNativeBackpropFilter',
          { x: tf.ones([1, 3, 3, 2]), dy: tf.zeros([1, 3, 3, 0]) },
          { strides: [1, 1], pad: 'same', dilations: [1, 1], filterShape: [2, 2, 2, 0] },
        ) as tf.Tensor,
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x: tf.ones([0, 3, 3, 2]), dy: tf.ones([0, 3, 3, 2]) },
          { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [2, 2, 2, 2] },
        ) as tf.Tensor,
    ]);
    assert.deepEqual(wasm, cpu);
  });
});

describe('batches that broadcast other than as suffixes are paired right (item 13: tfjs pairs them wrongly)', () => {
  for (const [aShape, bShape] of [
    [
      [2, 1, 2, 3],
      [1, 3, 3, 2],
    ],
    [
      [3, 1, 2, 2],
      [3, 2, 2],
    ],
    [
      [2, 1, 3, 4],
      [2, 4, 5],
    ],
  ]) {
    it(`[${aShape}] · [${bShape}] against float64`, async () => {
      await useBackend('wasm');
      const [a, b] = [int(aShape!, 1), int(bShape!, 2)];
      const [av, bv] = [a.arraySync() as number[][][][], b.arraySync() as number[][][] | number[][][][]];
      const out = tf.matMul(a, b);
      // the expected product, by broadcasting the batch axes (small integers: exact in float32)
      const bAt = (i: number, j: number) =>
        bShape!.length === 4
          ? (bv as number[][][][])[bShape![0] === 1 ? 0 : i]![bShape![1] === 1 ? 0 : j]!
          : (bv as number[][][])[bShape![0] === 1 ? 0 : j]!;
      const [m, k, n] = [aShape![2]!, aShape![3]!, bShape![bShape!.length - 1]!];
      const expected = Array.from({ length: out.shape[0]! }, (_, i) =>
        Array.from({ length: out.shape[1]! }, (_, j) =>
          Array.from({ length: m }, (_, r) =>
            Array.from({ length: n }, (_, c) => {
              let sum = 0;
              for (let q = 0; q < k; q++) sum += av[i]![aShape![1] === 1 ? 0 : j]![r]![q]! * bAt(i, j)[q]![c]!;
              return sum;
            }),
          ),
        ),
      );
      assert.deepEqual(out.arraySync(), expected);
      tf.dispose([a, b, out]);
    });
  }
});

describe('our Conv2D calls are checked before XNNPACK writes (item 13)', () => {
  it('refuses a call when the filter spans more than the padded input, sizes disagree, or a dimension is empty', async () => {
    await useBackend('wasm');
    const backend = tf.backend() as unknown as Parameters<typeof runConv>[0];
    const records = wasmRecords();
    tf.tidy(() => {
      const x = tf.ones([1, 2, 2, 1]);
      const empty = tf.ones([1, 2, 2, 0]);
      const f = tf.ones([3, 3, 1, 1]);
      const call = { strides: [1, 1] as [number, number], dilations: [1, 1] as [number, number] };
      // tfjs allocates a 0-row output here, XNNPACK would write a row
      assert.throws(() => runConv(backend, 'Conv2D', x, f, { ...call, pads: [0, 0, 0, 0] }, [1, 0, 0, 1]), /refusing/);
      assert.throws(() => runConv(backend, 'Conv2D', x, f, { ...call, pads: [1, 0, 1, 0] }, [1, 2, 2, 1]), /refusing/);
      assert.throws(
        () => runConv(backend, 'Conv2D', empty, tf.ones([3, 3, 0, 1]), { ...call, pads: [1, 1, 1, 1] }, [1, 2, 2, 1]),
        /refusing/,
      );
      // the expected size, and it runs
      const out = runConv(backend, 'Conv2D', x, f, { ...call, pads: [1, 1, 1, 1] }, [1, 2, 2, 1]);
      assert.deepEqual(Array.from(tf.engine().makeTensorFromTensorInfo(out).dataSync()), [4, 4, 4, 4]);
    });
    assert.equal(wasmRecords(), records);
  });
});
