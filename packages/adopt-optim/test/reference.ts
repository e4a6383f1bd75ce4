/**
 * An independent float64 port of docs/ALGORITHM.md (refAdoptStep: §2 with §3; refAdamStep: §4),
 * written straight from its pseudocode on Float64Arrays. It shares no code with src/, so agreement is evidence.
 */

/** A learning rate: a number, or a function of the optimizer step index k (§5.3). */
export type RefRate = number | ((k: number) => number);

export interface RefAdoptParams {
  lr: RefRate;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
  clip: ((t: number) => number) | null;
  maximize: boolean;
  /** §10.1 */
  nesterov?: boolean;
  /** §10.2 */
  caution?: boolean;
  /** §10.3: decoupled decay with lr² / lrMax */
  correctedWeightDecay?: boolean;
  lrMax?: number;
  /** §10.4: 'add' divides by sqrt(v) + eps instead of max(sqrt(v), eps) */
  epsilonMode?: 'floor' | 'add';
}

export interface RefAdamParams {
  lr: RefRate;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
  amsgrad: boolean;
  maximize: boolean;
  caution?: boolean;
  correctedWeightDecay?: boolean;
  lrMax?: number;
}

/**
 * ADOPT's defaults (§2: β1 0.9, β2 0.9999, ε 1e-6, clip t^0.25, no decay) at learning rate `lr`, with `change` applied.
 */
export function refAdoptDefaults(lr: RefRate, change: Partial<RefAdoptParams> = {}): RefAdoptParams {
  const defaults: RefAdoptParams = {
    lr,
    beta1: 0.9,
    beta2: 0.9999,
    eps: 1e-6,
    weightDecay: 0,
    decoupled: false,
    clip: (t) => t ** 0.25,
    maximize: false,
  };
  return { ...defaults, ...change };
}

/** Adam's defaults (§4: β1 0.9, β2 0.999, ε 1e-8, no decay) at learning rate `lr`, with `change` applied. */
export function refAdamDefaults(lr: RefRate, change: Partial<RefAdamParams> = {}): RefAdamParams {
  const defaults: RefAdamParams = {
    lr,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    decoupled: false,
    amsgrad: false,
    maximize: false,
  };
  return { ...defaults, ...change };
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

function rateAt(lr: RefRate, k: number): number {
  return typeof lr === 'number' ? lr : lr(k);
}

/** The rate multiplying decoupled decay: lr, or lr² / lrMax (§10.3). */
function decayLr(lr: number, h: { correctedWeightDecay?: boolean; lrMax?: number }): number {
  if (!h.correctedWeightDecay) return lr;
  if (!(h.lrMax! > 0)) throw new Error('reference: correctedWeightDecay needs lrMax > 0');
  return (lr * lr) / h.lrMax!;
}

/** §10.2: 1 / max(mean(mask), 1e-3). */
function cautionScale(mask: Uint8Array): number {
  let ones = 0;
  for (let i = 0; i < mask.length; i++) ones += mask[i];
  return 1 / Math.max(ones / mask.length, 1e-3);
}

/** One ADOPT step (§2, §3, §10); `k` is the optimizer step index the learning rate is read at. */
export function refAdoptStep(p: Float64Array, grad: ArrayLike<number>, s: RefState, h: RefAdoptParams, k = s.t): void {
  const lr = rateAt(h.lr, k);
  const g = Float64Array.from(grad, (x) => (h.maximize ? -x : x));
  if (h.weightDecay !== 0 && !h.decoupled) for (let i = 0; i < g.length; i++) g[i] += h.weightDecay * p[i];
  if (s.t === 0) {
    for (let i = 0; i < g.length; i++) s.v[i] = g[i] * g[i];
    s.t = 1;
    return;
  }
  if (h.weightDecay !== 0 && h.decoupled) {
    const rate = decayLr(lr, h);
    for (let i = 0; i < p.length; i++) p[i] -= rate * h.weightDecay * p[i];
  }
  const c = h.clip === null ? Infinity : h.clip(s.t);
  const u = new Float64Array(g.length);
  const mask = new Uint8Array(g.length);
  for (let i = 0; i < g.length; i++) {
    let n = g[i] / (h.epsilonMode === 'add' ? Math.sqrt(s.v[i]) + h.eps : Math.max(Math.sqrt(s.v[i]), h.eps));
    n = Math.min(Math.max(n, -c), c);
    s.m[i] = h.beta1 * s.m[i] + (1 - h.beta1) * n;
    u[i] = h.nesterov ? h.beta1 * s.m[i] + (1 - h.beta1) * n : s.m[i];
    mask[i] = s.m[i] * g[i] > 0 ? 1 : 0;
    s.v[i] = h.beta2 * s.v[i] + (1 - h.beta2) * g[i] * g[i];
  }
  const scale = h.caution && g.length > 0 ? cautionScale(mask) : 1;
  for (let i = 0; i < g.length; i++) p[i] -= lr * (h.caution ? u[i] * mask[i] * scale : u[i]);
  s.t += 1;
}

/** One Adam / AdamW / AMSGrad step (§4, §3, §10.2, §10.3). */
export function refAdamStep(p: Float64Array, grad: ArrayLike<number>, s: RefState, h: RefAdamParams, k = s.t): void {
  const lr = rateAt(h.lr, k);
  const g = Float64Array.from(grad, (x) => (h.maximize ? -x : x));
  if (h.weightDecay !== 0 && !h.decoupled) for (let i = 0; i < g.length; i++) g[i] += h.weightDecay * p[i];
  if (h.weightDecay !== 0 && h.decoupled) {
    const rate = decayLr(lr, h);
    for (let i = 0; i < p.length; i++) p[i] *= 1 - rate * h.weightDecay;
  }
  s.t += 1;
  const step = new Float64Array(g.length);
  const mask = new Uint8Array(g.length);
  for (let i = 0; i < g.length; i++) {
    s.m[i] = h.beta1 * s.m[i] + (1 - h.beta1) * g[i];
    s.v[i] = h.beta2 * s.v[i] + (1 - h.beta2) * g[i] * g[i];
    s.vmax[i] = Math.max(s.vmax[i], s.v[i]);
    const mhat = s.m[i] / (1 - h.beta1 ** s.t);
    const vhat = (h.amsgrad ? s.vmax[i] : s.v[i]) / (1 - h.beta2 ** s.t);
    step[i] = (lr * mhat) / (Math.sqrt(vhat) + h.eps);
    mask[i] = s.m[i] * g[i] > 0 ? 1 : 0;
  }
  const scale = h.caution && g.length > 0 ? cautionScale(mask) : 1;
  for (let i = 0; i < g.length; i++) p[i] -= h.caution ? step[i] * mask[i] * scale : step[i];
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

/** Largest |code difference| and share of codes that differ, kernel vs reference (codes unpacked). */
export function codeDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; share: number } {
  let max = 0;
  let differ = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, d);
    if (d !== 0) differ++;
  }
  return { max, share: differ / Math.max(1, a.length) };
}

