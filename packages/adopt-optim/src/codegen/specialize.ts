/**
 * Partial evaluation of a phase: scalars fixed to known values and arrays known to be zero, then
 * only the simplifications that are exact in float32 and float64 (x · 1 = x, x + 0 = x,
 * 0 − x = −x, −(−x) = x, x · (−1) = −x, 0 · x = 0 for the zero arrays' terms). The core's
 * optax-style transformations are the rules specialised this way: scaleByAdopt is the ADOPT step
 * with sign 1, no weight decay, decay 1, lr −1 and p = 0, whose "new p" is then the update u.
 */
import { constant, neg, type Cond, type Node, type Value } from '../rules/expr.js';
import type { Phase } from '../rules/rule.js';

export function specialize(
  phase: Phase,
  scalars: Readonly<Record<string, number>>,
  zeroArrays: readonly string[] = [],
): Phase {
  const memo = new Map<Node, Node>();
  const isConst = (n: Value, x: number): boolean => n.kind === 'const' && Object.is(n.value, x);
  const v = (n: Value): Value => s(n) as Value;
  const c = (n: Cond): Cond => s(n) as Cond;
  const s = (n: Node): Node => {
    let r = memo.get(n);
    if (r !== undefined) return r;
    switch (n.kind) {
      case 'scalar':
        r = n.name in scalars ? constant(scalars[n.name]!) : n;
        break;
      case 'array':
        r = zeroArrays.includes(n.name) ? constant(0) : n;
        break;
      case 'const':
        r = n;
        break;
      case 'unary': {
        const a = v(n.a);
        if (n.op === 'neg' && a.kind === 'unary' && a.op === 'neg') r = a.a;
        else r = a === n.a ? n : { ...n, a };
        break;
      }
      case 'binary': {
        const a = v(n.a);
        const b = v(n.b);
        if (n.op === 'mul' && isConst(b, 1)) r = a;
        else if (n.op === 'mul' && isConst(a, 1)) r = b;
        else if (n.op === 'mul' && (isConst(a, 0) || isConst(b, 0))) r = constant(0);
        else if (n.op === 'mul' && isConst(b, -1)) r = s(neg(a));
        else if (n.op === 'add' && isConst(b, 0)) r = a;
        else if (n.op === 'add' && isConst(a, 0)) r = b;
        else if (n.op === 'sub' && isConst(b, 0)) r = a;
        else if (n.op === 'sub' && isConst(a, 0)) r = s(neg(b));
        else r = a === n.a && b === n.b ? n : { ...n, a, b };
        break;
      }
      case 'clamp': {
        const a = v(n.a);
        const lo = v(n.lo);
        const hi = v(n.hi);
        r = a === n.a && lo === n.lo && hi === n.hi ? n : { ...n, a, lo, hi };
        break;
      }
      case 'select': {
        const cond = c(n.cond);
        const a = v(n.a);
        const b = v(n.b);
        r = cond === n.cond && a === n.a && b === n.b ? n : { ...n, cond, a, b };
        break;
      }
      case 'mean': {
        const cond = c(n.cond);
        r = cond === n.cond ? n : { ...n, cond };
        break;
      }
      case 'compare':
      case 'samesign': {
        const a = v(n.a);
        const b = v(n.b);
        r = a === n.a && b === n.b ? n : { ...n, a, b };
        break;
      }
    }
    memo.set(n, r);
    return r;
  };
  return { writes: phase.writes.map(([target, value]) => [target, v(value)] as const) };
}
