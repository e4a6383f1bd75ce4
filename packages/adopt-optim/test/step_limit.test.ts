// A variable at the largest step its int32 counters hold refuses the next step, changing nothing (it used to wrap).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adopt, exportState, importState, OptimizerArgumentError } from '../src/index.js';
import { useBackend } from './backends.js';

/** The export of `file` with every state entry's step set to `step`. */
function withStep(file: Uint8Array, step: number): Uint8Array {
  const n = Number(Buffer.from(file).readBigUInt64LE(0));
  const header = JSON.parse(Buffer.from(file.subarray(8, 8 + n)).toString());
  const dict = JSON.parse(header.__metadata__.adopt_optim_state_dict);
  for (const k of Object.keys(dict.state)) dict.state[k].step = step;
  header.__metadata__.adopt_optim_state_dict = JSON.stringify(dict);
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return new Uint8Array(Buffer.concat([len, h, file.subarray(8 + n)]));
}

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
      await importState(opt, model, withStep(file, 2 ** 31 - 2));
      await model.fit(xs, ys, { epochs: 1, verbose: 0 }); // reaches 2^31 - 1: still saved and restored
      await opt.setWeights(await opt.getWeights());
      const params = model.getWeights().map((w) => Array.from(w.dataSync()));
      const state = (await opt.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())]);
      const grads = model.getWeights().map((w) => tf.onesLike(w));
      const before = tf.memory().numTensors;
      const named = model.trainableWeights.map((w, i) => ({ name: (w.read() as tf.Variable).name, tensor: grads[i]! }));
      assert.throws(() => opt.applyGradients(named),
        (e: unknown) => e instanceof OptimizerArgumentError && /int32 counters hold \(2147483647\)/.test(e.message));
      assert.equal(tf.memory().numTensors, before, 'a refused step leaks no tensor');
      tf.dispose(grads);
      assert.deepEqual(model.getWeights().map((w) => Array.from(w.dataSync())), params);
      assert.deepEqual((await opt.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())]), state);
      opt.dispose();
      model.dispose();
      tf.dispose([xs, ys]);
    });
  }
});
