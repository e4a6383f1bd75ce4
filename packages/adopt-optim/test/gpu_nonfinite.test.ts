/**
 * The GPU-side non-finite policy (docs/ALGORITHM.md §6.3), its logic tested on the cpu backend:
 * the verdict `ok` per step, sticky under 'throw', the asynchronous report (error once, counters
 * rolled back over the bad step and every step issued after it), lazy counting under 'skip'.
 * The same code on real webgl/webgpu backends is tested in headless Chromium
 * (apps/playground/test/gpu_step.test.mjs). Also: the GPU kernels are not chosen off the GPU, nor
 * where a variant option they do not implement is on; checkFinite() resolves at once on cpu.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adopt, NonFiniteGradientError } from '../src/index.js';
import { GpuFiniteGuard } from '../src/tfjs/gpu_nonfinite.js';
import { gpuFusedKernels, isGpuBackend } from '../src/dispatch.js';
import { useBackend } from './backends.js';

let serial = 0;

function setup(policy: 'throw' | 'skip') {
  const log = { rolledBack: [] as [number, Record<string, number>][], skipped: 0 };
  const guard = new GpuFiniteGuard(policy, {
    displayName: () => 'ADOPT',
    rollBack: (iterations, byName) => {
      log.rolledBack.push([iterations, Object.fromEntries(byName)]);
    },
    countSkipped: () => {
      log.skipped++;
    },
  });
  const a = tf.variable(tf.zeros([5]), true, `guard_a_${serial++}`);
  const b = tf.variable(tf.zeros([3]), true, `guard_b_${serial++}`);
  const step = (bad: boolean): boolean => {
    const ga = tf.ones([5]);
    const gb = tf.tensor1d([1, bad ? NaN : 2, 3]);
    const ok = guard.begin(0, [
      [a, ga],
      [b, gb],
    ]);
    const value = ok.dataSync()[0] === 1;
    tf.dispose([ok, ga, gb]);
    return value;
  };
  return { guard, log, step, a, b };
}

describe('GPU non-finite guard (§6.3), on the cpu backend', () => {
  before(() => useBackend('cpu'));

  it("'throw': a bad step and every later one are no-ops until the report; then one error and a rollback", async () => {
    const { guard, log, step, a, b } = setup('throw');
    const before = tf.memory().numTensors;
    assert.equal(step(false), true);
    assert.equal(step(true), false);
    assert.equal(step(false), false, 'sticky: a step after a refused one is refused too');
    await assert.rejects(
      guard.check(),
      (e: unknown) => e instanceof NonFiniteGradientError && e.variableName === b.name,
    );
    assert.deepEqual(log.rolledBack, [[2, { [a.name]: 2, [b.name]: 2 }]]);
    await guard.check(); // reported once
    assert.equal(step(false), true, 'after the report, steps apply again');
    await guard.check();
    guard.reset();
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    tf.dispose([a, b]);
  });

  it("'skip': only the bad step is a no-op; when its report arrives it is counted and its counters alone roll back", async () => {
    const { guard, log, step, a, b } = setup('skip');
    assert.equal(step(true), false);
    assert.equal(step(false), true);
    assert.equal(log.skipped, 0, 'not yet reported');
    assert.deepEqual(log.rolledBack, []);
    await guard.check();
    assert.equal(log.skipped, 1);
    // as on cpu a skipped step counts no step (§6.1): one iteration and one step of each of its variables
    assert.deepEqual(log.rolledBack, [[1, { [a.name]: 1, [b.name]: 1 }]]);
    guard.reset();
    tf.dispose([a, b]);
  });

  it('GPU kernels only on webgl / webgpu (which phases they run: apps/playground/test/gpu_step.test.mjs)', () => {
    assert.equal(isGpuBackend('cpu'), false);
    assert.equal(isGpuBackend('webgl'), true);
    assert.equal(isGpuBackend('webgpu'), true);
    assert.equal(gpuFusedKernels(), null, 'cpu backend');
  });

  it('checkFinite() resolves at once where the check is synchronous; a bad step throws there at once', async () => {
    const p = tf.variable(tf.zeros([4]), true, `guard_p_${serial++}`);
    const opt = adopt(0.1);
    await opt.checkFinite();
    const g = tf.tensor1d([1, NaN, 0, 0]);
    assert.throws(() => opt.applyGradients({ [p.name]: g }), NonFiniteGradientError);
    await opt.checkFinite();
    tf.dispose([g, p]);
    opt.dispose();
  });
});
