// What the low-bit formats (8-bit, 4-bit, bfloat16 state) must do alike, one test per property over the formats.
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { core } from '../src/index.js';
import { Rng } from './reference.js';

/** An AdamW run of 5 steps, and a fresh state for a copy of its parameters with the counters copied. */
function trainedAndFresh(stateDtype: 'int8' | 'int4') {
  const n = 700;
  const rng = new Rng(9);
  const opt = core.adamw(0.01, { stateDtype });
  const p1 = rng.normals(n);
  const s1 = opt.init(p1);
  for (let i = 0; i < 5; i++) opt.step(p1, rng.gradient(n), s1);
  const p2 = Float32Array.from(p1);
  const s2 = opt.init(p2);
  const a = s1.adam as unknown as core.LowBitState;
  const b = s2.adam as unknown as core.LowBitState;
  b.t = a.t;
  s2.learningRate.count = s1.learningRate.count;
  const continueBoth = (steps: number) => {
    for (let i = 0; i < steps; i++) {
      const g = rng.gradient(n);
      opt.step(p1, g, s1);
      opt.step(p2, g, s2);
    }
  };
  return { p1, p2, a, b, continueBoth };
}

for (const stateDtype of ['int8', 'int4'] as const) {
  describe(`${stateDtype} state: what a checkpoint must carry`, () => {
    it('copied codes, scales and counters continue bit for bit', () => {
      const { p1, p2, a, b, continueBoth } = trainedAndFresh(stateDtype);
      b.qm.set(a.qm);
      b.qv.set(a.qv);
      b.mScale.set(a.mScale);
      b.vScale.set(a.vScale);
      continueBoth(5);
      assert.deepEqual(p2, p1);
      assert.deepEqual(b.qm, a.qm);
      assert.deepEqual(b.qv, a.qv);
      assert.deepEqual([b.mScale, b.vScale], [a.mScale, a.vScale]);
    });

    it('can fail: codes copied without their scales do not continue the same', () => {
      const { p1, p2, a, b, continueBoth } = trainedAndFresh(stateDtype);
      b.qm.set(a.qm);
      b.qv.set(a.qv);
      continueBoth(1);
      assert.notDeepEqual(p2, p1);
    });
  });
}

describe('low-bit state whose arrays were cut after init (attack round 2 F5)', () => {
  for (const stateDtype of ['int8', 'int4', 'bfloat16'] as const) {
    it(`${stateDtype}: a transferred buffer is named, not "length 100 but made for 100"`, () => {
      const opt = core.adopt(0.01, { stateDtype });
      const p = new Float32Array(100).fill(1);
      const state = opt.init(p);
      const qm = (state.adopt as unknown as core.LowBitState).qm;
      structuredClone(qm.buffer, { transfer: [qm.buffer as ArrayBuffer] }); // detaches every view of it
      assert.throws(
        () => opt.step(p, new Float32Array(100).fill(0.1), state),
        /adopt: state\.adopt\.qm holds 0 bytes of codes; the .* state that init made for 100 elements holds \d+ /,
      );
      assert.deepEqual(p, new Float32Array(100).fill(1));
    });
  }
});
