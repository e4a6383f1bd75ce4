import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { cosineDecay } from 'adopt-optim';
import { Trainer } from 'adopt-optim/train';

const model = tf.sequential({
  layers: [tf.layers.dense({ inputShape: [32], units: 64, activation: 'relu' }), tf.layers.dense({ units: 10 })],
});
const teacher = tf.randomNormal([32, 10], 0, 1, 'float32', 1);
// seeds start at 1: tfjs treats a seed of 0 as "no seed", and the data must repeat for an exact resume
const batch = (seed: number) =>
  tf.tidy(() => {
    const xs = tf.randomNormal([64, 32], 0, 1, 'float32', seed);
    return { xs, ys: tf.oneHot(tf.argMax(tf.matMul(xs, teacher), 1), 10) };
  });

const trainer = new Trainer<{ xs: tf.Tensor; ys: tf.Tensor }>({
  model,
  optimizer: 'adopt',
  optimizerOptions: { weightDecay: 0.01, decoupled: true },
  paramGroups: [{ pattern: /bias/, weightDecay: 0 }], // no decay on biases
  learningRate: cosineDecay({ peak: 3e-3, warmupSteps: 20, totalSteps: 300 }),
  loss: ({ xs, ys }) => tf.losses.softmaxCrossEntropy(ys, model.apply(xs) as tf.Tensor) as tf.Scalar,
  data: (epoch) => Array.from({ length: 50 }, (_, i) => batch(1 + 1000 * epoch + i)),
  steps: 300,
  clipGradNorm: 1,
  accumulationSteps: 2,
  checkpoint: { dir: 'out/trainer-example', every: 100 },
  logFile: 'out/trainer-example/log.jsonl',
});
if (existsSync('out/trainer-example/latest.json')) await trainer.restore(); // resume exactly
const { losses } = await trainer.fit();
console.log(`step ${trainer.step}: loss ${losses.at(-1)?.loss.toFixed(4)}`);
