/**
 * WebAssembly text for a rule's phase: a loop over four float32 lanes at a time (SIMD) and a
 * scalar loop for the last 0-3 elements, both from the same expression tree; and, for a phase
 * that needs a per-tensor mean, a counting kernel that evaluates the condition the same way and
 * writes nothing. Every array element is loaded once and stored once; uniforms are splatted
 * before the loop. Pointers are byte offsets, n counts float32 elements.
 */
import { useCounts, type Cond, type Node } from '../rules/expr.js';
import type { Phase } from '../rules/rule.js';
import type { Signature } from './signature.js';

/** A float32 literal WebAssembly text parses back to exactly this value. */
export function f32Literal(x: number): string {
  const f = Math.fround(x);
  if (Number.isNaN(f)) return 'nan';
  if (f === Infinity) return 'inf';
  if (f === -Infinity) return '-inf';
  return Object.is(f, -0) ? '-0' : String(f);
}

type Mode = 'simd' | 'scalar';

/** Expression text for each node, with shared nodes and loads in locals. */
export class Body {
  private readonly names = new Map<Node, string>();
  readonly locals: string[] = [];
  readonly lines: string[] = [];
  private count = 0;

  constructor(
    private readonly mode: Mode,
    private readonly uniforms: Map<Node, string>,
    private readonly uses: Map<Node, number>,
    /** How an array element is read where it is not a plain load at $o (the 8-bit kernels' decoded moments, offsets). */
    private readonly arrayText?: (name: string) => string | undefined,
    private readonly prefix = '',
  ) {}

  private local(type: string, text: string): string {
    const name = `$${this.prefix}${this.mode === 'simd' ? 'x' : 's'}${this.count++}`;
    this.locals.push(`(local ${name} ${type})`);
    this.lines.push(`(local.set ${name} ${text})`);
    return `(local.get ${name})`;
  }

  /** The text of a value, or of a condition (a v128 lane mask / an i32). */
  text(n: Node): string {
    const named = this.names.get(n);
    if (named !== undefined) return named;
    const simd = this.mode === 'simd';
    const V = simd ? 'v128' : 'f32';
    let t: string;
    let share = (this.uses.get(n) ?? 0) > 1;
    const u = this.uniforms.get(n);
    if (u !== undefined) {
      t = simd ? `(local.get ${u}x4)` : `(local.get ${u})`;
      share = false;
    } else {
      switch (n.kind) {
        case 'const':
          t = simd ? `(f32x4.splat (f32.const ${f32Literal(n.value)}))` : `(f32.const ${f32Literal(n.value)})`;
          break;
        case 'array': {
          const ptr = `$${n.name}`;
          const given = this.arrayText?.(n.name);
          if (given !== undefined) {
            t = given;
            share = !given.startsWith('(local.get');
            break;
          }
          t = simd
            ? `(v128.load (i32.add (local.get ${ptr}) (local.get $o)))`
            : `(f32.load (i32.add (local.get ${ptr}) (local.get $o)))`;
          share = true; // each element is loaded once
          break;
        }
        case 'unary': {
          const a = this.text(n.a);
          t = simd ? `(f32x4.${n.op} ${a})` : `(f32.${n.op} ${a})`;
          break;
        }
        case 'binary': {
          const a = this.text(n.a);
          const b = this.text(n.b);
          if (n.op === 'min' || n.op === 'max') {
            // pmin / pmax: b < a ? b : a and a < b ? b : a (one instruction each on x86)
            t = simd ? `(f32x4.p${n.op} ${a} ${b})` : this.scalarMinMax(n.op, a, b);
          } else {
            t = simd ? `(f32x4.${n.op} ${a} ${b})` : `(f32.${n.op} ${a} ${b})`;
          }
          break;
        }
        case 'clamp': {
          const a = this.text(n.a);
          const lo = this.text(n.lo);
          const hi = this.text(n.hi);
          t = simd
            ? `(f32x4.pmin (f32x4.pmax ${a} ${lo}) ${hi})`
            : this.scalarMinMax('min', this.scalarMinMax('max', a, lo), hi);
          break;
        }
        case 'select': {
          const c = this.text(n.cond);
          const a = this.text(n.a);
          const b = this.text(n.b);
          t = simd ? `(v128.bitselect ${a} ${b} ${c})` : `(select ${a} ${b} ${c})`;
          break;
        }
        case 'compare': {
          const a = this.text(n.a);
          const b = this.text(n.b);
          t = simd ? `(f32x4.${n.op} ${a} ${b})` : `(f32.${n.op} ${a} ${b})`;
          break;
        }
        case 'samesign': {
          const a = this.text(n.a);
          const b = this.text(n.b);
          t = simd
            ? `(v128.and (v128.and (f32x4.gt (f32x4.abs ${a}) (f32x4.splat (f32.const 0))) (f32x4.gt (f32x4.abs ${b}) (f32x4.splat (f32.const 0)))) (i32x4.ge_s (v128.xor ${a} ${b}) (v128.const i32x4 0 0 0 0)))`
            : `(i32.and (i32.and (f32.gt (f32.abs ${a}) (f32.const 0)) (f32.gt (f32.abs ${b}) (f32.const 0))) (i32.ge_s (i32.xor (i32.reinterpret_f32 ${a}) (i32.reinterpret_f32 ${b})) (i32.const 0)))`;
          if (!simd) {
            const name = this.local('i32', t);
            this.names.set(n, name);
            return name;
          }
          break;
        }
        case 'mean':
          throw new TypeError('adopt-optim codegen: a mean must sit inside a uniform');
        case 'scalar':
          throw new TypeError(`adopt-optim codegen: the scalar "${n.name}" has no uniform`);
      }
    }
    if (share) {
      const isCond = n.kind === 'compare' || n.kind === 'samesign';
      t = this.local(simd ? 'v128' : isCond ? 'i32' : V, t);
    }
    this.names.set(n, t);
    return t;
  }

