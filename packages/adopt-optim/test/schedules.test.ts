import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  adopt,
  AdoptOptimizer,
  constant,
  cosineDecay,
  linearWarmup,
  scheduleConfig,
  scheduleFromConfig,
  stepDecay,
} from '../src/index.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${a} != ${b}`);

describe('schedules: values at known steps', () => {
  it('constant', () => {
    const s = constant(3e-4);
    for (const step of [0, 1, 1000]) close(s(step), 3e-4);
  });
  it('linear warm-up reaches the peak at step warmupSteps - 1', () => {
    const s = linearWarmup({ peak: 1e-3, warmupSteps: 4 });
    [0.25e-3, 0.5e-3, 0.75e-3, 1e-3, 1e-3, 1e-3].forEach((want, step) => close(s(step), want));
  });
  it('cosine decay with warm-up: warm-up, peak, half-way, final, and after the end', () => {
    const s = cosineDecay({ peak: 1e-3, warmupSteps: 10, totalSteps: 110, final: 1e-4 });
    close(s(0), 1e-4); // (0 + 1) / 10 of the peak
    close(s(9), 1e-3);
    close(s(10), 1e-3); // cosine starts at the peak
    close(s(60), 1e-4 + 0.5 * (1e-3 - 1e-4)); // half-way: the mean of peak and final
    close(s(35), 1e-4 + 0.5 * (1e-3 - 1e-4) * (1 + Math.SQRT1_2)); // a quarter: cos(pi/4)
    close(s(110), 1e-4);
    close(s(10_000), 1e-4);
  });
  it('step decay', () => {
    const s = stepDecay({ initial: 0.1, stepSize: 30, gamma: 0.5 });
    close(s(0), 0.1);
    close(s(29), 0.1);
    close(s(30), 0.05);
    close(s(95), 0.0125);
  });
  it('bad arguments are refused with the argument named', () => {
    assert.throws(() => linearWarmup({ peak: 1, warmupSteps: 0 }), /invalid warmupSteps 0; expected an integer >= 1/);
    assert.throws(() => cosineDecay({ peak: -1, totalSteps: 10 }), /invalid peak -1/);
    assert.throws(
      () => cosineDecay({ peak: 1, totalSteps: 10, warmupSteps: 10 }),
      /warmupSteps 10 must be less than totalSteps 10/,
    );
    assert.throws(() => stepDecay({ initial: 1, stepSize: 1.5, gamma: 0.1 }), /invalid stepSize 1.5/);
    assert.throws(() => scheduleFromConfig({ kind: 'exponential' }), /unknown schedule/);
  });
  it('configs round-trip', () => {
    for (const s of [
      constant(1),
      linearWarmup({ peak: 2, warmupSteps: 3 }),
      cosineDecay({ peak: 1, totalSteps: 9, warmupSteps: 2, final: 0.1 }),
      stepDecay({ initial: 1, stepSize: 2, gamma: 0.3 }),
    ]) {
      const copy = scheduleFromConfig(scheduleConfig(s));
      for (const step of [0, 1, 2, 5, 20]) close(copy(step), s(step));
    }
  });
});

describe('schedules in the optimizers', () => {
  it('the optimizer reads the schedule at every step (not the rate it was built with)', async () => {
    await tf.setBackend('cpu');
    const p = tf.variable(tf.tensor([0]), true, 'schedule_p');
    // ADOPT's first step only sets v; with a constant gradient 1 and c(t) >= 1 every later step
    // moves p by exactly -lr(step) * m with m = 1 - 0.9^t
    const lr = stepDecay({ initial: 0.1, stepSize: 2, gamma: 0.5 });
    const opt = adopt(lr);
    const seen: number[] = [];
    let expected = 0;
    for (let step = 0; step < 6; step++) {
      seen.push(opt.learningRate);
      opt.applyGradients({ [p.name]: tf.tensor([1]) });
      if (step > 0) expected -= lr(step) * (1 - 0.9 ** step);
    }
    assert.deepEqual(seen, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
    assert.ok(Math.abs(p.dataSync()[0]! - expected) < 1e-6, `${p.dataSync()[0]} vs ${expected}`);
    opt.dispose();
    p.dispose();
  });

  it('a scheduled optimizer serializes its schedule; a custom function is refused with advice', () => {
    const opt = adopt(cosineDecay({ peak: 1e-3, totalSteps: 100, warmupSteps: 10 }));
    const copy = AdoptOptimizer.fromConfig(
      AdoptOptimizer,
      JSON.parse(JSON.stringify(opt.getConfig())),
    ) as AdoptOptimizer;
    assert.deepEqual(copy.getConfig(), opt.getConfig());
    assert.equal(copy.schedule!(50), opt.schedule!(50));
    assert.throws(() => adopt((step) => 1 / (step + 1)).getConfig(), /custom learning-rate function cannot be saved/);
  });

  it('a schedule that returns a bad rate at some step refuses that step', async () => {
    await tf.setBackend('cpu');
    const p = tf.variable(tf.tensor([1]), true, 'schedule_bad');
    const opt = adopt((step) => (step === 1 ? NaN : 0.1));
    opt.applyGradients({ [p.name]: tf.tensor([1]) });
    assert.throws(() => opt.applyGradients({ [p.name]: tf.tensor([1]) }), /returned NaN at step 1/);
    assert.equal(opt.iterations, 1);
    assert.equal(opt.stepOf(p.name), 1);
    opt.dispose();
    p.dispose();
  });
});
