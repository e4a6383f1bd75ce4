// The JavaScript low-bit codec (quantizeMoments / dequantizeMoments of src/kernels/lowbit_arrays.ts, the
// conversions of docs/ALGORITHM.md §11.4, §12.4, §13.3) takes every number from the format table
// (src/formats/state_formats.ts), as the WAT and WGSL codecs are generated from it:
// - on the table's own formats it agrees bit for bit with the float64 references (test/reference.ts,
//   test/reference4.ts, test/reference_bfloat16.ts): scales, nearest codes with the zero-point rule, decoded m and v;
// - on formats that change every number of an entry (code ranges, levels, offsets, block, what v stores) it follows
//   the changed entry, so no number of the table is written into it a second time;
// - its source holds no numeric literal but 0 and 1.
// Each check has a negative twin: a hand-written codec with the 8-bit numbers written in passes the first check on
// int8 and is refused on the changed formats; a codec rounding down is refused on the table's own format.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  allocateMoments,
  dequantizeMoments,
  quantizeMoments,
  type LowBitMoments,
} from '../src/kernels/lowbit_arrays.js';
import { BFLOAT16, INT4, INT8, type LowBitFormat, type MomentCode } from '../src/formats/state_formats.js';
import { refDecode8, REF_BLOCK, Rng } from './reference.js';
import { ref4From, refDecode4, REF4_BLOCK, unpack4 } from './reference4.js';
import { codesOf as codes16, decode as decode16, refNearest } from './reference_bfloat16.js';

interface Codec {
  quantize(m: Float32Array, v: Float32Array, out: LowBitMoments, f: LowBitFormat): void;
  dequantize(s: LowBitMoments, n: number, f: LowBitFormat): { m: Float32Array; v: Float32Array };
}

const LIBRARY: Codec = { quantize: quantizeMoments, dequantize: dequantizeMoments };

/** The codes of `n` elements of one moment, read from the spec's layouts (§11.1, §12.1, §13), not the library's. */
function codesOf(f: LowBitFormat, bytes: Int8Array | Uint8Array, n: number, signed: boolean): number[] {
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (f.bits === 4) return unpack4(u8, n, signed);
  if (f.bits === 16) return codes16(u8, n);
  return Array.from({ length: n }, (_, i) => (signed ? (u8[i]! << 24) >> 24 : u8[i]!));
}

/** The bfloat16 pattern of a float64 value that is already on the bfloat16 grid. */
function bits16(x: number): number {
  const d = new DataView(new ArrayBuffer(4));
  d.setFloat32(0, x);
  return d.getUint32(0) >>> 16;
}

/**
 * Checks a codec on `f` against a float64 reading of the entry: per block, scale = absmax / levels (float32);
 * each code the nearest to value · levels / absmax − offset, clamped to lo…hi (a non-zero value keeps code ≥ 1
 * where nonZeroFloor); decoded value (code + offset) · scale, v its square where v is stored as √v. bfloat16:
 * the nearest bfloat16 (ties to even), decoded exactly. The first failure, or null.
 */
