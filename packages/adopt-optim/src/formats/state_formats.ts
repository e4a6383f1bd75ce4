/**
 * The optimizer-state formats as data (docs/ALGORITHM.md §11 8-bit, §12 4-bit): for each `stateDtype`,
 * the block size, the codes of each moment, its scale, how it decodes and rounds, and how codes
 * are packed in bytes. Every codec is generated from these entries (WebAssembly:
 * src/codegen/wat_codec.ts; WGSL: src/codegen/wgsl_lowbit.ts) or reads them (JavaScript:
 * quantizeMoments / dequantizeMoments in src/kernels/lowbit_arrays.ts, with no number of their own:
 * test/lowbit_codec_table.test.ts), and the storage, the optimizers and the conversions read them.
 * This module sits below codegen, kernels, backends and the optimizers: it imports nothing.
 */
/** `stateDtype` values with low-bit state. */
export type LowBitDtype = 'int8' | 'int4' | 'bfloat16';

/**
 * How one moment of a low-bit format is coded (m, or u = √v): codes lo..hi, value =
 * (code + offset) · scale with scale = absmax / levels per block; written back by rounding to
 * nearest or stochastically (floor(y + r), r uniform in [0, 1) from the top 23 bits of
 * (index · ditherMul + seed · seedMul) mod 2^32, §11.3).
 */
export interface MomentCode {
  /**
   * 'scaled': an integer code times its block's scale; 'bfloat16': the upper 16 bits of the float32
   * (stochastic rounding adds the top 16 bits of the hash to the float's bits before truncating, §13).
   */
  readonly kind: 'scaled' | 'bfloat16';
  readonly signed: boolean;
  readonly lo: number;
  readonly hi: number;
  readonly offset: number;
  readonly levels: number;
  readonly rounding: 'nearest' | 'stochastic';
  /** A non-zero value never gets code 0 (8-bit √v, §11.2: code 0 means v = 0). */
  readonly nonZeroFloor: boolean;
  readonly ditherMul: number;
  readonly seedMul: number;
}

/** A block-wise low-bit state format: sizes, code ranges and how √v decodes (docs/ALGORITHM.md §11, §12). */
export interface LowBitFormat {
  readonly dtype: LowBitDtype;
  /** Bits per code. */
  readonly bits: 8 | 4 | 16;
  /** Elements per block (one float32 scale per block and moment). */
  readonly block: number;
  /** The kernels take this many elements at a time: arrays are padded with zeros to a multiple of it. */
  readonly pad: number;
  /** m codes are -mMax..mMax; m = code · mScale, mScale = absmax(m) / mMax. */
  readonly mMax: number;
  /** √v codes are 0..uMax. */
  readonly uMax: number;
  /** √v = (code + uOffset) · vScale: 0 for 8-bit (code 0 is v = 0), 1 for 4-bit (no code means 0: §12.2). */
  readonly uOffset: number;
  /** vScale = max(√v) / uLevels (uMax + uOffset: the largest code decodes to the block's maximum). */
  readonly uLevels: number;
  /** Suffix of the generated kernel modules (`<rule key>_<dtype>`). */
  readonly key: string;
  /** How m is coded (mMax above: its hi). */
  readonly m: MomentCode;
  /** How u = √v is coded (uMax, uOffset, uLevels above: its hi, offset and levels). */
  readonly u: MomentCode;
  /** What the second moment's codes hold: √v ('sqrt', the kernels' u) or v itself ('plain'). */
  readonly vStored: 'sqrt' | 'plain';
  /** Whether the codes carry one float32 scale per block and moment (§11.1); false: the codes alone. */
  readonly scaled: boolean;
  /** Saved weights' suffixes per variable (`<variable>/<suffix>`): the codes of m and v, then the scales if any. */
  readonly names: readonly string[];
}

/** The dither multiplier of √v's stochastic rounding (§11.3): the golden-ratio Weyl sequence. */
export const U_DITHER_MUL = 0x9e3779b9;
/** The dither multiplier of m's stochastic rounding (4-bit only, §12.3): a second Weyl sequence. */
export const M_DITHER_MUL = 0xc2b2ae3d;
/** m's per-step seed: seed · M_SEED_MUL (mod 2^32), so m's and √v's dithers differ. */
export const M_SEED_MUL = 0x27d4eb2f;

