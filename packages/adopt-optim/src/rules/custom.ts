/**
 * Experimental: the language of rules defined by a user, and its checks. A rule is its state slots, its per-step
 * scalars (float64, from the learning rate, the step number and its hyperparameters) and its per-element update,
 * written with the expression builders of ./expr.ts; `ruleOfDefinition` checks a definition and turns it into a
 * Rule, the data every generator reads. Compiling it into kernels is src/compiler/define_rule.ts (`defineRule`).
 *
 *   const lion = defineRule({
 *     name: 'lion', slots: ['m'], hyperparameters: { beta1: 0.9, beta2: 0.99, weightDecay: 0 },
 *     scalars: (lr, _t, h) => ({
 *       lr, b1: h.beta1, omb1: 1 - h.beta1, b2: h.beta2, omb2: 1 - h.beta2, decay: 1 - lr * h.weightDecay,
 *     }),
 *     step: ({ p, g, slot, scalar: s, add, sub, mul, select, gt, lt, constant }) => {
 *       const c = add(mul(slot('m'), s('b1')), mul(g, s('omb1')));
 *       const sign = select(gt(c, constant(0)), constant(1), select(lt(c, constant(0)), constant(-1), constant(0)));
 *       return { m: add(mul(slot('m'), s('b2')), mul(g, s('omb2'))), p: sub(mul(p, s('decay')), mul(sign, s('lr'))) };
 *     },
 *   });
 */
import * as E from './expr.js';
import type { Phase, Rule } from './rule.js';
import { OptimizerArgumentError } from '../validate.js';
import { USER_NAME, userIdentifier } from './namespace.js';
import { camelCaseClash } from './rule_names.js';

/** The expression builders a rule's update is written with. */
export interface RuleBuilder {
  /** This element of the parameters (the value before the step; the rule writes the new one as `p`). */
  p: E.Value;
  /** This element of the gradient, as `applyGradients` (or `step`, in the core) received it. */
  g: E.Value;
  /** This element of a state slot. */
  slot(name: string): E.Value;
  /** A per-step scalar, by the name `scalars` gives it. */
  scalar(name: string): E.Value;
  /** A number, the same for every element. */
  constant(value: number): E.Value;
  /** a + b. */
  add: typeof E.add;
  /** a − b. */
  sub: typeof E.sub;
  /** a · b. */
  mul: typeof E.mul;
  /** a / b. */
  div: typeof E.div;
  /** The smaller of a and b. */
  min: typeof E.min;
  /** The larger of a and b. */
  max: typeof E.max;
  /** √a. */
  sqrt: typeof E.sqrt;
  /** |a|. */
  abs: typeof E.abs;
  /** −a. */
  neg: typeof E.neg;
  /** a clamped to [lo, hi]. */
  clamp: typeof E.clamp;
  /** cond ? a : b, per element. */
  select: typeof E.select;
  /** a > b, a condition for select and mean. */
  gt: typeof E.gt;
  /** a ≥ b. */
  ge: typeof E.ge;
  /** a < b. */
  lt: typeof E.lt;
  /** a ≤ b. */
  le: typeof E.le;
  /** a · b > 0, without the product's float32 underflow. */
  sameSign: typeof E.sameSign;
  /** The fraction of the tensor's elements where a condition holds (runs as tfjs ops on webgl and webgpu). */
  mean: typeof E.mean;
}

/** The new values a phase writes: `p` and slots, by name. */
export type RuleWrites = Readonly<Record<string, E.Value>>;

/** What defineRule takes: a rule's name, state, hyperparameters, per-step scalars and per-element update. */
export interface RuleDefinition {
  /** The rule's name: a letter, then letters, digits or _ (its kernels are named after it). */
  name: string;
  /** State arrays, each zeros at the start and shaped like its parameter. */
  slots: readonly string[];
  /** Hyperparameters and their defaults; an optimizer may override them. */
  hyperparameters?: Readonly<Record<string, number>>;
  /** The scalars the update reads, in float64, once per step: `t` is the step number (1, 2, ...). */
  scalars(lr: number, t: number, hyperparameters: Readonly<Record<string, number>>): Record<string, number>;
  /** The update of every later step (of every step without `init`). */
  step(x: RuleBuilder): RuleWrites;
  /** Optional: the first step only initialises state (as ADOPT's does): these writes, and p unchanged. */
  init?(x: RuleBuilder): RuleWrites;
}

