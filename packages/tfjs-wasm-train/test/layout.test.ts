/**
 * Transpose, Slice, Unpack, SplitV and Sum on wasm with our kernels, against the cpu backend: the
 * data-movement kernels must be exact (every element, bit for bit, float32 and int32), on random
 * shapes of rank 1 to 6 with size-1 axes, empty tensors, and the attention and Dense-gradient
 * shapes they were written for. Sum must be bit for bit tfjs's own wasm kernel, and within the
 * float32 summation bound of cpu.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { disableWasmTraining, enableWasmTraining, simplifyTranspose } from '../src/index.js';
import { compare, leakCheck, Rng, size, useBackend, wasmRecords, withWasmTraining } from './helpers.js';

const log = withWasmTraining();

type DType = 'float32' | 'int32';

interface Input {
  shape: number[];
  dtype: DType;
  values: Float32Array | Int32Array;
}

function input(rng: Rng, shape: number[], dtype: DType): Input {
  const n = size(shape);
  const values =
    dtype === 'int32' ? Int32Array.from({ length: n }, () => Math.floor(rng.next() * 2 ** 32) - 2 ** 31) : rng.array(n);
  return { shape, dtype, values };
}

/** Runs a kernel on `backend` and returns each output's shape, dtype and values. */
async function run(
  backend: 'cpu' | 'wasm',
  kernel: string,
  inputs: Record<string, Input>,
  attrs: Record<string, unknown>,
): Promise<{ shape: number[]; dtype: string; values: Float32Array | Int32Array }[]> {
  await useBackend(backend);
  return tf.tidy(() => {
    const ins: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) ins[k] = tf.tensor(v.values, v.shape, v.dtype);
    const out = tf.engine().runKernel(kernel, ins, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
    return (Array.isArray(out) ? out : [out]).map((t) => ({
      shape: t.shape,
      dtype: t.dtype,
      values: t.dataSync().slice() as Float32Array | Int32Array,
    }));
  });
}

/** Bit patterns, so that float32 comparisons are exact (NaN, -0) and fail loudly. */
function bits(values: Float32Array | Int32Array): Int32Array {
  return new Int32Array(values.buffer, values.byteOffset, values.length);
}

async function exact(
  kernel: string,
  inputs: Record<string, Input>,
  attrs: Record<string, unknown>,
  what: string,
): Promise<void> {
  const ours = await run('wasm', kernel, inputs, attrs);
  const ref = await run('cpu', kernel, inputs, attrs);
  assert.equal(ours.length, ref.length, `${what}: number of outputs`);
  ours.forEach((o, i) => {
    assert.deepEqual(o.shape, ref[i]!.shape, `${what}: shape of output ${i}`);
    assert.equal(o.dtype, ref[i]!.dtype, `${what}: dtype of output ${i}`);
    assert.deepEqual(bits(o.values), bits(ref[i]!.values), `${what}: values of output ${i}`);
  });
}

