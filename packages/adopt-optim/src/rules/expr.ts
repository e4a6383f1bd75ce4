/**
 * The small typed expression language update rules are written in: float32 per-element values
 * (arrays, per-step scalars, constants and the arithmetic between them), conditions, and one
 * per-tensor reduction (the mean of a condition, for caution). Every kernel is generated from
 * these trees by the emitters in src/codegen; nothing here knows about a backend.
 *
 * A rule builds a DAG with plain JS variables (`const gp = add(mul(g, sign), mul(p, wd))` used
 * three times is one node); emitters keep shared nodes in locals. Operations are float32 with
 * round-to-nearest, in exactly the order the tree gives: an emitter never reassociates.
 */

/** A per-element value of a rule's update: an expression tree over arrays, scalars and constants. */
export type Value =
  | { readonly kind: 'array'; readonly name: string }
  | { readonly kind: 'scalar'; readonly name: string }
  | { readonly kind: 'const'; readonly value: number }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly a: Value; readonly b: Value }
  | { readonly kind: 'unary'; readonly op: UnaryOp; readonly a: Value }
  | { readonly kind: 'clamp'; readonly a: Value; readonly lo: Value; readonly hi: Value }
  | { readonly kind: 'select'; readonly cond: Cond; readonly a: Value; readonly b: Value }
  /** The fraction of elements of the whole tensor where `cond` holds: a per-tensor scalar. */
  | { readonly kind: 'mean'; readonly cond: Cond };

/** The two-operand operations of Value. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'min' | 'max';
/** The one-operand operations of Value. */
export type UnaryOp = 'sqrt' | 'abs' | 'neg';

/** A per-element condition (for select and mean). */
export type Cond =
  | { readonly kind: 'compare'; readonly op: 'gt' | 'ge' | 'lt' | 'le'; readonly a: Value; readonly b: Value }
  /**
   * a · b > 0, evaluated without the product, which underflows in float32 (1e-30 · 1e-20 = 0):
   * both non-zero and not NaN, with the same sign.
   */
  | { readonly kind: 'samesign'; readonly a: Value; readonly b: Value };

export type Node = Value | Cond;

/** Arrays and scalars are interned by name: every `scalar('lr')` is one node, one kernel argument, one load. */
const interned = new Map<string, Value>();
function intern(kind: 'array' | 'scalar', name: string): Value {
  const key = `${kind}:${name}`;
  const known = interned.get(key);
  if (known !== undefined) return known;
  const node: Value = Object.freeze({ kind, name });
  interned.set(key, node);
  return node;
}
export const array = (name: string): Value => intern('array', name);
export const scalar = (name: string): Value => intern('scalar', name);
export const constant = (value: number): Value => ({ kind: 'const', value });

const bin =
  (op: BinaryOp) =>
  (a: Value, b: Value): Value => ({ kind: 'binary', op, a, b });
export const add = bin('add');
export const sub = bin('sub');
export const mul = bin('mul');
export const div = bin('div');
/** min / max: a < b ? a : b and a < b ? b : a for numbers; NaN in `a` propagates. */
export const min = bin('min');
export const max = bin('max');
export const sqrt = (a: Value): Value => ({ kind: 'unary', op: 'sqrt', a });
export const abs = (a: Value): Value => ({ kind: 'unary', op: 'abs', a });
export const neg = (a: Value): Value => ({ kind: 'unary', op: 'neg', a });
/** min(max(a, lo), hi). */
export const clamp = (a: Value, lo: Value, hi: Value): Value => ({ kind: 'clamp', a, lo, hi });
export const select = (cond: Cond, a: Value, b: Value): Value => ({ kind: 'select', cond, a, b });
export const mean = (cond: Cond): Value => ({ kind: 'mean', cond });
export const gt = (a: Value, b: Value): Cond => ({ kind: 'compare', op: 'gt', a, b });
export const ge = (a: Value, b: Value): Cond => ({ kind: 'compare', op: 'ge', a, b });
export const lt = (a: Value, b: Value): Cond => ({ kind: 'compare', op: 'lt', a, b });
export const le = (a: Value, b: Value): Cond => ({ kind: 'compare', op: 'le', a, b });
export const sameSign = (a: Value, b: Value): Cond => ({ kind: 'samesign', a, b });

/** The direct operands of a node. */
export function children(n: Node): Node[] {
  switch (n.kind) {
    case 'binary':
    case 'compare':
    case 'samesign':
      return [n.a, n.b];
    case 'unary':
      return [n.a];
    case 'clamp':
      return [n.a, n.lo, n.hi];
    case 'select':
      return [n.cond, n.a, n.b];
    case 'mean':
      return [n.cond];
    default:
      return [];
  }
}

/** Nodes reachable from `roots`, each once, operands before their users. */
export function topological(roots: Node[]): Node[] {
  const seen = new Set<Node>();
  const out: Node[] = [];
  const visit = (n: Node): void => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const c of children(n)) visit(c);
    out.push(n);
  };
  roots.forEach(visit);
  return out;
}

/** How many times each node is used: as an operand (within the nodes reachable from `roots`) or as a root. */
export function useCounts(roots: Node[]): Map<Node, number> {
  const uses = new Map<Node, number>();
  for (const n of topological(roots)) for (const c of children(n)) uses.set(c, (uses.get(c) ?? 0) + 1);
  for (const r of roots) uses.set(r, (uses.get(r) ?? 0) + 1);
  return uses;
}

/**
 * Whether a node is the same for every element of a tensor (scalars, constants, means and what
 * is computed from them only): emitters compute these once per step, not per element.
 */
