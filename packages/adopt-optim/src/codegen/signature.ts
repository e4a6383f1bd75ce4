/**
 * The calling convention every emitter shares: a kernel for a phase (or for a reduction's count)
 * takes the arrays p, g and the rule's slots, the element count, then one float32 per
 * *uniform* of the phase: each largest subtree that is the same for every element (a scalar,
 * `−clip`, caution's `1 / max(mean, 1e-3)`), evaluated once per step in float64 by the host
 * (rules/expr.ts evaluateUniform). Constants are inlined.
 */
import { children, evaluateUniform, isUniform, meansOf, type Cond, type Node, type Value } from '../rules/expr.js';
import { phaseArrays, type Flags, type Phase, type Rule } from '../rules/rule.js';

export interface Signature {
  /** Pointer / buffer order: p, g, then the rule's slots. */
  arrays: string[];
  /** The uniform subtrees, in parameter order (none is a constant). */
  uniforms: Value[];
}

/** The uniforms of the values rooted at `roots`, each once, in first-use order. */
export function uniformsOf(roots: Node[]): Value[] {
  const memo = new Map<Node, boolean>();
  const out: Value[] = [];
  const seen = new Set<Node>();
  const visit = (n: Node): void => {
    if (seen.has(n)) return;
    seen.add(n);
    if (isUniform(n, memo) && n.kind !== 'compare' && n.kind !== 'samesign') {
      if (n.kind !== 'const') out.push(n as Value);
      return;
    }
    children(n).forEach(visit);
  };
  roots.forEach(visit);
  return out;
}

export function phaseSignature(rule: Rule, flags: Flags, phase: Phase): Signature {
  return { arrays: phaseArrays(rule, flags), uniforms: uniformsOf(phase.writes.map(([, value]) => value)) };
}

/** The reduction a phase needs before it runs (caution's mask mean), or null. */
export function phaseReduction(phase: Phase): Cond | null {
  const conds = new Set(meansOf(phase.writes.map(([, value]) => value)).map((m) => m.cond));
  // one counting pass per phase: mean() of one condition, used any number of times (defineRule refuses more)
  if (conds.size > 1) throw new TypeError('adopt-optim: a phase may use the mean of one condition');
  return conds.size === 0 ? null : [...conds][0]!;
}

export function countSignature(rule: Rule, flags: Flags, cond: Cond): Signature {
  return { arrays: phaseArrays(rule, flags), uniforms: uniformsOf([cond]) };
}

/**
 * The uniform arguments of a kernel call, in float64 (rounded to float32 by the call): `means`
 * holds each reduction's value (count / n) once the counting pass has run.
 */
export function uniformArgs(
  sig: Signature,
  scalars: Readonly<Record<string, number>>,
  means?: Map<Node, number>,
): number[] {
  return sig.uniforms.map((u) => evaluateUniform(u, scalars as Record<string, number>, means));
}

/** The arrays a phase writes, in its order. */
export function writtenArrays(phase: Phase): string[] {
  return phase.writes.map(([target]) => target);
}
