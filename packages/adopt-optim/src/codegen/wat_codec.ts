/**
 * The WebAssembly codec of a block-wise low-bit state format (docs/ALGORITHM.md §11.1-§11.3,
 * §12.1-§12.3), generated from its entry in src/formats/state_formats.ts as the kernels are from
 * the rules: `$requant`, pass B of one block (src/codegen/wat8.ts runs pass A), which sets the
 * block's scales from the absmax lanes and re-codes the block's new m and u = √v from the 2 × 256
 * float scratch, 16 elements per iteration (then 4 at a time where the format pads to 4).
 *
 * Rounding by the float trick: x + 1.5 · 2^23 holds round-to-nearest-even(x) in its low mantissa
 * bits (|x| < 2^22), so "code = bits(x + 0x1.8p23) − 0x4B400000" is two instructions. A moment
 * rounded stochastically, floor(y + r), is taken as nearest(y + (r − 0.5)) with r − 0.5 built
 * from the top 23 bits of its hash as a float in [1, 2) minus 1.5 (minus the code offset too:
 * y − offset + r − 0.5). The hash of element i is (i · ditherMul + seed · seedMul) mod 2^32, the
 * lanes of the next 4 elements one Weyl step (4 · ditherMul) on. Codes saturate in the narrowing
 * i32 → i16 → 8-bit conversions and are clamped to the format's range where it is narrower.
 */
import type { LowBitFormat, MomentCode } from '../formats/state_formats.js';

const i32 = (x: number) => `(i32.const 0x${(x >>> 0).toString(16).toUpperCase()})`;
const f32 = (x: number) => `(f32.const ${x})`;

/** One moment's pieces: its name, where its new values lie in the scratch, its code and its hash locals. */
interface Moment {
  name: 'm' | 'u';
  at: number;
  c: MomentCode;
  h: string;
}

/** The 4-lane value of quarter `q` of this 16 (`hash`: the quarter's hash local) rounded to an i32 code. */
function rounded(x: Moment, load: string, hash: string): string {
  let y = `(f32x4.mul ${load} (local.get $inv${x.name}4))`;
  if (x.c.rounding === 'stochastic') {
    y =
      `(f32x4.add ${y} (f32x4.sub (v128.or (i32x4.shr_u (local.get ${hash}) (i32.const 9)) (local.get $one4))` +
      ` (local.get $half${x.name}4)))`;
  } else if (x.c.offset !== 0) {
    y = `(f32x4.sub ${y} (f32x4.splat ${f32(x.c.offset)}))`;
  }
  return `(i32x4.sub (f32x4.add ${y} (local.get $magic4)) (local.get $magici4))`;
}

const hashOf = (x: Moment, q: number) => (q === 0 ? x.h : `${x.h}${q}`);

/** The 16 codes of moment x, clamped to its range, as one i8x16. */
function sixteen(x: Moment, loads: readonly string[]): string {
  const q = [0, 1, 2, 3].map((i) => rounded(x, loads[i]!, hashOf(x, i)));
  const s = x.c.signed ? 's' : 'u';
  let c = `(i8x16.narrow_i16x8_${s} (i16x8.narrow_i32x4_s ${q[0]} ${q[1]}) (i16x8.narrow_i32x4_s ${q[2]} ${q[3]}))`;
  // nearest rounding of y = value · levels / absmax stays within ±levels: only stochastic codes need the clamp
  if (x.c.signed && x.c.rounding === 'stochastic') {
    c = `(i8x16.min_s (i8x16.max_s ${c} (local.get $${x.name}lo)) (local.get $${x.name}hi))`;
  }
  if (!x.c.signed && x.c.hi < 255) c = `(i8x16.min_u ${c} (local.get $${x.name}hi))`;
  if (x.c.nonZeroFloor) {
    // a non-zero u never gets code 0: max with min(narrow(bits(u)), 1); bits(u) > 0 exactly where u > 0
    // (a +NaN's code saturates to hi either way)
    c =
      `(i8x16.max_u ${c} (i8x16.min_u (i8x16.narrow_i16x8_u (i16x8.narrow_i32x4_s ${loads[0]} ${loads[1]})` +
      ` (i16x8.narrow_i32x4_s ${loads[2]} ${loads[3]})) (i8x16.splat (i32.const 1))))`;
  }
  return c;
}

