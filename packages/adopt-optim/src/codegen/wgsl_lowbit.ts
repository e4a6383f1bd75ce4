/**
 * A WGSL compute shader for a rule's phase on block-wise low-bit state (docs/ALGORITHM.md §11
 * 8-bit, §12 4-bit) on tfjs's webgpu backend: 64 invocations per workgroup, one per 32-bit
 * word of codes (4 elements at 8 bits, 8 at 4 bits; the byte layout of §11.1 / §12.1, so the codes
 * are the same bytes the WebAssembly kernels keep): one block of 256 per workgroup at 8 bits, four
 * blocks of 128 at 4 bits (16 words each; a GPU runs 32 or 64 invocations together, so a 16-wide
 * workgroup would leave lanes idle). Each invocation decodes its elements, runs the
 * rule's body (v stored as u = √v, as src/codegen/wat8.ts does), writes p, and keeps the new m and
 * u; the workgroup reduces their absmax in shared memory; then each invocation re-encodes its word
 * (stochastic rounding with the hashes of §11.3 / §12.3) and invocation 0 writes the block's scales.
 *
 * Bindings: p (read_write), g, qm, qv (read_write u32 words), mScale, vScale (read_write), `ok`
 * when guarded (§6.3: every write is skipped when the step's verdict is false), then the uniforms
 * u0, u1, …, size, seed, blocksX, blocks, words. Elements past `size` (the padding) read as
 * p = g = 0 and write no p; invocations past the last word (a partial last block) read zeros and
 * write nothing.
 */
import type { Phase } from '../rules/rule.js';
import type { LowBitFormat, MomentCode } from '../formats/state_formats.js';
import { floatLiteral, ShaderBody } from './shader.js';
import { DIALECT } from './wgsl.js';
import type { Signature } from './signature.js';
import { storedAs } from './wat8.js';

const hex = (x: number) => `0x${(x >>> 0).toString(16)}u`;

/**
 * The WGSL codec of one moment, from its entry in the format table (src/formats/state_formats.ts):
 * the code of `value` (scaled by `inv` = levels / absmax) rounded to nearest (even) or
 * stochastically, floor(y + r) with r the top 23 bits of the element's hash (index `idx`), clamped
 * to the format's range; the same codes as the WebAssembly codec (src/codegen/wat_codec.ts).
 */
export function wgslCode(c: MomentCode, value: string, inv: string): string {
  const seedOf = c.seedMul === 1 ? 'u.seed' : `u.seed * ${hex(c.seedMul)}`;
  if (c.kind === 'bfloat16') {
    // §13: the float's bits plus the top 16 bits of the hash, truncated to the upper 16
    return `i32((bitcast<u32>(${value}) + ((idx * ${hex(c.ditherMul)} + ${seedOf}) >> 16u)) >> 16u)`;
  }
  const y = `${value} * ${inv}${c.offset === 0 ? '' : ` - ${floatLiteral(c.offset)}`}`;
  const seed = c.seedMul === 1 ? 'u.seed' : `u.seed * ${hex(c.seedMul)}`;
  const rounded =
    c.rounding === 'nearest'
      ? `round(${y})`
      : `floor(${y} + f32((idx * ${hex(c.ditherMul)} + ${seed}) >> 9u) * 1.1920928955078125e-7)`;
  return `clamp(i32(${rounded}), ${c.lo}, ${c.hi})`;
}

/** The value (code + offset) of the `bits`-bit code at bit `off` of word `w` (signed codes sign-extended). */
function decode(c: MomentCode, w: string, bits: number): string {
  if (c.kind === 'bfloat16') return `bitcast<f32>(extractBits(${w}, off, 16u) << 16u)`;
  return c.signed
    ? `f32(extractBits(bitcast<i32>(${w}), off, ${bits}u)${c.offset === 0 ? '' : ` + ${c.offset}`})`
    : `f32(extractBits(${w}, off, ${bits}u) + ${c.offset}u)`;
}

export interface WgslLowBitShader {
  code: string;
  /** Invocations per workgroup (one per word). */
  workgroup: number;
  /** Blocks per workgroup. */
  blocksPerGroup: number;
}