const code = (c: Omit<MomentCode, 'ditherMul' | 'seedMul' | 'kind'>, ditherMul: number, seedMul: number): MomentCode =>
  Object.freeze({ kind: 'scaled' as const, ...c, ditherMul, seedMul });

/** A low-bit format from its sizes and the codes of its two moments. */
function lowBit(
  dtype: LowBitDtype,
  bits: 8 | 4,
  block: number,
  pad: number,
  m: MomentCode,
  u: MomentCode,
): LowBitFormat {
  const x = bits === 8 ? '' : String(bits); // 4-bit entries are named qm4, ... so that neither is read as the other
  return Object.freeze({
    dtype,
    bits,
    block,
    pad,
    key: dtype,
    m,
    u,
    mMax: m.hi,
    uMax: u.hi,
    uOffset: u.offset,
    uLevels: u.levels,
    vStored: 'sqrt' as const,
    scaled: true,
    names: Object.freeze([`qm${x}`, `qv${x}`, `mScale${x}`, `vScale${x}`]),
  });
}

/**
 * 8-bit state (§11): blocks of 256, m codes −127…127 rounded to nearest, √v codes 0…255 rounded
 * stochastically (code 0 is v = 0: a non-zero √v gets at least 1); one byte per code.
 */
export const INT8: LowBitFormat = lowBit(
  'int8',
  8,
  256,
  4,
  code(
    { signed: true, lo: -127, hi: 127, offset: 0, levels: 127, rounding: 'nearest', nonZeroFloor: false },
    M_DITHER_MUL,
    M_SEED_MUL,
  ),
  code(
    { signed: false, lo: 0, hi: 255, offset: 0, levels: 255, rounding: 'stochastic', nonZeroFloor: true },
    U_DITHER_MUL,
    1,
  ),
);
/**
 * 4-bit state (§12): blocks of 128, both moments rounded stochastically, m codes −7…7, √v codes
 * 0…15 decoding to (code + 1) · vScale (no code means 0); two codes per byte (§12.1).
 */
export const INT4: LowBitFormat = lowBit(
  'int4',
  4,
  128,
  16,
  code(
    { signed: true, lo: -7, hi: 7, offset: 0, levels: 7, rounding: 'stochastic', nonZeroFloor: false },
    M_DITHER_MUL,
    M_SEED_MUL,
  ),
  code(
    { signed: false, lo: 0, hi: 15, offset: 1, levels: 16, rounding: 'stochastic', nonZeroFloor: false },
    U_DITHER_MUL,
    1,
  ),
);

/** A bfloat16 moment: any 16-bit pattern, rounded stochastically with the given dither (§13). */
const bf16 = (ditherMul: number, seedMul: number): MomentCode =>
  Object.freeze({
    kind: 'bfloat16' as const,
    signed: false,
    lo: 0,
    hi: 0xffff,
    offset: 0,
    levels: 1,
    rounding: 'stochastic' as const,
    nonZeroFloor: false,
    ditherMul,
    seedMul,
  });

/**
 * bfloat16 state (§13): m and v each as the upper 16 bits of their float32, stochastically rounded
 * (unbiased), no scales: 4 bytes per parameter. Kernels take 16 elements at a time (blocks of 128:
 * one WGSL workgroup of 64 words).
 */
export const BFLOAT16: LowBitFormat = Object.freeze({
  dtype: 'bfloat16',
  bits: 16,
  block: 128,
  pad: 16,
  key: 'bfloat16',
  m: bf16(M_DITHER_MUL, M_SEED_MUL),
  u: bf16(U_DITHER_MUL, 1),
  mMax: 0xffff,
  uMax: 0xffff,
  uOffset: 0,
  uLevels: 1,
  vStored: 'plain',
  scaled: false,
  names: Object.freeze(['mbf16', 'vbf16']),
});

/** float32 state: m and v as float32 slots, 8 bytes per parameter (no codes; the rules' own kernels). */
export const FLOAT32 = Object.freeze({ dtype: 'float32' as const, bytesPerParameter: 8 });

export const LOW_BIT_FORMATS: readonly LowBitFormat[] = [INT8, INT4, BFLOAT16];

/** The format of a low-bit `stateDtype`. */
export function lowBitFormat(dtype: LowBitDtype): LowBitFormat {
  const f = LOW_BIT_FORMATS.find((x) => x.dtype === dtype);
  if (f === undefined) throw new RangeError(`adopt-optim: no low-bit state format '${String(dtype)}'`);
  return f;
}