/** Stores 16 codes: 16 bytes, or (4-bit, §12.1) 8 bytes holding element i low and i + 8 high. */
function store16(f: LowBitFormat, x: Moment, codes: string): string[] {
  const array = `$q${x.name === 'm' ? 'm' : 'v'}`;
  if (f.bits === 8) return [`(v128.store (i32.add (local.get ${array}) (local.get $j)) ${codes})`];
  const lowNibbles = x.c.signed ? '(v128.and (local.get $c) (local.get $lo4))' : '(local.get $c)';
  return [
    `(local.set $c ${codes})`,
    `(v128.store64_lane 0 (i32.add (local.get ${array}) (i32.shr_u (local.get $j) (i32.const 1)))`,
    `  (v128.or ${lowNibbles} (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15` +
      ' (i8x16.shl (local.get $c) (i32.const 4)) (local.get $c))))',
  ];
}

/** 4 codes of moment x (the 4-wide tail of 8-bit state), stored as 4 bytes. */
function tail4(x: Moment): string[] {
  const load = `(v128.load offset=${x.at} (local.get $k))`;
  const lines = [`(local.set $un ${load})`, `(local.set $q ${rounded(x, '(local.get $un)', x.h)})`];
  const lo = x.c.nonZeroFloor
    ? '(v128.and (f32x4.gt (local.get $un) (v128.const i32x4 0 0 0 0)) (i32x4.splat (i32.const 1)))'
    : `(i32x4.splat (i32.const ${x.c.lo}))`;
  const s = x.c.signed ? 's' : 'u';
  if (x.c.rounding === 'stochastic' || x.c.nonZeroFloor || !x.c.signed) {
    lines.push(`(local.set $q (i32x4.max_s (i32x4.min_s (local.get $q) (i32x4.splat (i32.const ${x.c.hi}))) ${lo}))`);
  }
  lines.push(
    `(local.set $q (i16x8.narrow_i32x4_${s} (local.get $q) (local.get $q)))`,
    `(v128.store32_lane 0 (i32.add (local.get $q${x.name === 'm' ? 'm' : 'v'}) (local.get $j))` +
      ` (i8x16.narrow_i16x8_${s} (local.get $q) (local.get $q)))`,
  );
  return lines;
}

/**
 * `$requant` of a format whose codes are bfloat16 (§13): per element and moment, the float32's bits
 * plus the top 16 bits of its hash, truncated to the upper 16 (stochastic rounding); no scales.
 */
function bfloat16Codec(f: LowBitFormat): string {
  const moments: Moment[] = [
    { name: 'm', at: 0, c: f.m, h: '$hm' },
    { name: 'u', at: 1024, c: f.u, h: '$hu' },
  ];
  const lane = '(i32x4.add (i32x4.splat (local.get $idx)) (v128.const i32x4 0 1 2 3))';
  const seedOf = (c: MomentCode) =>
    c.seedMul === 1 ? '(local.get $seed)' : `(i32.mul (local.get $seed) ${i32(c.seedMul)})`;
  const code = (x: Moment, q: number) =>
    `(i32x4.shr_u (i32x4.add (v128.load offset=${x.at + 16 * q} (local.get $k))` +
    ` (i32x4.shr_u (local.get ${hashOf(x, q)}) (i32.const 16))) (i32.const 16))`;
  const at = (x: Moment) =>
    `(i32.add (local.get $q${x.name === 'm' ? 'm' : 'v'}) (i32.shl (local.get $j) (i32.const 1)))`;
  const body = [
    ...moments.flatMap((x) =>
      [1, 2, 3].map(
        (q) => `(local.set ${hashOf(x, q)} (i32x4.add (local.get ${hashOf(x, q - 1)}) (local.get $weyl${x.name}4)))`,
      ),
    ),
    ...moments.flatMap((x) => [
      `(v128.store offset=0 ${at(x)} (i16x8.narrow_i32x4_u ${code(x, 0)} ${code(x, 1)}))`,
      `(v128.store offset=16 ${at(x)} (i16x8.narrow_i32x4_u ${code(x, 2)} ${code(x, 3)}))`,
    ]),
    ...moments.map((x) => `(local.set ${x.h} (i32x4.add (local.get ${hashOf(x, 3)}) (local.get $weyl${x.name}4)))`),
    '(local.set $j (i32.add (local.get $j) (i32.const 16)))',
    '(local.set $k (i32.add (local.get $k) (i32.const 64)))',
  ];
  const lines = [
    '(local $j i32) (local $k i32)',
    ...moments.map(
      (x) => `(local $weyl${x.name}4 v128) ` + [0, 1, 2, 3].map((q) => `(local ${hashOf(x, q)} v128)`).join(' '),
    ),
    ...moments.map((x) => `(local.set $weyl${x.name}4 (i32x4.splat ${i32(Math.imul(4, x.c.ditherMul))}))`),
    ...moments.map(
      (x) =>
        `(local.set ${x.h} (i32x4.add (i32x4.mul ${lane} (i32x4.splat ${i32(x.c.ditherMul)}))` +
        ` (i32x4.splat ${seedOf(x.c)})))`,
    ),
    '(local.set $k (local.get $scr))',
    '(block $b16_done',
    '  (loop $b16',
    '  (br_if $b16_done (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $cnt)))',
    ...body.map((l) => `  ${l}`),
    '  (br $b16)))',
  ];
  return [
    '  (func $requant',
    '    (param $scr i32) (param $qm i32) (param $qv i32) (param $sm i32) (param $sv i32) (param $cnt i32)',
    '    (param $idx i32) (param $seed i32) (param $amm v128) (param $amu v128)',
    ...lines.map((l) => `    ${l}`),
    '  )',
  ].join('\n');
}

