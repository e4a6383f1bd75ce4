/**
 * A rule's phase as tfjs ops, for every backend without fused kernels (and for options a
 * backend's kernels lack): the expression tree is interpreted op by op on tensors. Uniforms are
 * float64 numbers (a per-tensor mean is a tfjs reduction). With the step's scalar values known,
 * no-op work is skipped as the 0.2 ops path skipped it: x · 1, x · (−1) as a negation, x + y · 0,
 * clamping to ±∞; x · x is tf.square.
 */
import * as tf from '@tensorflow/tfjs-core';
import { children as childrenOf, evaluateUniform, isUniform, type Cond, type Node, type Value } from '../rules/expr.js';
import type { Phase } from '../rules/rule.js';

type Operand = tf.Tensor | number;

export function tfOps(
  phase: Phase,
  arrays: Readonly<Record<string, tf.Tensor>>,
  stepScalars: object,
): [target: string, value: tf.Tensor][] {
  const scalars = stepScalars as Record<string, number>; // the rule's scalars (other fields are not read)
  const memo = new Map<Node, Operand | tf.Tensor>();
  const uniformMemo = new Map<Node, boolean>();
  const hasMean = (n: Node): boolean => n.kind === 'mean' || (n.kind !== 'array' && childrenOf(n).some(hasMean));
  const num = (n: Value): number | null =>
    isUniform(n, uniformMemo) && !hasMean(n) ? evaluateUniform(n, scalars as Record<string, number>) : null;
  const isZeroTerm = (n: Value): boolean => {
    const x = num(n);
    if (x !== null) return x === 0;
    return n.kind === 'binary' && n.op === 'mul' && (num(n.a) === 0 || num(n.b) === 0);
  };

  const value = (n: Value): Operand => {
    const known = memo.get(n);
    if (known !== undefined) return known as Operand;
    const x = num(n);
    const r: Operand = x !== null ? x : compute(n);
    memo.set(n, r);
    return r;
  };
  const shape = (arrays.p ?? Object.values(arrays)[0])!.shape;
  /** A write: a uniform value (a number, a mean) is the same for every element, broadcast to the parameter's shape. */
  const inputs = new Set<tf.Tensor>(Object.values(arrays));
  const tensor = (n: Value): tf.Tensor => {
    const v = value(n);
    if (typeof v === 'number') return tf.fill(shape, v);
    if (v.rank !== shape.length) return tf.broadcastTo(v, shape);
    // a write of an input as it is (m ← p): a copy, or the commit of an earlier write would change it
    return inputs.has(v) ? tf.clone(v) : v;
  };
  const compute = (n: Value): Operand => {
    switch (n.kind) {
      case 'array': {
        const t = arrays[n.name];
        if (t === undefined) throw new TypeError(`adopt-optim tfOps: no tensor for "${n.name}"`);
        return t;
      }
      case 'unary': {
        const a = value(n.a);
        return n.op === 'sqrt' ? tf.sqrt(a) : n.op === 'abs' ? tf.abs(a) : tf.neg(a);
      }
      // biome-ignore lint/suspicious/noFallthroughSwitchClause: the inner switch returns for every op
      case 'binary': {
        if (n.op === 'add' && isZeroTerm(n.b)) return value(n.a);
        if (n.op === 'add' && isZeroTerm(n.a)) return value(n.b);
        if (n.op === 'sub' && isZeroTerm(n.b)) return value(n.a);
        if (n.op === 'mul') {
          if (num(n.b) === 1) return value(n.a);
          if (num(n.a) === 1) return value(n.b);
          if (num(n.b) === -1) return tf.neg(value(n.a));
          if (n.a === n.b) return tf.square(value(n.a));
        }
        const a = value(n.a);
        const b = value(n.b);
        switch (n.op) {
          case 'add':
            return tf.add(a, b);
          case 'sub':
            return tf.sub(a, b);
          case 'mul':
            return tf.mul(a, b);
          case 'div':
            return tf.div(a, b);
          case 'min':
            return tf.minimum(a, b);
          case 'max':
            return tf.maximum(a, b);
        }
      }
      case 'clamp': {
        const lo = num(n.lo);
        const hi = num(n.hi);
        if (lo === -Infinity && hi === Infinity) return value(n.a);
        // tf.clipByValue refuses lo > hi; min(max(a, lo), hi) is then hi, as the kernels give
        if (lo !== null && hi !== null && lo <= hi) return tf.clipByValue(value(n.a), lo, hi);
        return tf.minimum(tf.maximum(value(n.a), value(n.lo)), value(n.hi));
      }
      case 'select': {
        // tf.where, not mask · a where b is 0: 0 · ∞ would be NaN where the kernels give 0
        const mask = condition(n.cond);
        const a = value(n.a);
        const b = value(n.b);
        // per element unless the condition and both branches are uniform (a mean, numbers)
        const target = mask.rank === 0 && [a, b].every((x) => typeof x === 'number' || x.rank === 0) ? [] : shape;
        const full = (x: Operand): tf.Tensor =>
          typeof x === 'number' ? tf.fill(target, x) : x.rank === target.length ? x : tf.broadcastTo(x, target);
        return tf.where(full(mask), full(a), full(b));
      }
      case 'mean': {
        // count / n, as the kernels compute it: the count is exact (below 2^24), one rounding; tf.mean
        // on cpu sums x · (1/n) and is off by ulps (3/7 came out 2 ulps high)
        const mask = condition(n.cond);
        return mask.size === 0 ? 1 : tf.div(tf.sum(tf.cast(mask, 'float32')), mask.size);
      }
      case 'scalar':
      case 'const':
        return evaluateUniform(n, scalars as Record<string, number>);
    }
  };
  const conds = new Map<Cond, tf.Tensor>();
  const condition = (c: Cond): tf.Tensor => {
    let t = conds.get(c);
    if (t === undefined) {
      const a = value(c.a);
      const b = value(c.b);
      if (c.kind === 'samesign') {
        // a · b > 0 as "both non-zero (and not NaN) with the same sign": the float32 product underflows
        // to 0 for tiny values, and tf.sign on wasm returns 0 for -1e-20 (measured, tfjs 4.22)
        const nonZero = tf.logicalAnd(tf.greater(tf.abs(a), 0), tf.greater(tf.abs(b), 0));
        t = tf.logicalAnd(nonZero, tf.equal(tf.greater(a, 0), tf.greater(b, 0)));
      } else {
        t =
          c.op === 'gt'
            ? tf.greater(a, b)
            : c.op === 'ge'
              ? tf.greaterEqual(a, b)
              : c.op === 'lt'
                ? tf.less(a, b)
                : tf.lessEqual(a, b);
      }
      conds.set(c, t);
    }
    return t;
  };
  return phase.writes.map(([target, v]) => [target, tensor(v)]);
}
