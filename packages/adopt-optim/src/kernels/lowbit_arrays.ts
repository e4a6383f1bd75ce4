/**
 * Low-bit optimizer state in plain arrays (docs/ALGORITHM.md §11 8-bit, §12 4-bit; the formats:
 * src/formats/state_formats.ts) for the framework-free core and, through src/tfjs/lowbit_store.ts,
 * the TensorFlow.js optimizers on the cpu backend (and on wasm where the heap route of
 * src/backends/wasm_heap_lowbit.ts cannot be used).
 *
 * The codes and scales of one parameter array live in a plain ArrayBuffer of their own; the 8-bit
 * and 4-bit kernels generated from the rules (src/codegen/wat8.ts) run in one WebAssembly memory
 * shared by every array (`sharedScratch`), into which a chunk of 16 K elements of p, g, their codes
 * and scales is copied, de-quantised, updated and re-quantised one block at a time, then copied
 * back. No array needs a memory of its own (Chromium stops making them after ~120). The arrays
 * handed out (`qm`, `qv`, `mScale`, `vScale`) are plain typed arrays the caller can read, copy and set.
 *
 * On tfjs's wasm backend the same kernels are instantiated over the backend's own heap instead
 * (`bindLowBitKernels`), with the codes allocated there: wasm_heap_lowbit.ts.
 */
import { ruleKernels as moduleKernels, wasmKernelsAvailable } from './wasm_kernels.js';
import { registerLowBitModuleText } from '../codegen/module_text.js';
import { lowBitModuleText } from '../codegen/module_text_lowbit.js';
import { callPart, kernelPlan, type PhaseCall } from '../codegen/modules.js';
import { uniformArgs } from '../codegen/signature.js';
import { ADOPT } from '../rules/adopt.js';
import { flagsOf } from '../rules/rule.js';
import {
  codeBytes,
  decodeValue,
  encodeNearest,
  INT4,
  INT8,
  paddedLength,
  readCode,
  scaleCount,
  writeCode,
  LOW_BIT_FORMATS,
  type LowBitFormat,
} from '../formats/state_formats.js';

/** Elements per block of 8-bit state; one float32 scale per block and moment. */
export const BLOCK = INT8.block;
/** Elements per chunk of p and g copied through the scratch: a multiple of BLOCK. */
const CHUNK = 16384;
const SCRATCH_BYTES = 2 * BLOCK * 4;

/** A low-bit module's kernels bound to `memory`, its text (../codegen/module_text_lowbit.ts) registered first. */
function ruleKernels(memory: WebAssembly.Memory, key: string): ReturnType<typeof moduleKernels> {
  registerLowBitModuleText(lowBitModuleText);
  return moduleKernels(memory, key);
}

/** The low-bit kernels bound to a memory: the generated `<rule>_<format>` modules (src/codegen/wat8.ts), made on use. */
export interface LowBitKernels {
  readonly memory: WebAssembly.Memory;
}

/**
 * The low-bit kernels bound to an existing memory (tfjs's wasm heap; shared or not), or null if they
 * cannot be (no SIMD, no threads for a shared memory, a memory the import does not match).
 */
export function bindLowBitKernels(memory: WebAssembly.Memory): LowBitKernels | null {
  return ruleKernels(memory, `${kernelPlan(ADOPT, flagsOf(ADOPT, {})).key}_int8`) === null ? null : { memory };
}

/** Whether low-bit state can be used here (WebAssembly with SIMD). */
export function lowBitAvailable(): boolean {
  return wasmKernelsAvailable();
}

/**
 * The 8-bit state of one parameter array: codes of m (signed, -127..127) and of u = sqrt(v)
 * (unsigned, 0..255), one float32 scale per block of 256 for each (value = code * scale).
 */
export interface Int8Moments {
  /** Codes of m, one per element (length: the array's, padded to a multiple of 4 with zeros). */
  qm: Int8Array;
  /** Codes of u = sqrt(v). */
  qv: Uint8Array;
  /** m = qm * mScale[block]: absmax(m) / 127 per block. */
  mScale: Float32Array;
  /** sqrt(v) = qv * vScale[block]: max(sqrt(v)) / 255 per block. */
  vScale: Float32Array;
}

/**
 * The 4-bit state of one parameter array (§12): codes of m (signed, -7..7) and of u = sqrt(v)
 * (0..15, decoding to (code + 1) · vScale), two per byte (§12.1), one float32 scale per block of 128.
 */
