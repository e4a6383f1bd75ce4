/**
 * Saved low-bit state (docs/ALGORITHM.md §11.5, §12.5) as tfjs weights: reading and checking the
 * codes and scales of one variable, and converting between formats. Per variable, 8-bit state is
 * `<variable>/qm`, `/qv`, `/mScale`, `/vScale`; 4-bit state `<variable>/qm4`, `/qv4`, `/mScale4`,
 * `/vScale4` (other names, so that neither is ever read as the other): codes as int32 tensors of
 * the variable's shape, one per element, scales as 1-D float32. A float32 optimizer receives
 * low-bit entries de-quantised; a low-bit optimizer receives float32 `m`, `v` quantised and the
 * other low-bit format through float32.
 */
import * as tf from '@tensorflow/tfjs-core';
import { allocateMoments, type LowBitMoments } from '../kernels/lowbit_arrays.js';
import { LOW_BIT_FORMATS, paddedLength, scaleCount, writeCode, type LowBitFormat } from '../formats/state_formats.js';
import { dequantizeMoments } from '../kernels/lowbit_arrays.js';
import { lowBitNeedsSimd, OptimizerArgumentError } from '../validate.js';
import { stateFormatOf, type NamedTensor } from './slot_store.js';

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Weight suffixes of a format's state (the format table's names: codes of m and v, then any scales). */
export function suffixesOf(f: LowBitFormat): readonly string[] {
  return f.names;
}

export function split(name: string): [string, string] | null {
  const cut = name.lastIndexOf('/');
  return cut > 0 ? [name.slice(0, cut), name.slice(cut + 1)] : null;
}

/**
 * Groups the entries with the given suffixes by variable; the rest are returned as they are. An
 * entry named twice is refused (which one was meant cannot be known).
 */
export function groupBy(
  weights: NamedTensor[],
  suffixes: readonly string[],
  owner = 'setWeights',
): { groups: Map<string, Map<string, tf.Tensor>>; rest: NamedTensor[] } {
  const groups = new Map<string, Map<string, tf.Tensor>>();
  const rest: NamedTensor[] = [];
  for (const w of weights) {
    const parts = typeof w?.name === 'string' ? split(w.name) : null;
    if (parts === null || !suffixes.includes(parts[1])) {
      rest.push(w);
      continue;
    }
    const group = groups.get(parts[0]) ?? new Map<string, tf.Tensor>();
    if (group.has(parts[1])) {
      throw new OptimizerArgumentError(
        `${owner}: weight "${w.name}" appears twice (given, or converted from another state format beside it); nothing was changed.`,
      );
    }
    group.set(parts[1], w.tensor);
    groups.set(parts[0], group);
  }
  return { groups, rest };
}

/** Moments read from saved weights, with the shape they were saved for (undefined: format 1 without a live variable). */
export interface Restored {
  moments: LowBitMoments;
  shape: number[] | undefined;
}

/**
 * Reads and checks the saved state of one variable in `f` into fresh moments. Format 2
 * (STATE_FORMAT_VERSION): the codes have the variable's shape, which must be the live variable's
 * where there is one. Format 1 (8-bit only): 1-D codes padded to a multiple of 4, whose length must
 * be the live variable's padded size.
 */