  /** Scalar pmin / pmax, the same semantics as the SIMD lanes (NaN in b does not propagate). */
  private scalarMinMax(op: 'min' | 'max', a: string, b: string): string {
    const la = this.local('f32', a);
    const lb = this.local('f32', b);
    return op === 'max' ? `(select ${lb} ${la} (f32.lt ${la} ${lb}))` : `(select ${lb} ${la} (f32.lt ${lb} ${la}))`;
  }
}

function header(name: string, sig: Signature, uniformNames: string[], result = ''): string {
  const ptrs = sig.arrays.map((a) => `(param $${a} i32)`).join(' ');
  const us = uniformNames.map((u) => `(param ${u} f32)`).join(' ');
  return `(func $${name} (export "${name}") ${ptrs} (param $n i32) ${us}${result}`;
}

export function uniformNames(sig: Signature): [Map<Node, string>, string[]] {
  const map = new Map<Node, string>();
  const names = sig.uniforms.map((u, i) => {
    const name = `$u${i}`;
    map.set(u, name);
    return name;
  });
  return [map, names];
}

function loops(simd: Body, scalar: Body, simdTail: string[], scalarTail: string[]): string {
  return `
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        ${[...simd.lines, ...simdTail].join('\n        ')}
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $loop)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $o) (local.get $end)))
        ${[...scalar.lines, ...scalarTail].join('\n        ')}
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $tail)))`;
}

/** A function applying `phase` to n elements (its writes stored after every value is computed). */
export function watPhase(name: string, sig: Signature, phase: Phase): string {
  const [umap, unames] = uniformNames(sig);
  const roots = phase.writes.map(([, v]) => v);
  const uses = useCounts(roots);
  const simd = new Body('simd', umap, uses);
  const scalar = new Body('scalar', umap, uses);
  // values first (every read sees the old arrays), then the stores
  const simdValues = roots.map((r) => simd.text(r));
  const scalarValues = roots.map((r) => scalar.text(r));
  const store = (mode: Mode, values: string[]): string[] =>
    phase.writes.map(([target], i) =>
      mode === 'simd'
        ? `(v128.store (i32.add (local.get $${target}) (local.get $o)) ${values[i]})`
        : `(f32.store (i32.add (local.get $${target}) (local.get $o)) ${values[i]})`,
    );
  return `  ${header(name, sig, unames)}
    (local $o i32) (local $end i32) ${unames.map((u) => `(local ${u}x4 v128)`).join(' ')}
    ${[...simd.locals, ...scalar.locals].join(' ')}
    ${unames.map((u) => `(local.set ${u}x4 (f32x4.splat (local.get ${u})))`).join('\n    ')}${loops(simd, scalar, store('simd', simdValues), store('scalar', scalarValues))})`;
}

/** A function returning how many of the n elements satisfy `cond` (nothing is written). */
export function watCount(name: string, sig: Signature, cond: Cond): string {
  const [umap, unames] = uniformNames(sig);
  const uses = useCounts([cond]);
  const simd = new Body('simd', umap, uses);
  const scalar = new Body('scalar', umap, uses);
  const mask = simd.text(cond);
  const bit = scalar.text(cond);
  return `  ${header(name, sig, unames, ' (result i32)')}
    (local $o i32) (local $end i32) (local $acc v128) (local $count i32) ${unames.map((u) => `(local ${u}x4 v128)`).join(' ')}
    ${[...simd.locals, ...scalar.locals].join(' ')}
    ${unames.map((u) => `(local.set ${u}x4 (f32x4.splat (local.get ${u})))`).join('\n    ')}${loops(
      simd,
      scalar,
      [`(local.set $acc (i32x4.sub (local.get $acc) ${mask}))`],
      [`(local.set $count (i32.add (local.get $count) ${bit}))`],
    ).replace(
      '(local.set $end (i32.shl (local.get $n)',
      `(local.set $count (i32.add (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
      (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
    (local.set $end (i32.shl (local.get $n)`,
    )}
    (local.get $count))`;
}

/** A module of functions over an imported memory. */
export function watModule(comment: string, functions: string[]): string {
  return `;; ${comment}\n;; Generated by scripts/build-kernels.ts from the rules in src/rules (src/codegen/wat.ts); do not edit.\n(module\n  (import "env" "memory" (memory 1))\n${functions.join('\n\n')}\n)\n`;
}
