/**
 * The checks of quantizeState / dequantizeState (src/core/optimizers.ts): float32 moments that low-bit state can
 * take, of the exact length its init was made for, and a step count; refused before anything is written.
 */
import { OptimizerArgumentError } from '../validate.js';
import { checkFloat32Array } from './transform.js';

/** Float32 moments `{m, v, t}`: Float32Arrays of `length` elements and an integer count >= 0. */
export function checkMomentArrays(
  owner: string,
  what: string,
  moments: unknown,
  length: number,
  bits: number,
): { m: Float32Array; v: Float32Array } {
  if (typeof moments !== 'object' || moments === null) {
    throw new OptimizerArgumentError(`${owner}: invalid ${what} ${String(moments)}; expected {m, v, t}.`);
  }
  const { m, v, t } = moments as Record<string, unknown>;
  const ms = checkFloat32Array(owner, `${what}.m`, m);
  const vs = checkFloat32Array(owner, `${what}.v`, v);
  if (ms.length !== length || vs.length !== length) {
    throw new OptimizerArgumentError(
      `${owner}: float32 state of length ${ms.length} (m) and ${vs.length} (v) does not fit ${bits}-bit state made ` +
        `for ${length} elements. Nothing was changed.`,
    );
  }
  if (what === 'from' && !(typeof t === 'number' && Number.isSafeInteger(t) && t >= 0)) {
    const shown = typeof t === 'string' ? JSON.stringify(t) : String(t);
    throw new OptimizerArgumentError(`${owner}: invalid ${what}.t ${shown}; expected an integer >= 0 (steps taken).`);
  }
  return { m: ms, v: vs };
}

/** Moments low-bit state can hold: m finite, v finite and >= 0 (the first offending element is named). */
export function checkMomentValues(owner: string, m: Float32Array, v: Float32Array): void {
  for (let i = 0; i < m.length; i++) {
    if (!Number.isFinite(m[i]!) || !Number.isFinite(v[i]!) || v[i]! < 0) {
      throw new OptimizerArgumentError(
        `${owner}: from.m[${i}] = ${m[i]}, from.v[${i}] = ${v[i]}; expected a finite m and a finite v >= 0. ` +
          'Nothing was changed.',
      );
    }
  }
}