function fail(message: string): never {
  throw new OptimizerArgumentError(`defineRule: ${message}`);
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));
const VALUE_KINDS = new Set(['array', 'scalar', 'const', 'binary', 'unary', 'clamp', 'select', 'mean']);
const COND_KINDS = new Set(['compare', 'samesign']);

/**
 * Throws unless `n` is a well-formed expression of the expected kind: a value where a value
 * belongs (an operand, a write), a condition where a condition belongs (select's first argument,
 * mean's), finite constants. Names where in the update the problem is.
 */
function checkTree(
  n: unknown,
  want: 'value' | 'condition',
  root: string,
  slots: readonly string[],
  context?: string,
  seen = new Set<unknown>(),
): void {
  if (seen.has(n)) return;
  const where = context === undefined ? root : `${context} in ${root}`;
  const kind = (n as { kind?: unknown } | null)?.kind;
  const isValue = typeof kind === 'string' && VALUE_KINDS.has(kind);
  const isCond = typeof kind === 'string' && COND_KINDS.has(kind);
  if (want === 'value' && !isValue) {
    fail(
      `${where} is ${isCond ? 'a condition' : show(n)}; expected a value built with the builders ` +
        `(constant(x) for a number${isCond ? ', select(cond, a, b) for a choice' : ''}).`,
    );
  }
  if (want === 'condition' && !isCond) {
    fail(`${where} is ${isValue ? 'a value' : show(n)}; expected a condition (gt, ge, lt, le, sameSign).`);
  }
  seen.add(n);
  const e = n as E.Node;
  switch (e.kind) {
    case 'const':
      if (typeof e.value !== 'number' || !Number.isFinite(e.value))
        fail(`${root}: constant(${show(e.value)}); expected a finite number.`);
      if (!Number.isFinite(Math.fround(e.value))) {
        fail(
          `${where}: constant(${e.value}) is not finite in float32 (the kernels compute in float32); expected a ` +
            'number within ±3.4028234663852886e38.',
        );
      }
      return;
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: fail() never returns
    case 'array': {
      if (e.name === 'p' || e.name === 'g' || slots.some((s) => userIdentifier(s) === e.name)) return;
      const slot = /^s_(.*)_1$/.exec(e.name)?.[1]?.replace(/_0/g, '_');
      fail(
        `${where} reads ${slot !== undefined ? `slot "${slot}"` : `the array ${show(e.name)}`}, which is ` +
          `not one of this rule's slots ${JSON.stringify(slots)} (a value built by another rule's builders?).`,
      );
    }
    case 'scalar':
      return;
    case 'mean':
      checkTree(e.cond, 'condition', root, slots, 'the argument of mean()', seen);
      return;
    case 'select':
      checkTree(e.cond, 'condition', root, slots, 'the first argument of select()', seen);
      checkTree(e.a, 'value', root, slots, 'an argument of select()', seen);
      checkTree(e.b, 'value', root, slots, 'an argument of select()', seen);
      return;
    default: {
      const op = e.kind === 'binary' || e.kind === 'unary' ? e.op : e.kind === 'samesign' ? 'sameSign' : e.kind;
      for (const c of E.children(e)) checkTree(c, 'value', root, slots, `an operand of ${op}()`, seen);
    }
  }
}

/** How deep an update's expression may nest (operations on the longest path from a write to a leaf). */
export const MAX_RULE_DEPTH = 256;

/**
 * Throws if the expression under `root` nests deeper than MAX_RULE_DEPTH (the generators walk it
 * recursively) or holds a cycle; iterative, so that a tree of any depth is refused, not a stack overflow.
 */
