/**
 * A WGSL compute shader for tfjs's webgpu backend: one invocation per element reads the phase's
 * arrays from storage buffers, computes every output, then stores them (all reads see the old
 * values). Bindings: the arrays in signature order (read_write where written), the step's verdict
 * `ok` when guarded (§6.3), then a uniform struct u0, u1, ..., size, stride.
 */
import { arraysRead } from '../rules/expr.js';
import type { Phase } from '../rules/rule.js';
import { floatLiteral, ShaderBody, type Dialect } from './shader.js';
import { writtenArrays, type Signature } from './signature.js';

export const WORKGROUP = 64;

/** WGSL's expression dialect (shared with the low-bit shader, ./wgsl_lowbit.ts). */
export const DIALECT: Dialect = {
  literal: floatLiteral,
  declare: (name, text) => `let ${name} = ${text};`,
  compare: (op, a, b) => `(${a} ${{ gt: '>', ge: '>=', lt: '<', le: '<=' }[op]} ${b})`,
  sameSign: (a, b) => `(abs(${a}) > 0.0 && abs(${b}) > 0.0 && (${a} > 0.0) == (${b} > 0.0))`,
  select: (c, a, b) => `select(${b}, ${a}, ${c})`,
  load: (array) => `${array}_old`,
};

export interface WgslShader {
  code: string;
  /** The arrays bound, in binding order (those the phase reads or writes). */
  arrays: string[];
}

export function wgslShader(sig: Signature, phase: Phase, guarded: boolean): WgslShader {
  const written = new Set(writtenArrays(phase));
  const roots = phase.writes.map(([, v]) => v);
  const read = new Set(arraysRead(roots));
  const arrays = sig.arrays.filter((a) => read.has(a) || written.has(a));
  const decls = arrays.map(
    (name, b) =>
      `@group(0) @binding(${b}) var<storage, ${written.has(name) ? 'read_write' : 'read'}> ${name}: array<f32>;`,
  );
  if (guarded) decls.push(`@group(0) @binding(${arrays.length}) var<storage, read> ok: array<i32>;`);
  const uniformBinding = arrays.length + (guarded ? 1 : 0);
  const names = new Map(sig.uniforms.map((u, i) => [u, `u.u${i}`] as const));
  const body = new ShaderBody(DIALECT, roots, names);
  const values = roots.map((v) => body.text(v));
  const loads = arrays.filter((a) => read.has(a)).map((a) => `let ${a}_old = ${a}[i];`);
  const code = `
    struct Uniforms { ${sig.uniforms.map((_, i) => `u${i}: f32,`).join(' ')} size: u32, stride: u32, }
    ${decls.join('\n    ')}
    @group(0) @binding(${uniformBinding}) var<uniform> u: Uniforms;
    @compute @workgroup_size(${WORKGROUP})
    fn main(@builtin(global_invocation_id) id: vec3<u32>) {
      let i = id.x + id.y * u.stride;
      if (i >= u.size) { return; }
      ${guarded ? 'if (ok[0] == 0) { return; }' : ''}
      ${loads.join('\n      ')}
      ${body.lines.join('\n      ')}
      ${values.map((v, k) => `let w${k} = ${v};`).join('\n      ')}
      ${phase.writes.map(([target], k) => `${target}[i] = w${k};`).join('\n      ')}
    }`;
  return { code, arrays };
}
