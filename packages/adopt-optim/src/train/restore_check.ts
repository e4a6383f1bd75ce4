/**
 * What a restore checks before it changes anything: saved optimizer weights against what the live
 * optimizer will accept for its live variables (names, shapes, slots, counters).
 */
import * as tf from '@tensorflow/tfjs-core';
import { NamedStateOptimizer } from '../tfjs/named_state_optimizer.js';
import { CheckpointError, type TensorValues } from './checkpoint.js';
import { LOW_BIT_FORMATS } from '../formats/state_formats.js';
import { suffixesOf } from '../tfjs/lowbit_weights.js';

/**
 * Whether an optimizer is one of ours. Not `instanceof`: tf.Optimizer defines Symbol.hasInstance
 * (any object with minimize, computeGradients and applyGradients), which subclasses inherit, so
 * `x instanceof NamedStateOptimizer` is true for tfjs's own SGD, Momentum and RMSProp too.
 */
export const isNamedState = (o: tf.Optimizer): o is NamedStateOptimizer =>
  Object.prototype.isPrototypeOf.call(NamedStateOptimizer.prototype, o);

/**
 * Checks saved optimizer weights against what `optimizer` will accept for the live `members`,
 * and returns them renamed to the live variables. Throws a CheckpointError naming the first problem.
 */
