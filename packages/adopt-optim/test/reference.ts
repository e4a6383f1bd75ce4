/**
 * An independent float64 port of docs/ALGORITHM.md (refAdoptStep: §2 with §3; refAdamStep: §4),
 * written straight from its pseudocode on Float64Arrays. It shares no code with src/, so agreement is evidence.
 */

export interface RefAdoptParams {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
  clip: ((t: number) => number) | null;
  maximize: boolean;
}

export interface RefAdamParams {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
  amsgrad: boolean;
  maximize: boolean;
}

export interface RefState {
  m: Float64Array;
  v: Float64Array;
  vmax: Float64Array;
  t: number;
}

export function refState(n: number): RefState {
  return { m: new Float64Array(n), v: new Float64Array(n), vmax: new Float64Array(n), t: 0 };
}

export function refAdoptStep(p: Float64Array, grad: ArrayLike<number>, s: RefState, h: RefAdoptParams): void {
  const g = Float64Array.from(grad, (x) => (h.maximize ? -x : x));
  if (h.weightDecay !== 0 && !h.decoupled) for (let i = 0; i < g.length; i++) g[i] += h.weightDecay * p[i];
  if (s.t === 0) {
    for (let i = 0; i < g.length; i++) s.v[i] = g[i] * g[i];
    s.t = 1;
    return;
  }
  if (h.weightDecay !== 0 && h.decoupled) for (let i = 0; i < p.length; i++) p[i] -= h.lr * h.weightDecay * p[i];
  const c = h.clip === null ? Infinity : h.clip(s.t);
  for (let i = 0; i < g.length; i++) {
    let n = g[i] / Math.max(Math.sqrt(s.v[i]), h.eps);
    n = Math.min(Math.max(n, -c), c);
    s.m[i] = h.beta1 * s.m[i] + (1 - h.beta1) * n;
    p[i] -= h.lr * s.m[i];
    s.v[i] = h.beta2 * s.v[i] + (1 - h.beta2) * g[i] * g[i];
  }
  s.t += 1;
}

export function refAdamStep(p: Float64Array, grad: ArrayLike<number>, s: RefState, h: RefAdamParams): void {
  const g = Float64Array.from(grad, (x) => (h.maximize ? -x : x));
  if (h.weightDecay !== 0 && !h.decoupled) for (let i = 0; i < g.length; i++) g[i] += h.weightDecay * p[i];
  if (h.weightDecay !== 0 && h.decoupled) for (let i = 0; i < p.length; i++) p[i] *= 1 - h.lr * h.weightDecay;
  s.t += 1;
  for (let i = 0; i < g.length; i++) {
    s.m[i] = h.beta1 * s.m[i] + (1 - h.beta1) * g[i];
    s.v[i] = h.beta2 * s.v[i] + (1 - h.beta2) * g[i] * g[i];
    s.vmax[i] = Math.max(s.vmax[i], s.v[i]);
    const mhat = s.m[i] / (1 - h.beta1 ** s.t);
    const vhat = (h.amsgrad ? s.vmax[i] : s.v[i]) / (1 - h.beta2 ** s.t);
    p[i] -= (h.lr * mhat) / (Math.sqrt(vhat) + h.eps);
  }
}

/** Deterministic PRNG (mulberry32) with normal draws, so every run sees the same data. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  uniform(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = 1 - this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
  /** Float32 values: normal, with per-element scales spread over 1e-3..1e3 and some exact zeros. */
  gradient(n: number, zeroFraction = 0): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const scale = 10 ** (Math.floor(this.uniform() * 7) - 3);
      out[i] = this.uniform() < zeroFraction ? 0 : this.normal() * scale;
    }
    return out;
  }
  normals(n: number): Float32Array {
    return Float32Array.from({ length: n }, () => this.normal());
  }
}

/**
 * Largest elementwise |a - b| / max(|b|, floor). The floor (default 1e-2, the size of a few
 * steps at lr 0.01) keeps a parameter that passes near 0 from turning float32 rounding of its
 * O(1) history into a large relative error; a wrong update rule still moves it by O(lr) per step.
 */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-2): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor);
    if (!(e <= worst)) worst = e; // NaN propagates as a failure
  }
  return worst;
}
