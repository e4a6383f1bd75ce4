/**
 * The bench's native limit is a real ADOPT step: the C kernel of bench/native/adopt_step.c (the one `npm run bench`
 * times) against the float64 reference of docs/ALGORITHM.md §2, element by element. Skipped without a C compiler.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildNative, checkNative, type CheckInput } from '../bench/native.js';
import { refAdoptStep, refState, Rng } from './reference.js';

const build = buildNative();
const skip = 'reason' in build ? build.reason : false;

/** Elements in every regime: ordinary, clipped, v = 0 (the ε floor), g = 0, tiny and large gradients. */
function elements(seed: number): Pick<CheckInput, 'p' | 'g' | 'm' | 'v'> {
  const rng = new Rng(seed);
  const p: number[] = [],
    g: number[] = [],
    m: number[] = [],
    v: number[] = [];
  for (let i = 0; i < 40; i++) {
    const scale = [1, 1e-3, 10, 1e-8][i % 4]!;
    p.push(rng.normal());
    g.push(rng.normal() * scale);
    m.push(rng.normal() * 0.1);
    v.push(i % 10 === 0 ? 0 : (rng.normal() * scale) ** 2 * (i % 3 === 0 ? 1e-4 : 1)); // 1e-4: clipped
  }
  g[5] = 0;
  return { p: p.map(Math.fround), g: g.map(Math.fround), m: m.map(Math.fround), v: v.map(Math.fround) };
}

/** |native - reference| over the largest of the two and the value before the step: float32 rounding is ~1e-7. */
function worst(native: number[], reference: Float64Array, before: number[]): number {
  let out = 0;
  for (let i = 0; i < native.length; i++) {
    const d = Math.abs(native[i]! - reference[i]!);
    if (d <= 1e-37) continue;
    out = Math.max(out, d / Math.max(Math.abs(native[i]!), Math.abs(reference[i]!), Math.abs(before[i]!)));
  }
  return out;
}

describe('bench native kernel (bench/native/adopt_step.c) against the float64 reference', { skip }, () => {
  after(() => {
    if (!('reason' in build)) build.remove();
  });

  const cases = [
    {
      name: 'defaults of adopt(1e-3), first step (t = 0: v = g² only)',
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.9999,
      eps: 1e-6,
      t: 0,
    },
    { name: 'defaults of adopt(1e-3), t = 1 (clip 1)', lr: 1e-3, beta1: 0.9, beta2: 0.9999, eps: 1e-6, t: 1 },
    { name: 'defaults of adopt(1e-3), t = 1000', lr: 1e-3, beta1: 0.9, beta2: 0.9999, eps: 1e-6, t: 1000 },
    { name: 'other hyperparameters, t = 7', lr: 0.05, beta1: 0.8, beta2: 0.99, eps: 1e-3, t: 7 },
  ];
  for (const [k, c] of cases.entries()) {
    it(c.name, () => {
      if ('reason' in build) return;
      const x = { ...c, ...elements(k + 1) };
      const got = checkNative(build, x);
      const p = Float64Array.from(x.p);
      const s = refState(p.length);
      s.m.set(x.m);
      s.v.set(x.v);
      s.t = c.t;
      refAdoptStep(p, x.g, s, {
        lr: c.lr,
        beta1: c.beta1,
        beta2: c.beta2,
        eps: c.eps,
        weightDecay: 0,
        decoupled: false,
        maximize: false,
        clip: (t) => t ** 0.25,
      });
      assert.ok(worst(got.p, p, x.p) < 1e-6, `p: ${worst(got.p, p, x.p)}`);
      assert.ok(worst(got.m, s.m, x.m) < 1e-6, `m: ${worst(got.m, s.m, x.m)}`);
      assert.ok(worst(got.v, s.v, x.v) < 1e-6, `v: ${worst(got.v, s.v, x.v)}`);
      if (c.t > 0)
        assert.ok(
          got.p.some((y, i) => y !== x.p[i]),
          'a real step moves p',
        );
    });
  }
});
