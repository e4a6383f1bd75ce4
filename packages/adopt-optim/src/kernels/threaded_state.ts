/**
 * Optimizer state in a shared WebAssembly.Memory, stepped by several threads at once (the pool of
 * ./thread_pool.ts): each thread runs the same generated kernel on a contiguous range.
 *
 * A block holds one parameter array's state (the float32 slots, or the 8-bit / 4-bit / bfloat16 codes
 * and scales) beside room for its p and g. Params and grads that are views of that room
 * (`blockArrays`) are stepped where they lie; other arrays are copied in and p copied back (on the
 * calling thread: correct, but that copy does not get faster with threads). Elementwise kernels
 * make every split bit-identical to one thread: low-bit ranges start on a block of the format (its
 * scales are per block) and pass the global index of their first element (the stochastic-rounding
 * hash, docs/ALGORITHM.md §11.3).
 */
import { callCount, callPart, meansFromCount, type PhaseCall } from '../codegen/modules.js';
import { uniformArgs, writtenArrays } from '../codegen/signature.js';
import type { Node } from '../rules/expr.js';
import { codeBytes, paddedLength, scaleCount, type LowBitFormat } from '../formats/state_formats.js';
import { codesLayout, registerMoments, writesParams, type LowBitMoments } from './lowbit_arrays.js';
import { registerLowBitModuleText } from '../codegen/module_text.js';
import { lowBitModuleText } from '../codegen/module_text_lowbit.js';
import { kernelModule } from './wasm_kernels.js';
import { callKernel, MAX_THREADS, type PoolCall, type PoolMemory, type ThreadPool } from './thread_pool.js';

/** Elements per thread below which a step uses fewer threads (bench/threads.ts --threshold: docs/speed.md). */
export const DEFAULT_MIN_PER_THREAD = 1 << 17;
/** Elements per chunk where the caller's own arrays are stepped on one thread (as array_kernels.ts). */
const CHUNK = 16384;
/** Float32 ranges start on a multiple of this many elements (a 64-byte cache line). */
const ALIGN = 16;
/** Bytes of the low-bit kernels' block scratch per thread (2 x 256 floats, as lowbit_arrays.ts). */
const LOW_BIT_SCRATCH = 2 * 256 * 4;

/** The pool and the sizes a step splits at; set by core/threads.ts. */
export const threading: { pool: ThreadPool | null; minPerThread: number } = {
  pool: null,
  minPerThread: DEFAULT_MIN_PER_THREAD,
};

interface Block extends PoolMemory {
  readonly length: number;
  /** Elements the kernels run over: the length, padded to the format (low-bit) or to ALIGN. */
  readonly padded: number;
  readonly p: Float32Array;
  readonly g: Float32Array;
  /** Byte offsets of p, g and, in order, the float32 slots or qm, qv, mScale, vScale. */
  readonly offsets: readonly number[];
  /** The low-bit format, or undefined for float32 slots. */
  readonly format?: LowBitFormat;
  /** Byte offset of thread 0's low-bit block scratch (thread i: + i * LOW_BIT_SCRATCH). */
  readonly scratch: number;
}

const blocks = new WeakMap<ArrayBufferLike, Block>();
let nextId = 1;
const forgotten =
  typeof FinalizationRegistry === 'undefined'
    ? null
    : new FinalizationRegistry<number>((id) => threading.pool?.forget(id));

const align = (bytes: number) => Math.ceil(bytes / 64) * 64;

/** A shared memory of `bytes`, or null (no threads, no SIMD, no address space left). */
function sharedMemory(bytes: number): WebAssembly.Memory | null {
  if (typeof SharedArrayBuffer === 'undefined' || kernelModule('finite', true) === null) return null;
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  } catch {
    return null;
  }
}

function register(block: Block): void {
  blocks.set(block.memory.buffer, block);
  forgotten?.register(block.memory.buffer, block.id);
}

/** `count` zeroed float32 slots of `length` in a new block, or null where shared memory is unavailable. */
export function allocateThreadedSlots(length: number, count: number): Float32Array[] | null {
  const padded = Math.ceil(length / ALIGN) * ALIGN;
  const bytes = padded * 4;
  const memory = sharedMemory((2 + count) * bytes);
  if (memory === null) return null;
  const offsets = Array.from({ length: 2 + count }, (_, i) => i * bytes);
  const view = (o: number) => new Float32Array(memory.buffer, o, length);
  const block = { id: nextId++, memory, length, padded, offsets, scratch: 0, p: view(0), g: view(bytes) };
  register(block);
  return offsets.slice(2).map(view);
}

