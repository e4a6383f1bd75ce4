/**
 * Low-bit state in the core (docs/ALGORITHM.md §11, §12): the 8-bit and 4-bit state types, the transformation
 * of an optimizer with such state (init and its checks; the chain is refused), and the conversions from and to
 * float32 state (quantizeState, dequantizeState).
 */
import { lowBitNeedsSimd, OptimizerArgumentError } from '../validate.js';
import { learningRateAt } from '../schedules.js';
import type { LearningRate } from '../hyperparams.js';
import {
  allocateMoments,
  dequantizeMoments,
  momentsLength,
  momentsFormat,
  quantizeMoments,
  type Int4Moments,
  type Int8Moments,
} from '../kernels/lowbit_arrays.js';
import { codeBytes, paddedLength, type LowBitFormat } from '../formats/state_formats.js';
import { checkClipValue } from '../validate.js';
import { checkFloat32Array, type GradientTransformation, type LearningRateState } from './transform.js';
import { threadHooks } from '../kernels/thread_hooks.js'; // threads (core/threads.ts)
import { checkMomentArrays, checkMomentValues } from './convert_checks.js';

/**
 * The 8-bit state of one array (docs/ALGORITHM.md §11): codes of m and of sqrt(v) with one float32
 * scale per block of 256, in place of the Float32Arrays m and v. `state.adopt` / `state.adam` of
 * an optimizer made with `stateDtype: 'int8'` has this type.
 */
export interface Int8State extends Int8Moments {
  t: number;
}

/**
 * The 4-bit state of one array (docs/ALGORITHM.md §12): packed codes of m and of sqrt(v), two per
 * byte, with one float32 scale per block of 128. `state.adopt` / `state.adam` of an optimizer made
 * with `stateDtype: 'int4'` has this type.
 */
export interface Int4State extends Int4Moments {
  t: number;
}

/**
 * The bfloat16 state of one array (docs/ALGORITHM.md §13): the 16-bit codes of m and of v (the upper halves of
 * their float32s), two little-endian bytes per element, no scales (`mScale`, `vScale` are empty).
 * `state.adopt` / `state.adam` of an optimizer made with `stateDtype: 'bfloat16'` has this type.
 */
export interface Bfloat16State {
  qm: Uint8Array;
  qv: Uint8Array;
  mScale: Float32Array;
  vScale: Float32Array;
  t: number;
}

/** 8-bit, 4-bit or bfloat16 state. */
export type LowBitState = Int8State | Int4State | Bfloat16State;

function describeKind(value: unknown): string {
  return value === null || typeof value !== 'object'
    ? String(value)
    : `an object with keys ${Object.keys(value).join(', ')}`;
}

/** The transformation of an optimizer with low-bit state: init and check; `update` (the chain) is refused. */
export function lowBitTransform<
  S extends { learningRate: LearningRateState; decoupledDecay?: LearningRateState | null },
