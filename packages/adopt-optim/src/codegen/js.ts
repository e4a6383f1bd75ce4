/**
 * JavaScript source for a phase: one loop over the elements of plain Float32Arrays, every value
 * computed in float64 (JavaScript numbers) and rounded to float32 only where it is stored, as the
 * framework-free core's transformations compute (docs/ALGORITHM.md §7); and, for a phase with a
 * per-tensor mean, a counting function. Used by scripts/build-kernels.ts to generate the core's
 * chain pieces (src/kernels/generated/js_kernels.ts).
 */
import { arraysRead, useCounts, type Cond, type Node } from '../rules/expr.js';
import type { Phase } from '../rules/rule.js';
import type { Signature } from './signature.js';
import type { KernelPlan } from './modules.js';

const OPS = { add: '+', sub: '-', mul: '*', div: '/' } as const;

function literal(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return Object.is(x, -0) ? '-0' : `${x}`;
}

class JsBody {
  readonly lines: string[] = [];
  private readonly names = new Map<Node, string>();
  private count = 0;

  constructor(
    private readonly uses: Map<Node, number>,
    private readonly uniforms: Map<Node, string>,
  ) {}

  private local(text: string): string {
    const name = `x${this.count++}`;
    this.lines.push(`const ${name} = ${text};`);
    return name;
  }

  text(n: Node): string {
    const known = this.names.get(n) ?? this.uniforms.get(n);
    if (known !== undefined) return known;
    let t: string;
    let share = (this.uses.get(n) ?? 0) > 1;
    switch (n.kind) {
      case 'const':
        t = `(${literal(n.value)})`;
        share = false;
        break;
      case 'array':
        t = `${n.name}[i]`;
        share = true;
        break;
      case 'unary':
        t = n.op === 'neg' ? `(-${this.text(n.a)})` : `Math.${n.op}(${this.text(n.a)})`;
        break;
      case 'binary': {
        const a = this.text(n.a);
        const b = this.text(n.b);
        if (n.op === 'min' || n.op === 'max') {
          // the kernels' pmin / pmax: b < a ? b : a and a < b ? b : a
          const la = this.local(a);
          const lb = this.local(b);
          t = n.op === 'max' ? `(${la} < ${lb} ? ${lb} : ${la})` : `(${lb} < ${la} ? ${lb} : ${la})`;
        } else {
          t = `(${a} ${OPS[n.op]} ${b})`;
        }
        break;
      }
      case 'clamp': {
        const a = this.local(this.text(n.a));
        const lo = this.local(this.text(n.lo));
        const hi = this.local(this.text(n.hi));
        const up = this.local(`(${a} < ${lo} ? ${lo} : ${a})`);
        t = `(${hi} < ${up} ? ${hi} : ${up})`;
        break;
      }
      case 'select':
        t = `(${this.text(n.cond)} ? ${this.text(n.a)} : ${this.text(n.b)})`;
        break;
      case 'compare':
        t = `(${this.text(n.a)} ${{ gt: '>', ge: '>=', lt: '<', le: '<=' }[n.op]} ${this.text(n.b)})`;
        break;
      case 'samesign': {
        const a = this.local(this.text(n.a));
        const b = this.local(this.text(n.b));
        t = `((${a} > 0 && ${b} > 0) || (${a} < 0 && ${b} < 0))`;
        break;
      }
      case 'mean':
        throw new TypeError('adopt-optim codegen: a mean must sit inside a uniform');
      case 'scalar':
        throw new TypeError(`adopt-optim codegen: the scalar "${n.name}" has no uniform`);
    }
    if (share) t = this.local(t);
    this.names.set(n, t);
    return t;
  }
}

function params(sig: Signature, used: Set<string>, typed: boolean): string {
  const t = (type: string): string => (typed ? `: ${type}` : '');
  return [
    ...sig.arrays.map((a) => `${used.has(a) ? '' : '_'}${a}${t('Float32Array')}`),
    `n${t('number')}`,
    ...sig.uniforms.map((_, i) => `u${i}${t('number')}`),
  ].join(', ');
}

function uniformNames(sig: Signature): Map<Node, string> {
  return new Map(sig.uniforms.map((u, i) => [u, `u${i}`] as const));
}

/**
 * `function name(p, g, ...slots, n, u0, ...)`: the phase over elements 0..n-1, in place; TypeScript
 * for the build (`typed`), or plain JavaScript for a rule defined at run time.
 */
export function jsPhase(name: string, sig: Signature, phase: Phase, typed = true): string {
  const roots = phase.writes.map(([, v]) => v);
  const body = new JsBody(useCounts(roots), uniformNames(sig));
  const values = roots.map((r) => body.text(r));
  const used = new Set([...arraysRead(roots), ...phase.writes.map(([t]) => t)]);
  return `${typed ? 'export ' : ''}function ${name}(${params(sig, used, typed)})${typed ? ': void' : ''} {
  for (let i = 0; i < n; i++) {
    ${body.lines.join('\n    ')}
    ${values.map((v, k) => `const w${k} = ${v};`).join('\n    ')}
    ${phase.writes.map(([target], k) => `${target}[i] = w${k};`).join('\n    ')}
  }
}`;
}

/** `function name(...)`: how many of the n elements satisfy `cond`. */
export function jsCount(name: string, sig: Signature, cond: Cond, typed = true): string {
  const body = new JsBody(useCounts([cond]), uniformNames(sig));
  const c = body.text(cond);
  return `${typed ? 'export ' : ''}function ${name}(${params(sig, new Set(arraysRead([cond])), typed)})${typed ? ': number' : ''} {
  let count = 0;
  for (let i = 0; i < n; i++) {
    ${body.lines.join('\n    ')}
    if (${c}) count++;
  }
  return count;
}`;
}

/**
 * The JavaScript of every kernel of a plan, by function (`init`, `step`, `count`, `count_init` where the plan has
 * them), each named `<prefix><function>`: the build script's chain pieces (exported, typed) and a user rule's
 * fallback kernels (untyped, compiled at run time) are made by this one function.
 */
export function planFunctionsJs(
  plan: KernelPlan,
  prefix = '',
  typed = false,
): { init?: string; step: string; count?: string; count_init?: string } {
  const { init, step, count, initCount } = plan;
  return {
    ...(init ? { init: jsPhase(`${prefix}init`, init.sig, init.phase, typed) } : {}),
    step: jsPhase(`${prefix}step`, step.sig, step.phase, typed),
    ...(count ? { count: jsCount(`${prefix}count`, count.sig, count.cond, typed) } : {}),
    ...(initCount ? { count_init: jsCount(`${prefix}count_init`, initCount.sig, initCount.cond, typed) } : {}),
  };
}