export async function readLowBit(
  owner: string,
  f: LowBitFormat,
  name: string,
  group: Map<string, tf.Tensor>,
  live: { shape: number[]; size: number } | undefined,
  format: number,
): Promise<Restored> {
  const bits = `${f.bits}-bit`;
  const names = suffixesOf(f);
  const missing = names.filter((s) => !group.has(s));
  if (missing.length > 0) {
    throw new OptimizerArgumentError(
      `${owner}: incomplete ${bits} state for "${name}": no ${missing.map((s) => `"${name}/${s}"`).join(', ')}.`,
    );
  }
  const [qm, qv, sm, sv] = names.map((s) => group.get(s)!);
  const [nqm, nqv, nsm, nsv] = names;
  const entries = [
    [qm, nqm, 'int32', true],
    [qv, nqv, 'int32', true],
    [sm, nsm, 'float32', false],
    [sv, nsv, 'float32', false],
  ] as const;
  for (const [t, suffix, dtype, isCode] of entries.slice(0, names.length)) {
    if (t!.isDisposed)
      throw new OptimizerArgumentError(
        `${owner}: the tensor of weight "${name}/${suffix}" is disposed; nothing was changed.`,
      );
    const shaped = format >= 2 && isCode; // format 2 codes: the variable's shape
    if (t!.dtype !== dtype || (!shaped && t!.rank !== 1)) {
      throw new OptimizerArgumentError(
        `${owner}: weight "${name}/${suffix}" is ${t!.dtype} of shape [${t!.shape}]; expected ${shaped ? 'an' : 'a 1-D'} ${dtype} tensor.`,
      );
    }
  }
  let size: number;
  let shape: number[] | undefined;
  if (format >= 2) {
    size = qm!.size;
    shape = [...qm!.shape];
    if (!tf.util.arraysEqual(qv!.shape, qm!.shape) || (live !== undefined && !tf.util.arraysEqual(shape, live.shape))) {
      throw new OptimizerArgumentError(
        `${owner}: the ${bits} state of "${name}" has codes of shape [${qm!.shape}] / [${qv!.shape}]` +
          `${live === undefined ? '' : ` but the variable has shape [${live.shape}]`}; expected ${live === undefined ? 'one shape for both' : `[${live.shape}]`}. Nothing was changed.`,
      );
    }
  } else {
    if (f.bits !== 8)
      throw new OptimizerArgumentError(
        `${owner}: ${bits} state of "${name}" in state format ${format}; it exists from format 2 on. Nothing was changed.`,
      );
    const pad = (n: number) => paddedLength(f, n);
    size = live?.size ?? qm!.size;
    shape = live?.shape;
    if (qm!.size % f.pad !== 0 || qv!.size !== qm!.size || (live !== undefined && pad(live.size) !== qm!.size)) {
      throw new OptimizerArgumentError(
        `${owner}: the ${bits} state of "${name}" has ${qm!.size} / ${qv!.size} codes` +
          `${live === undefined ? '' : ` but the variable has ${live.size} elements`}; expected ${live === undefined ? `a multiple of ${f.pad}` : pad(live.size)} codes ` +
          `(format 1: 1-D, padded to a multiple of ${f.pad}). Nothing was changed.`,
      );
    }
  }
  const blocks = scaleCount(f, paddedLength(f, size));
  if (f.scaled && (sm!.size !== blocks || sv!.size !== blocks)) {
    throw new OptimizerArgumentError(
      `${owner}: the ${bits} state of "${name}" has ${sm!.size} / ${sv!.size} scales for ${size} elements; expected one per ${f.block} (${blocks}). Nothing was changed.`,
    );
  }
  const out = allocateMoments(f, size);
  if (out === null) throw lowBitNeedsSimd(owner, f.dtype);
  const none = Promise.resolve(new Float32Array(0));
  const [cm, cv, fm, fv] = await Promise.all([qm!.data(), qv!.data(), sm?.data() ?? none, sv?.data() ?? none]);
  const [m, u] = [f.m, f.u];
  for (let i = 0; i < cm.length; i++) {
    const a = cm[i] as number;
    const b = cv[i] as number;
    if (
      !(Number.isInteger(a) && a >= m.lo && a <= m.hi) ||
      !(Number.isInteger(b) && b >= u.lo && b <= u.hi) ||
      (i >= size && (a !== 0 || b !== 0))
    ) {
      throw new OptimizerArgumentError(
        `${owner}: weight "${name}/${nqm}" or "${name}/${nqv}" holds ${a} / ${b} at index ${i}; ` +
          `expected codes ${m.lo}..${m.hi} and ${u.lo}..${u.hi} (0 in the padding). Nothing was changed.`,
      );
    }
  }
  const uTop = f.uMax + f.uOffset;
  for (let i = 0; i < blocks; i++) {
    if (!(Number.isFinite(fm[i]) && fm[i]! >= 0 && Number.isFinite(fv[i]) && fv[i]! >= 0)) {
      throw new OptimizerArgumentError(
        `${owner}: weight "${name}/${nsm}" or "${name}/${nsv}" holds ${fm[i]} / ${fv[i]} at block ${i}; expected finite scales >= 0. Nothing was changed.`,
      );
    }
    // codes decode to m = code · mScale and v = ((code + offset) · vScale)²: both must be float32
    if (f.mMax * fm[i]! > FLOAT32_MAX || (uTop * fv[i]!) ** 2 > FLOAT32_MAX) {
      throw new OptimizerArgumentError(
        `${owner}: weight "${name}/${nsm}" or "${name}/${nsv}" holds ${fm[i]} / ${fv[i]} at block ${i}; such a scale decodes beyond ` +
          `float32 (|m| up to ${f.mMax} · mScale, v up to (${uTop} · vScale)²) and the next step would write Infinity. Nothing was changed.`,
      );
    }
  }
  if (f.bits === 8) {
    out.qm.set(cm as Int32Array); // format 2: the padding stays 0
    out.qv.set(cv as Int32Array);
  } else {
    for (let i = 0; i < cm.length; i++) {
      writeCode(f, out.qm, i, cm[i] as number);
      writeCode(f, out.qv, i, cv[i] as number);
    }
  }
  out.mScale.set(fm as Float32Array);
  out.vScale.set(fv as Float32Array);
  // every code must decode to a finite m and a finite v >= 0 (float codes have NaN and Inf patterns too)
  const decoded = dequantizeMoments(out, size, f);
  for (let i = 0; i < size; i++) {
    if (!Number.isFinite(decoded.m[i]) || !Number.isFinite(decoded.v[i]) || decoded.v[i]! < 0) {
      throw new OptimizerArgumentError(
        `${owner}: weight "${name}/${nqm}" or "${name}/${nqv}" holds ${cm[i]} / ${cv[i]} at index ${i}, ` +
          'which decode to ' +
          `m = ${decoded.m[i]}, v = ${decoded.v[i]}; expected a finite m and a finite v >= 0. Nothing was changed.`,
      );
    }
  }
  return { moments: out, shape };
}

