/**
 * WebAssembly for a rule's phase on block-wise low-bit state (docs/ALGORITHM.md §11 8-bit, §12
 * 4-bit): the rule's per-element body (./wat.ts) between a decoding load and an encoding store.
 * Per block (256 elements at 8 bits, 128 at 4): pass A decodes m (signed codes · scale) and u = √v
 * ((unsigned codes + offset) · scale), runs the body 16 elements per iteration (then 4, 8-bit
 * only), writes p, keeps the new m and u in a 2 × 256 float scratch and their absmax; pass B
 * (`$requant`, the codec, generated from the format's table entry by ./wat_codec.ts) sets the
 * scales and re-quantises. The body is the rule with v stored as u: √v reads u, v reads
 * u·u, and the new u is √(new v) (√(x·x) written as |x|, exact in float32 where x² is finite).
 */
import { mul, sqrt, abs, array, useCounts, type Node, type Value } from '../rules/expr.js';
import type { Phase } from '../rules/rule.js';
import { specialize } from './specialize.js';
import { Body, uniformNames } from './wat.js';
import type { Signature } from './signature.js';
import { INT8, type LowBitFormat } from '../formats/state_formats.js';

const U = array('u');
const UU = mul(U, U);

/**
 * The phase with v kept as the kernels' array u, as the format stores it: u = √v ('sqrt': reads
 * rewritten, the new v written as the new u) or u = v ('plain': v renamed).
 */
export function storedAs(phase: Phase, format: LowBitFormat): Phase {
  return format.vStored === 'sqrt' ? storedAsSqrt(phase) : rewritten(phase, false);
}

/** The phase with v stored as u = √v: reads rewritten, the new v written as the new u. */
export function storedAsSqrt(phase: Phase): Phase {
  return rewritten(phase, true);
}

function rewritten(phase: Phase, asSqrt: boolean): Phase {
  const memo = new Map<Node, Node>();
  const r = (n: Node): Node => {
    let out = memo.get(n);
    if (out !== undefined) return out;
    if (asSqrt && n.kind === 'unary' && n.op === 'sqrt' && n.a.kind === 'array' && n.a.name === 'v') out = U;
    else if (n.kind === 'array' && n.name === 'v') out = asSqrt ? UU : U;
    else {
      const e = n as unknown as Record<string, unknown>;
      const copy: Record<string, unknown> = { ...e };
      let changed = false;
      for (const key of ['a', 'b', 'lo', 'hi', 'cond']) {
        const c = e[key] as Node | undefined;
        if (c !== undefined && typeof c === 'object') {
          const rc = r(c);
          if (rc !== c) changed = true;
          copy[key] = rc;
        }
      }
      out = changed ? (copy as unknown as Node) : n;
    }
    memo.set(n, out);
    return out;
  };
  return {
    writes: phase.writes.map(([target, value]) => {
      const v = r(value) as Value;
      if (target !== 'v') return [target, v] as const;
      if (!asSqrt) return ['u', v] as const;
      // √(x·x) = |x| exactly in binary floating point (no over- or underflow of x·x)
      const root = v.kind === 'binary' && v.op === 'mul' && v.a === v.b ? abs(v.a) : sqrt(v);
      return ['u', root] as const;
    }),
  };
}

interface LoopSpec {
  lanes: 16 | 4;
  label: string;
}

/**
 * One exported function: pass A over each block with the body, then $requant. `plainScalars`:
 * scalars that, when all equal to 1 at run time, select a second copy of the loops with them fixed
 * (x · 1 is x: bit-identical, fewer multiplications).
 */