export function wgslLowBitShader(sig: Signature, phase: Phase, guarded: boolean, f: LowBitFormat): WgslLowBitShader {
  const stored = storedAs(phase, f);
  const writes = new Map(stored.writes);
  const roots = stored.writes.map(([, v]) => v);
  const names = new Map(sig.uniforms.map((u, i) => [u, `u.u${i}`] as const));
  const body = new ShaderBody(DIALECT, roots, names);
  const text = (target: string, fallback: string) => {
    const v = writes.get(target);
    return v === undefined ? fallback : body.text(v);
  };
  const pNew = text('p', 'p_old');
  const mNew = text('m', 'm_old');
  const uNew = text('u', 'u_old');
  const per = 32 / f.bits; // elements per word
  const words = f.block / per; // words (invocations) per block
  const workgroup = 64;
  const blocksPerGroup = workgroup / words;
  const mask = (1 << f.bits) - 1;
  // element index and bit offset of the k-th code of word w
  const element =
    f.bits !== 4
      ? `let e = w * ${per}u + k; let off = ${f.bits}u * k;`
      : 'let e = (w >> 1u) * 16u + (w & 1u) * 4u + (k & 3u) + 8u * (k >> 2u); let off = 8u * (k & 3u) + 4u * (k >> 2u);';
  const okDecl = guarded ? '@group(0) @binding(6) var<storage, read> ok: array<i32>;' : '';
  const uniformBinding = guarded ? 7 : 6;
  const mCode = wgslCode(f.m, 'mn[k]', 'invm');
  const uCode = wgslCode(f.u, 'un[k]', 'invu');
  const code = `
    struct Uniforms { ${sig.uniforms.map((_, i) => `u${i}: f32,`).join(' ')} size: u32, seed: u32, blocksX: u32, blocks: u32, words: u32, }
    @group(0) @binding(0) var<storage, read_write> p: array<f32>;
    @group(0) @binding(1) var<storage, read> g: array<f32>;
    @group(0) @binding(2) var<storage, read_write> qm: array<u32>;
    @group(0) @binding(3) var<storage, read_write> qv: array<u32>;
    @group(0) @binding(4) var<storage, read_write> sm: array<f32>;
    @group(0) @binding(5) var<storage, read_write> sv: array<f32>;
    ${okDecl}
    @group(0) @binding(${uniformBinding}) var<uniform> u: Uniforms;
    var<workgroup> redm: array<f32, ${workgroup}>;
    var<workgroup> redu: array<f32, ${workgroup}>;
    @compute @workgroup_size(${workgroup})
    fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
      let group = wg.x + wg.y * u.blocksX;
      if (group * ${blocksPerGroup}u >= u.blocks) { return; } // uniform: the whole workgroup
      let lb = t / ${words}u; // the invocation's block within the group, and its word within the block
      let tw = t % ${words}u;
      let b = group * ${blocksPerGroup}u + lb;
      // a last group may hold fewer blocks than it has room for: those invocations read zeros, write nothing
      let block = b < u.blocks;
      ${guarded ? 'let okv = ok[0] != 0;' : 'let okv = true;'}
      let w = b * ${words}u + tw;
      // the last block may hold fewer words than invocations: the others read zeros and write nothing
      let word = block && w < u.words;
      let wm = select(0u, qm[min(w, u.words - 1u)], word);
      let wv = select(0u, qv[min(w, u.words - 1u)], word);
      let smb = select(0.0, sm[min(b, u.blocks - 1u)], block);
      let svb = select(0.0, sv[min(b, u.blocks - 1u)], block);
      var mn: array<f32, ${per}>;
      var un: array<f32, ${per}>;
      var am = 0.0;
      var au = 0.0;
      for (var k = 0u; k < ${per}u; k++) {
        ${element}
        let inside = e < u.size;
        let p_old = select(0.0, p[min(e, u.size - 1u)], inside);
        let g_old = select(0.0, g[min(e, u.size - 1u)], inside);
        let m_old = ${decode(f.m, 'wm', f.bits)}${f.scaled ? ' * smb' : ''};
        let u_old = ${decode(f.u, 'wv', f.bits)}${f.scaled ? ' * svb' : ''};
        ${body.lines.join('\n        ')}
        let p_new = ${pNew};
        mn[k] = ${mNew};
        un[k] = ${uNew};
        ${writes.has('p') ? 'if (inside && okv) { p[e] = p_new; }' : '_ = p_new;'}
        am = max(am, abs(mn[k]));
        au = max(au, un[k]);
      }
      redm[t] = am;
      redu[t] = au;
      workgroupBarrier();
      for (var s = ${words / 2}u; s > 0u; s = s >> 1u) {
        if (tw < s) {
          redm[t] = max(redm[t], redm[t + s]);
          redu[t] = max(redu[t], redu[t + s]);
        }
        workgroupBarrier();
      }
      let amax = redm[lb * ${words}u];
      let umax = redu[lb * ${words}u];
      let invm = select(0.0, ${floatLiteral(f.m.levels)} / amax, amax > 0.0);
      let invu = select(0.0, ${floatLiteral(f.u.levels)} / umax, umax > 0.0);
      var cm = 0u;
      var cv = 0u;
      for (var k = 0u; k < ${per}u; k++) {
        ${element}
        let idx = e;
        var qv_k = ${uCode};
        ${f.u.nonZeroFloor ? 'if (un[k] > 0.0) { qv_k = max(qv_k, 1); } // §11.2: a non-zero v never gets code 0' : ''}
        cm = insertBits(cm, bitcast<u32>(${mCode}) & ${mask}u, off, ${f.bits}u);
        cv = insertBits(cv, bitcast<u32>(qv_k) & ${mask}u, off, ${f.bits}u);
      }
      if (okv && word) {
        qm[w] = cm;
        qv[w] = cv;
      }
      if (okv && ${f.scaled}) {
        if (tw == 0u && block) {
          sm[b] = amax / ${floatLiteral(f.m.levels)};
          sv[b] = umax / ${floatLiteral(f.u.levels)};
        }
      }
    }`;
  return { code, workgroup, blocksPerGroup };
}
