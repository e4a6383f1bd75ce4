/**
 * Low-bit state (docs/ALGORITHM.md §11, §12) for 10,000 variables on the cpu backend: every variable
 * steps, against the float64 reference, and no variable takes a WebAssembly memory of its own
 * (Chromium refuses new memories after ~120: int8 state of 200 variables stepped 124 and threw).
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adopt, type NamedStateOptimizer } from '../src/index.js';
import { useBackend } from './backends.js';
import { maxRelativeError, refAdopt8Step, Rng, refAdoptDefaults } from './reference.js';
import { ref4From, refAdopt4Step, unpack4 } from './reference4.js';

const ADOPT_REF = refAdoptDefaults(0.01);
const COUNT = 10_000;

interface Codes {
  qm: Int8Array | Uint8Array;
  qv: Uint8Array;
  mScale: Float32Array;
  vScale: Float32Array;
}

/** The optimizer's low-bit moments of a variable (the store's own arrays, read only). */
const momentsOf = (opt: NamedStateOptimizer, name: string): Codes =>
  (opt as unknown as { lowBit: { moments: Map<string, Codes> } }).lowBit.moments.get(name)!;

describe('low-bit state of 10,000 variables on the cpu backend', () => {
  for (const dtype of ['int8', 'int4'] as const) {
    it(`${dtype}: every variable steps as the float64 reference says; no memory per variable`, async (t) => {
      await useBackend('cpu');
      const rng = new Rng(dtype === 'int8' ? 8 : 4);
      const sizes = Array.from({ length: COUNT }, (_x, i) => 1 + (i % 19)); // partial SIMD groups and blocks
      const vars = sizes.map((n) => tf.variable(tf.tensor1d(rng.normals(n))));
      const opt = adopt(0.01, { stateDtype: dtype });
      const Memory = WebAssembly.Memory;
      let memories = 0;
      (WebAssembly as { Memory: unknown }).Memory = new Proxy(Memory, {
        construct(target, args) {
          memories++;
          return Reflect.construct(target, args);
        },
      });
      let worstP = 0;
      let worstCode = 0;
      let differing = 0;
      let codes = 0;
      let stepped = 0;
      try {
        for (let step = 0; step < 3; step++) {
          const grads = sizes.map((n) => rng.gradient(n, 0.1));
          // the reference starts from the kernels' state and parameters at each step: errors do not compound
          const refs = vars.map((v, i) => {
            const s = step === 0 ? null : momentsOf(opt, v.name);
            const n = sizes[i]!;
            const p = Float64Array.from(v.dataSync());
            const padded = dtype === 'int8' ? Math.ceil(n / 4) * 4 : Math.ceil(n / 16) * 16;
            const blocks = Math.ceil(padded / (dtype === 'int8' ? 256 : 128));
            const empty = {
              qm: new Int8Array(padded),
              qv: new Uint8Array(padded),
              mScale: new Float32Array(blocks),
              vScale: new Float32Array(blocks),
              t: step,
            };
            const state =
              s === null
                ? empty
                : dtype === 'int8'
                  ? {
                      qm: Int8Array.from(s.qm),
                      qv: s.qv.slice(),
                      mScale: s.mScale.slice(),
                      vScale: s.vScale.slice(),
                      t: step,
                    }
                  : ref4From({ qm: s.qm as Uint8Array, qv: s.qv, mScale: s.mScale, vScale: s.vScale, t: step }, n);
            if (dtype === 'int8') refAdopt8Step(p, grads[i]!, state, ADOPT_REF);
            else refAdopt4Step(p, grads[i]!, state, ADOPT_REF);
            return { p, state };
          });
          const gt = grads.map((g) => tf.tensor1d(g));
          opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: gt[i]! })));
          tf.dispose(gt);
          vars.forEach((v, i) => {
            const n = sizes[i]!;
            worstP = Math.max(worstP, maxRelativeError(v.dataSync(), refs[i]!.p, 1e-3));
            const s = momentsOf(opt, v.name);
            const qv = dtype === 'int8' ? Array.from(s.qv.subarray(0, n)) : unpack4(s.qv, n, false);
            const qm = dtype === 'int8' ? Array.from(s.qm.subarray(0, n)) : unpack4(s.qm, n, true);
            for (let k = 0; k < n; k++) {
              const d = Math.max(Math.abs(qv[k]! - refs[i]!.state.qv[k]!), Math.abs(qm[k]! - refs[i]!.state.qm[k]!));
              worstCode = Math.max(worstCode, d);
              if (d !== 0) differing++;
              codes++;
            }
          });
        }
        stepped = vars.filter((v) => opt.stepOf(v.name) === 3).length;
      } finally {
        (WebAssembly as { Memory: unknown }).Memory = Memory;
        opt.dispose();
        tf.dispose(vars);
      }
      t.diagnostic(
        `p: ${worstP.toExponential(2)} relative; codes: at most ${worstCode} apart, ` +
          `${differing} of ${codes} ` +
          `differ; WebAssembly memories made: ${memories}`,
      );
      assert.ok(memories <= 4, `${memories} WebAssembly memories for ${COUNT} variables (a few shared ones at most)`);
      assert.equal(stepped, COUNT, 'variables at step 3');
      assert.ok(worstCode <= 1, `codes differ by ${worstCode}`);
      assert.ok(differing / codes < 0.01, `${differing} of ${codes} codes differ`);
      assert.ok(worstP < 1e-4, `p differs by ${worstP}`);
    });
  }
});