export function checkSlots(
  optimizer: tf.Optimizer,
  members: Set<tf.Variable>,
  saved: TensorValues[],
  liveOf: Map<string, tf.Variable>,
  where: string,
): TensorValues[] {
  const refuse = (message: string) => new CheckpointError(`restore: ${where}: ${message}`);
  const counter = (w: TensorValues) => {
    const value = w.values[0];
    if (w.values.length !== 1 || value === undefined || !Number.isInteger(value) || value < 0) {
      throw refuse(
        `"${w.name}" must hold one integer >= 0; got [${Array.from(w.values).slice(0, 4)}] of shape [${w.shape}].`,
      );
    }
  };
  const split = (w: TensorValues): [tf.Variable, string] => {
    const cut = w.name.lastIndexOf('/');
    const live = cut > 0 ? liveOf.get(w.name.slice(0, cut)) : undefined;
    if (live === undefined || !members.has(live)) {
      throw refuse(`"${w.name}" is not the state of a variable of this parameter group.`);
    }
    return [live, w.name.slice(cut + 1)];
  };
  const slot = (w: TensorValues, live: tf.Variable, suffix: string): TensorValues => {
    if (w.dtype !== 'float32' || !tf.util.arraysEqual(w.shape, live.shape)) {
      throw refuse(
        `"${w.name}" has shape [${w.shape}] ${w.dtype}; its variable "${live.name}" has [${live.shape}] float32.`,
      );
    }
    if (!w.values.every(Number.isFinite)) throw refuse(`"${w.name}" holds NaN or Infinity.`);
    return { ...w, name: `${live.name}/${suffix}` };
  };
  const iters = saved.filter((w) => w.name === 'iter');
  if (iters.length !== 1) throw refuse(`expected one "iter" counter; found ${iters.length}.`);
  counter(iters[0]!);

  if (isNamedState(optimizer)) {
    const slotNames = (optimizer as unknown as { slotNames: readonly string[] }).slotNames;
    // low-bit state (§11.5, §12.5) is saved as codes and scales per variable, not as slots of the variable's shape
    const dtype = (optimizer as unknown as { stateDtype?: string }).stateDtype;
    const format = LOW_BIT_FORMATS.find((f) => f.dtype === dtype);
    const codes: readonly string[] = format === undefined ? [] : suffixesOf(format);
    const suffixes = [...slotNames, ...codes, 'step'];
    const seen = new Map<tf.Variable, Set<string>>();
    const out: TensorValues[] = [];
    for (const w of saved) {
      if (w.name === 'iter') {
        out.push(w);
        continue;
      }
      if (w.name.startsWith('optimizer:')) {
        // the class marker of newer NamedStateOptimizers
        if (w.name !== `optimizer:${optimizer.getClassName()}`)
          throw refuse(`"${w.name}" marks another optimizer's state; this group uses ${optimizer.getClassName()}.`);
        if (w.values.length !== 1 || w.dtype !== 'int32') throw refuse(`the marker "${w.name}" must be one int32.`);
        out.push(w);
        continue;
      }
      const [live, suffix] = split(w);
      if (!suffixes.includes(suffix))
        throw refuse(`"${w.name}" is no slot of ${optimizer.getClassName()} (expected ${suffixes.join(', ')}).`);
      const have = seen.get(live) ?? new Set<string>();
      if (have.has(suffix)) throw refuse(`the ${suffix} of "${live.name}" appears twice.`);
      have.add(suffix);
      seen.set(live, have);
      if (suffix === 'step') {
        counter(w);
        out.push({ ...w, name: `${live.name}/step` });
      } else if (codes.includes(suffix)) {
        // codes (int32; the variable's shape in format 2, 1-D in format 1) and 1-D scales (float32); their
        // shapes, sizes and ranges are checked by setWeights before anything changes. The format's first two
        // names are its codes (qm/qv, qm4/qv4, mbf16/vbf16), the rest its scales.
        const codes = format!.names.indexOf(suffix) < 2;
        const dtype = codes ? 'int32' : 'float32';
        if (w.dtype !== dtype || (!codes && w.shape.length !== 1))
          throw refuse(
            `"${w.name}" has shape [${w.shape}] ${w.dtype}; expected ${codes ? 'an' : 'a 1-D'} ${dtype} tensor.`,
          );
        if (!w.values.every(Number.isFinite)) throw refuse(`"${w.name}" holds NaN or Infinity.`);
        out.push({ ...w, name: `${live.name}/${suffix}` });
      } else {
        out.push(slot(w, live, suffix));
      }
    }
    for (const [live, have] of seen) {
      const missing = suffixes.filter((x) => !have.has(x));
      if (missing.length > 0) throw refuse(`the state of "${live.name}" lacks ${missing.join(', ')}.`);
    }
    return out;
  }

  // tfjs's own optimizers: "iter" first, then accumulators matched by position
  if (saved[0]!.name !== 'iter') throw refuse('the first weight must be the "iter" counter.');
  const rest = saved.slice(1);
  let segments: string[];
  // see isNamedState
  const is = (c: { prototype: object }) => Object.prototype.isPrototypeOf.call(c.prototype, optimizer);
  if (is(tf.MomentumOptimizer)) segments = ['momentum'];
  else if (is(tf.SGDOptimizer)) segments = [];
  else if (is(tf.RMSPropOptimizer)) {
    segments = (optimizer as unknown as { centered: boolean }).centered
      ? ['rms', 'momentum', 'mg']
      : ['rms', 'momentum'];
  } else {
    throw refuse(`cannot check the state of a ${optimizer.getClassName()}.`);
  }
  if (segments.length === 0) {
    if (rest.length > 0)
      throw refuse(`${optimizer.getClassName()} has no state besides "iter"; found ${rest.length} more weights.`);
    return saved;
  }
  if (rest.length % segments.length !== 0)
    throw refuse(`${rest.length} accumulators cannot be split into ${segments.join(', ')}.`);
  const count = rest.length / segments.length;
  const out: TensorValues[] = [saved[0]!];
  let owners: tf.Variable[] | undefined;
  segments.forEach((suffix, k) => {
    const part = rest.slice(k * count, (k + 1) * count).map((w) => {
      const [live, got] = split(w);
      if (got !== suffix) throw refuse(`"${w.name}" is where a ${suffix} accumulator belongs.`);
      out.push(slot(w, live, suffix));
      return live;
    });
    if (new Set(part).size !== part.length) throw refuse(`a variable has two ${suffix} accumulators.`);
    if (owners !== undefined && part.some((v, j) => v !== owners![j]))
      throw refuse(`the ${suffix} accumulators are not in the order of the others.`);
    owners = part;
  });
  return out;
}
