// The save-restore-continue check of the tfjs optimizers' state: through tfjs's weight encoding, as model.save does.
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { NamedStateOptimizer } from '../src/index.js';

/**
 * Encodes `saved` as model.save would, restores it into `make()`, and checks that the restored optimizer
 * takes the same step as `opt` from the same parameters with the same gradients (bit for bit). Disposes
 * both optimizers and the variables.
 */
export async function restoredStepsTheSame(
  opt: NamedStateOptimizer,
  saved: Awaited<ReturnType<NamedStateOptimizer['getWeights']>>,
  make: () => NamedStateOptimizer,
  vars: tf.Variable[],
  grads: () => Float32Array[],
): Promise<void> {
  const encoded = await tf.io.encodeWeights(saved);
  const decoded = tf.io.decodeWeights(encoded.data, encoded.specs);
  const restored = make();
  await restored.setWeights(Object.entries(decoded).map(([n, tensor]) => ({ name: n, tensor })));
  tf.dispose(Object.values(decoded));
  // the restored optimizer steps the same variables by name: the same step from the same parameters
  const g = grads();
  const before = vars.map((v) => v.dataSync().slice());
  opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(g[i]!, v.shape) })));
  const afterOriginal = vars.map((v) => v.dataSync().slice());
  vars.forEach((v, i) => v.assign(tf.tensor(before[i]!, v.shape)));
  restored.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(g[i]!, v.shape) })));
  vars.forEach((v, i) => assert.deepEqual(v.dataSync(), afterOriginal[i], `restored run, variable ${i}`));
  opt.dispose();
  restored.dispose();
  tf.dispose(vars);
}
