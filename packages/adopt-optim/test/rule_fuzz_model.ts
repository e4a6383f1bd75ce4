/**
 * The rule fuzzer's model: random rule definitions as plain data (identifiers drawn from every
 * generated language's keywords and every kernel-local name), how one becomes a defineRule
 * definition, and an independent float64 interpreter of the same tree that also bounds how far a
 * float32 evaluation may be from it (so the comparison is exact up to float32 rounding).
 */
import fc from 'fast-check';
import type { RuleBuilder, RuleDefinition } from '../src/rules/index.js';

/** JavaScript reserved words and globals the generated JS uses. */
const JS = [
  'break',
  'case',
  'catch',
  'class',
  'const',
  'continue',
  'debugger',
  'default',
  'delete',
  'do',
  'else',
  'export',
  'extends',
  'finally',
  'for',
  'function',
  'if',
  'import',
  'in',
  'instanceof',
  'new',
  'return',
  'super',
  'switch',
  'this',
  'throw',
  'try',
  'typeof',
  'var',
  'void',
  'while',
  'with',
  'yield',
  'let',
  'static',
  'await',
  'enum',
  'implements',
  'interface',
  'package',
  'private',
  'protected',
  'public',
  'null',
  'true',
  'false',
  'arguments',
  'eval',
  'undefined',
  'NaN',
  'Infinity',
  'Math',
  'Float32Array',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
];
/** WebAssembly text keywords and instruction stems. */
const WAT = [
  'module',
  'func',
  'param',
  'result',
  'local',
  'global',
  'memory',
  'import',
  'export',
  'block',
  'loop',
  'br',
  'br_if',
  'select',
  'i32',
  'i64',
  'f32',
  'f64',
  'v128',
  'nan',
  'inf',
  'offset',
  'align',
  'type',
  'table',
  'start',
  'mut',
];
/** GLSL ES 3.0 keywords, built-ins and tfjs's shader names. */
const GLSL = [
  'attribute',
  'uniform',
  'varying',
  'layout',
  'centroid',
  'flat',
  'smooth',
  'in',
  'out',
  'inout',
  'float',
  'int',
  'uint',
  'bool',
  'vec2',
  'vec3',
  'vec4',
  'bvec4',
  'mat2',
  'sampler2D',
  'precision',
  'highp',
  'mediump',
  'lowp',
  'discard',
  'struct',
  'mix',
  'sign',
  'clamp',
  'abs',
  'sqrt',
  'min',
  'max',
  'greaterThan',
  'lessThan',
  'main',
  'T',
  'G',
  'P',
  'Ok',
  'ok',
  'nAN',
  'NAN',
  'INFINITY',
  'isnan',
  'result',
  'coords',
  'setOutput',
  'getOutputCoords',
  'outputColor',
  'resultUV',
  'getPAtOutCoords',
  'getGAtOutCoords',
  'fusedUpdate',
  'gl_FragColor',
  'gl_x',
  'a__b',
  'texture',
  'round',
];
/** WGSL keywords, reserved words and names the generated shader uses. */
const WGSL = [
  'alias',
  'break',
  'case',
  'const',
  'const_assert',
  'continue',
  'continuing',
  'default',
  'diagnostic',
  'discard',
  'else',
  'enable',
  'false',
  'fn',
  'for',
  'if',
  'let',
  'loop',
  'override',
  'requires',
  'return',
  'struct',
  'switch',
  'true',
  'var',
  'while',
  'array',
  'atomic',
  'bool',
  'f16',
  'f32',
  'i32',
  'u32',
  'mat4x4',
  'ptr',
  'sampler',
  'vec3',
  'vec4',
  'target',
  'filter',
  'storage',
  'read',
  'read_write',
  'workgroup',
  'uniform',
  'private',
  'function',
  'binding',
  'group',
  'compute',
  'workgroup_size',
  'builtin',
  'global_invocation_id',
  'id',
  'size',
  'stride',
  'Uniforms',
  'main',
  'u',
  'i',
  'ok',
  'p_old',
  'g_old',
  'self',
  'meta',
  'mod',
  'new',
  'null',
  'this',
  'typedef',
  'unsafe',
  'using',
];
/** Locals, labels and functions of the generated kernels (WAT, JS, GLSL, WGSL). */
const LOCALS = [
  'o',
  'end',
  'i',
  'x0',
  'x1',
  's0',
  's1',
  'u0',
  'u1',
  'u0x4',
  'w0',
  'w1',
  'acc',
  'count',
  'count_init',
  'done',
  'tail',
  'tail_done',
  'init',
  'step',
  'iter',
  'n_',
  's_x_1',
  'custom1_a',
  'a_0b',
  'z',
];

