/**
 * §12: block-wise 4-bit state, written from the spec in float64 (shares no code with src/): one
 * code per element here (the packing of §12.1 is read by `unpack4`, also written from the spec).
 */
import {
  refAdamStep,
  refAdoptStep,
  refHash,
  refSeed,
  type RefAdamParams,
  type RefAdoptParams,
  type RefState,
} from './reference.js';

/** The 4-bit state of one array, unpacked: codes of m (-7..7) and of u = sqrt(v) (0..15, u = (code + 1) · vScale). */
export interface Ref4State {
  qm: Int8Array;
  qv: Uint8Array;
  mScale: Float32Array;
  vScale: Float32Array;
  t: number;
}

export const REF4_BLOCK = 128;

/** §12.3: m's dither of element idx: (idx * 0xC2B2AE3D + seed * 0x27D4EB2F) mod 2^32. */
export function refHashM(idx: number, seed: number): number {
  return (Math.imul(idx, 0xc2b2ae3d) + Math.imul(seed, 0x27d4eb2f)) >>> 0;
}

/**
 * §12.1: the codes of `n` elements from packed bytes (element i of a group of 16 in byte i's low nibble, i + 8 in its
 * high one).
 */
export function unpack4(bytes: ArrayLike<number>, n: number, signed: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const group = Math.floor(i / 16);
    const lane = i % 16;
    const byte = bytes[group * 8 + (lane % 8)]! & 0xff;
    const nibble = lane < 8 ? byte % 16 : Math.floor(byte / 16);
    out.push(signed && nibble >= 8 ? nibble - 16 : nibble);
  }
  return out;
}

/** A reference state holding the kernel's codes (unpacked) and scales. */
export function ref4From(
  s: { qm: Uint8Array; qv: Uint8Array; mScale: Float32Array; vScale: Float32Array; t: number },
  n: number,
): Ref4State {
  const padded = Math.ceil(n / 16) * 16;
  return {
    qm: Int8Array.from(unpack4(s.qm, padded, true)),
    qv: Uint8Array.from(unpack4(s.qv, padded, false)),
    mScale: s.mScale.slice(),
    vScale: s.vScale.slice(),
    t: s.t,
  };
}

/** A deliberate bug to show the tests can fail: m rounded to nearest (no dither). */
export interface Ref4Bug {
  mNearest?: boolean;
}

/** §12.1–§12.3: encodes new m and u (float64) block by block, both by stochastic rounding. */
export function refEncode4(m: Float64Array, u: Float64Array, s: Ref4State, seed: number, bug: Ref4Bug = {}): void {
  for (let lo = 0; lo < s.qm.length; lo += REF4_BLOCK) {
    const hi = Math.min(s.qm.length, lo + REF4_BLOCK);
    let am = 0;
    let au = 0;
    for (let i = lo; i < hi; i++) {
      am = Math.max(am, Math.abs(m[i] ?? 0));
      au = Math.max(au, u[i] ?? 0);
    }
    s.mScale[lo / REF4_BLOCK] = am / 7;
    s.vScale[lo / REF4_BLOCK] = au / 16;
    for (let i = lo; i < hi; i++) {
      const rm = bug.mNearest ? 0.5 : (refHashM(i, seed) >>> 9) / 2 ** 23;
      s.qm[i] = am > 0 ? Math.min(7, Math.max(-7, Math.floor(((m[i] ?? 0) * 7) / am + rm))) : 0;
      const r = (refHash(i, seed) >>> 9) / 2 ** 23;
      s.qv[i] = au > 0 ? Math.min(15, Math.max(0, Math.floor(((u[i] ?? 0) * 16) / au - 1 + r))) : 0;
    }
  }
}

/** §12: decoded m and u = sqrt(v), in float64. */
export function refDecode4(s: Ref4State, n: number): { m: Float64Array; u: Float64Array } {
  const m = new Float64Array(n);
  const u = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / REF4_BLOCK);
    m[i] = s.qm[i]! * s.mScale[b]!;
    u[i] = (s.qv[i]! + 1) * s.vScale[b]!;
  }
  return { m, u };
}

function step4(p: Float64Array, s: Ref4State, run: (st: RefState) => void, bug: Ref4Bug): void {
  const n = p.length;
  const { m, u } = refDecode4(s, n);
  const st: RefState = { m, v: Float64Array.from(u, (x) => x * x), vmax: new Float64Array(n), t: s.t };
  const seed = refSeed(s.t);
  run(st);
  s.t = st.t;
  refEncode4(st.m, Float64Array.from(st.v, Math.sqrt), s, seed, bug);
}

/** One ADOPT step (§2, §3, §10.1) on 4-bit state: decode, the float64 rule of refAdoptStep, encode. */
export function refAdopt4Step(
  p: Float64Array,
  grad: ArrayLike<number>,
  s: Ref4State,
  h: RefAdoptParams,
  k = s.t,
  bug: Ref4Bug = {},
): void {
  step4(p, s, (st) => refAdoptStep(p, grad, st, h, k), bug);
}

/** One Adam / AdamW step (§4) on 4-bit state. */
export function refAdam4Step(p: Float64Array, grad: ArrayLike<number>, s: Ref4State, h: RefAdamParams, k = s.t): void {
  step4(p, s, (st) => refAdamStep(p, grad, st, h, k), {});
}
