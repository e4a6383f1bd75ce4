// What `adopt-lab demo` prints, from results built here: each outcome read from the numbers, intervals only with seeds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mnistFailed, mnistStory, toyOutcome, toyStory, wrap } from '../src/demo.js';
import type { ExperimentResult } from '../src/common.js';

const result = (curves: Record<string, number | string>[], settings: Record<string, unknown>): ExperimentResult => ({
  name: 'x',
  title: 'x',
  description: '',
  summary: { columns: [], rows: [] },
  figures: [],
  curves,
  notes: [],
  meta: { settings } as unknown as ExperimentResult['meta'],
});

/** A toy track from t = 0 to 50,000 in 11 points, linear between the given medians at 0, 5k, ..., 50k. */
function track(optimizer: string, beta2: number, medians: number[], seed = 1): Record<string, number | string>[] {
  return medians.map((median, i) => ({ k: 10, beta2, optimizer, seed, t: i * 5000, median, q1: median, q3: median }));
}
const TOY_SETTINGS = { steps: 50_000, chains: 32, ks: [10] };
const down = (from: number, to: number) => Array.from({ length: 11 }, (_, i) => from + ((to - from) * i) / 10);

describe('demo: the toy story', () => {
  it('says where each optimizer ended, and explains the clip only where clipped ADOPT went the wrong way first', () => {
    const lines = toyStory(
      result(
        [
          ...track('adopt', 0.1, [0, 0.93, 0.6, 0.2, -0.1, -0.35, -0.57, -0.81, -0.97, -0.99, -0.98]),
          ...track('adam', 0.1, down(0, 0.99)),
          ...track('amsgrad', 0.1, down(0, -0.37)),
          ...track('adam', 0.999, down(0, -0.99)),
        ],
        TOY_SETTINGS,
      ),
    ).join('\n');
    const flat = lines.replace(/\s+/g, ' '); // sentences, wherever the paragraph wraps
    assert.match(flat, /k² = 100 with probability 1\/k and −k = −10/);
    assert.match(flat, /50,000 steps, 32 independent chains/);
    assert.match(flat, /Adam reaches −1 with β2 = 0.999 and goes to the wrong end \(\+1\) with β2 = 0.1\./);
    assert.match(flat, /AMSGrad is still moving towards −1 at the last step with β2 = 0.1\./);
    assert.match(lines, /\+0\.99 \(wrong end\)/);
    assert.match(flat, /median θ \+0\.93 at step 5,000 with β2 = 0\.1/);
    assert.match(flat, /about k⁴ = 10,000 steps/);
    assert.doesNotMatch(lines, /±/, 'one seed: no interval');
    for (const line of lines.split('\n')) assert.ok(line.length <= 120, `line of ${line.length} columns: ${line}`);
  });

  it('gives no clip explanation when clipped ADOPT never headed to +1, and intervals with several seeds', () => {
    const lines = toyStory(
      result([...track('adopt', 0.1, down(0, -0.98), 1), ...track('adopt', 0.1, down(0, -0.96), 2)], TOY_SETTINGS),
    ).join('\n');
    assert.doesNotMatch(lines, /Why clipped ADOPT/);
    assert.match(lines, /−0\.97 ± 0\.13 \(2 seeds\)/); // mean −0.97, half-width t(0.975, 1)·0.01 = 12.706 × 0.01
  });

  it('classifies the end of a track (each threshold can flip the outcome)', () => {
    assert.equal(
      toyOutcome([
        { t: 0, median: 0 },
        { t: 1, median: -0.9 },
      ]),
      'optimum',
    );
    assert.equal(toyOutcome(down(0, 0.9).map((median, t) => ({ t, median }))), 'wrong end');
    assert.equal(toyOutcome(down(0, 0.89).map((median, t) => ({ t, median }))), 'stalled');
    assert.equal(toyOutcome(down(0, -0.89).map((median, t) => ({ t, median }))), 'moving');
    assert.equal(toyOutcome([...down(0, -0.5), -0.5, -0.5, -0.5].map((median, t) => ({ t, median }))), 'stalled');
  });
});

describe('demo: the MNIST story', () => {
  const run = (optimizer: string, beta2: string, accuracy: number, loss: number, seed = 1) => [
    { optimizer, seed, beta2, learningRate: 0.001, epoch: 1, testAccuracy: 0.5, testLoss: 1, trainLoss: 1 },
    { optimizer, seed, beta2, learningRate: 0.001, epoch: 3, testAccuracy: accuracy, testLoss: loss, trainLoss: 1 },
  ];
  const settings = { epochs: 3, trainSize: 20000, testSize: 2000, hidden: 256, learningRate: 0.001 };

  it('names the failure with its numbers, from the last epoch of each run', () => {
    const lines = mnistStory(
      result(
        [
          ...run('adopt', 'own', 0.947, 0.19),
          ...run('adam', 'own', 0.9455, 0.17),
          ...run('adopt', '0.5', 0.948, 0.18),
          ...run('adam', '0.5', 0.2445, 1.34e10),
        ],
        settings,
      ),
    ).join('\n');
    const flat = lines.replace(/\s+/g, ' ');
    assert.match(lines, /each one's default β2 \(0\.9999 \/ 0\.999\)\s+94\.70 %\s+94\.55 %/);
    assert.match(lines, /24\.45 % \(failed\)/);
    assert.match(
      flat,
      /With β2 = 0\.5 for both: Adam fails \(test loss 1\.3e\+10, accuracy 24\.45 %\) and ADOPT trains\./,
    );
    assert.match(flat, /With each one's default β2 \(0\.9999 \/ 0\.999\): ADOPT and Adam train\./);
    assert.match(flat, /one seed, so the table has no intervals/);
    assert.doesNotMatch(lines, /±/);
  });

  it('shows intervals with several seeds', () => {
    const lines = mnistStory(
      result([...run('adopt', 'own', 0.94, 0.2, 1), ...run('adopt', 'own', 0.96, 0.2, 2)], settings),
    ).join('\n');
    assert.match(lines, /95\.00 % ± 12\.71 % \(2 seeds\)/);
    assert.doesNotMatch(lines, /one seed cannot/);
  });

  it('counts a run as failed below 50 % accuracy, above loss 10, or with a non-finite loss', () => {
    assert.equal(mnistFailed({ accuracy: 0.5, loss: 10 }), false);
    assert.equal(mnistFailed({ accuracy: 0.49, loss: 1 }), true);
    assert.equal(mnistFailed({ accuracy: 0.9, loss: 10.1 }), true);
    assert.equal(mnistFailed({ accuracy: 0.9, loss: NaN }), true);
    assert.equal(mnistFailed({ accuracy: NaN, loss: 1 }), true);
  });
});

describe('demo: wrap', () => {
  it('keeps every line within the width, words whole', () => {
    const text = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    const lines = wrap(text, '   ', 40);
    assert.ok(lines.every((l) => l.length <= 40 && l.startsWith('   ')));
    assert.equal(lines.map((l) => l.trim()).join(' '), text);
  });
});