/** Every identifier a user may give that some generator might also emit. */
export const IDENTIFIERS: readonly string[] = [...new Set([...JS, ...WAT, ...GLSL, ...WGSL, ...LOCALS])].filter(
  (s) => /^[A-Za-z][A-Za-z0-9_]*$/.test(s) && !['p', 'g', 'n'].includes(s),
);

export type Bin = 'add' | 'sub' | 'mul' | 'div' | 'min' | 'max';
export type Un = 'sqrt' | 'abs' | 'neg';
export type Cmp = 'gt' | 'ge' | 'lt' | 'le';
/** A value: an array (p, g or a slot by its name), a constant, a scalar, an operation, or the phase's mean. */
export type X =
  | { k: 'arr'; name: string }
  | { k: 'const'; v: number }
  | { k: 'scalar'; name: string }
  | { k: 'mean' }
  | { k: 'bin'; op: Bin; a: X; b: X }
  | { k: 'un'; op: Un; a: X }
  | { k: 'clamp'; a: X; lo: X; hi: X }
  | { k: 'select'; c: C; a: X; b: X };
export type C = { k: 'cmp'; op: Cmp; a: X; b: X } | { k: 'same'; a: X; b: X };
/** A phase: its writes, and the condition its mean() leaves average (one per phase, as defineRule allows). */
export interface PhaseSpec {
  writes: [string, X][];
  mean?: C;
}
export interface RuleSpec {
  slots: string[];
  scalars: [string, number][];
  init?: PhaseSpec;
  step: PhaseSpec;
  n: number;
}

const CONSTANTS = [0, 1, -1, 0.5, 2, -3, 1e-3, 0.1, 1e3];

function trees(arrays: string[], scalars: string[], withMean: boolean): { x: fc.Arbitrary<X>; c: fc.Arbitrary<C> } {
  const leaves: fc.Arbitrary<X>[] = [
    fc.constantFrom(...arrays).map((name): X => ({ k: 'arr', name })),
    fc
      .oneof(fc.constantFrom(...CONSTANTS), fc.float({ min: -8, max: 8, noNaN: true, noDefaultInfinity: true }))
      .map((v): X => ({ k: 'const', v: Object.is(v, -0) ? 0 : v })),
    ...(scalars.length > 0 ? [fc.constantFrom(...scalars).map((name): X => ({ k: 'scalar', name }))] : []),
    ...(withMean ? [fc.constant<X>({ k: 'mean' })] : []),
  ];
  const t = fc.letrec<{ x: X; c: C }>((tie) => ({
    x: fc.oneof(
      { depthSize: 'small', maxDepth: 4, depthIdentifier: 'tree', withCrossShrink: true },
      ...leaves,
      fc.record({
        k: fc.constant('bin' as const),
        op: fc.constantFrom<Bin>('add', 'sub', 'mul', 'div', 'min', 'max'),
        a: tie('x'),
        b: tie('x'),
      }),
      fc.record({ k: fc.constant('un' as const), op: fc.constantFrom<Un>('sqrt', 'abs', 'neg'), a: tie('x') }),
      fc.record({ k: fc.constant('clamp' as const), a: tie('x'), lo: tie('x'), hi: tie('x') }),
      fc.record({ k: fc.constant('select' as const), c: tie('c'), a: tie('x'), b: tie('x') }),
    ) as fc.Arbitrary<X>,
    c: fc.oneof(
      { depthIdentifier: 'tree' },
      // a value against itself: an exact tie, where gt and ge, lt and le differ
      fc
        .record({ op: fc.constantFrom<Cmp>('gt', 'ge', 'lt', 'le'), a: tie('x') })
        .map(({ op, a }): C => ({ k: 'cmp', op, a, b: a })),
      fc.record({
        k: fc.constant('cmp' as const),
        op: fc.constantFrom<Cmp>('gt', 'ge', 'lt', 'le'),
        a: tie('x'),
        b: tie('x'),
      }),
      fc.record({ k: fc.constant('same' as const), a: tie('x'), b: tie('x') }),
    ) as fc.Arbitrary<C>,
  }));
  return { x: t.x, c: t.c };
}

function phase(slots: string[], scalars: string[]): fc.Arbitrary<PhaseSpec> {
  const arrays = ['p', 'g', ...slots];
  const plain = trees(arrays, scalars, false);
  const withMean = trees(arrays, scalars, true);
  const written = fc.subarray(['p', ...slots], { minLength: 1 });
  return fc
    .record({ mean: fc.option(plain.c, { nil: undefined }), targets: written })
    .chain(({ mean, targets }) =>
      fc
        .tuple(...targets.map((t) => (mean ? withMean : plain).x.map((x): [string, X] => [t, x])))
        .map((writes): PhaseSpec => ({ writes, ...(mean ? { mean } : {}) })),
    );
}