/** Zeroed low-bit moments in `format` for `length` elements in a new block, or null (see allocateThreadedSlots). */
export function allocateThreadedMoments(format: LowBitFormat, length: number): LowBitMoments | null {
  const padded = paddedLength(format, length);
  const layout = codesLayout(length, format);
  const codesAt = 2 * align(padded * 4);
  const scratch = align(codesAt + layout.bytes);
  const memory = sharedMemory(scratch + MAX_THREADS * LOW_BIT_SCRATCH);
  if (memory === null) return null;
  // the pool compiles these moments' modules from their text: registered here, as the one-thread kernels do
  registerLowBitModuleText(lowBitModuleText);
  const b = memory.buffer;
  const at = [layout.qm, layout.qv, layout.sm, layout.sv].map((o) => codesAt + o);
  const codes = codeBytes(format, padded);
  const moments: LowBitMoments = {
    qm: format.bits === 8 ? new Int8Array(b, at[0], codes) : new Uint8Array(b, at[0], codes),
    qv: new Uint8Array(b, at[1], codes),
    mScale: new Float32Array(b, at[2], layout.blocks),
    vScale: new Float32Array(b, at[3], layout.blocks),
  } as LowBitMoments;
  const p = new Float32Array(b, 0, length);
  const g = new Float32Array(b, align(padded * 4), length);
  register({ id: nextId++, memory, length, padded, offsets: [0, g.byteOffset, ...at], format, scratch, p, g });
  registerMoments(b, format, length);
  return moments;
}

/** The params and grads arrays of the block holding `stateArray` (stepped without a copy), or null. */
export function blockArrays(stateArray: ArrayBufferView): { params: Float32Array; grads: Float32Array } | null {
  const block = blocks.get(stateArray.buffer);
  return block === undefined ? null : { params: block.p, grads: block.g };
}

/** Whether `a` is the block's own p (or g) view: same memory, same place. */
const isAt = (block: Block, a: Float32Array, offset: number) =>
  a.buffer === block.memory.buffer && a.byteOffset === offset;

/** Ranges of [0, padded) for the threads a step of `length` uses, each start a multiple of `unit`. */
function ranges(length: number, padded: number, unit: number): [number, number][] {
  const pool = threading.pool;
  const wanted = Math.floor(length / threading.minPerThread);
  const threads = Math.max(1, Math.min(pool?.threads ?? 1, wanted, Math.ceil(padded / unit)));
  const units = Math.ceil(padded / unit);
  const out: [number, number][] = [];
  for (let t = 0; t < threads; t++) {
    const a = Math.floor((units * t) / threads) * unit;
    const b = Math.min(padded, Math.floor((units * (t + 1)) / threads) * unit);
    if (b > a) out.push([a, b]);
  }
  return out;
}

/** Runs one call per range: on the pool, or here for a single range. */
function runCalls(block: Block, calls: PoolCall[]): number[] {
  const pool = threading.pool;
  if (calls.length > 1 && pool !== null) return pool.run(block, calls);
  return calls.map((c) => callKernel(block.memory, c)); // one range, or no pool: here
}

/** Copies p and g into the block unless they are its own views; returns whether p must be copied back. */
function stage(block: Block, p: Float32Array, g: Float32Array): boolean {
  const own = placement(block, p, g);
  if (!own.p) block.p.set(p);
  if (!own.g) block.g.set(g);
  return !own.p;
}

/** Whether p and g are the block's own views; throws for views of its memory elsewhere (threadBuffers swapped). */
function placement(block: Block, p: Float32Array, g: Float32Array): { p: boolean; g: boolean } {
  const ownP = isAt(block, p, block.offsets[0]!);
  const ownG = isAt(block, g, block.offsets[1]!);
  const inside = (a: Float32Array) => a.buffer === block.memory.buffer;
  if ((!ownP && inside(p)) || (!ownG && inside(g))) misplaced();
  return { p: ownP, g: ownG };
}

function misplaced(): never {
  throw new RangeError(
    "adopt-optim threads: params and grads that live in a threaded state's memory must be its threadBuffers " +
      '(params as params, grads as grads); nothing was written.',
  );
}

/**
 * Throws where p or g lies in any threaded state's memory elsewhere than as its threadBuffers' params (p) or
 * grads (g): the refusal `placement` makes mid-step, made before a step (of a tree: before any leaf) changes anything.
 */
export function threadedCheckPlacement(p: Float32Array, g: Float32Array): void {
  const blockOfP = blocks.get(p.buffer);
  const blockOfG = blocks.get(g.buffer);
  if (blockOfP !== undefined && !isAt(blockOfP, p, blockOfP.offsets[0]!)) misplaced();
  if (blockOfG !== undefined && !isAt(blockOfG, g, blockOfG.offsets[1]!)) misplaced();
}

function checkLength(name: string, block: Block, p: Float32Array, g: Float32Array): void {
  if (p.length !== block.length || g.length !== block.length) {
    throw new RangeError(
      `adopt-optim ${name}: params (${p.length}) and grads (${g.length}) must have the ${block.length} elements ` +
        'the threaded state was made for; nothing was written.',
    );
  }
}

/**
 * One phase of a float32 rule over state slots made by allocateThreadedSlots, split across the pool;
 * false (nothing done) where the slots are not one block's, so that the caller runs its own path.
 */
