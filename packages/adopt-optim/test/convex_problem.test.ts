/**
 * The paper's convex counterexample (PAPER.md): theta in [-1, 1], f(theta) = theta, stochastic
 * gradient k^2 with probability 1/k and -k otherwise (mean 1, so the optimum is -1), learning
 * rate 0.01 / sqrt(1 + 0.01 t), beta1 0.9. With a small beta2, Adam drifts to the wrong end
 * (+1) while ADOPT converges to -1. Many independent chains run at once as one array.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adam, adopt, core } from '../src/index.js';
import { BACKENDS, useBackend } from './backends.js';
import { Rng } from './reference.js';

const K = 10;
const BETA2 = 0.1;
const CHAINS = 64;
const lr = (t: number) => 0.01 / Math.sqrt(1 + 0.01 * t);

function sampleGradients(rng: Rng, out: Float32Array): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform() < 1 / K ? K * K : -K;
  return out;
}

function median(xs: ArrayLike<number>): number {
  const s = Array.from(xs).sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
}

function runCore(make: typeof core.adopt | typeof core.adam, options: object, steps: number): number {
  const rng = new Rng(2024);
  const theta = new Float32Array(CHAINS);
  const g = new Float32Array(CHAINS);
  const opt = make(lr, options);
  const state = opt.init(theta);
  for (let t = 0; t < steps; t++) {
    opt.step(theta, sampleGradients(rng, g), state as never);
    for (let i = 0; i < CHAINS; i++) theta[i] = Math.min(1, Math.max(-1, theta[i]!));
  }
  return median(theta);
}

describe('toy problem (framework-free core), k = 10, beta2 = 0.1', () => {
  const STEPS = 50_000; // clipped ADOPT needs t^0.25 to exceed the normalised rare gradient (~k)
  it('Adam drifts to the wrong end, +1', (t) => {
    const m = runCore(core.adam, { beta2: BETA2 }, STEPS);
    t.diagnostic(`Adam median theta after ${STEPS} steps: ${m.toFixed(3)}`);
    assert.ok(m > 0.9, `median ${m}`);
  });
  it('ADOPT (clipped, the default) converges to the optimum, -1', (t) => {
    const m = runCore(core.adopt, { beta2: BETA2 }, STEPS);
    t.diagnostic(`ADOPT median theta after ${STEPS} steps: ${m.toFixed(3)}`);
    assert.ok(m < -0.9, `median ${m}`);
  });
  it("ADOPT unclipped (the paper's version) converges to the optimum, -1", (t) => {
    const m = runCore(core.adopt, { beta2: BETA2, clip: null }, STEPS);
    t.diagnostic(`unclipped ADOPT median theta after ${STEPS} steps: ${m.toFixed(3)}`);
    assert.ok(m < -0.9, `median ${m}`);
  });
});

for (const backend of BACKENDS) {
  describe(`toy problem (TensorFlow.js, ${backend}), k = 10, beta2 = 0.1`, () => {
    before(() => useBackend(backend));
    const STEPS = 50_000;

    function runTfjs(optimizer: ReturnType<typeof adopt> | ReturnType<typeof adam>): number {
      const rng = new Rng(2024);
      const theta = tf.variable(tf.zeros([CHAINS]));
      const g = new Float32Array(CHAINS);
      for (let t = 0; t < STEPS; t++) {
        optimizer.learningRate = lr(t);
        const grad = tf.tensor(sampleGradients(rng, g));
        optimizer.applyGradients({ [theta.name]: grad });
        grad.dispose();
        tf.tidy(() => theta.assign(tf.clipByValue(theta, -1, 1)));
      }
      const m = median(theta.dataSync());
      theta.dispose();
      optimizer.dispose();
      return m;
    }

    it('Adam ends near +1, ADOPT clipped and unclipped near -1', (t) => {
      const adamMedian = runTfjs(adam(lr(0), { beta2: BETA2 }));
      const adoptMedian = runTfjs(adopt(lr(0), { beta2: BETA2 }));
      const unclippedMedian = runTfjs(adopt(lr(0), { beta2: BETA2, clip: null }));
      t.diagnostic(
        `median theta after ${STEPS} steps: Adam ${adamMedian.toFixed(3)}, ` +
          `ADOPT ${adoptMedian.toFixed(3)}, unclipped ADOPT ${unclippedMedian.toFixed(3)}`,
      );
      assert.ok(adamMedian > 0.9, `Adam median ${adamMedian}`);
      assert.ok(adoptMedian < -0.9, `ADOPT median ${adoptMedian}`);
      assert.ok(unclippedMedian < -0.9, `unclipped ADOPT median ${unclippedMedian}`);
    });
  });
}
