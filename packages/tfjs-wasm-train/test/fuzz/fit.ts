/**
 * The differential fuzzer's end-to-end case: a tiny model (Dense, or Conv2D + MaxPooling2D + Dense)
 * with drawn sizes, weights and data, trained a few SGD steps with model.fit on wasm (our kernels)
 * and on cpu; losses must agree to 1e-4 and final weights to 1e-3 relative. Float32 rounding (~1e-7 per
 * operation) grows over the steps, and where two pooled values or a ReLU input lie within rounding of a
 * tie the two backends may route a gradient differently: one step's update (lr·gradient) apart.
 */
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { Rng, useBackend } from '../helpers.js';

export interface FitCase {
  kind: 'dense' | 'conv';
  inputs: number;
  hidden: number;
  pool: number;
  seed: number;
}

export const fitCase: fc.Arbitrary<FitCase> = fc.record({
  kind: fc.constantFrom('dense', 'conv'),
  inputs: fc.integer({ min: 3, max: 7 }),
  hidden: fc.integer({ min: 1, max: 6 }),
  pool: fc.integer({ min: 1, max: 3 }),
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
}) as fc.Arbitrary<FitCase>;

function build(c: FitCase): tf.Sequential {
  const model = tf.sequential();
  if (c.kind === 'dense') {
    model.add(tf.layers.dense({ inputShape: [c.inputs], units: c.hidden, activation: 'relu' }));
  } else {
    model.add(
      tf.layers.conv2d({ inputShape: [c.inputs, c.inputs, 2], filters: c.hidden, kernelSize: 2, activation: 'relu' }),
    );
    model.add(tf.layers.maxPooling2d({ poolSize: c.pool, strides: Math.max(1, c.pool - 1), padding: 'same' }));
    model.add(tf.layers.flatten());
  }
  model.add(tf.layers.dense({ units: 3 }));
  model.compile({ optimizer: tf.train.sgd(0.02), loss: 'meanSquaredError' });
  return model;
}

async function fit(c: FitCase, backend: 'cpu' | 'wasm'): Promise<{ losses: number[]; weights: Float32Array[] }> {
  await useBackend(backend);
  const rng = new Rng(c.seed);
  const model = build(c);
  model.setWeights(model.getWeights().map((w) => tf.tensor(rng.array(w.size), w.shape)));
  const xShape = c.kind === 'dense' ? [8, c.inputs] : [8, c.inputs, c.inputs, 2];
  const x = tf.tensor(rng.array(xShape.reduce((a, b) => a * b, 1)), xShape);
  const y = tf.tensor(rng.array(24), [8, 3]);
  const history = await model.fit(x, y, { batchSize: 4, epochs: 2, shuffle: false, verbose: 0 });
  const weights = model.getWeights().map((w) => w.dataSync().slice() as Float32Array);
  tf.dispose([x, y]);
  model.dispose();
  return { losses: history.history['loss'] as number[], weights };
}

/** Trains on both backends; undefined when they agree. */
export async function fitDiffers(c: FitCase): Promise<string | undefined> {
  const [ours, ref] = [await fit(c, 'wasm'), await fit(c, 'cpu')];
  const close = (a: number, b: number, tol = 1e-4) => Math.abs(a - b) <= tol * (1 + Math.abs(b));
  for (let i = 0; i < ref.losses.length; i++) {
    if (!close(ours.losses[i]!, ref.losses[i]!)) return `loss ${i}: ${ours.losses[i]} vs cpu ${ref.losses[i]}`;
  }
  for (let w = 0; w < ref.weights.length; w++) {
    const i = ref.weights[w]!.findIndex((v, j) => !close(ours.weights[w]![j]!, v, 1e-3));
    if (i >= 0) return `weight ${w} element ${i}: ${ours.weights[w]![i]} vs cpu ${ref.weights[w]![i]}`;
  }
  return undefined;
}