function checkCodec(codec: Codec, f: LowBitFormat, m: Float32Array, v: Float32Array): string | null {
  const n = m.length;
  const s = allocateMoments(f, n);
  if (s === null) return 'no low-bit state here (WebAssembly SIMD)';
  codec.quantize(m, v, s, f);
  const stored = (i: number) => (f.vStored === 'sqrt' ? Math.sqrt(v[i]!) : v[i]!);
  const qm = codesOf(f, s.qm, n, f.m.signed);
  const qu = codesOf(f, s.qv, n, f.u.signed);
  const back = codec.dequantize(s, n, f);
  for (let lo = 0; lo < n; lo += f.block) {
    const b = lo / f.block;
    const hi = Math.min(n, lo + f.block);
    let am = 0;
    let au = 0;
    for (let i = lo; i < hi; i++) {
      am = Math.max(am, Math.abs(m[i]!));
      au = Math.max(au, stored(i));
    }
    const scaleM = f.scaled ? Math.fround(am / f.m.levels) : 1;
    const scaleU = f.scaled ? Math.fround(au / f.u.levels) : 1;
    if (f.scaled && (s.mScale[b] !== scaleM || s.vScale[b] !== scaleU)) {
      return `${f.dtype} block ${b}: scales ${s.mScale[b]}, ${s.vScale[b]}; expected ${scaleM}, ${scaleU}`;
    }
    const moments: [string, MomentCode, number[], (i: number) => number, number, Float32Array][] = [
      ['m', f.m, qm, (i) => m[i]!, am, back.m],
      ['v', f.u, qu, stored, au, back.v],
    ];
    for (const [name, c, q, value, absmax, decoded] of moments) {
      const scale = name === 'm' ? scaleM : scaleU;
      for (let i = lo; i < hi; i++) {
        const x = value(i);
        const code = q[i]!;
        let expected: number;
        if (c.kind === 'bfloat16') {
          if (code !== bits16(refNearest(x))) return `${f.dtype} ${name}[${i}] = ${x}: code ${code}`;
          expected = decode16(code);
        } else {
          if (code < c.lo || code > c.hi) return `${f.dtype} ${name}[${i}]: code ${code} outside ${c.lo}…${c.hi}`;
          const target = absmax > 0 ? (x * c.levels) / absmax - c.offset : -c.offset;
          const clamped = Math.min(c.hi, Math.max(c.lo, target));
          const floor = c.nonZeroFloor && x > 0 && code === 1 && clamped < 1;
          if (Math.abs(code - clamped) > 0.5 + 1e-4 && !floor) {
            return `${f.dtype} ${name}[${i}] = ${x}: code ${code}, nearest to ${target.toFixed(4)} expected`;
          }
          if (c.nonZeroFloor && x > 0 && code < 1) return `${f.dtype} ${name}[${i}] = ${x} > 0 got code 0`;
          const u = Math.fround((code + c.offset) * scale);
          expected = name === 'v' && f.vStored === 'sqrt' ? Math.fround(u * u) : u;
        }
        if (!Object.is(decoded[i], expected)) {
          return `${f.dtype} ${name}[${i}] decodes to ${decoded[i]}; expected ${expected}`;
        }
      }
    }
  }
  return null;
}

/** Changes every number of an entry's moment codes (and the block), keeping the bit width. */
function changed(f: LowBitFormat, block: number, m: Partial<MomentCode>, u: Partial<MomentCode>, plainV = false) {
  const mc = Object.freeze({ ...f.m, ...m });
  const uc = Object.freeze({ ...f.u, ...u });
  return Object.freeze({
    ...f,
    block,
    m: mc,
    u: uc,
    mMax: mc.hi,
    uMax: uc.hi,
    uOffset: uc.offset,
    uLevels: uc.levels,
    vStored: plainV ? ('plain' as const) : f.vStored,
  });
}

const CHANGED: LowBitFormat[] = [
  changed(INT8, 64, { lo: -100, hi: 100, levels: 100 }, { hi: 200, levels: 200 }),
  changed(INT8, 128, { lo: -120, hi: 120, levels: 90 }, { offset: 1, levels: 256, nonZeroFloor: false }, true),
  changed(INT4, 32, { lo: -6, hi: 6, levels: 6 }, { offset: 0, levels: 15, nonZeroFloor: true }),
  changed(INT4, 256, { lo: -5, hi: 7, levels: 5 }, { offset: 2, levels: 17 }),
];

function inputs(n: number, seed: number): { m: Float32Array; v: Float32Array } {
  const rng = new Rng(seed);
  const m = Float32Array.from(rng.normals(n), (x, i) => (i % 97 === 3 ? 0 : x * 1e-3));
  const v = Float32Array.from(rng.normals(n), (x, i) => (i % 89 === 5 ? 0 : i % 61 === 7 ? 1e-12 : x * x * 1e-6));
  // a block of zeros (scale 0) and a block of tiny values beside large ones
  m.fill(0, 256, 512);
  v.fill(0, 256, 512);
  return { m, v };
}

/** The old hand-written 8-bit codec: 127, 255 and the block of 256 written in (what the table replaced). */
const HAND_WRITTEN: Codec = {
  quantize(m, v, out) {
    for (let lo = 0; lo < m.length; lo += 256) {
      const hi = Math.min(m.length, lo + 256);
      let am = 0;
      let au = 0;
      for (let i = lo; i < hi; i++) {
        am = Math.max(am, Math.abs(m[i]!));
        au = Math.max(au, Math.sqrt(v[i]!));
      }
      out.mScale[lo / 256] = am / 127;
      out.vScale[lo / 256] = au / 255;
      for (let i = lo; i < hi; i++) {
        const u = Math.sqrt(v[i]!);
        out.qm[i] = am > 0 ? Math.round((m[i]! * 127) / am) : 0;
        out.qv[i] = au > 0 ? Math.max(u > 0 ? 1 : 0, Math.round((u * 255) / au)) : 0;
      }
    }
  },
  dequantize(s, n) {
    const m = new Float32Array(n);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      m[i] = s.qm[i]! * s.mScale[Math.floor(i / 256)]!;
      const u = Math.fround(s.qv[i]! * s.vScale[Math.floor(i / 256)]!);
      v[i] = u * u;
    }
    return { m, v };
  },
};

