/**
 * The block-wise low-bit state formats (docs/ALGORITHM.md §11 8-bit, §12 4-bit) as data: block
 * size, code ranges, how √v decodes and how codes are packed in bytes. The kernels
 * (src/codegen/wat8.ts), the storage (./state8.ts), the tfjs optimizers (src/tfjs/state8.ts) and
 * the conversions read these numbers; nothing else knows a format.
 */

/** `stateDtype` values with low-bit state. */
export type LowBitDtype = 'int8' | 'int4';

/** A block-wise low-bit state format: sizes, code ranges and how √v decodes (docs/ALGORITHM.md §11, §12). */
export interface LowBitFormat {
  readonly dtype: LowBitDtype;
  /** Bits per code. */
  readonly bits: 8 | 4;
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
}

/** 8-bit state (§11): blocks of 256, m codes −127…127, √v codes 0…255 (code 0 is v = 0). */
export const INT8: LowBitFormat = Object.freeze({ dtype: 'int8', bits: 8, block: 256, pad: 4, mMax: 127, uMax: 255, uOffset: 0, uLevels: 255, key: 'int8' });
/** 4-bit state (§12): blocks of 128, m codes −7…7, √v codes 0…15 decoding to (code + 1) · vScale; two codes per byte. */
export const INT4: LowBitFormat = Object.freeze({ dtype: 'int4', bits: 4, block: 128, pad: 16, mMax: 7, uMax: 15, uOffset: 1, uLevels: 16, key: 'int4' });

export const LOW_BIT_FORMATS: readonly LowBitFormat[] = [INT8, INT4];

export function lowBitFormat(dtype: LowBitDtype): LowBitFormat {
  return dtype === 'int4' ? INT4 : INT8;
}

/** Elements after padding an array of `n` to the format's multiple. */
export function paddedLength(f: LowBitFormat, n: number): number {
  return Math.ceil(n / f.pad) * f.pad;
}

/** Bytes of one moment's codes for `padded` elements (two 4-bit codes per byte). */
export function codeBytes(f: LowBitFormat, padded: number): number {
  return (padded * f.bits) / 8;
}

/** Blocks (scales per moment) of an array of `padded` elements. */
export function blockCount(f: LowBitFormat, padded: number): number {
  return Math.ceil(padded / f.block);
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
  const { byte, shift } = nibbleAt(i);
  codes[byte] = ((codes[byte]! & ~(15 << shift)) | ((code & 15) << shift)) & 0xff;
}

/** The dither multiplier of m's stochastic rounding (4-bit only, §12.3): a second Weyl sequence. */
export const M_DITHER_MUL = 0xc2b2ae3d;
/** m's per-step seed: seed · M_SEED_MUL (mod 2^32), so m's and √v's dithers differ. */
export const M_SEED_MUL = 0x27d4eb2f;