function permutation(rng: Rng, rank: number): number[] {
  const p = Array.from({ length: rank }, (_, i) => i);
  for (let i = rank - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

function randomShape(rng: Rng, rank: number, max: number): number[] {
  return Array.from({ length: rank }, () => (rng.next() < 0.2 ? 1 : rng.int(2, max)));
}

describe('Transpose on wasm is exact', () => {
  it('simplifies: drops size-1 axes, merges axes that stay neighbours', () => {
    assert.deepEqual(simplifyTranspose([32, 64, 3, 4, 40], [2, 0, 3, 1, 4]), {
      shape: [32, 64, 3, 4, 40],
      perm: [2, 0, 3, 1, 4],
    });
    assert.deepEqual(simplifyTranspose([32, 4, 64, 40], [0, 2, 1, 3]), { shape: [32, 4, 64, 40], perm: [0, 2, 1, 3] });
    assert.deepEqual(simplifyTranspose([2, 3, 4, 5], [2, 3, 0, 1]), { shape: [6, 20], perm: [1, 0] });
    assert.deepEqual(simplifyTranspose([4, 1, 5], [2, 1, 0]), { shape: [4, 5], perm: [1, 0] });
    assert.deepEqual(simplifyTranspose([1, 1], [1, 0]), { shape: [], perm: [] });
    assert.deepEqual(simplifyTranspose([2, 3, 4], [0, 1, 2]), { shape: [24], perm: [0] });
  });

  it('the attention and Dense-gradient shapes, float32 and int32', async () => {
    const rng = new Rng(11);
    const cases: [number[], number[]][] = [
      [
        [32, 64, 3, 4, 40],
        [2, 0, 3, 1, 4],
      ], // q, k, v split of a fused projection
      [
        [3, 32, 4, 64, 40],
        [1, 3, 0, 2, 4],
      ], // its gradient
      [
        [4, 16, 3, 2, 8],
        [2, 0, 3, 1, 4],
      ],
      [
        [2048, 160],
        [1, 0],
      ], // xᵀ: tiled
      [
        [600, 3],
        [1, 0],
      ],
      [
        [513, 67],
        [1, 0],
      ],
      [
        [2, 600, 37],
        [0, 2, 1],
      ], // a batch of tiled matrices
      [
        [3, 1, 520, 5],
        [0, 1, 3, 2],
      ],
      [
        [32, 4, 64, 40],
        [0, 2, 1, 3],
      ], // tfjs's own 4-D loop
    ];
    for (const [shape, perm] of cases) {
      for (const dtype of ['float32', 'int32'] as const) {
        await exact(
          'Transpose',
          { x: input(rng, shape, dtype) },
          { perm },
          `${dtype} ${JSON.stringify(shape)} ${perm}`,
        );
      }
    }
  });

  it('random shapes of rank 1 to 6 with size-1 axes, random permutations', async () => {
    const rng = new Rng(12);
    for (let i = 0; i < 60; i++) {
      const rank = rng.int(1, 6);
      const shape = randomShape(rng, rank, rank >= 5 ? 6 : 12);
      const perm = permutation(rng, rank);
      const dtype = i % 3 === 0 ? 'int32' : 'float32';
      await exact('Transpose', { x: input(rng, shape, dtype) }, { perm }, `${dtype} ${JSON.stringify(shape)} ${perm}`);
    }
  });

  it('NaN payloads and -0 survive, empty tensors and bool go to tfjs', async () => {
    const values = new Float32Array(2 * 3 * 2 * 2 * 3);
    const words = new Int32Array(values.buffer);
    for (let i = 0; i < words.length; i++)
      words[i] = i % 3 === 0 ? 0x7fc00000 + i : i % 3 === 1 ? 0x80000000 | 0 : 0x3f800000 + i;
    // (cpu may canonicalise NaNs: the reference is the same bit patterns transposed as int32 on cpu)
    const ours = await run(
      'wasm',
      'Transpose',
      { x: { shape: [2, 3, 2, 2, 3], dtype: 'float32', values } },
      { perm: [4, 2, 0, 3, 1] },
    );
    const ref = await run(
      'cpu',
      'Transpose',
      { x: { shape: [2, 3, 2, 2, 3], dtype: 'int32', values: words } },
      { perm: [4, 2, 0, 3, 1] },
    );
    assert.deepEqual(bits(ours[0]!.values), bits(ref[0]!.values));
    await exact(
      'Transpose',
      { x: { shape: [2, 0, 3, 1, 2], dtype: 'float32', values: new Float32Array(0) } },
      { perm: [4, 3, 2, 1, 0] },
      'empty',
    );
    await useBackend('wasm');
    const b = tf.tensor([true, false, true, true, false, false], [1, 2, 1, 3, 1], 'bool');
    assert.deepEqual(Array.from(tf.transpose(b, [4, 3, 2, 1, 0]).dataSync()), [1, 1, 0, 0, 1, 0]);
    b.dispose();
  });

  it('negative control: the comparison fails for a different permutation', async () => {
    const rng = new Rng(13);
    const x = input(rng, [3, 4, 2, 5, 2], 'float32');
    const ours = await run('wasm', 'Transpose', { x }, { perm: [2, 0, 3, 1, 4] });
    const other = await run('cpu', 'Transpose', { x }, { perm: [0, 2, 3, 1, 4] });
    assert.notDeepEqual(bits(ours[0]!.values), bits(other[0]!.values));
  });
});

describe('Slice, Unpack and SplitV on wasm are exact', () => {
  it('Slice: random blocks of rank 1 to 6, -1 sizes, empty blocks, float32 and int32', async () => {
    const rng = new Rng(21);
    for (let i = 0; i < 50; i++) {
      const rank = rng.int(1, 6);
      const shape = randomShape(rng, rank, rank >= 5 ? 5 : 9);
      const begin = shape.map((s) => rng.int(0, s - 1));
      const sizes = shape.map((s, d) => (rng.next() < 0.2 ? -1 : rng.next() < 0.05 ? 0 : rng.int(1, s - begin[d]!)));
      const dtype = i % 3 === 0 ? 'int32' : 'float32';
      await exact(
        'Slice',
        { x: input(rng, shape, dtype) },
        { begin, size: sizes },
        `${dtype} ${JSON.stringify(shape)} ${begin} ${sizes}`,
      );
    }
  });

  it('Unpack (tf.unstack) along every axis, negative axes; SplitV (tf.split) by count and by sizes with -1', async () => {
    const rng = new Rng(22);
    await exact('Unpack', { value: input(rng, [3, 32, 4, 64, 40], 'float32') }, { axis: 0 }, 'q, k, v');
    for (let i = 0; i < 20; i++) {
      const rank = rng.int(1, 5);
      const shape = randomShape(rng, rank, 6);
      const axis = rng.int(-rank, rank - 1);
      await exact(
        'Unpack',
        { value: input(rng, shape, i % 2 ? 'int32' : 'float32') },
        { axis },
        `unpack ${JSON.stringify(shape)} ${axis}`,
      );
    }
    await exact('SplitV', { x: input(rng, [2048, 480], 'float32') }, { numOrSizeSplits: 3, axis: 1 }, 'split columns');
    for (let i = 0; i < 20; i++) {
      const rank = rng.int(1, 5);
      const shape = randomShape(rng, rank, 7);
      const axis = rng.int(0, rank - 1);
      const n = shape[axis]!;
      let splits: number | number[];
      if (i % 2 === 0) {
        const parts = [1, 2, 3, 4, 5, 6, 7].filter((p) => n % p === 0);
        splits = rng.pick(parts);
      } else {
        const first = rng.int(0, n);
        splits = rng.next() < 0.5 ? [first, -1] : [first, n - first];
      }
      await exact(
        'SplitV',
        { x: input(rng, shape, i % 3 ? 'float32' : 'int32') },
        { numOrSizeSplits: splits, axis },
        `split ${JSON.stringify(shape)} ${JSON.stringify(splits)} ${axis}`,
      );
    }
  });

  it('errors as tfjs: split sizes that do not add up', async () => {
    await useBackend('wasm');
    const x = tf.zeros([4, 6]);
    assert.throws(() => tf.split(x, [2, 3], 1), /sum|must/i);
    x.dispose();
  });
});

describe('Sum on wasm', () => {
  it('over leading axes: bit for bit tfjs’s wasm kernel, and within the float32 bound of cpu', async () => {
    const rng = new Rng(31);
    const cases: [number[], number[], boolean][] = [
      [[2048, 640], [0], false], // a bias's gradient
      [[32, 64, 160], [0, 1], false], // LayerNorm's gamma and beta
      [[32, 64, 160], [0, 1], true],
      [[7, 1, 13, 3], [0, 1, 2], false],
      [[1, 5, 9], [1], true],
      [[6, 1, 11], [0], false],
      [[300, 17], [0], true],
    ];
    for (let i = 0; i < 10; i++) {
      const rank = rng.int(2, 5);
      const shape = randomShape(rng, rank, 9);
      cases.push([shape, Array.from({ length: rng.int(1, rank - 1) }, (_, d) => d), rng.next() < 0.5]);
    }
    for (const [shape, axis, keepDims] of cases) {
      const x = input(rng, shape, 'float32');
      const what = `${JSON.stringify(shape)} axis ${axis} keepDims ${keepDims}`;
      const ours = (await run('wasm', 'Sum', { x }, { axis, keepDims }))[0]!;
      disableWasmTraining();
      const tfjs = (await run('wasm', 'Sum', { x }, { axis, keepDims }))[0]!;
      enableWasmTraining();
      assert.deepEqual(ours.shape, tfjs.shape, what);
      assert.deepEqual(bits(ours.values), bits(tfjs.values), what);
      const ref = (await run('cpu', 'Sum', { x }, { axis, keepDims }))[0]!;
      const abs = (await run('cpu', 'Sum', { x: { ...x, values: x.values.map(Math.abs) } }, { axis, keepDims }))[0]!;
      assert.deepEqual(ours.shape, ref.shape, what);
      const terms = axis.reduce((p, d) => p * shape[d]!, 1);
      const c = compare(ours.values as Float32Array, ref.values as Float32Array, abs.values as Float32Array, terms);
      log.add('Sum', c);
      assert.ok(c.maxRatio <= 1, `${what}: error ${c.maxAbs} is ${c.maxRatio}x the float32 bound`);
    }
  });

  it('other reductions and int32 go to tfjs unchanged', async () => {
    const rng = new Rng(32);
    for (const [shape, axis] of [
      [[5, 6, 7], [2]],
      [
        [5, 6, 7],
        [1, 2],
      ],
      [[8, 9], [0]],
    ] as [number[], number[]][]) {
      // innermost axes, or a matrix whose column sums tfjs's kernel does (one column)
      const x = input(rng, shape, 'float32');
      const ours = (await run('wasm', 'Sum', { x }, { axis, keepDims: false }))[0]!;
      disableWasmTraining();
      const tfjs = (await run('wasm', 'Sum', { x }, { axis, keepDims: false }))[0]!;
      enableWasmTraining();
      assert.deepEqual(bits(ours.values), bits(tfjs.values));
    }
    await exact(
      'Sum',
      { x: { shape: [4, 5], dtype: 'int32', values: Int32Array.from({ length: 20 }, (_, i) => i - 7) } },
      { axis: [0], keepDims: false },
      'int32',
    );
    const x = input(rng, [5, 6, 7], 'float32');
    const ours = (await run('wasm', 'Sum', { x }, { axis: [0, 2], keepDims: false }))[0]!;
    const ref = (await run('cpu', 'Sum', { x }, { axis: [0, 2], keepDims: false }))[0]!;
    const abs = (
      await run('cpu', 'Sum', { x: { ...x, values: x.values.map(Math.abs) } }, { axis: [0, 2], keepDims: false })
    )[0]!;
    assert.ok(
      compare(ours.values as Float32Array, ref.values as Float32Array, abs.values as Float32Array, 35).maxRatio <= 1,
    );
  });

  it('negative control: the bound catches a sum that drops one term', async () => {
    const rng = new Rng(33);
    const x = input(rng, [300, 17], 'float32');
    const ours = (await run('wasm', 'Sum', { x }, { axis: [0], keepDims: false }))[0]!;
    const dropped = { ...x, values: x.values.slice() };
    dropped.values[5 * 17 + 3] = 0;
    const ref = (await run('cpu', 'Sum', { x: dropped }, { axis: [0], keepDims: false }))[0]!;
    const abs = (
      await run('cpu', 'Sum', { x: { ...x, values: x.values.map(Math.abs) } }, { axis: [0], keepDims: false })
    )[0]!;
    assert.ok(
      compare(ours.values as Float32Array, ref.values as Float32Array, abs.values as Float32Array, 300).maxRatio > 1,
    );
  });
});

describe('no leaks', () => {
  it('Transpose, Slice, Unpack, SplitV and Sum leave no tensor and no wasm record behind', async () => {
    await useBackend('wasm');
    const x5 = tf.randomNormal([4, 6, 3, 2, 5]);
    const m = tf.randomNormal([600, 30]);
    const records = wasmRecords();
    const leak = await leakCheck(() => {
      tf.tidy(() => {
        tf.transpose(x5, [2, 0, 3, 1, 4]);
        tf.transpose(x5, [4, 3, 2, 1, 0]);
        tf.transpose(m);
        tf.slice(x5, [1, 0, 1, 0, 0], [2, -1, 1, 2, 5]);
        tf.unstack(x5, 2);
        tf.split(m, 3, 1);
        tf.sum(m, 0);
        tf.sum(x5, [0, 1], true);
      });
      assert.throws(() => tf.split(m, [7, 8], 1));
    });
    assert.deepEqual(leak, { tensors: 0, bytes: 0 });
    assert.equal(wasmRecords(), records);
    tf.dispose([x5, m]);
  });
});
