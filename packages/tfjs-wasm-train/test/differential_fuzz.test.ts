/**
 * Differential fuzzer: drawn configurations of every kernel family the package touches run on wasm
 * with our kernels and on tfjs's cpu backend, compared by ./fuzz/compare.ts, with shrinking
 * (fast-check). `npm test` runs a fixed seed within a CI budget of a few seconds; `npm run fuzz`
 * (WASM_TRAIN_FUZZ_RUNS cases per family, WASM_TRAIN_FUZZ_SEED, default random there) runs long.
 * Also: a seeded bug (a deliberately wrong kernel registered over ours) is caught within the CI
 * budget, and a tiny model.fit agrees end to end.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { enableWasmTraining } from '../src/index.js';
import { differs, type Case } from './fuzz/compare.js';
import {
  broadcastMatMulCase,
  convForwardCase,
  convGradCase,
  depthwiseGradCase,
  fusedMatMulCase,
  matMulCase,
  poolCase,
  sliceCase,
  sumCase,
  transposeCase,
} from './fuzz/cases.js';
import { fitCase, fitDiffers } from './fuzz/fit.js';
import { useBackend, wasmRecords, withWasmTraining } from './helpers.js';

withWasmTraining();

const RUNS = Number(process.env['WASM_TRAIN_FUZZ_RUNS'] ?? 0) || undefined;
const SEED_ENV = process.env['WASM_TRAIN_FUZZ_SEED'];
const SEED = SEED_ENV === 'random' ? Date.now() % 2 ** 31 : Number(SEED_ENV ?? 24);

/** [family, cases, runs in CI]: ~2,000 cases in all, ~10 s on 2 shared cores. */
const FAMILIES: [string, fc.Arbitrary<Case>, number][] = [
  ['matMul (every transposition, batches, broadcast batches)', matMulCase, 240],
  ['matMul of batches tfjs pairs wrongly ([2, 1]·[1, 3]), vs float64', broadcastMatMulCase, 100],
  ['fused matMul (bias [n] or [1], activations)', fusedMatMulCase, 200],
  ['Conv2DBackpropFilter / Conv2DBackpropInput (NHWC, NCHW, paddings, rounding)', convGradCase, 240],
  ['depthwise filter / input gradients', depthwiseGradCase, 240],
  ["conv2d / depthwiseConv2d forward (tfjs's kernels, dilations)", convForwardCase, 160],
  ['maxPool and MaxPoolGrad (ties, NaN, ±∞, ±3.4e38)', poolCase, 320],
  ['transpose (rank 1-6, tiled matrices; float32, int32)', transposeCase, 200],
  ['slice, unstack, split', sliceCase, 200],
  ['sum', sumCase, 160],
];

let total = 0;

/** Runs `arb`'s property: every case must agree; returns fast-check's report. */
async function check(arb: fc.Arbitrary<Case>, numRuns: number, seed = SEED): Promise<fc.RunDetails<[Case]>> {
  return fc.check(
    fc.asyncProperty(arb, async (c) => {
      total++;
      const problem = await differs(c);
      if (problem !== undefined) throw new Error(`${c.what} seed ${c.seed}: ${problem}`);
    }),
    { numRuns, seed },
  );
}

describe(`differential fuzz against cpu (seed ${SEED})`, () => {
  for (const [family, arb, ciRuns] of FAMILIES) {
    it(family, async () => {
      await useBackend('wasm');
      const before = { tensors: tf.memory().numTensors, records: wasmRecords() };
      const report = await check(arb, RUNS ?? ciRuns);
      assert.ok(!report.failed, fc.defaultReportMessage(report) ?? 'failed');
      await useBackend('wasm');
      assert.deepEqual({ tensors: tf.memory().numTensors, records: wasmRecords() }, before, 'nothing left behind');
    });
  }

  it('a tiny model.fit (dense or conv) follows cpu', async () => {
    const report = await fc.check(
      fc.asyncProperty(fitCase, async (c) => {
        total++;
        const problem = await fitDiffers(c);
        if (problem !== undefined) throw new Error(`${JSON.stringify(c)}: ${problem}`);
      }),
      { numRuns: RUNS === undefined ? 4 : Math.max(4, Math.round(RUNS / 50)), seed: SEED },
    );
    assert.ok(!report.failed, fc.defaultReportMessage(report) ?? 'failed');
  });

  it('catches a seeded bug within the CI budget: one wrong element on one route of BatchMatMul', async () => {
    const ours = tf.getKernel('BatchMatMul', 'wasm')!;
    // a wrong BatchMatMul over ours: with a transposed a, n = 2 mod 3 and k > 10, the last element is off by
    // 1e-4 relative (about 10x the float32 bound of such a product)
    const wrong: tf.KernelConfig = {
      ...ours,
      kernelFunc: (args) => {
        const out = ours.kernelFunc(args) as tf.TensorInfo;
        const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
        const n = args.attrs!['transposeB'] ? b.shape[b.shape.length - 2]! : b.shape[b.shape.length - 1]!;
        const k = a.shape[a.shape.length - 2]!;
        if (args.attrs!['transposeA'] && n % 3 === 2 && k > 10) {
          const heap = args.backend as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array };
          const v = heap.typedArrayFromHeap(out);
          v[v.length - 1] = v[v.length - 1]! * (1 + 1e-4);
        }
        return out;
      },
    };
    tf.unregisterKernel('BatchMatMul', 'wasm');
    tf.registerKernel(wrong);
    let report: fc.RunDetails<[Case]>;
    try {
      report = await check(matMulCase, 60, 24);
    } finally {
      tf.unregisterKernel('BatchMatMul', 'wasm');
      tf.registerKernel(ours);
    }
    assert.ok(report.failed, 'the fuzzer missed the seeded bug');
    const shrunk = report.counterexample![0];
    console.log(
      `seeded bug caught after ${report.numRuns} cases, shrunk in ${report.numShrinks} steps to: ` + shrunk.what,
    );
    assert.match(shrunk.what, /"transposeA":true/);
    assert.ok(report.numRuns <= 60);
    enableWasmTraining();
  });

  it('reports the number of cases', () => {
    console.log(`differential fuzz: ${total} cases, seed ${SEED}`);
    assert.ok(total > 0);
  });
});
