// What an optimizer reports about itself: the paths its last step ran on (lastStepPaths) and the
// bytes of state it holds (stateBytes), against the dispatcher's table and closed forms.
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adam, adopt, amsgrad } from '../src/index.js';
import { BACKENDS, useBackend } from './backends.js';

let serial = 0;
const variable = (shape: number[]) => tf.variable(tf.ones(shape), true, `introspection_${serial++}`);
const step = (opt: tf.Optimizer, vs: tf.Variable[], g = 0.5) =>
  opt.applyGradients(Object.fromEntries(vs.map((v) => [v.name, tf.fill(v.shape, g)])));

describe('lastStepPaths: where the last step ran (src/dispatch.ts)', () => {
  for (const backend of BACKENDS) {
    it(`${backend}: fused float32, tfjs ops, 8-bit; empty before the first step; a refused step leaves it`, async () => {
      await useBackend(backend);
      const vs = [variable([5]), variable([3, 4])];
      const cases: [tf.Optimizer & { lastStepPaths: readonly string[] }, string[]][] = [
        [adopt(1e-3), [backend]],
        [adam(1e-3, { caution: true }), [backend]],
        [adopt(1e-3, { fused: false }), ['ops']],
        [adopt(1e-3, { stateDtype: 'int8' }), ['int8']],
        [adam(1e-3, { stateDtype: 'int8' }), ['int8']],
      ];
      for (const [opt, expected] of cases) {
        assert.deepEqual(opt.lastStepPaths, []);
        step(opt, vs);
        step(opt, vs);
        assert.deepEqual(opt.lastStepPaths, expected, opt.getClassName());
        assert.throws(() => step(opt, vs, NaN), /NaN/);
        assert.deepEqual(opt.lastStepPaths, expected, 'a refused step changes nothing');
        opt.dispose();
      }
      tf.dispose(vs);
    });
  }
});

describe('stateBytes: the state an optimizer holds', () => {
  for (const backend of BACKENDS) {
    it(`${backend}: 4 bytes per element and slot in float32; 1 byte per padded element and moment plus 4 per block of 256 in 8-bit`, async () => {
      await useBackend(backend);
      const sizes = [5, 12, 300];
      const vs = [variable([5]), variable([3, 4]), variable([300])];
      const pad4 = (n: number) => Math.ceil(n / 4) * 4;
      const float32 = (slots: number) => sizes.reduce((a, n) => a + 4 * slots * n, 0);
      const int8 = sizes.reduce((a, n) => a + 2 * pad4(n) + 2 * 4 * Math.ceil(pad4(n) / 256), 0);
      const expected: [tf.Optimizer & { stateBytes: number }, number][] = [
        [adopt(1e-3), float32(2)],
        [adam(1e-3), float32(2)],
        [amsgrad(1e-3), float32(3)],
        [adopt(1e-3, { stateDtype: 'int8' }), int8],
        [adam(1e-3, { stateDtype: 'int8' }), int8],
      ];
      for (const [opt, bytes] of expected) {
        assert.equal(opt.stateBytes, 0, 'no state before the first step');
        step(opt, vs);
        assert.equal(opt.stateBytes, bytes, opt.getClassName());
        opt.dispose();
      }
      // 5 -> 8 codes x 2 moments + 2 scales; 12; 300 (2 blocks)
      assert.equal(int8, 16 + 8 + (24 + 8) + (600 + 16), 'the 8-bit closed form, by hand');
      tf.dispose(vs);
    });
  }
});