export function isUniform(n: Node, memo = new Map<Node, boolean>()): boolean {
  let r = memo.get(n);
  if (r === undefined) {
    r = n.kind === 'array' ? false : n.kind === 'mean' ? true : children(n).every((c) => isUniform(c, memo));
    memo.set(n, r);
  }
  return r;
}

/** Array names read by `roots`, in first-use order. */
export function arraysRead(roots: Node[]): string[] {
  return [...new Set(topological(roots).flatMap((n) => (n.kind === 'array' ? [n.name] : [])))];
}

/** Scalar names read by `roots`, in first-use order. */
export function scalarsRead(roots: Node[]): string[] {
  return [...new Set(topological(roots).flatMap((n) => (n.kind === 'scalar' ? [n.name] : [])))];
}

/**
 * The same trees with structurally equal subtrees made one node (`mean(gt(g, 0))` written twice is
 * one mean of one condition; shared nodes are computed once by every emitter), in one pass over
 * the nodes in topological order (operands first).
 */
export function shareEqual<T extends Node>(roots: readonly T[]): T[] {
  const ids = new Map<string, Node>();
  const canonical = new Map<Node, Node>();
  const id = new Map<Node, number>();
  for (const n of topological([...roots])) {
    const kids = children(n).map((c) => canonical.get(c)!);
    const key =
      n.kind === 'const'
        ? `const:${Object.is(n.value, -0) ? '-0' : n.value}`
        : `${n.kind}:${'op' in n ? n.op : 'name' in n ? n.name : ''}:${kids.map((c) => id.get(c)).join(',')}`;
    let made = ids.get(key);
    if (made === undefined) {
      made = kids.every((c, i) => c === children(n)[i]) ? n : rebuild(n, kids);
      ids.set(key, made);
      id.set(made, ids.size);
    }
    canonical.set(n, made);
  }
  return roots.map((r) => canonical.get(r) as T);
}

/** `n` with its operands replaced (in the order children() gives them). */
function rebuild(n: Node, k: Node[]): Node {
  switch (n.kind) {
    case 'binary':
    case 'compare':
    case 'samesign':
      return { ...n, a: k[0] as Value, b: k[1] as Value } as Node;
    case 'unary':
      return { ...n, a: k[0] as Value };
    case 'clamp':
      return { ...n, a: k[0] as Value, lo: k[1] as Value, hi: k[2] as Value };
    case 'select':
      return { ...n, cond: k[0] as Cond, a: k[1] as Value, b: k[2] as Value };
    case 'mean':
      return { ...n, cond: k[0] as Cond };
    default:
      return n;
  }
}

/** The reductions (means) `roots` depend on, each once. */
export function meansOf(roots: Node[]): Extract<Value, { kind: 'mean' }>[] {
  return topological(roots).filter((n): n is Extract<Value, { kind: 'mean' }> => n.kind === 'mean');
}

/**
 * Evaluates a uniform value in float64 (the per-step scalars are computed once in float64 and
 * rounded to float32 when passed to a kernel, as 1 - beta is: docs/ALGORITHM.md §7).
 * `means` gives each reduction's value.
 */
export function evaluateUniform(
  n: Value,
  scalars: Record<string, number>,
  means: Map<Node, number> = new Map(),
): number {
  switch (n.kind) {
    case 'scalar': {
      const v = scalars[n.name];
      if (typeof v !== 'number') throw new TypeError(`adopt-optim: no value for the scalar "${n.name}"`);
      return v;
    }
    case 'const':
      return n.value;
    case 'mean': {
      const v = means.get(n);
      if (v === undefined) throw new TypeError('adopt-optim: a mean was not computed before the step');
      return v;
    }
    case 'unary': {
      const a = evaluateUniform(n.a, scalars, means);
      return n.op === 'sqrt' ? Math.sqrt(a) : n.op === 'abs' ? Math.abs(a) : -a;
    }
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: the inner switch returns for every op
    case 'binary': {
      const a = evaluateUniform(n.a, scalars, means);
      const b = evaluateUniform(n.b, scalars, means);
      switch (n.op) {
        case 'add':
          return a + b;
        case 'sub':
          return a - b;
        case 'mul':
          return a * b;
        case 'div':
          return a / b;
        // the kernels' pmin / pmax (wat.ts): NaN in a propagates, NaN in b does not (Math.min/max differ)
        case 'min':
          // biome-ignore lint/complexity/useMathMinMax: pmin's NaN semantics, as the kernels compute it
          return b < a ? b : a;
        case 'max':
          // biome-ignore lint/complexity/useMathMinMax: pmax's NaN semantics, as the kernels compute it
          return a < b ? b : a;
      }
    }
    case 'clamp': {
      const a = evaluateUniform(n.a, scalars, means);
      const lo = evaluateUniform(n.lo, scalars, means);
      const hi = evaluateUniform(n.hi, scalars, means);
      // biome-ignore lint/complexity/useMathMinMax: pmax / pmin's NaN semantics, as the kernels compute them
      const up = a < lo ? lo : a;
      // biome-ignore lint/complexity/useMathMinMax: as above
      return hi < up ? hi : up;
    }
    case 'select': {
      const c = n.cond;
      const a = evaluateUniform(c.a, scalars, means);
      const b = evaluateUniform(c.b, scalars, means);
      const holds =
        c.kind === 'samesign'
          ? (a > 0 && b > 0) || (a < 0 && b < 0)
          : c.op === 'gt'
            ? a > b
            : c.op === 'ge'
              ? a >= b
              : c.op === 'lt'
                ? a < b
                : a <= b;
      return evaluateUniform(holds ? n.a : n.b, scalars, means);
    }
    case 'array':
      throw new TypeError(`adopt-optim: "${n.name}" is per element, not uniform`);
  }
}