/**
 * Replaces the low-bit entries of `weights` in every format but `keep` by de-quantised
 * `<variable>/m` and `<variable>/v` (§11.4, §12.4) shaped like the live variable of that name, which
 * must exist (format-1 codes do not record the shape). Returns the new list and the tensors made,
 * for the caller to dispose once setWeights has copied them.
 */
export async function dequantizeLowBitWeights(
  owner: string,
  weights: NamedTensor[],
  keep: LowBitFormat | null = null,
): Promise<{ weights: NamedTensor[]; made: tf.Tensor[] }> {
  let out = weights;
  const made: tf.Tensor[] = [];
  const registered = tf.engine().registeredVariables;
  try {
    for (const f of LOW_BIT_FORMATS) {
      if (f === keep) continue;
      const { groups, rest } = groupBy(out, suffixesOf(f), owner);
      if (groups.size === 0) continue;
      const format = await stateFormatOf(owner, weights);
      out = [...rest];
      for (const [name, group] of groups) {
        const live = registered[name];
        if (live === undefined) {
          throw new OptimizerArgumentError(
            `${owner}: ${f.bits}-bit state of "${name}" can be converted only for a live variable of that name ` +
              `(this optimizer keeps ${keep === null ? 'float32' : `${keep.bits}-bit`} state); nothing was changed.`,
          );
        }
        const { moments: q } = await readLowBit(owner, f, name, group, live, format);
        const { m, v } = dequantizeMoments(q, live.size, f);
        const mt = tf.tensor(m, live.shape, 'float32');
        const vt = tf.tensor(v, live.shape, 'float32');
        made.push(mt, vt);
        out.push({ name: `${name}/m`, tensor: mt }, { name: `${name}/v`, tensor: vt });
      }
    }
  } catch (error) {
    tf.dispose(made);
    throw error;
  }
  return { weights: out, made };
}

/** The state the low-bit weight reader hands the store: its format's groups and float32 m/v groups. */
export interface LowBitTaker {
  take(weights: NamedTensor[]): Promise<{ rest: NamedTensor[]; fresh: Map<string, Restored> }>;
  install(fresh: Map<string, Restored>): void;
  readonly format: LowBitFormat;
}

/**
 * setWeights of an optimizer that may hold low-bit state, shared by ADOPT and the Adam family: with
 * low-bit state, its own entries, float32 `m` / `v` (quantised) or another low-bit format's (through
 * float32, live variables only); with float32 state, low-bit entries are de-quantised for live
 * variables. `setFloat` is the base class's setWeights, which checks everything before anything changes.
 */
export async function setWeightsWithLowBit(
  owner: string,
  store: LowBitTaker | null,
  weightValues: NamedTensor[],
  setFloat: (w: NamedTensor[]) => Promise<void>,
): Promise<void> {
  if (!Array.isArray(weightValues)) return setFloat(weightValues);
  const { weights, made } = await dequantizeLowBitWeights(owner, weightValues, store?.format ?? null);
  try {
    if (store !== null) {
      const { rest, fresh } = await store.take(weights);
      await setFloat(rest);
      store.install(fresh);
      return;
    }
    await setFloat(weights);
  } finally {
    tf.dispose(made);
  }
}