export function wat8Phase(
  name: string,
  sig: Signature,
  phase: Phase,
  plainScalars: readonly string[] = [],
  format: LowBitFormat = INT8,
): string {
  const four = format.bits === 4;
  const floats = format.m.kind === 'bfloat16'; // 16-bit codes that are the upper half of a float32 (§13)
  if (floats !== (format.u.kind === 'bfloat16') || floats !== (format.bits === 16)) {
    throw new TypeError(`adopt-optim codegen: the ${format.dtype} moments mix code kinds`);
  }
  // byte address of element j's codes
  const codeAt = (arr: 'qm' | 'qv', j = '(local.get $j)') =>
    four
      ? `(i32.add (local.get $${arr}) (i32.shr_u ${j} (i32.const 1)))`
      : floats
        ? `(i32.add (local.get $${arr}) (i32.shl ${j} (i32.const 1)))`
        : `(i32.add (local.get $${arr}) ${j})`;
  // u's codes decode to (code + offset) · scale (the format's table, src/formats/state_formats.ts)
  const o = format.u.offset;
  const uOffset = (codes: string) =>
    o === 0 ? codes : `(i16x8.add ${codes} (v128.const i16x8 ${Array(8).fill(o).join(' ')}))`;
  if (format.m.offset !== 0 || (format.bits === 8 && o !== 0)) {
    throw new TypeError(`adopt-optim codegen: the ${format.dtype} decoding has an offset this generator lacks`);
  }
  const [umap, unames] = uniformNames(sig);
  const stored = storedAs(phase, format);
  const plainIndex = plainScalars.map((s) => sig.uniforms.findIndex((u) => u.kind === 'scalar' && u.name === s));
  const plain =
    plainScalars.length > 0 && plainIndex.every((i) => i >= 0)
      ? storedAs(specialize(phase, Object.fromEntries(plainScalars.map((s) => [s, 1]))), format)
      : null;
  const locals = new Set<string>();
  let serial = 0;
  const loops = (ph: Phase, tag: string): string => {
    const roots = ph.writes.map(([, v]) => v);
    const writes = new Map(ph.writes);
    const mNew = writes.get('m') ?? null;
    const uNew = writes.get('u') ?? null;
    const pNew = writes.get('p') ?? null;
    const allRoots = [...roots];
    const sub = (spec: LoopSpec, part: number): string[] => {
      const off = part * 16;
      const half = part % 2 === 0 ? 'low' : 'high';
      const prefix = `${tag}${spec.lanes}_${part}_`;
      const moName = `$${prefix}mo`;
      const uoName = `$${prefix}uo`;
      locals.add(`(local ${moName} v128)`).add(`(local ${uoName} v128)`);
      const mCode =
        spec.lanes === 16
          ? `(local.get $cm)`
          : `(i16x8.extend_low_i8x16_s (v128.load32_zero (i32.add (local.get $qm) (local.get $j))))`;
      const uCode =
        spec.lanes === 16
          ? `(local.get $cv)`
          : `(i16x8.extend_low_i8x16_u (v128.load32_zero (i32.add (local.get $qv) (local.get $j))))`;
      const ext = spec.lanes === 16 ? half : 'low';
      // bfloat16: 4 codes (8 bytes) widened to 32 bits and shifted up are the float32s
      const float4 = (arr: 'qm' | 'qv') =>
        `(i32x4.shl (i32x4.extend_low_i16x8_u (v128.load64_zero offset=${part * 8} ${codeAt(arr)})) (i32.const 16))`;
      const lines = floats
        ? [`(local.set ${moName} ${float4('qm')})`, `(local.set ${uoName} ${float4('qv')})`]
        : [
            `(local.set ${moName} (f32x4.mul (local.get $smb4) (f32x4.convert_i32x4_s (i32x4.extend_${ext}_i16x8_s ${mCode}))))`,
            `(local.set ${uoName} (f32x4.mul (local.get $svb4) (f32x4.convert_i32x4_s (i32x4.extend_${ext}_i16x8_u ${uCode}))))`,
          ];
      const body = new Body(
        'simd',
        umap,
        useCounts(allRoots),
        (a) => {
          if (a === 'm') return `(local.get ${moName})`;
          if (a === 'u') return `(local.get ${uoName})`;
          if (a === 'p' || a === 'g') return `(v128.load offset=${off} (i32.add (local.get $${a}) (local.get $o)))`;
          throw new TypeError(`adopt-optim codegen: the 8-bit kernels hold p, g, m and v, not "${a}"`);
        },
        prefix,
      );
      const m = mNew === null ? `(local.get ${moName})` : body.text(mNew);
      const u = uNew === null ? `(local.get ${uoName})` : body.text(uNew);
      const pv = pNew === null ? null : body.text(pNew);
      for (const l of body.locals) locals.add(l);
      const mLocal = `$${prefix}mn`;
      const uLocal = `$${prefix}un`;
      locals.add(`(local ${mLocal} v128)`).add(`(local ${uLocal} v128)`);
      lines.push(...body.lines, `(local.set ${mLocal} ${m})`, `(local.set ${uLocal} ${u})`);
      if (pv !== null) lines.push(`(v128.store offset=${off} (i32.add (local.get $p) (local.get $o)) ${pv})`);
      lines.push(
        `(v128.store offset=${off} (local.get $k) (local.get ${mLocal}))`,
        `(v128.store offset=${1024 + off} (local.get $k) (local.get ${uLocal}))`,
        `(local.set $amm (f32x4.pmax (local.get $amm) (local.get ${mLocal})))`,
        `(local.set $amn (f32x4.pmin (local.get $amn) (local.get ${mLocal})))`,
        `(local.set $amu (f32x4.pmax (local.get $amu) (local.get ${uLocal})))`,
      );
      return lines;
    };
    const l16 = `$${tag}a16_${serial++}`;
    const l4 = `$${tag}a4_${serial++}`;
    // 4-bit (§12.1): 8 bytes hold 16 codes, element i in the low nibble of byte i and i + 8 in the
    // high one; m's nibbles sign-extended by shifting left then arithmetic right, u's decoded as code + 1
    const unpack = four
      ? [
          `(local.set $nm (v128.load64_zero ${codeAt('qm')}))`,
          `(local.set $nm (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (i8x16.shr_s (i8x16.shl (local.get $nm) (i32.const 4)) (i32.const 4)) (i8x16.shr_s (local.get $nm) (i32.const 4))))`,
          `(local.set $nv (v128.load64_zero ${codeAt('qv')}))`,
          `(local.set $nv (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (v128.and (local.get $nv) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15)) (i8x16.shr_u (local.get $nv) (i32.const 4))))`,
        ]
      : [];
    const codes = (part: number): string[] =>
      floats
        ? []
        : four
          ? [
              `(local.set $cm (i16x8.extend_${part === 0 ? 'low' : 'high'}_i8x16_s (local.get $nm)))`,
              `(local.set $cv ${uOffset(`(i16x8.extend_${part === 0 ? 'low' : 'high'}_i8x16_u (local.get $nv))`)})`,
            ]
          : [
              `(local.set $cm (v128.load8x8_s offset=${part * 4} (i32.add (local.get $qm) (local.get $j))))`,
              `(local.set $cv ${uOffset(`(v128.load8x8_u offset=${part * 4} (i32.add (local.get $qv) (local.get $j)))`)})`,
            ];
    const sixteen = [
      ...unpack,
      ...[0, 1, 2, 3].flatMap((part) => [
        ...(part % 2 === 0 ? codes(part) : []),
        ...sub({ lanes: 16, label: l16 }, part),
      ]),
    ];
    const fourWide = format.pad % 16 === 0 ? null : sub({ lanes: 4, label: l4 }, 0);
    return `
        (local.set $j (local.get $b))
        (local.set $k (local.get $scr))
        (block ${l16}_done
          (loop ${l16}
          (br_if ${l16}_done (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $be)))
          (local.set $o (i32.shl (local.get $j) (i32.const 2)))
          ${sixteen.join('\n          ')}
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (local.set $k (i32.add (local.get $k) (i32.const 64)))
          (br ${l16})))
        ${
          fourWide === null
            ? ''
            : `(block ${l4}_done
          (loop ${l4}
          (br_if ${l4}_done (i32.ge_u (local.get $j) (local.get $be)))
          (local.set $o (i32.shl (local.get $j) (i32.const 2)))
          ${fourWide.join('\n          ')}
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br ${l4})))`
        }`;
  };
  const general = loops(stored, 'g');
  const fast = plain === null ? null : loops(plain, 'f');
  const plainTest = plainIndex
    .map((i) => `(f32.eq (local.get $u${i}) (f32.const 1))`)
    .reduce((a, b) => `(i32.and ${a} ${b})`, '(i32.const 1)');
  const ptrs = ['p', 'g', 'qm', 'qv', 'sm', 'sv', 'scr'].map((a) => `(param $${a} i32)`).join(' ');
  return `  (func (export "${name}") ${ptrs} (param $n i32) (param $start i32) (param $seed i32) ${unames.map((u) => `(param ${u} f32)`).join(' ')}
    (local $b i32) (local $be i32) (local $o i32) (local $j i32) (local $k i32) (local $plain i32)
    (local $amm v128) (local $amn v128) (local $amu v128) (local $cm v128) (local $cv v128) (local $smb4 v128) (local $svb4 v128)${four ? ' (local $nm v128) (local $nv v128)' : ''}
    ${unames.map((u) => `(local ${u}x4 v128)`).join(' ')}
    ${[...locals].join(' ')}
    ${unames.map((u) => `(local.set ${u}x4 (f32x4.splat (local.get ${u})))`).join('\n    ')}
    (local.set $plain ${plainTest})
    (block $done
      (loop $blocks
      (br_if $done (i32.ge_u (local.get $b) (local.get $n)))
      (local.set $be (select (local.get $n) (i32.add (local.get $b) (i32.const ${format.block}))
        (i32.lt_u (local.get $n) (i32.add (local.get $b) (i32.const ${format.block})))))
      ${
        format.scaled
          ? `(local.set $smb4 (f32x4.splat (f32.load (local.get $sm))))
      (local.set $svb4 (f32x4.splat (f32.load (local.get $sv))))`
          : ''
      }
      (local.set $amm (v128.const i32x4 0 0 0 0))
      (local.set $amn (v128.const i32x4 0 0 0 0))
      (local.set $amu (v128.const i32x4 0 0 0 0))
      ${fast === null ? general : `(if (local.get $plain) (then ${fast}) (else ${general}))`}
      (call $requant (local.get $scr) ${codeAt('qm', '(local.get $b)')} ${codeAt('qv', '(local.get $b)')}
        (local.get $sm) (local.get $sv) (i32.sub (local.get $be) (local.get $b)) (i32.add (local.get $start) (local.get $b))
        (local.get $seed) (f32x4.pmax (local.get $amm) (f32x4.neg (local.get $amn))) (local.get $amu))
      (local.set $sm (i32.add (local.get $sm) (i32.const 4)))
      (local.set $sv (i32.add (local.get $sv) (i32.const 4)))
      (local.set $b (local.get $be))
      (br $blocks))))`;
}