>(
  owner: string,
  key: 'adopt' | 'adam',
  h: { learningRate: LearningRate; correctedWeightDecay: boolean },
  clip: ((t: number) => number) | null,
  format: LowBitFormat,
): GradientTransformation<S> {
  const bits = `${format.bits}-bit`;
  const check = (state: S, params: Float32Array, updates?: Float32Array): void => {
    const s = (state as Record<string, unknown> | null)?.[key] as Partial<LowBitState> | undefined;
    const ok =
      s !== undefined &&
      s !== null &&
      s.qm instanceof (format.bits === 8 ? Int8Array : Uint8Array) &&
      s.qv instanceof Uint8Array &&
      s.mScale instanceof Float32Array &&
      s.vScale instanceof Float32Array &&
      Number.isInteger(s.t) &&
      s.t! >= 0 &&
      typeof state.learningRate?.count === 'number';
    if (!ok) {
      throw new OptimizerArgumentError(
        `${owner}: invalid state.${key} ${describeKind(s)}; expected the ${bits} state that init made ({qm, qv, mScale, vScale, t}).`,
      );
    }
    const made = momentsFormat(s as LowBitState);
    if (made !== undefined && made !== format) {
      throw new OptimizerArgumentError(
        `${owner}: state.${key} holds ${made.bits}-bit state; this optimizer keeps ${bits} state. Nothing was changed.`,
      );
    }
    const length = updates?.length ?? params.length;
    // the exact length where init made the state (the padded code count alone admits up to 15 more elements)
    const madeFor = momentsLength(s as LowBitState);
    const codes = codeBytes(format, paddedLength(format, length));
    if (madeFor === length && s.qm!.length !== codes) {
      // made for these params, but its arrays were cut since (sliced, or their buffer detached by a transfer)
      throw new OptimizerArgumentError(
        `${owner}: state.${key}.qm holds ${s.qm!.length} bytes of codes; the ${bits} state that init made for ` +
          `${length} elements holds ${codes} (an array sliced, or its buffer transferred?). Nothing was changed.`,
      );
    }
    if (s.qm!.length !== codes || (madeFor !== undefined && madeFor !== length)) {
      throw new OptimizerArgumentError(
        `${owner}: the gradient has length ${length} but the ${bits} state was made for ${madeFor ?? `about ${(s.qm!.length * 8) / format.bits}`} elements; ` +
          'pass the state that init made for these params. Nothing was changed.',
      );
    }
    learningRateAt(owner, h.learningRate, state.learningRate.count);
    if (key === 'adopt' && s.t! > 0 && clip !== null) checkClipValue(owner, clip(s.t!), s.t!);
  };
  return {
    init(params) {
      checkFloat32Array(`${owner}.init`, 'params', params);
      const moments = threadHooks.current?.moments(format, params.length) ?? allocateMoments(format, params.length); // threads:
      if (moments === null) {
        throw lowBitNeedsSimd(`${owner}.init`, format.dtype);
      }
      return {
        [key]: { ...moments, t: 0 },
        decoupledDecay: h.correctedWeightDecay ? { count: 0 } : null,
        learningRate: { count: 0 },
      } as unknown as S;
    },
    update() {
      throw new OptimizerArgumentError(
        `${owner}.update: the chain of transformations works on float32 state; with stateDtype '${format.dtype}' call step(params, grads, state).`,
      );
    },
    check,
  };
}

/** The format of a low-bit state made by init, or a clear refusal. */
function formatOfState(owner: string, s: LowBitState): LowBitFormat {
  const f = momentsFormat(s);
  if (f === undefined)
    throw new OptimizerArgumentError(
      `${owner}: the low-bit state was not made by an optimizer's init (its arrays must stay the ones init returned).`,
    );
  return f;
}

/**
 * Loads float32 moments into low-bit state (§11.4, §12.4), e.g. to continue a float32 run with
 * `stateDtype: 'int8'` or `'int4'`: `from` is `state.adopt` / `state.adam` of a float32 optimizer,
 * `to` the one of a low-bit optimizer's `init` for the same params. m and sqrt(v) are rounded to
 * the nearest code; a non-zero v never decodes to 0. The step count is copied.
 */
export function quantizeState(from: { m: Float32Array; v: Float32Array; t: number }, to: LowBitState): void {
  const f = formatOfState('quantizeState', to);
  const { m, v } = checkMomentArrays('quantizeState', 'from', from, momentsLength(to)!, f.bits);
  checkMomentValues('quantizeState', m, v);
  quantizeMoments(m, v, to, f);
  to.t = from.t;
}

/** The reverse of quantizeState (§11.4, §12.4): writes the de-quantised m and v and the step count into `to`. */
export function dequantizeState(from: LowBitState, to: { m: Float32Array; v: Float32Array; t: number }): void {
  const f = formatOfState('dequantizeState', from);
  checkMomentArrays('dequantizeState', 'to', to, momentsLength(from)!, f.bits);
  const { m, v } = dequantizeMoments(from, to.m.length, f);
  to.m.set(m);
  to.v.set(v);
  to.t = from.t;
}