/** The text of `$requant` for format f. */
export function watCodec(f: LowBitFormat): string {
  if (f.m.kind === 'bfloat16') return bfloat16Codec(f);
  const moments: Moment[] = [
    { name: 'm', at: 0, c: f.m, h: '$hm' },
    { name: 'u', at: 1024, c: f.u, h: '$hu' },
  ];
  const dithered = moments.filter((x) => x.c.rounding === 'stochastic');
  if (f.bits === 4 && f.pad % 16 !== 0) {
    throw new TypeError(`adopt-optim codegen: 4-bit state pads to 16, not ${f.pad}`);
  }
  for (const x of moments) {
    if (!x.c.signed && x.c.lo !== 0) throw new TypeError('adopt-optim codegen: unsigned codes start at 0');
  }
  const locals = [
    '(local $j i32) (local $k i32) (local $am f32) (local $au f32) (local $invm f32) (local $invu f32)',
    '(local $invm4 v128) (local $invu4 v128) (local $magic4 v128) (local $magici4 v128) (local $one4 v128)',
    '(local $c v128) (local $q v128) (local $un v128)',
    '(local $lo4 v128) (local $mlo v128) (local $mhi v128) (local $uhi v128)',
    ...moments
      .filter((x) => x.c.nonZeroFloor)
      .map((x) => [0, 1, 2, 3].map((q) => `(local $${x.name}${q} v128)`).join(' ')),
    ...dithered.map(
      (x) =>
        `(local $half${x.name}4 v128) (local $weyl${x.name}4 v128) ` +
        [0, 1, 2, 3].map((q) => `(local ${hashOf(x, q)} v128)`).join(' '),
    ),
  ];
  const lane = '(i32x4.add (i32x4.splat (local.get $idx)) (v128.const i32x4 0 1 2 3))';
  const seedOf = (c: MomentCode) =>
    c.seedMul === 1 ? '(local.get $seed)' : `(i32.mul (local.get $seed) ${i32(c.seedMul)})`;
  const lanes = (which: 'amm' | 'amu') =>
    `(f32.max (f32.max (f32x4.extract_lane 0 (local.get $${which})) ` +
    `(f32x4.extract_lane 1 (local.get $${which}))) (f32.max (f32x4.extract_lane 2 (local.get $${which})) ` +
    `(f32x4.extract_lane 3 (local.get $${which}))))`;
  const inv = (x: Moment, a: string) =>
    `(select (f32.div ${f32(x.c.levels)} (local.get ${a})) (f32.const 0) (f32.gt (local.get ${a}) (f32.const 0)))`;
  const setup = [
    '(local.set $magic4 (f32x4.splat (f32.const 0x1.8p+23)))',
    '(local.set $magici4 (i32x4.splat (i32.const 0x4B400000)))',
    '(local.set $one4 (i32x4.splat (i32.const 0x3F800000)))',
    '(local.set $lo4 (i8x16.splat (i32.const 15)))',
    `(local.set $mlo (i8x16.splat (i32.const ${f.m.lo})))`,
    `(local.set $mhi (i8x16.splat (i32.const ${f.m.hi})))`,
    `(local.set $uhi (i8x16.splat (i32.const ${f.u.hi})))`,
    ...dithered.flatMap((x) => [
      `(local.set $half${x.name}4 (f32x4.splat ${f32(1.5 + x.c.offset)}))`,
      `(local.set $weyl${x.name}4 (i32x4.splat ${i32(Math.imul(4, x.c.ditherMul))}))`,
    ]),
    `(local.set $am ${lanes('amm')})`,
    `(local.set $au ${lanes('amu')})`,
    `(local.set $invm ${inv(moments[0]!, '$am')})`,
    `(local.set $invu ${inv(moments[1]!, '$au')})`,
    '(local.set $invm4 (f32x4.splat (local.get $invm)))',
    '(local.set $invu4 (f32x4.splat (local.get $invu)))',
    `(f32.store (local.get $sm) (f32.div (local.get $am) ${f32(f.m.levels)}))`,
    `(f32.store (local.get $sv) (f32.div (local.get $au) ${f32(f.u.levels)}))`,
    '(local.set $k (local.get $scr))',
    ...dithered.map(
      (x) =>
        `(local.set ${x.h} (i32x4.add (i32x4.mul ${lane} (i32x4.splat ${i32(x.c.ditherMul)}))` +
        ` (i32x4.splat ${seedOf(x.c)})))`,
    ),
  ];
  const loads = (x: Moment) => [0, 1, 2, 3].map((q) => `(v128.load offset=${x.at + 16 * q} (local.get $k))`);
  const body16 = [
    ...dithered.flatMap((x) =>
      [1, 2, 3].map(
        (q) => `(local.set ${hashOf(x, q)} (i32x4.add (local.get ${hashOf(x, q - 1)}) (local.get $weyl${x.name}4)))`,
      ),
    ),
    // a moment read twice (the zero floor) is loaded once into locals
    ...moments.flatMap((x) => (x.c.nonZeroFloor ? loads(x).map((l, q) => `(local.set $${x.name}${q} ${l})`) : [])),
    ...moments.flatMap((x) =>
      store16(f, x, sixteen(x, x.c.nonZeroFloor ? [0, 1, 2, 3].map((q) => `(local.get $${x.name}${q})`) : loads(x))),
    ),
    ...dithered.map((x) => `(local.set ${x.h} (i32x4.add (local.get ${hashOf(x, 3)}) (local.get $weyl${x.name}4)))`),
    '(local.set $j (i32.add (local.get $j) (i32.const 16)))',
    '(local.set $k (i32.add (local.get $k) (i32.const 64)))',
  ];
  const loop16 = [
    '(block $b16_done',
    '  (loop $b16',
    '  (br_if $b16_done (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $cnt)))',
    ...body16.map((l) => `  ${l}`),
    '  (br $b16)))',
  ];
  const loop4 =
    f.pad % 16 === 0
      ? []
      : [
          '(block $b4_done',
          '  (loop $b4',
          '  (br_if $b4_done (i32.ge_u (local.get $j) (local.get $cnt)))',
          ...moments.flatMap((x) => tail4(x)).map((l) => `  ${l}`),
          ...dithered.map((x) => `  (local.set ${x.h} (i32x4.add (local.get ${x.h}) (local.get $weyl${x.name}4)))`),
          '  (local.set $j (i32.add (local.get $j) (i32.const 4)))',
          '  (local.set $k (i32.add (local.get $k) (i32.const 16)))',
          '  (br $b4)))',
        ];
  return [
    '  (func $requant',
    '    (param $scr i32) (param $qm i32) (param $qv i32) (param $sm i32) (param $sv i32) (param $cnt i32)',
    '    (param $idx i32) (param $seed i32) (param $amm v128) (param $amu v128)',
    ...[...locals, ...setup, ...loop16, ...loop4].map((l) => `    ${l}`),
    '  )',
  ].join('\n');
}
