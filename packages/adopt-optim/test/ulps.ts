/** Distance between float32 values in units in the last place (shared by the bit-identity tests). */

/** Distance in units in the last place between two float32 bit patterns (NaN: Infinity). */
export function ulps(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  const key = (x: number): number => (x < 0 ? -2147483648 - x : x); // monotone integer order
  return Math.abs(key(i[0]!) - key(i[1]!));
}
