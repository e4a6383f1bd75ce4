/**
 * GLSL fragment programs for tfjs's webgl backend (GPGPUProgram user code): one program per
 * array a phase writes, computing that value from the old inputs (the phase's other outputs are
 * other programs). T is float (unpacked textures) or vec4 (packed, 4 values per texel); inputs
 * are read with tfjs's get<Name>AtOutCoords(). Uniforms u0, u1, ... are custom float uniforms.
 */
import { arraysRead, type Value } from '../rules/expr.js';
import type { Signature } from './signature.js';
import { floatLiteral, ShaderBody, type Dialect } from './shader.js';

export const capitalized = (name: string): string => name[0]!.toUpperCase() + name.slice(1);

function dialect(packed: boolean): Dialect {
  const vec = packed;
  return {
    literal: floatLiteral,
    declare: (name, text, cond) => `${cond ? (vec ? 'bvec4' : 'bool') : 'T'} ${name} = ${text};`,
    compare: (op, a, b) =>
      vec
        ? `${{ gt: 'greaterThan', ge: 'greaterThanEqual', lt: 'lessThan', le: 'lessThanEqual' }[op]}(${a}, T(${b}))`
        : `(${a} ${{ gt: '>', ge: '>=', lt: '<', le: '<=' }[op]} ${b})`,
    sameSign: (a, b) => (vec ? `greaterThan(sign(${a}) * sign(${b}), T(0.0))` : `(sign(${a}) * sign(${b}) > 0.0)`),
    select: (c, a, b) => (vec ? `mix(T(${b}), T(${a}), ${c})` : `(${c} ? ${a} : ${b})`),
    load: (array) => `get${capitalized(array)}AtOutCoords()`,
  };
}

export interface GlslProgram {
  /** Inputs in binding order (capitalised by the caller as tfjs variable names). */
  inputs: string[];
  /** The uniforms read, as indices into the signature's uniforms. */
  uniforms: number[];
  /** The body of `T fusedUpdate()`. */
  body: string;
}

/** The program computing `value` (the new `target`): its inputs, uniforms and body. */
export function glslProgram(sig: Signature, target: string, value: Value, packed: boolean): GlslProgram {
  const names = new Map(sig.uniforms.map((u, i) => [u, `u${i}`] as const));
  const body = new ShaderBody(dialect(packed), [value], names);
  const result = body.text(value);
  const read = new Set([...arraysRead([value]), target]); // the old target: kept when the step is refused
  const text = [...body.lines, `return ${result};`].join(' ');
  const uniforms = sig.uniforms.flatMap((_, i) => (new RegExp(`\\bu${i}\\b`).test(text) ? [i] : []));
  return { inputs: sig.arrays.filter((a) => read.has(a)), uniforms, body: text };
}