// ---------------------------------------------------------------------------------------------
// §11: block-wise 8-bit state, written from the spec in float64 (shares no code with src/).

/** The 8-bit state of one array: codes of m and of u = sqrt(v), a scale per block of 256. */
export interface Ref8State {
  qm: Int8Array;
  qv: Uint8Array;
  mScale: Float32Array;
  vScale: Float32Array;
  t: number;
}

export const REF_BLOCK = 256;

/** §11.3: the dither of element idx: (idx * 0x9E3779B9 + seed) mod 2^32, a uint32 (a Weyl sequence). */
export function refHash(idx: number, seed: number): number {
  return (Math.imul(idx, 0x9e3779b9) + seed) >>> 0;
}

/** §11.3: the seed of the step with count t (before the step). */
export function refSeed(t: number): number {
  return Math.imul(t + 1, 0x85ebca77) | 0;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** §11.1–§11.3: encodes new m and u (float64) into codes and scales, block by block. */
export function refEncode8(m: Float64Array, u: Float64Array, s: Ref8State, seed: number): void {
  for (let lo = 0; lo < s.qm.length; lo += REF_BLOCK) {
    const hi = Math.min(s.qm.length, lo + REF_BLOCK);
    let am = 0;
    let au = 0;
    for (let i = lo; i < hi; i++) {
      am = Math.max(am, Math.abs(m[i] ?? 0));
      au = Math.max(au, u[i] ?? 0);
    }
    s.mScale[lo / REF_BLOCK] = am / 127;
    s.vScale[lo / REF_BLOCK] = au / 255;
    for (let i = lo; i < hi; i++) {
      s.qm[i] = am > 0 ? roundHalfEven(((m[i] ?? 0) * 127) / am) : 0;
      const ui = u[i] ?? 0;
      const r = (refHash(i, seed) >>> 9) / 2 ** 23;
      let q = au > 0 ? Math.floor((ui * 255) / au + r) : 0;
      q = Math.min(255, Math.max(0, q));
      if (ui > 0) q = Math.max(q, 1); // §11.2: a non-zero v never decodes to 0
      s.qv[i] = q;
    }
  }
}

/** §11: decoded m and u = sqrt(v) of an 8-bit state, in float64. */
export function refDecode8(s: Ref8State, n: number): { m: Float64Array; u: Float64Array } {
  const m = new Float64Array(n);
  const u = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    m[i] = s.qm[i]! * s.mScale[Math.floor(i / REF_BLOCK)]!;
    u[i] = s.qv[i]! * s.vScale[Math.floor(i / REF_BLOCK)]!;
  }
  return { m, u };
}

/** One ADOPT step (§2, §3, §10.1) on 8-bit state: decode, the float64 rule of refAdoptStep, encode. */
export function refAdopt8Step(
  p: Float64Array,
  grad: ArrayLike<number>,
  s: Ref8State,
  h: RefAdoptParams,
  k = s.t,
): void {
  const n = p.length;
  const { m, u } = refDecode8(s, n);
  const st: RefState = { m, v: Float64Array.from(u, (x) => x * x), vmax: new Float64Array(n), t: s.t };
  const seed = refSeed(s.t);
  refAdoptStep(p, grad, st, h, k);
  s.t = st.t;
  refEncode8(st.m, Float64Array.from(st.v, Math.sqrt), s, seed);
}

/** One Adam / AdamW step (§4) on 8-bit state. */
export function refAdam8Step(p: Float64Array, grad: ArrayLike<number>, s: Ref8State, h: RefAdamParams, k = s.t): void {
  const n = p.length;
  const { m, u } = refDecode8(s, n);
  const st: RefState = { m, v: Float64Array.from(u, (x) => x * x), vmax: new Float64Array(n), t: s.t };
  const seed = refSeed(s.t);
  refAdamStep(p, grad, st, h, k);
  s.t = st.t;
  refEncode8(st.m, Float64Array.from(st.v, Math.sqrt), s, seed);
}