/** The library's codec with m's codes rounded down (toward −∞) instead of to nearest (8-bit layout). */
const ROUNDS_DOWN: Codec = {
  quantize(m, v, out, f) {
    quantizeMoments(m, v, out, f);
    for (let i = 0; i < m.length; i++) {
      const scale = out.mScale[Math.floor(i / f.block)]!;
      out.qm[i] = scale > 0 ? Math.floor(m[i]! / scale) : 0;
    }
  },
  dequantize: dequantizeMoments,
};

describe('the JavaScript low-bit codec reads every number from the format table', () => {
  const n = 1000; // not a multiple of any block: a partial last block
  const { m, v } = inputs(n, 7);

  for (const f of [INT8, INT4, BFLOAT16]) {
    it(`${f.dtype}: scales, nearest codes and decoded moments bit for bit against the float64 reading`, () => {
      assert.equal(checkCodec(LIBRARY, f, m, v), null);
    });
  }

  it('the float64 reading decodes as the spec references do: int8 as refDecode8, int4 as refDecode4', () => {
    for (const [f, block] of [
      [INT8, REF_BLOCK],
      [INT4, REF4_BLOCK],
    ] as const) {
      assert.equal(f.block, block);
      const s = allocateMoments(f, n)!;
      quantizeMoments(m, v, s, f);
      const ref =
        f === INT8
          ? refDecode8({ qm: s.qm as Int8Array, qv: s.qv, mScale: s.mScale, vScale: s.vScale, t: 0 }, n)
          : refDecode4(ref4From({ qm: s.qm as Uint8Array, qv: s.qv, mScale: s.mScale, vScale: s.vScale, t: 0 }, n), n);
      const back = dequantizeMoments(s, n, f);
      for (let i = 0; i < n; i++) {
        assert.ok(Object.is(back.m[i], Math.fround(ref.m[i]!)), `${f.dtype} m[${i}]`);
        const u = Math.fround(ref.u[i]!);
        assert.ok(Object.is(back.v[i], Math.fround(u * u)), `${f.dtype} v[${i}]`);
      }
    }
  });

  for (const f of CHANGED) {
    const what =
      `${f.dtype} changed: block ${f.block}, m ${f.m.lo}…${f.m.hi}/${f.m.levels}, u ` +
      `${f.u.lo}…${f.u.hi}+${f.u.offset}/${f.u.levels}, v ${f.vStored}`;
    it(`${what}: the codec follows the changed entry`, () => {
      assert.equal(checkCodec(LIBRARY, f, m, v), null);
    });
  }

  it('its source holds no numeric literal but 0 and 1', () => {
    const text = readFileSync(new URL('../src/kernels/lowbit_arrays.ts', import.meta.url), 'utf8');
    for (const name of ['quantizeMoments', 'dequantizeMoments']) {
      const body = bodyOf(text, name);
      assert.ok(body.split('\n').length > 10, `${name}: its body was found`);
      assert.deepEqual(literalsOf(body), [], name);
    }
  });

  it('can fail: a codec with the 8-bit numbers written in passes on int8 and is refused on every changed entry', () => {
    assert.equal(checkCodec(HAND_WRITTEN, INT8, m, v), null);
    for (const f of CHANGED.filter((x) => x.bits === 8)) assert.notEqual(checkCodec(HAND_WRITTEN, f, m, v), null);
  });

  it('can fail: a codec rounding down is refused on the table entry itself', () => {
    assert.notEqual(checkCodec(ROUNDS_DOWN, INT8, m, v), null);
  });

  it('can fail: the literal scan finds a number written into a body', () => {
    const text = `export function quantizeMoments(m) {\n  return m / 127;\n}\n`;
    assert.deepEqual(literalsOf(bodyOf(text, 'quantizeMoments')), ['127']);
  });
});

/** The text of a top-level function, from its name to its closing brace at the start of a line. */
function bodyOf(text: string, name: string): string {
  const start = text.indexOf(`export function ${name}(`);
  assert.ok(start >= 0, `${name} not found`);
  return text.slice(start, text.indexOf('\n}\n', start));
}

/** Numeric literals other than 0 and 1 in code (comments dropped). */
function literalsOf(code: string): string[] {
  const bare = code.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, '');
  return (bare.match(/(?<![\w.])(0x[0-9a-f]+|\d+(\.\d+)?(e-?\d+)?)(?![\w.])/gi) ?? []).filter(
    (x) => x !== '0' && x !== '1',
  );
}
