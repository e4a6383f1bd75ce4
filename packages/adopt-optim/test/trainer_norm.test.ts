/**
 * The Trainer's global gradient norm (clipGradNorm, StepInfo.gradNorm): equal to an independent float64
 * norm for 1, 7, 8, 9 and 50 variables, and computed without any op of more than MAX_OP_INPUTS (4) inputs (WebGPU binds
 * one buffer per input and allows 8: tf.addN over 8 or more variables was silently dropped there).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Trainer, type StepInfo, type TrainerConfig } from '../src/train/index.js';
import { treeSum } from '../src/train/trainer_step.js';
import { globalNorm } from '../src/tfjs/clip_ops.js';
import { MAX_OP_INPUTS } from '../src/backends/gpu_reduce.js';
import { useBackend } from './backends.js';
import { Rng } from './reference.js';

let count = 0;
/** Relative tolerance against float64: float32 squares and a tree of log2(50) < 6 float32 adds, each within 2^-24. */
const TOLERANCE = 2e-6;

/** n variables of varied shapes and their gradients, float32 from a seeded stream (loss = Σ v·c: gradient c). */
function problem(n: number) {
  const rng = new Rng(7 * n + 1);
  const k = count++;
  const shapes = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? [3] : i % 3 === 1 ? [2, 2] : [5]));
  const coefs = shapes.map((s) =>
    Float32Array.from(rng.normals(s.reduce((a, b) => a * b, 1)), (x) => x * (1 + (k % 3))),
  );
  const vars = shapes.map((s, i) => tf.variable(tf.zeros(s), true, `norm_${k}_${i}`));
  // the norm in float64 from the float32 gradients, summed in another order (largest first)
  const squares = coefs.flatMap((c) => Array.from(c, (x) => x * x)).sort((a, b) => b - a);
  const norm = Math.sqrt(squares.reduce((a, b) => a + b, 0));
  return { vars, coefs, shapes, norm };
}

/** Kernels run by `f` that take more than `max` inputs. */
async function wideKernels(f: () => Promise<unknown>, max: number): Promise<string[]> {
  const profile = await tf.profile(async () => {
    await f();
  });
  return profile.kernels
    .filter((k) => k.inputShapes.length > max)
    .map((k) => `${k.name}(${k.inputShapes.length} inputs)`);
}

describe('Trainer: global gradient norm', () => {
  before(() => useBackend('cpu'));

  for (const n of [1, 7, 8, 9, 50]) {
    it(`${n} variables: gradNorm = float64 norm within ${TOLERANCE}, clips by it; no op of over ${MAX_OP_INPUTS} inputs`, async () => {
      const { vars, coefs, shapes, norm } = problem(n);
      const infos: StepInfo[] = [];
      const clip = norm / 4;
      const trainer = new Trainer<{ c: tf.Tensor[] }>({
        model: vars,
        optimizer: 'sgd',
        learningRate: 1,
        steps: 1,
        progress: false,
        clipGradNorm: clip,
        loss: (b) => tf.tidy(() => vars.map((v, i) => tf.sum(tf.mul(v, b.c[i]!))).reduce((a, x) => tf.add(a, x))),
        data: () => [{ c: coefs.map((c, i) => tf.tensor(c, shapes[i])) }],
        callbacks: {
          onStep: (i) => {
            infos.push(i);
          },
        },
      } as TrainerConfig<{ c: tf.Tensor[] }>);
      const wide = await wideKernels(() => trainer.fit(), MAX_OP_INPUTS);
      assert.deepEqual(wide, [], `ops of more than ${MAX_OP_INPUTS} inputs`);
      const got = infos[0]!.gradNorm;
      assert.ok(Math.abs(got - norm) <= TOLERANCE * norm, `gradNorm ${got}, float64 ${norm}`);
      // sgd with rate 1 from zeros: v = -c · clip / (norm + 1e-6)
      const scale = Math.min(1, clip / (norm + 1e-6));
      vars.forEach((v, i) => {
        const want = Array.from(coefs[i]!, (x) => -x * scale);
        const have = Array.from(v.dataSync());
        have.forEach((x, j) => {
          const ok = Math.abs(x - want[j]!) <= 1e-5 * Math.max(1, Math.abs(want[j]!));
          assert.ok(ok, `${v.name}[${j}]: ${x} vs ${want[j]}`);
        });
      });
      trainer.optimizers.forEach((o) => o.dispose());
      tf.dispose(vars);
    });
  }

  it('treeSum and globalNorm: as tf.addN on cpu within rounding, no op of over MAX_OP_INPUTS inputs, no tensor leaked', async () => {
    for (const n of [1, 2, 3, 8, 9, 33]) {
      const xs = Array.from({ length: n }, (_, i) => tf.scalar(Math.fround(1 / (i + 3))));
      const before = tf.memory().numTensors;
      let sum: tf.Tensor | undefined;
      assert.deepEqual(
        await wideKernels(async () => {
          sum = treeSum(xs);
        }, MAX_OP_INPUTS),
        [],
      );
      const reference = tf.addN(xs);
      const [a, b] = [sum!.dataSync()[0]!, reference.dataSync()[0]!];
      assert.ok(Math.abs(a - b) <= 1e-6 * Math.abs(b), `${n}: ${a} vs ${b}`);
      tf.dispose([sum!, reference]);
      assert.equal(tf.memory().numTensors, before);
      const norm = globalNorm(xs);
      assert.ok(Math.abs(norm.dataSync()[0]! - Math.sqrt(xs.reduce((s, x) => s + x.dataSync()[0]! ** 2, 0))) < 1e-6);
      tf.dispose([norm, ...xs]);
    }
    const zero = treeSum([]);
    assert.equal(zero.dataSync()[0], 0);
    zero.dispose();
  });
});