/** A random rule: up to 3 slots and 3 scalars named from IDENTIFIERS, an optional init, a step. */
export const ruleSpec: fc.Arbitrary<RuleSpec> = fc
  .record({
    slots: fc.uniqueArray(fc.constantFrom(...IDENTIFIERS), { maxLength: 3 }),
    scalars: fc.uniqueArray(fc.tuple(fc.constantFrom(...IDENTIFIERS), fc.constantFrom(0.9, 0.1, 1, 0.01, 2, -0.5)), {
      maxLength: 3,
      selector: ([name]) => name.replace(/_+(\w|$)/g, (_m, c: string) => c.toUpperCase()),
    }),
    n: fc.integer({ min: 1, max: 11 }),
  })
  .chain(({ slots, scalars, n }) =>
    fc
      .record({
        slots: fc.constant(slots),
        scalars: fc.constant(scalars),
        n: fc.constant(n),
        init: fc.option(
          phase(
            slots,
            scalars.map(([s]) => s),
          ),
          { nil: undefined },
        ),
        step: phase(
          slots,
          scalars.map(([s]) => s),
        ),
      })
      .map((r): RuleSpec => (r.init === undefined ? { slots: r.slots, scalars: r.scalars, n: r.n, step: r.step } : r)),
  );

/** The scalars at step t (float64), from the rule's hyperparameters (named as the scalars). */
export function scalarsAt(spec: RuleSpec, t: number): Record<string, number> {
  return Object.fromEntries(spec.scalars.map(([name, v]) => [name, v * (t === 1 ? 1 : 0.5)]));
}

/** The spec as a defineRule definition; equal subtrees become one node (shared, as kernels keep them in locals). */
export function definition(name: string, spec: RuleSpec): RuleDefinition {
  const build =
    (ph: PhaseSpec) =>
    (b: RuleBuilder): Record<string, ReturnType<RuleBuilder['add']>> => {
      const memo = new Map<string, unknown>();
      const cond = (c: C): ReturnType<RuleBuilder['gt']> => {
        const key = JSON.stringify(c);
        if (!memo.has(key))
          memo.set(key, c.k === 'same' ? b.sameSign(val(c.a), val(c.b)) : b[c.op](val(c.a), val(c.b)));
        return memo.get(key) as ReturnType<RuleBuilder['gt']>;
      };
      const val = (x: X): ReturnType<RuleBuilder['add']> => {
        const key = JSON.stringify(x);
        if (memo.has(key)) return memo.get(key) as ReturnType<RuleBuilder['add']>;
        const v =
          x.k === 'arr'
            ? x.name === 'p'
              ? b.p
              : x.name === 'g'
                ? b.g
                : b.slot(x.name)
            : x.k === 'const'
              ? b.constant(x.v)
              : x.k === 'scalar'
                ? b.scalar(x.name)
                : x.k === 'mean'
                  ? b.mean(cond(ph.mean!))
                  : x.k === 'bin'
                    ? b[x.op](val(x.a), val(x.b))
                    : x.k === 'un'
                      ? b[x.op](val(x.a))
                      : x.k === 'clamp'
                        ? b.clamp(val(x.a), val(x.lo), val(x.hi))
                        : b.select(cond(x.c), val(x.a), val(x.b));
        memo.set(key, v);
        return v;
      };
      return Object.fromEntries(ph.writes.map(([t, x]) => [t, val(x)]));
    };
  return {
    name,
    slots: spec.slots,
    hyperparameters: Object.fromEntries(spec.scalars),
    scalars: (_lr, t, h) => Object.fromEntries(spec.scalars.map(([s]) => [s, h[s]! * (t === 1 ? 1 : 0.5)])),
    step: build(spec.step),
    ...(spec.init ? { init: build(spec.init) } : {}),
  };
}

/** A value in float64 and a bound on how far a float32 evaluation can be from it (Infinity: no bound). */
export interface Bounded {
  v: number;
  e: number;
}

/** Unit roundoff of float32, and an absolute floor per operation (subnormals, flushed to zero or not). */
const U = 2 ** -24;
const FLOOR = 2 ** -126;
const F32_MAX = 3.4028234663852886e38;
const NONE: Bounded = { v: NaN, e: Infinity };

/** The operations of the interpreter: a test may replace one (a seeded bug the fuzzer must catch). */
export interface Ops {
  bin(op: Bin, a: number, b: number): number;
  cmp(op: Cmp, a: number, b: number): boolean;
}
export const OPS: Ops = {
  bin: (op, a, b) =>
    op === 'add'
      ? a + b
      : op === 'sub'
        ? a - b
        : op === 'mul'
          ? a * b
          : op === 'div'
            ? a / b
            : op === 'min'
              ? Math.min(a, b)
              : Math.max(a, b),
  cmp: (op, a, b) => (op === 'gt' ? a > b : op === 'ge' ? a >= b : op === 'lt' ? a < b : a <= b),
};