export function threadedFloat32Run(call: PhaseCall, p: Float32Array, g: Float32Array, slots: Float32Array[]): boolean {
  const block = slots.length > 0 ? blocks.get(slots[0]!.buffer) : undefined;
  if (block === undefined || block.format !== undefined) return false;
  const slotOffsets = slots.map((s) => s.byteOffset);
  if (slots.some((s, i) => s.buffer !== block.memory.buffer || s.byteOffset !== block.offsets[2 + i])) return false;
  const name = `${call.plan.key} ${call.phase}`;
  const { phase, sig } = callPart(call);
  if (sig.arrays.length !== slots.length + 2) {
    throw new TypeError(`adopt-optim ${name}: expected ${sig.arrays.length - 2} state arrays, got ${slots.length}.`);
  }
  checkLength(name, block, p, g);
  const ptrs = [block.offsets[0]!, block.offsets[1]!, ...slotOffsets];
  const writesP = writtenArrays(phase).includes(sig.arrays[0]!);
  const counting = callCount(call);
  if (counting === undefined && !(isAt(block, p, ptrs[0]!) && isAt(block, g, ptrs[1]!))) {
    // arrays of the caller's own: chunk by chunk on this thread, each chunk stepped while it is in cache (as the
    // resident path of array_kernels.ts). Staging them whole for the threads moves more bytes on this thread than
    // the whole step takes here, so the threads would only lose.
    const own = placement(block, p, g);
    const args = uniformArgs(sig, call.scalars);
    // a chunk of the caller's p or g goes through the first CHUNK elements of the block's own (unused) p or g
    const at = (a: number) => ptrs.map((o, i) => (i < 2 && !(i === 0 ? own.p : own.g) ? o : o + 4 * a));
    for (let a = 0; a < block.length; a += CHUNK) {
      const b = Math.min(block.length, a + CHUNK);
      if (!own.p) block.p.set(p.subarray(a, b));
      if (!own.g) block.g.set(g.subarray(a, b));
      callKernel(block.memory, { key: call.plan.key, fn: call.phase, args: [...at(a), b - a, ...args] });
      if (writesP && !own.p) p.set(block.p.subarray(0, b - a), a);
    }
    return true;
  }
  const copyBack = stage(block, p, g);
  const parts = ranges(block.length, block.length, ALIGN).map(([a, b]) => [ptrs.map((o) => o + 4 * a), b - a] as const);
  let means: Map<object, number> | undefined;
  if (counting !== undefined) {
    const countArgs = uniformArgs(counting.sig, call.scalars);
    const counts = runCalls(
      block,
      parts.map(([at, n]) => ({ key: call.plan.key, fn: counting.fn, args: [...at, n, ...countArgs] })),
    );
    means = meansFromCount(
      call.plan,
      counts.reduce((x, y) => x + y, 0),
      block.length,
      call.phase,
    );
  }
  const args = uniformArgs(sig, call.scalars, means as Map<Node, number> | undefined);
  runCalls(
    block,
    parts.map(([at, n]) => ({ key: call.plan.key, fn: call.phase, args: [...at, n, ...args] })),
  );
  if (copyBack && writesP) p.set(block.p);
  return true;
}

/**
 * One phase of a rule on low-bit moments made by allocateThreadedMoments, split across the pool at
 * block boundaries of the format; false where the moments are not a block's.
 */
export function threadedLowBitRun(
  call: PhaseCall,
  p: Float32Array,
  g: Float32Array,
  s: LowBitMoments,
  seed: number,
): boolean {
  const block = blocks.get(s.qm.buffer);
  const f = block?.format;
  if (block === undefined || f === undefined || s.qm.byteOffset !== block.offsets[2]) return false;
  checkLength(`${call.plan.key} ${call.phase}`, block, p, g);
  const copyBack = stage(block, p, g);
  const [op, og, oqm, oqv, osm, osv] = block.offsets as [number, number, number, number, number, number];
  const uniforms = uniformArgs(callPart(call).sig, call.scalars);
  const calls = ranges(block.length, block.padded, f.block).map(([a, b], t): PoolCall => {
    const codes = codeBytes(f, a);
    const scales = 4 * scaleCount(f, a);
    const at = [op + 4 * a, og + 4 * a, oqm + codes, oqv + codes, osm + scales, osv + scales];
    return {
      key: `${call.plan.key}_${f.key}`,
      fn: call.phase,
      args: [...at, block.scratch + t * LOW_BIT_SCRATCH, b - a, a, seed, ...uniforms],
    };
  });
  runCalls(block, calls);
  if (copyBack && writesParams(call)) p.set(block.p);
  return true;
}

/** Whether the array lies in a threaded state's memory (a float32 block: its slots, p or g). */
export function threadedOwns(array: Float32Array | undefined): boolean {
  return array !== undefined && blocks.get(array.buffer)?.format === undefined && blocks.has(array.buffer);
}

/** Whether every element of `g` is finite, checked across the pool where g is a block's own grads; else undefined. */
export function threadedAllFinite(g: Float32Array): boolean | undefined {
  const block = blocks.get(g.buffer);
  if (block === undefined || !isAt(block, g, block.offsets[1]!) || g.length !== block.length) return undefined;
  const calls = ranges(block.length, block.length, ALIGN).map(
    ([a, b]): PoolCall => ({ key: 'finite', fn: 'all_finite', args: [block.offsets[1]! + 4 * a, b - a] }),
  );
  return runCalls(block, calls).every((r) => r === 1);
}
