/**
 * Expression text in the C-like shading languages (GLSL for webgl, WGSL for webgpu): one
 * printer, the dialects' differences (literals, vector comparisons and selects, how a local is
 * declared) given by a Dialect. Shared nodes become locals; uniforms are named by the caller.
 */
import { useCounts, type Node } from '../rules/expr.js';

export interface Dialect {
  literal(x: number): string;
  /** Declares a local holding `text`; `cond`: a condition (bool / bvec). */
  declare(name: string, text: string, cond: boolean): string;
  compare(op: 'gt' | 'ge' | 'lt' | 'le', a: string, b: string): string;
  sameSign(a: string, b: string): string;
  select(cond: string, a: string, b: string): string;
  /** How an array element is read (GLSL: getPAtOutCoords(); WGSL: a local loaded from p[i]). */
  load(array: string): string;
}

const SYMBOL = { add: '+', sub: '-', mul: '*', div: '/' } as const;

export class ShaderBody {
  readonly lines: string[] = [];
  private readonly names = new Map<Node, string>();
  private readonly uses: Map<Node, number>;
  private count = 0;

  constructor(
    private readonly d: Dialect,
    roots: Node[],
    private readonly uniforms: Map<Node, string>,
  ) {
    this.uses = useCounts(roots);
  }

  text(n: Node): string {
    const known = this.names.get(n);
    if (known !== undefined) return known;
    const uniform = this.uniforms.get(n);
    if (uniform !== undefined) return uniform;
    let t: string;
    let share = (this.uses.get(n) ?? 0) > 1;
    switch (n.kind) {
      case 'const':
        t = this.d.literal(n.value);
        share = false;
        break;
      case 'array':
        t = this.d.load(n.name);
        share = false;
        break;
      case 'unary':
        t = n.op === 'neg' ? `(-${this.text(n.a)})` : `${n.op}(${this.text(n.a)})`;
        break;
      case 'binary': {
        const a = this.text(n.a);
        const b = this.text(n.b);
        t = n.op === 'min' || n.op === 'max' ? `${n.op}(${a}, ${b})` : `(${a} ${SYMBOL[n.op]} ${b})`;
        break;
      }
      case 'clamp':
        t = `clamp(${this.text(n.a)}, ${this.text(n.lo)}, ${this.text(n.hi)})`;
        break;
      case 'select':
        t = this.d.select(this.text(n.cond), this.text(n.a), this.text(n.b));
        break;
      case 'compare':
        t = this.d.compare(n.op, this.text(n.a), this.text(n.b));
        break;
      case 'samesign':
        t = this.d.sameSign(this.text(n.a), this.text(n.b));
        break;
      case 'mean':
        throw new TypeError('adopt-optim codegen: a mean must sit inside a uniform');
      case 'scalar':
        throw new TypeError(`adopt-optim codegen: the scalar "${n.name}" has no uniform`);
    }
    if (share) {
      const name = `x${this.count++}`;
      this.lines.push(this.d.declare(name, t, n.kind === 'compare' || n.kind === 'samesign'));
      t = name;
    }
    this.names.set(n, t);
    return t;
  }
}

/** A float32 literal as C-like source: always with a decimal point or exponent. */
export function floatLiteral(x: number): string {
  const f = Math.fround(x);
  if (!Number.isFinite(f)) throw new TypeError(`adopt-optim codegen: the constant ${x} has no shader literal`);
  const s = String(f);
  const t = /[.e]/.test(s) ? s : `${s}.0`;
  return f < 0 || Object.is(f, -0) ? `(${t})` : t;
}
