/**
 * bfloat16 in float64 (docs/ALGORITHM.md §13), written from the spec and sharing no code with src/: its
 * spacing, round to nearest (ties to even), the stochastic rounding of the kernels, and reading codes.
 */

/** The bfloat16 spacing (ulp) at |x| = a > 0: 2^(e - 7) in the binade [2^e, 2^(e+1)), 2^-133 below 2^-126. */
export function ulp(a: number): number {
  if (a < 2 ** -126) return 2 ** -133;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  return 2 ** (e - 7);
}

/** Stochastic rounding, float64: |x| + d·2^-16·ulp truncated to the bfloat16 grid of the sum's binade, sign kept. */
export function refStochastic(x: number, d: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  const y = a + d * 2 ** -16 * ulp(a);
  const r = Math.floor(y / ulp(y)) * ulp(y);
  return x < 0 ? -r : r;
}

/** The largest finite bfloat16: (2 - 2^-7) · 2^127. */
export const BF16_MAX = (2 - 2 ** -7) * 2 ** 127;

/**
 * Round to nearest, ties to even, float64: the neighbour nearer to x on the bfloat16 grid, the even one on a tie;
 * a finite x beyond the largest finite bfloat16 saturates there (a finite moment never becomes Infinity).
 */
export function refNearest(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  const q = ulp(a);
  const lo = Math.floor(a / q) * q;
  const rest = a - lo;
  const up = rest > q / 2 || (rest === q / 2 && Math.floor(lo / q) % 2 === 1);
  const r = Math.min(up ? lo + q : lo, BF16_MAX);
  return x < 0 ? -r : r;
}

/** The float a 16-bit code holds: the upper half of a float32 (read through a DataView, not the library). */
export function decode(code: number): number {
  const d = new DataView(new ArrayBuffer(4));
  d.setUint32(0, (code & 0xffff) << 16);
  return d.getFloat32(0);
}

/** The 16-bit codes of a code array (two bytes per element, little-endian). */
export function codesOf(bytes: Uint8Array, n: number): number[] {
  return Array.from({ length: n }, (_, i) => bytes[2 * i]! | (bytes[2 * i + 1]! << 8));
}