function checkDepth(root: unknown, where: string): void {
  const depth = new Map<unknown, number>();
  const onPath = new Set<unknown>();
  const kids = (n: unknown): unknown[] =>
    typeof n === 'object' && n !== null && typeof (n as E.Node).kind === 'string'
      ? E.children(n as E.Node).filter((c) => typeof c === 'object' && c !== null)
      : [];
  const stack: [unknown, boolean][] = [[root, false]];
  while (stack.length > 0) {
    const [n, done] = stack.pop()!;
    if (done) {
      onPath.delete(n);
      // operations on the longest path below and at n: a leaf (p, g, a slot, a scalar, a constant) is none
      const k = kids(n);
      const d = k.length === 0 ? 0 : 1 + Math.max(...k.map((c) => depth.get(c) ?? 0));
      if (d > MAX_RULE_DEPTH) {
        fail(`${where} nests more than ${MAX_RULE_DEPTH} operations deep (the limit, MAX_RULE_DEPTH).`);
      }
      depth.set(n, d);
      continue;
    }
    if (depth.has(n)) continue;
    if (onPath.has(n)) fail(`${where} contains itself (a cycle); expected a tree built with the builders.`);
    onPath.add(n);
    stack.push([n, true]);
    for (const c of kids(n)) if (!depth.has(c)) stack.push([c, false]);
  }
}

/** A checked definition as the generators read it. */
export interface UserRule {
  /** The rule: its phases over namespaced slot identifiers, no options, no capabilities. */
  rule: Rule;
  /** Each slot's identifier in the kernels (./namespace.ts), in slot order. */
  arrays: string[];
  /** The scalars the update reads (every one must come out of `scalars` at every step). */
  scalarNames: string[];
  /** The hyperparameters with their defaults. */
  hyperparameters: Record<string, number>;
}

/**
 * Checks a definition and returns its rule; throws an OptimizerArgumentError naming the problem otherwise.
 * `clashOf` names an earlier rule whose name camel-cases like this one; `kernelName` gives the rule's kernels
 * a name of their own.
 */