export interface Int4Moments {
  /** Packed codes of m: length padded / 2 (the array's length padded to a multiple of 16). */
  qm: Uint8Array;
  /** Packed codes of u = sqrt(v). */
  qv: Uint8Array;
  /** m = code · mScale[block]: absmax(m) / 7 per block. */
  mScale: Float32Array;
  /** sqrt(v) = (code + 1) · vScale[block]: max(sqrt(v)) / 16 per block. */
  vScale: Float32Array;
}

/** 8-bit or 4-bit moments. */
export type LowBitMoments = Int8Moments | Int4Moments;

/** What allocateMoments made: the format and the array length, keyed by the moments' own buffer. */
interface Made {
  format: LowBitFormat;
  length: number;
}

const made = new WeakMap<ArrayBufferLike, Made>();

const align16 = (n: number) => Math.ceil(n / 16) * 16;

/**
 * Where the codes and scales of an array of `length` elements lie in one allocation (byte offsets
 * from its start, each 16-aligned): qm, qv (the padded elements' codes), then mScale, vScale (one
 * float32 per block). Used for the allocations on tfjs's wasm heap (wasm_heap_lowbit.ts) and for the
 * plain buffers of allocateMoments.
 */
export function codesLayout(
  length: number,
  format: LowBitFormat = INT8,
): { padded: number; blocks: number; qm: number; qv: number; sm: number; sv: number; bytes: number } {
  const padded = paddedLength(format, length);
  const blocks = scaleCount(format, padded);
  const codes = align16(codeBytes(format, padded));
  const qv = codes;
  const sm = qv + codes;
  const sv = sm + align16(4 * blocks);
  return { padded, blocks, qm: 0, qv, sm, sv, bytes: sv + align16(4 * blocks) };
}

/**
 * The one WebAssembly memory every array's low-bit step runs in (a chunk of p, g, the codes and
 * the scales at a time), made on first use. Chromium refuses new memories after ~120 of them, so
 * no array has one of its own: 10,000 variables step as one does.
 */
interface Scratch {
  k: LowBitKernels;
  p: Float32Array;
  g: Float32Array;
  qm: Uint8Array;
  qv: Uint8Array;
  sm: Float32Array;
  sv: Float32Array;
  offsets: LowBitOffsets;
}

let scratch: Scratch | null | undefined;

