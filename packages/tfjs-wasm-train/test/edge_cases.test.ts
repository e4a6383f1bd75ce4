/**
 * Issue 21's findings in tfjs-wasm-train, each against tfjs's cpu kernels: empty channel dimensions
 * give zeros (not whatever the heap held), NaN is never where MaxPoolGrad routes a gradient (as on cpu
 * and in the forward pass), and disabling after enabling before the backend started leaves tfjs's
 * own kernels working.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { Rng, runOn, size, useBackend, withWasmTraining } from './helpers.js';

withWasmTraining();

/** Leaves freed heap memory full of 7s, so that an output nobody wrote shows them. */
async function dirtyHeap(): Promise<void> {
  await useBackend('wasm');
  for (let i = 0; i < 4; i++) tf.fill([4096], 7).dataSync();
}

describe('empty dimensions give zeros, as on cpu (issue 21)', () => {
  const cases: [string, number[], number[], Record<string, unknown>][] = [
    // [kernel, dy shape, filter shape, attrs]: 0 output channels of the forward convolution
    [
      'Conv2DBackpropInput',
      [1, 5, 5, 0],
      [3, 3, 2, 0],
      { inputShape: [1, 5, 5, 2], strides: [1, 1], pad: 'same', dataFormat: 'NHWC' },
    ],
    [
      'Conv2DBackpropInput',
      [2, 3, 3, 0],
      [3, 3, 4, 0],
      { inputShape: [2, 7, 7, 4], strides: [2, 2], pad: 'valid', dataFormat: 'NHWC' },
    ],
    [
      'Conv2DBackpropInput',
      [1, 0, 5, 5],
      [3, 3, 3, 0],
      { inputShape: [1, 3, 5, 5], strides: [1, 1], pad: 'same', dataFormat: 'NCHW' },
    ],
  ];
  for (const [kernel, dyShape, filterShape, attrs] of cases) {
    it(`${kernel} dy [${dyShape}] filter [${filterShape}]`, async () => {
      const rng = new Rng(5);
      const inputs = {
        dy: { shape: dyShape, values: rng.array(size(dyShape)) },
        filter: { shape: filterShape, values: rng.array(size(filterShape)) },
      };
      await dirtyHeap();
      const ours = await runOn('wasm', kernel, inputs, attrs);
      const ref = await runOn('cpu', kernel, inputs, attrs);
      assert.deepEqual(ours.shape, ref.shape);
      assert.ok(ours.values.length > 0);
      assert.deepEqual(Array.from(ours.values), Array.from(ref.values));
      assert.ok(ours.values.every((x) => x === 0));
    });
  }
});

describe('MaxPoolGrad never routes to NaN, as cpu and the forward pass (issue 21)', () => {
  for (const [f, s, pad] of [
    [[2, 2], [2, 2], 'valid'],
    [[3, 3], [3, 3], 'same'],
    [[3, 3], [2, 2], 'same'],
    [[2, 2], [1, 1], 'valid'],
  ] as const) {
    it(`pool ${f} stride ${s} ${pad}: leading NaN, all-NaN and all −∞ windows`, async () => {
      const xShape = [1, 6, 6, 2];
      const rng = new Rng(11);
      const x = rng.array(size(xShape));
      const at = (r: number, c: number, ch: number) => (r * 6 + c) * 2 + ch;
      x[at(0, 0, 0)] = NaN; // leads the first window of channel 0
      for (const [r, c] of [
        [2, 2],
        [2, 3],
        [3, 2],
        [3, 3],
      ])
        x[at(r, c, 1)] = NaN; // a whole 2x2 window of channel 1
      for (const [r, c] of [
        [4, 4],
        [4, 5],
        [5, 4],
        [5, 5],
      ])
        x[at(r, c, 0)] = -Infinity; // and one of −∞
      const info = tf.backend_util.computePool2DInfo(
        xShape as [number, number, number, number],
        f as never,
        s as never,
        1,
        pad as never,
      );
      const all = {
        dy: { shape: info.outShape, values: rng.array(size(info.outShape)) },
        input: { shape: xShape, values: x },
        output: { shape: info.outShape, values: new Float32Array(size(info.outShape)) },
      };
      const attrs = { filterSize: f, strides: s, pad };
      const ours = await runOn('wasm', 'MaxPoolGrad', all, attrs);
      const ref = await runOn('cpu', 'MaxPoolGrad', all, attrs);
      // each input receives a sum of at most 9 dy values: equal up to float32 summation order
      ours.values.forEach((v, i) =>
        assert.ok(
          Math.abs(v - ref.values[i]!) <= 1e-6 * (1 + Math.abs(ref.values[i]!)),
          `element ${i}: ${v} vs ${ref.values[i]}`,
        ),
      );
      assert.equal(ours.values[at(0, 0, 0)], 0, 'nothing routed to the NaN');
    });
  }
});

describe('tfjs-wasm-train/register before setBackend, then disable (issue 21)', () => {
  it("tfjs's own Conv2DBackpropInput works after disableWasmTraining()", () => {
    const script = `
      import '${fileURLToPath(new URL('../src/register.ts', import.meta.url))}';
      import { disableWasmTraining } from '${fileURLToPath(new URL('../src/index.ts', import.meta.url))}';
      import * as tf from '@tensorflow/tfjs';
      await tf.setBackend('wasm');
      const g = () => tf.grad((x) => tf.conv2d(x, tf.ones([3, 3, 2, 4]), 1, 'same').sum())(tf.ones([1, 5, 5, 2]));
      const on = g().dataSync().slice();
      disableWasmTraining();
      const off = g().dataSync().slice();
      console.log(JSON.stringify({ same: on.every((v, i) => v === off[i]), n: off.length }));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    });
    assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { same: true, n: 50 });
  });
});