export function ruleOfDefinition(
  definition: RuleDefinition,
  clashOf: (name: string) => string | undefined,
  kernelName: (name: string) => string,
): UserRule {
  if (typeof definition !== 'object' || definition === null) fail('expected a rule definition object.');
  const { name, slots, hyperparameters = {}, scalars, step, init } = definition;
  if (typeof name !== 'string' || !USER_NAME.test(name))
    fail(`invalid name ${JSON.stringify(name)}; expected a letter, then letters, digits or _.`);
  if (
    !Array.isArray(slots) ||
    slots.some((s) => typeof s !== 'string' || !USER_NAME.test(s) || s === 'p' || s === 'g' || s === 'n')
  ) {
    fail(`invalid slots ${JSON.stringify(slots)}; expected names (letters, digits, _), not p, g or n.`);
  }
  if (new Set(slots).size !== slots.length) fail(`slots ${JSON.stringify(slots)} name one slot twice.`);
  if (slots.length > 6) fail(`${slots.length} slots; at most 6 are supported.`);
  if (
    typeof scalars !== 'function' ||
    typeof step !== 'function' ||
    (init !== undefined && typeof init !== 'function')
  ) {
    fail('scalars and step must be functions (and init, when given).');
  }
  for (const [k, v] of Object.entries(hyperparameters)) {
    if (typeof v !== 'number' || !Number.isFinite(v))
      fail(`hyperparameter "${k}" is ${show(v)}; expected a finite number.`);
  }
  // tfjs-layers camel-cases a saved config's keys and strings when it loads a model (./rule_names.ts)
  const keyClash = camelCaseClash(Object.keys(hyperparameters));
  if (keyClash !== undefined) {
    fail(
      `hyperparameters "${keyClash[0]}" and "${keyClash[1]}" camel-case alike; tfjs-layers could not tell them ` +
        'apart when it loads a saved model. Rename one.',
    );
  }
  const nameClash = clashOf(name);
  if (nameClash !== undefined) {
    fail(
      `the name "${name}" camel-cases like the rule "${nameClash}" defined before; tfjs-layers could not tell ` +
        'them apart when it loads a saved model. Choose another name.',
    );
  }
  const builder: RuleBuilder = {
    p: E.array('p'),
    g: E.array('g'),
    slot: (s) =>
      slots.includes(s)
        ? E.array(userIdentifier(s))
        : fail(`the update reads slot "${s}", which is not one of ${JSON.stringify(slots)}.`),
    scalar: (s) => E.scalar(s),
    constant: E.constant,
    add: E.add,
    sub: E.sub,
    mul: E.mul,
    div: E.div,
    min: E.min,
    max: E.max,
    sqrt: E.sqrt,
    abs: E.abs,
    neg: E.neg,
    clamp: E.clamp,
    select: E.select,
    gt: E.gt,
    ge: E.ge,
    lt: E.lt,
    le: E.le,
    sameSign: E.sameSign,
    mean: E.mean,
  };
  const phase = (what: string, writes: RuleWrites): Phase => {
    if (typeof writes !== 'object' || writes === null)
      fail(`${what} must return the new values, e.g. { p: ..., m: ... }.`);
    const targets = Object.keys(writes);
    for (const t of targets)
      if (t !== 'p' && !slots.includes(t)) fail(`${what} writes "${t}", which is neither p nor a slot.`);
    if (targets.length === 0) fail(`${what} writes nothing.`);
    for (const t of targets) checkDepth(writes[t], `the new ${t} of ${what}`); // before any recursive walk
    for (const t of targets) checkTree(writes[t], 'value', `the new ${t} of ${what}`, slots);
    // equal subtrees one node: mean(gt(g, 0)) written twice is the mean of one condition
    const sharedRoots = E.shareEqual(targets.map((t) => writes[t]!));
    const shared = Object.fromEntries(targets.map((t, i) => [t, sharedRoots[i]!]));
    const conds = new Set(E.meansOf(targets.map((t) => shared[t]!)).map((m) => m.cond));
    if ([...conds].some((c) => E.meansOf([c]).length > 0)) {
      fail(
        `${what} takes mean() of a condition that itself reads a mean(); the condition of a mean must be ` +
          'per element.',
      );
    }
    if (conds.size > 1) {
      fail(
        `${what} takes mean() of ${conds.size} different conditions; a phase may take the mean of one condition ` +
          '(written any number of times), init and step one each.',
      );
    }
    // slots first, p last: the order the GPU programs run in (each reads only old values)
    const ordered = [...targets.filter((t) => t !== 'p'), ...targets.filter((t) => t === 'p')];
    // a slot is its namespaced identifier in every kernel: `end`, `i` or `main` is no kernel's local
    return { writes: ordered.map((t) => [t === 'p' ? t : userIdentifier(t), shared[t]!] as const) };
  };
  const phases = { ...(init ? { init: phase('init', init(builder)) } : {}), step: phase('step', step(builder)) };
  // every scalar the update reads must come out of `scalars`: checked now, not at the first step
  let given: Record<string, number>;
  try {
    given = scalars(1e-3, 1, { ...hyperparameters });
  } catch (e) {
    fail(
      `scalars(1e-3, 1, hyperparameters) threw: ${e instanceof Error ? `${e.name}: ${e.message}` : show(e)}; ` +
        'expected it to return an object of finite numbers.',
    );
  }
  const read = E.scalarsRead([...(phases.init?.writes ?? []), ...phases.step.writes].map(([, v]) => v));
  const missing = read.filter((s) => typeof given?.[s] !== 'number');
  if (missing.length > 0) {
    fail(
      `the update reads scalar(s) ${missing.map((s) => `"${s}"`).join(', ')}, for which scalars() returns ` +
        `${missing.map((s) => show(given?.[s])).join(', ')}; expected numbers.`,
    );
  }
  const arrays = slots.map(userIdentifier);
  const rule: Rule = {
    name: kernelName(name),
    options: {},
    capabilities: [],
    slots: () => arrays,
    phases: () => phases,
    scaling: {},
  };
  return { rule, arrays, scalarNames: read, hyperparameters: { ...hyperparameters } };
}