/** Elements after padding an array of `n` to the format's multiple. */
export function paddedLength(f: LowBitFormat, n: number): number {
  return Math.ceil(n / f.pad) * f.pad;
}

/** Bytes of one moment's codes for `padded` elements (two 4-bit codes per byte). */
export function codeBytes(f: LowBitFormat, padded: number): number {
  return (padded * f.bits) / 8;
}

/** Blocks of an array of `padded` elements (the kernels' unit of work; one scale each where the format has scales). */
export function blockCount(f: LowBitFormat, padded: number): number {
  return Math.ceil(padded / f.block);
}

/** Scales per moment of an array of `padded` elements: one per block, or none. */
export function scaleCount(f: LowBitFormat, padded: number): number {
  return f.scaled ? blockCount(f, padded) : 0;
}

/**
 * The JavaScript codec of one moment (the conversions of §11.4, §12.4): the code of a stored value
 * (m, or what the format stores of v) rounded to nearest at `inv` = levels / absmax, clamped to the
 * moment's range; a non-zero value keeps a non-zero code where the format says so.
 */
export function encodeNearest(c: MomentCode, value: number, inv: number): number {
  if (c.kind === 'bfloat16') return bfloat16Nearest(value);
  const code = Math.max(c.lo, Math.min(c.hi, Math.round(value * inv) - c.offset));
  return c.nonZeroFloor && value > 0 ? Math.max(1, code) : code;
}

/** The stored value a code decodes to with its block's scale: (code + offset) · scale. */
export function decodeValue(c: MomentCode, code: number, scale: number): number {
  if (c.kind === 'bfloat16') return bfloat16Value(code);
  return (code + c.offset) * scale;
}

const word = new Float32Array(1);
const wordBits = new Uint32Array(word.buffer);

/**
 * The bfloat16 pattern nearest (ties to even) to float32(x); NaN stays a quiet NaN, ±Infinity stays itself, and a
 * finite float32 beyond the largest finite bfloat16 (3.3895e38) saturates there instead of rounding to Infinity.
 */
export function bfloat16Nearest(x: number): number {
  word[0] = x;
  const b = wordBits[0]!;
  if (Number.isNaN(word[0])) return (b >>> 16) | 0x40;
  const code = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
  return (code & 0x7fff) === 0x7f80 && Number.isFinite(word[0]) ? code - 1 : code;
}

/** The float a bfloat16 pattern holds. */
export function bfloat16Value(code: number): number {
  wordBits[0] = (code & 0xffff) << 16;
  return word[0]!;
}

/**
 * 4-bit packing (§12.1): per group of 16 elements, 8 bytes; byte i of the group holds element i
 * in its low nibble and element i + 8 in its high nibble (the order SIMD unpacks in two shifts and
 * one shuffle). m's codes are 4-bit two's complement, √v's unsigned.
 */
function nibbleAt(i: number): { byte: number; shift: number } {
  const group = i >> 4;
  const lane = i & 15;
  return { byte: group * 8 + (lane & 7), shift: lane < 8 ? 0 : 4 };
}

/** The code of element i of a moment's code bytes (`signed`: m's codes). */
export function readCode(f: LowBitFormat, codes: Int8Array | Uint8Array, i: number, signed: boolean): number {
  if (f.bits === 8) return codes[i]!;
  if (f.bits === 16) return (codes[2 * i]! & 0xff) | ((codes[2 * i + 1]! & 0xff) << 8); // little-endian
  const { byte, shift } = nibbleAt(i);
  const nibble = ((codes[byte]! & 0xff) >> shift) & 15;
  return signed && nibble >= 8 ? nibble - 16 : nibble;
}

/** Sets the code of element i (in range: the caller checks). */
export function writeCode(f: LowBitFormat, codes: Int8Array | Uint8Array, i: number, code: number): void {
  if (f.bits === 8) {
    codes[i] = code;
    return;
  }
  if (f.bits === 16) {
    codes[2 * i] = code & 0xff;
    codes[2 * i + 1] = (code >> 8) & 0xff;
    return;
  }
  const { byte, shift } = nibbleAt(i);
  codes[byte] = ((codes[byte]! & ~(15 << shift)) | ((code & 15) << shift)) & 0xff;
}