/** One float32 rounding of a result whose inputs were `prop` away: the bound, or none where float32 would overflow. */
function rounded(v: number, prop: number): Bounded {
  if (!Number.isFinite(v) || !Number.isFinite(prop)) return NONE;
  const e = prop + U * (Math.abs(v) + prop) + FLOOR;
  return Math.abs(v) + e >= F32_MAX ? NONE : { v, e };
}

/**
 * An array element, constant or scalar: exact where float32 holds it (every path then sees the same
 * number), else rounded once; a subnormal may be flushed to zero (XNNPACK, GPUs), so it is ± itself.
 */
const leaf = (v: number): Bounded =>
  Math.abs(v) < 2 ** -126 ? { v, e: Math.abs(v) } : Math.fround(v) === v ? { v, e: 0 } : rounded(v, 0);

/** The phase's writes for every element, from the arrays before it (each read sees old values). */
export function interpret(
  ph: PhaseSpec,
  arrays: Record<string, Float32Array>,
  scalars: Record<string, number>,
  ops = OPS,
): Record<string, Bounded[]> {
  const n = arrays.p!.length;
  let mean: Bounded = NONE;
  const cond = (c: C, i: number): { holds: boolean; certain: boolean } => {
    const a = value(c.a, i);
    const b = value(c.b, i);
    if (c.k === 'same') {
      const holds = (a.v > 0 && b.v > 0) || (a.v < 0 && b.v < 0);
      const known = (x: Bounded): boolean => Math.abs(x.v) > x.e || (x.e === 0 && x.v === 0);
      return { holds, certain: known(a) && known(b) };
    }
    const holds = ops.cmp(c.op, a.v, b.v);
    const exact = a.e === 0 && b.e === 0 && !Number.isNaN(a.v) && !Number.isNaN(b.v);
    return { holds, certain: exact || Math.abs(a.v - b.v) > a.e + b.e };
  };
  const value = (x: X, i: number): Bounded => {
    switch (x.k) {
      case 'arr':
        return leaf((Object.hasOwn(arrays, x.name) ? arrays[x.name]! : [])[i]!);
      case 'const':
        return leaf(x.v);
      case 'scalar':
        return leaf(scalars[x.name]!);
      case 'mean':
        return mean;
      case 'un': {
        const a = value(x.a, i);
        if (x.op !== 'sqrt') return { v: x.op === 'abs' ? Math.abs(a.v) : -a.v, e: a.e };
        if (a.v - a.e < 0 && !(a.v === 0 && a.e === 0)) return NONE; // float32 may see a negative: NaN
        const r = Math.sqrt(a.v);
        return rounded(r, a.e === 0 ? 0 : Math.min(Math.sqrt(a.e), a.e / (r + Math.sqrt(a.v - a.e))));
      }
      case 'bin': {
        const a = value(x.a, i);
        const b = value(x.b, i);
        const r = ops.bin(x.op, a.v, b.v);
        switch (x.op) {
          case 'add':
          case 'sub':
            return rounded(r, a.e + b.e);
          case 'mul':
            return rounded(r, Math.abs(a.v) * b.e + Math.abs(b.v) * a.e + a.e * b.e);
          case 'div': {
            if (Math.abs(b.v) <= b.e || b.v === 0) return NONE;
            return rounded(r, (Math.abs(a.v) * b.e + Math.abs(b.v) * a.e) / (Math.abs(b.v) * (Math.abs(b.v) - b.e)));
          }
          default:
            return Number.isFinite(r) ? { v: r, e: Math.max(a.e, b.e) } : NONE;
        }
      }
      case 'clamp': {
        const [a, lo, hi] = [value(x.a, i), value(x.lo, i), value(x.hi, i)];
        const r = Math.min(Math.max(a.v, lo.v), hi.v);
        return Number.isFinite(r) ? { v: r, e: Math.max(a.e, lo.e, hi.e) } : NONE;
      }
      case 'select': {
        const c = cond(x.c, i);
        const a = value(x.a, i);
        const b = value(x.b, i);
        const chosen = c.holds ? a : b;
        if (c.certain) return chosen;
        // the kernel may take the other branch: as far as the two are apart
        if (!Number.isFinite(a.v) || !Number.isFinite(b.v)) return NONE;
        return { v: chosen.v, e: Math.max(a.e, b.e) + Math.abs(a.v - b.v) };
      }
    }
  };
  if (ph.mean !== undefined) {
    let count = 0;
    let unsure = 0;
    for (let i = 0; i < n; i++) {
      const c = cond(ph.mean, i);
      if (c.holds) count++;
      if (!c.certain) unsure++;
    }
    mean = rounded(count / n, unsure / n);
  }
  return Object.fromEntries(ph.writes.map(([t, x]) => [t, Array.from({ length: n }, (_, i) => value(x, i))]));
}
