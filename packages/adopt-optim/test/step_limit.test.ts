// A variable at the largest step its int32 counters hold refuses the next step, changing nothing (it used to wrap).
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { adopt } from '../src/index.js';
import { exportState, importState } from '../src/interop/index.js';
import { useBackend } from './backends.js';
import { refusedUnchanged, rewrite, variablesOf } from './interop_helpers.js';

describe('the step counter stops at the int32 limit', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: step 2^31 - 2 steps once more; at 2^31 - 1 the next step is refused, nothing changed`, async () => {
      await useBackend(backend);
      const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], name: 'd' })] });
      const opt = adopt(1e-2);
      model.compile({ optimizer: opt, loss: 'meanSquaredError' });
      const [xs, ys] = [tf.ones([4, 3]), tf.zeros([4, 2])];
      await model.fit(xs, ys, { epochs: 1, verbose: 0 });
      const { file } = await exportState(opt, model);
      await importState(
        opt,
        model,
        rewrite(file, (sd) => {
          for (const k of Object.keys(sd['state'])) sd['state'][k].step = 2 ** 31 - 2;
        }),
      );
      await model.fit(xs, ys, { epochs: 1, verbose: 0 }); // reaches 2^31 - 1: still saved and restored
      await opt.setWeights(await opt.getWeights());
      const vars = variablesOf(model);
      const grads = vars.map((v) => ({ name: v.name, tensor: tf.onesLike(v) }));
      await refusedUnchanged(opt, vars, async () => opt.applyGradients(grads), /int32 counters hold \(2147483647\)/);
      tf.dispose(grads.map((g) => g.tensor));
      opt.dispose();
      model.dispose();
      tf.dispose([xs, ys]);
    });
  }
});

describe('setWeights refuses a counter its own getWeights could not save', () => {
  for (const stateDtype of ['float32', 'bfloat16'] as const) {
    for (const [entry, value] of [
      ['w/step', 2 ** 31],
      ['w/step', 2 ** 40],
      ['iter', 1e20],
    ] as const) {
      it(`${stateDtype}: "${entry}" = ${value} is refused, nothing changed`, async () => {
        await useBackend('cpu');
        const w = tf.variable(tf.ones([4]), true, 'w');
        const opt = adopt(1e-2, { stateDtype });
        const grad = tf.onesLike(w);
        opt.applyGradients({ w: grad });
        const saved = (await opt.getWeights()).map((x) => ({ name: x.name, tensor: x.tensor.clone() }));
        const lying = saved.map((x) => (x.name === entry ? { name: x.name, tensor: tf.scalar(value) } : x));
        const message = new RegExp(`weight "${entry}" must be one integer in \\[0, 2147483647\\]`);
        await refusedUnchanged(opt, [w], async () => opt.setWeights(lying), message);
        tf.dispose([...saved.map((x) => x.tensor), ...lying.map((x) => x.tensor), grad]);
        opt.dispose();
        w.dispose();
      });
    }
  }
});
