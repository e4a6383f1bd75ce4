// timm's Adopt, transcribed in float64 from timm/optim/adopt.py (_single_tensor_adopt), against core.adopt.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { core, powerClip, defaultClip, type ClipSchedule } from '../src/index.js';
import { maxRelativeError, Rng } from './reference.js';

interface TimmState {
  step: number;
  expAvg: Float64Array;
  expAvgSq: Float64Array;
}

/**
 * One step of timm's `_single_tensor_adopt` with its defaults (no caution, no maximize), in float64:
 * step_t += 1; at step 1 only exp_avg_sq = g²; later, decoupled decay by lr·wd, denom = max(√v, eps),
 * normed = clamp(g / denom, ±(step − 1)^clip_exp), exp_avg lerps to it, param −= lr·exp_avg, then v updates.
 */
function timmStep(
  p: Float64Array,
  grad: ArrayLike<number>,
  s: TimmState,
  o: {
    lr: number;
    beta1: number;
    beta2: number;
    eps: number;
    clipExp: number;
    weightDecay: number;
    decoupled: boolean;
  },
): void {
  s.step += 1;
  const g = Float64Array.from(grad, (x, i) => (o.weightDecay !== 0 && !o.decoupled ? x + o.weightDecay * p[i]! : x));
  if (s.step === 1) {
    for (let i = 0; i < g.length; i++) s.expAvgSq[i] += g[i]! * g[i]!;
    return;
  }
  if (o.weightDecay !== 0 && o.decoupled)
    for (let i = 0; i < p.length; i++) p[i] = p[i]! - o.lr * o.weightDecay * p[i]!;
  const clip = (s.step - 1) ** o.clipExp;
  for (let i = 0; i < g.length; i++) {
    const normed = Math.min(Math.max(g[i]! / Math.max(Math.sqrt(s.expAvgSq[i]!), o.eps), -clip), clip);
    s.expAvg[i] = s.expAvg[i]! + (1 - o.beta1) * (normed - s.expAvg[i]!);
    p[i] = p[i]! - o.lr * s.expAvg[i]!;
    s.expAvgSq[i] = s.expAvgSq[i]! * o.beta2 + (1 - o.beta2) * g[i]! * g[i]!;
  }
}

const N = 257;
const STEPS = 300;
// float32 state against a float64 reference (as test/core.test.ts); a different clip schedule gives O(1e-2) or more
const TOLERANCE = 5e-4;

function worstOver(clip: ClipSchedule, weightDecay: number, decoupled: boolean): number {
  const options = { lr: 0.01, beta1: 0.9, beta2: 0.9999, eps: 1e-6, clipExp: 0.333, weightDecay, decoupled };
  const rng = new Rng(7);
  const params = rng.normals(N);
  const ref = Float64Array.from(params);
  const s: TimmState = { step: 0, expAvg: new Float64Array(N), expAvgSq: new Float64Array(N) };
  const opt = core.adopt(options.lr, { clip, weightDecay, decoupled });
  const state = opt.init(params);
  let worst = 0;
  for (let step = 0; step < STEPS; step++) {
    // gradients spread over six orders of magnitude, a few exact zeros at first: the clip binds often
    const g = rng.gradient(N, step === 0 ? 0.05 : 0);
    opt.step(params, g, state);
    timmStep(ref, g, s, options);
    worst = Math.max(worst, maxRelativeError(params, ref));
  }
  return worst;
}

describe("timm's Adopt (clip_exp = 0.333, its default) is powerClip(0.333)", () => {
  for (const [name, wd, decoupled] of [
    ['no decay', 0, false],
    ['L2 decay', 0.01, false],
    ['decoupled decay', 0.01, true],
  ] as const) {
    it(name, (t) => {
      const worst = worstOver(powerClip(0.333), wd, decoupled);
      t.diagnostic(`largest relative error over ${STEPS} steps: ${worst.toExponential(2)}`);
      assert.ok(worst < TOLERANCE, `relative error ${worst} exceeds ${TOLERANCE}`);
    });
  }
  it('the comparison can fail: the default t^0.25 and the exact 1/3 both disagree with timm', () => {
    assert.ok(worstOver(defaultClip, 0, false) > 20 * TOLERANCE);
    assert.ok(worstOver(powerClip(1 / 3), 0, false) > 2 * TOLERANCE);
  });
});
