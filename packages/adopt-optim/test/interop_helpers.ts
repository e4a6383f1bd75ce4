/**
 * Shared by the interop tests: small models (square kernels, a Bidirectional LSTM, a nested model),
 * training a few steps, rewriting an exported file's state dict or tensors, and a bit-for-bit snapshot of
 * parameters and optimizer state to show that a refusal changed nothing.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../src/interop/index.js';
import { OptimizerArgumentError, type NamedStateOptimizer } from '../src/index.js';
import { Rng } from './reference.js';

const init = (seed: number) => tf.initializers.randomNormal({ seed, stddev: 0.5 });
const inits = (seed: number) => ({ kernelInitializer: init(seed), biasInitializer: init(seed + 1) });

/** Dense 3 -> 3 (a square kernel) twice, then Dense 3 -> `last`. */
export function squareModel(seed: number, names = ['a', 'b', 'c'], last = 2): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({ name: names[0], units: 3, inputShape: [3], ...inits(seed) }),
      tf.layers.dense({ name: names[1], units: 3, ...inits(seed + 2) }),
      tf.layers.dense({ name: names[2], units: last, ...inits(seed + 4) }),
    ],
  });
}

/**
 * A Bidirectional(LSTM) (6 variables, the two directions' of the same names and shapes), then Dense. The LSTM is
 * named: `forward_lstm_LSTM1` is not an automatic name to the name matcher (src/train/variable_names.ts).
 */
export function bidirectionalModel(seed: number): tf.Sequential {
  const lstm = tf.layers.lstm({ name: 'rnn', units: 2, ...inits(seed), recurrentInitializer: init(seed + 2) });
  return tf.sequential({
    layers: [
      tf.layers.bidirectional({ name: 'bi', layer: lstm as unknown as tf.layers.RNN, inputShape: [3, 2] }),
      tf.layers.dense({ name: 'out', units: 2, ...inits(seed + 3) }),
    ],
  });
}

/** A model holding a nested model (Dense 3 -> 3 twice) and a Dense of its own. */
export function nestedModel(seed: number, tag: string): tf.Sequential {
  const inner = tf.sequential({
    name: `inner_${tag}`,
    layers: [
      tf.layers.dense({ name: `d_${tag}`, units: 3, inputShape: [3], ...inits(seed) }),
      tf.layers.dense({ name: `e_${tag}`, units: 3, ...inits(seed + 2) }),
    ],
  });
  return tf.sequential({ layers: [inner, tf.layers.dense({ name: `f_${tag}`, units: 3, ...inits(seed + 4) })] });
}

export const variablesOf = (m: tf.LayersModel): tf.Variable[] => m.trainableWeights.map((w) => w.read() as tf.Variable);

/** `steps` steps of random gradients on `vars`. */
export function train(opt: NamedStateOptimizer, vars: tf.Variable[], steps: number, seed: number): void {
  const rng = new Rng(seed);
  for (let k = 0; k < steps; k++) {
    const named = vars.map((v) => ({
      name: v.name,
      tensor: tf.tensor(
        Float32Array.from(rng.normals(v.size), (x) => x * 0.1),
        v.shape,
      ),
    }));
    opt.applyGradients(named);
    tf.dispose(named.map((n) => n.tensor));
  }
}

/** The file with its state dict and tensors rewritten by `edit` (which may change both in place). */
export function rewrite(
  file: Uint8Array,
  edit: (sd: Record<string, any>, tensors: Map<string, NamedArray>) => void,
): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(file);
  const sd = JSON.parse(metadata['adopt_optim_state_dict']!);
  edit(sd, tensors);
  return encodeSafetensors(tensors, { ...metadata, adopt_optim_state_dict: JSON.stringify(sd) });
}

/** Parameters and optimizer weights, as plain arrays (bit-for-bit comparable; NaN equals NaN). */
export async function snapshot(opt: NamedStateOptimizer, vars: tf.Variable[]): Promise<unknown> {
  const weights = await opt.getWeights();
  return {
    params: vars.map((v) => [v.name, Array.from(v.dataSync())]),
    state: weights.map((w) => [w.name, w.tensor.dtype, w.tensor.shape, Array.from(w.tensor.dataSync())]),
  };
}

/** `run()` is refused with an OptimizerArgumentError matching `message`; parameters, state, tensor count unchanged. */
export async function refusedUnchanged(
  opt: NamedStateOptimizer,
  vars: tf.Variable[],
  run: () => Promise<unknown>,
  message: RegExp,
): Promise<void> {
  const before = await snapshot(opt, vars);
  const tensors = tf.memory().numTensors;
  await assert.rejects(run(), (e: unknown) => {
    assert.ok(e instanceof OptimizerArgumentError, `not an OptimizerArgumentError: ${String(e)}`);
    assert.match(e.message, message);
    return true;
  });
  assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
  assert.deepEqual(await snapshot(opt, vars), before, 'a refusal changed something');
}

/** The values of each variable's state slot, by `<variable>/<slot>`. */
export async function stateOf(opt: NamedStateOptimizer): Promise<Map<string, number[]>> {
  return new Map((await opt.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())]));
}