function sharedScratch(): Scratch | null {
  if (scratch !== undefined) return scratch;
  // the most blocks a chunk spans (the smallest block) and the most code bytes it holds (the widest code)
  const scales = CHUNK / Math.min(...LOW_BIT_FORMATS.map((f) => f.block));
  const codes = Math.max(...LOW_BIT_FORMATS.map((f) => codeBytes(f, CHUNK)));
  let at = 0;
  const take = (bytes: number) => {
    const o = at;
    at = align16(at + bytes);
    return o;
  };
  const o = {
    p: take(4 * CHUNK),
    g: take(4 * CHUNK),
    scr: take(SCRATCH_BYTES),
    qm: take(codes),
    qv: take(codes),
    sm: take(4 * scales),
    sv: take(4 * scales),
  };
  const pages = Math.ceil(at / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const k = bindLowBitKernels(memory);
  if (k === null) return (scratch = null);
  const b = memory.buffer;
  return (scratch = {
    k,
    offsets: o,
    p: new Float32Array(b, o.p, CHUNK),
    g: new Float32Array(b, o.g, CHUNK),
    qm: new Uint8Array(b, o.qm, codes),
    qv: new Uint8Array(b, o.qv, codes),
    sm: new Float32Array(b, o.sm, scales),
    sv: new Float32Array(b, o.sv, scales),
  });
}

/**
 * Codes and scales in `format` for an array of `length`, zeroed: views of one plain ArrayBuffer
 * (no WebAssembly memory of their own; the kernels run over the shared scratch); null without SIMD.
 */
export function allocateMoments(format: LowBitFormat, length: number): LowBitMoments | null {
  if (!lowBitAvailable() || sharedScratch() === null) return null;
  const layout = codesLayout(length, format);
  const bytes = codeBytes(format, layout.padded);
  const buffer = new ArrayBuffer(layout.bytes);
  const rest = {
    qv: new Uint8Array(buffer, layout.qv, bytes),
    mScale: new Float32Array(buffer, layout.sm, layout.blocks),
    vScale: new Float32Array(buffer, layout.sv, layout.blocks),
  };
  const moments: LowBitMoments =
    format.bits === 8
      ? { qm: new Int8Array(buffer, layout.qm, bytes), ...rest }
      : { qm: new Uint8Array(buffer, layout.qm, bytes), ...rest };
  made.set(buffer, { format, length });
  return moments;
}

/** Records moments made elsewhere (a shared memory of threaded_state.ts) as init-made, for the checks below. */
export function registerMoments(buffer: ArrayBufferLike, format: LowBitFormat, length: number): void {
  made.set(buffer, { format, length });
}

/** Elements of the array these moments were made for (undefined for arrays init did not make). */
export function momentsLength(s: LowBitMoments): number | undefined {
  return made.get(s.qm.buffer)?.length;
}

/** The format of moments allocateMoments made (undefined for arrays it did not make). */
export function momentsFormat(s: LowBitMoments): LowBitFormat | undefined {
  return made.get(s.qm.buffer)?.format;
}

/** Bytes of memory that hold these moments (their codes and scales; the shared scratch is not counted). */
export function lowBitMomentsBytes(s: LowBitMoments): number {
  const m = made.get(s.qm.buffer); // threaded state's memory also holds p and g: count the codes and scales only
  return m === undefined ? s.qm.buffer.byteLength : codesLayout(m.length, m.format).bytes;
}

/** @deprecated The old name of lowBitMomentsBytes (it covers every low-bit format). */
export const int8MomentsBytes = lowBitMomentsBytes;

function madeOf(owner: string, s: LowBitMoments, length: number): Made {
  const b = made.get(s.qm.buffer);
  if (
    b === undefined ||
    s.qv.buffer !== s.qm.buffer ||
    s.mScale.buffer !== s.qm.buffer ||
    s.vScale.buffer !== s.qm.buffer
  ) {
    throw new TypeError(
      `adopt-optim ${owner}: the low-bit state was not made by init (its arrays must stay the ones init returned).`,
    );
  }
  if (b.length !== length) {
    throw new RangeError(
      `adopt-optim ${owner}: the ${b.format.bits}-bit state holds ${b.length} elements but the step touches ${length}; nothing was written.`,
    );
  }
  return b;
}

/**
 * The hash seed of a step (§11.3): different at every step, so that stochastic rounding draws
 * independent numbers; the same for the same step, so runs are reproducible.
 */
export function stepSeed(t: number): number {
  return Math.imul(t + 1, 0x85ebca77) | 0;
}

/** Byte offsets of the kernel's operands in its memory (scr: the 2 x 256-float block scratch). */
export interface LowBitOffsets {
  p: number;
  g: number;
  qm: number;
  qv: number;
  sm: number;
  sv: number;
  scr: number;
}

/** Whether a call's phase writes p (ADOPT's first step writes only the state). */
export function writesParams(call: PhaseCall): boolean {
  return callPart(call).phase.writes.some(([target]) => target === 'p');
}

/**
 * Runs the call's phase, in `format`, over `n` elements (a multiple of the format's pad) at the
 * given offsets; `start` is the index of the first element in the whole array (a multiple of the
 * block: the hash of §11.3 and the block boundaries), and the offsets of qm, qv, sm and sv are
 * those of that element and its block.
 */
export function callLowBit(
  k: LowBitKernels,
  call: PhaseCall,
  o: LowBitOffsets,
  n: number,
  start: number,
  seed: number,
  format: LowBitFormat,
): void {
  if (n % format.pad !== 0) {
    throw new RangeError(
      `adopt-optim: a low-bit kernel takes a multiple of ${format.pad} elements, not ${n}; nothing was written.`,
    );
  }
  const exports = ruleKernels(k.memory, `${call.plan.key}_${format.key}`);
  if (exports === null)
    throw new Error(`adopt-optim: the low-bit kernels ${call.plan.key}_${format.key} could not be instantiated.`);
  const part = callPart(call);
  exports[call.phase]!(o.p, o.g, o.qm, o.qv, o.sm, o.sv, o.scr, n, start, seed, ...uniformArgs(part.sig, call.scalars));
}

/**
 * Runs the call's phase over chunks of p and g through the shared scratch, the chunk's codes and
 * scales copied in and back out around each call; writes p back where the phase writes it.
 */
function chunked(b: Made, p: Float32Array, g: Float32Array, s: LowBitMoments, call: PhaseCall, seed: number): void {
  const x = sharedScratch();
  if (x === null) throw new Error('adopt-optim: the low-bit kernels could not be instantiated.');
  const n = p.length;
  const f = b.format;
  const writesP = writesParams(call);
  const qm = new Uint8Array(s.qm.buffer, s.qm.byteOffset, s.qm.byteLength);
  const qv = new Uint8Array(s.qv.buffer, s.qv.byteOffset, s.qv.byteLength);
  for (let start = 0; start < n; start += CHUNK) {
    const count = Math.min(CHUNK, n - start);
    x.p.set(p.subarray(start, start + count));
    x.g.set(g.subarray(start, start + count));
    const padded = paddedLength(f, count);
    x.p.fill(0, count, padded); // padding: p = g = 0 keeps the padded codes at 0
    x.g.fill(0, count, padded);
    const code = codeBytes(f, start); // start: a multiple of CHUNK, so of both blocks
    const codes = codeBytes(f, padded);
    const block = scaleCount(f, start);
    const blocks = scaleCount(f, padded);
    x.qm.set(qm.subarray(code, code + codes));
    x.qv.set(qv.subarray(code, code + codes));
    x.sm.set(s.mScale.subarray(block, block + blocks));
    x.sv.set(s.vScale.subarray(block, block + blocks));
    callLowBit(x.k, call, x.offsets, padded, start, seed, f);
    qm.set(x.qm.subarray(0, codes), code);
    qv.set(x.qv.subarray(0, codes), code);
    s.mScale.set(x.sm.subarray(0, blocks), block);
    s.vScale.set(x.sv.subarray(0, blocks), block);
    if (writesP) p.set(x.p.subarray(0, count), start);
  }
}

/**
 * One phase of a rule (the same PhaseCall the float32 kernels run: plan, phase, scalars) on
 * low-bit state `s` in the format init made it in: p (written where the phase writes it), g.
 */
export function lowBitStep(call: PhaseCall, p: Float32Array, g: Float32Array, s: LowBitMoments, seed: number): void {
  chunked(madeOf(`${call.plan.key} ${call.phase}`, s, p.length), p, g, s, call, seed);
}

/**
 * float32 moments -> low-bit (§11.4, §12.4): each moment's codec of the format table
 * (src/formats/state_formats.ts) rounding to nearest, with its zero-point rule (8-bit: a non-zero v
 * never gets code 0; 4-bit: no code decodes to 0). Used to load a float32 state into a low-bit
 * optimizer. `format`: that of `out` (default: the one it was made in).
 */
export function quantizeMoments(
  m: ArrayLike<number>,
  v: ArrayLike<number>,
  out: LowBitMoments,
  format = momentsFormat(out) ?? INT8,
): void {
  const n = m.length;
  const f = format;
  const padded = paddedLength(f, n);
  const stored = (i: number) => (f.vStored === 'sqrt' ? Math.sqrt(v[i]!) : v[i]!);
  for (let b = 0; b * f.block < n; b++) {
    const lo = b * f.block;
    const hi = Math.min(n, lo + f.block);
    let invm = 1;
    let invu = 1;
    if (f.scaled) {
      let am = 0;
      let au = 0;
      for (let i = lo; i < hi; i++) {
        am = Math.max(am, Math.abs(m[i]!));
        au = Math.max(au, stored(i));
      }
      out.mScale[b] = am / f.m.levels;
      out.vScale[b] = au / f.u.levels;
      invm = am > 0 ? Math.fround(f.m.levels / am) : 0;
      invu = au > 0 ? Math.fround(f.u.levels / au) : 0;
    }
    for (let i = lo; i < hi; i++) {
      writeCode(f, out.qm, i, encodeNearest(f.m, m[i]!, invm));
      writeCode(f, out.qv, i, encodeNearest(f.u, stored(i), invu));
    }
  }
  for (let i = n; i < padded; i++) {
    writeCode(f, out.qm, i, 0);
    writeCode(f, out.qv, i, 0);
  }
}

/**
 * low-bit -> float32 moments (§11.4, §12.4), each moment by its codec of the format table:
 * m = code · scale, v = ((code + offset) · scale)² where v is stored as √v.
 */
export function dequantizeMoments(
  s: LowBitMoments,
  length: number,
  format = momentsFormat(s) ?? INT8,
): { m: Float32Array; v: Float32Array } {
  const f = format;
  const m = new Float32Array(length);
  const v = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const b = Math.floor(i / f.block);
    m[i] = decodeValue(f.m, readCode(f, s.qm, i, f.m.signed), f.scaled ? s.mScale[b]! : 1);
    const u = Math.fround(decodeValue(f.u, readCode(f, s.qv, i, f.u.signed), f.scaled ? s.vScale[b]! : 1));
    v[i] = f.vStored === 'sqrt' ? u * u : u;
  }
  return { m, v };
}

export { INT4, INT8 };
