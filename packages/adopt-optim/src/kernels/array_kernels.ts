/**
 * The generated WebAssembly kernels on JS Float32Arrays (the framework-free core and tfjs's cpu
 * backend): chunks of the arrays are copied into a small WebAssembly memory of ours, updated by
 * the SIMD kernel while they sit in cache, and copied back. Nothing is allocated per step beyond
 * subarray views; the memory is sized once and never grows.
 *
 * Optimizer state made by `allocateResidentState` lives in a WebAssembly memory of its own
 * (fixed size, so its Float32Array views never detach); the kernel then updates the slots in
 * place and only p and g travel through chunks: 12 bytes copied per parameter instead of 28.
 */
import { arraysRead, type Node } from '../rules/expr.js';
import { callCount, callPart, meansFromCount, type PhaseCall } from '../codegen/modules.js';
import { uniformArgs, writtenArrays } from '../codegen/signature.js';
import { finiteKernel, ruleKernels, type RuleExports } from './wasm_kernels.js';
import { tableRowWords } from '../codegen/wat_table.js';
import { writeTable, type TableRow } from './kernel_table.js';

/** Elements per chunk: up to 8 buffers x 16 K floats = 512 kB, resident in L2. */
const CHUNK = 16384;
const BYTES = CHUNK * 4;
/** Arrays a kernel may take: p, g and up to 6 state slots. */
const MAX_ARRAYS = 8;

/** Arrays of at least this length get resident state; smaller ones are not worth a memory. */
export const RESIDENT_MIN_LENGTH = 65536;

/** A WebAssembly memory holding one variable's state slots, with scratch for a chunk of p and g. */
interface ResidentBlock {
  memory: WebAssembly.Memory;
  /** Byte offset of each slot array in the memory. */
  offsets: Map<Float32Array, number>;
  scratch: [Float32Array, Float32Array];
}

const residentBlocks = new WeakMap<ArrayBufferLike, ResidentBlock>();

/**
 * `count` zeroed Float32Arrays of `length` that share a private WebAssembly memory, or null
 * (too short, no SIMD, or no address space left for another memory).
 */
export function allocateResidentState(length: number, count: number): Float32Array[] | null {
  if (length < RESIDENT_MIN_LENGTH) return null;
  const padded = Math.ceil(length / 4) * 4; // 16-byte aligned slots
  const bytes = 2 * BYTES + count * padded * 4;
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536), maximum: Math.ceil(bytes / 65536) });
  } catch {
    return null;
  }
  if (finiteKernel(memory) === null) return null;
  const offsets = new Map<Float32Array, number>();
  const slots = Array.from({ length: count }, (_, i) => {
    const offset = 2 * BYTES + i * padded * 4;
    const view = new Float32Array(memory.buffer, offset, length);
    offsets.set(view, offset);
    return view;
  });
  const scratch: [Float32Array, Float32Array] = [
    new Float32Array(memory.buffer, 0, CHUNK),
    new Float32Array(memory.buffer, BYTES, CHUNK),
  ];
  residentBlocks.set(memory.buffer, { memory, offsets, scratch });
  return slots;
}

/** The block holding all of `slots` in place, if they were made by allocateResidentState. */
function residentBlock(slots: Float32Array[]): ResidentBlock | undefined {
  if (slots.length === 0) return undefined;
  const block = residentBlocks.get(slots[0]!.buffer);
  return block !== undefined && slots.every((s) => block.offsets.has(s)) ? block : undefined;
}

/**
 * Throws unless every array has `length` elements: the kernels write `length` elements into each,
 * so a shorter one (state of another shape) would be overrun. Checked before anything is written.
 */
function checkLengths(kernel: string, length: number, arrays: Record<string, Float32Array | null | undefined>): void {
  for (const name in arrays) {
    const array = arrays[name];
    if (array != null && array.length !== length) {
      throw new RangeError(
        `adopt-optim ${kernel}: buffer "${name}" holds ${array.length} elements but the step writes ${length}; nothing was written.`,
      );
    }
  }
}

/**
 * Elements per array in a pack of runMany: 8 regions of 16 K floats (512 kB, the chunks' size: resident in L2, as
 * the per-variable path's chunks are; a 2 MB pack spilled to L3 and stepped 100 x 1e4 slower than one chunk per
 * variable), with the table after them.
 */
const PACK = CHUNK;
/** Rows in one table (its bytes: MAX_ROWS rows of up to MAX_ROW_WORDS words). */
const MAX_ROWS = 1024;
const MAX_ROW_WORDS = 32;

/** One array set of a runMany: its call, p, g and slots (in the rule's order), and where the new p goes. */
export interface ArrayEntry {
  readonly call: PhaseCall;
  readonly p: Float32Array;
  readonly g: Float32Array;
  readonly slots: readonly Float32Array[];
  readonly pOut?: Float32Array;
}

/** The memory runMany packs small arrays into: MAX_ARRAYS regions of PACK floats, then the table. */
class Pack {
  readonly memory: WebAssembly.Memory;
  readonly views: Float32Array[];
  readonly table = MAX_ARRAYS * PACK * 4;

  constructor() {
    const bytes = this.table + MAX_ROWS * MAX_ROW_WORDS * 4;
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536), maximum: Math.ceil(bytes / 65536) });
    this.views = Array.from(
      { length: MAX_ARRAYS },
      (_, i) => new Float32Array(this.memory.buffer, this.region(i), PACK),
    );
  }

  /** Byte offset of region i. */
  region(i: number): number {
    return i * PACK * 4;
  }
}

export class ArrayKernels {
  private static instance: ArrayKernels | null | undefined;
  private readonly regions: Float32Array[];

  private constructor(private readonly memory: WebAssembly.Memory) {
    this.regions = Array.from({ length: MAX_ARRAYS }, (_, i) => new Float32Array(memory.buffer, i * BYTES, CHUNK));
  }

  /** The shared instance, or null where WebAssembly SIMD is unavailable. */
  static get(): ArrayKernels | null {
    if (ArrayKernels.instance === undefined) {
      const memory = new WebAssembly.Memory({ initial: Math.ceil((MAX_ARRAYS * BYTES) / 65536) });
      ArrayKernels.instance = finiteKernel(memory) === null ? null : new ArrayKernels(memory);
    }
    return ArrayKernels.instance;
  }

  /**
   * One phase of a rule on p, g and the state slots (in the rule's slot order). The slots are
   * updated in place; the new p goes to `pOut` where given (p is then only read), else over p
   * (as tfjs's cpu backend path does: see tfjs_fused.ts).
   */
  run(call: PhaseCall, p: Float32Array, g: Float32Array, slots: Float32Array[], pOut?: Float32Array): void {
    const { phase, sig } = callPart(call);
    const name = `${call.plan.key} ${call.phase}`;
    if (sig.arrays.length !== slots.length + 2) {
      throw new TypeError(`adopt-optim ${name}: expected ${sig.arrays.length - 2} state arrays, got ${slots.length}.`);
    }
    const arrays = [p, g, ...slots];
    checkLengths(name, p.length, Object.fromEntries([...sig.arrays.map((a, i) => [a, arrays[i]]), ['out.p', pOut]]));
    const written = writtenArrays(phase).map((a) => sig.arrays.indexOf(a));
    const block = residentBlock(slots);
    const k = ruleKernels(block?.memory ?? this.memory, call.plan.key);
    if (k === null) throw new Error(`adopt-optim ${name}: the WebAssembly kernels could not be instantiated.`);
    const fn = k[call.phase]!;
    let means: Map<object, number> | undefined;
    const counting = callCount(call);
    if (counting !== undefined) {
      // the reduction's counting pass (caution, §10.2): nothing is written
      const countArgs = uniformArgs(counting.sig, call.scalars);
      const read = arraysRead([counting.cond]).map((a) => sig.arrays.indexOf(a));
      let count = 0;
      this.chunks(block, arrays, read, [], undefined, (ptrs, n) => {
        count += k[counting.fn]!(...ptrs, n, ...countArgs);
      });
      means = meansFromCount(call.plan, count, p.length, call.phase);
    }
    const args = uniformArgs(sig, call.scalars, means as Map<Node, number> | undefined);
    const read = arraysRead(phase.writes.map(([, v]) => v)).map((a) => sig.arrays.indexOf(a));
    this.chunks(block, arrays, read, written, pOut, (ptrs, n) => fn(...ptrs, n, ...args));
  }

  /**
   * Calls kernel(pointers, n) chunk by chunk. Resident slots are passed where they lie, with p
   * and g through the block's scratch; otherwise the `read` arrays are copied into our regions
   * and the `written` ones copied back (p into pOut where given).
   */
  private chunks(
    block: ResidentBlock | undefined,
    arrays: Float32Array[],
    read: number[],
    written: number[],
    pOut: Float32Array | undefined,
    kernel: (ptrs: number[], n: number) => void,
  ): void {
    const length = arrays[0]!.length;
    if (block !== undefined) {
      const [sp, sg] = block.scratch;
      const offsets = arrays.slice(2).map((s) => block.offsets.get(s)!);
      const writesP = written.includes(0);
      for (let start = 0; start < length; start += CHUNK) {
        const n = Math.min(CHUNK, length - start);
        sp.set(arrays[0]!.subarray(start, start + n));
        sg.set(arrays[1]!.subarray(start, start + n));
        kernel([0, BYTES, ...offsets.map((o) => o + 4 * start)], n);
        if (writesP) (pOut ?? arrays[0]!).set(sp.subarray(0, n), start);
      }
      return;
    }
    const regions = this.regions;
    const ptrs = arrays.map((_, i) => i * BYTES);
    for (let start = 0; start < length; start += CHUNK) {
      const n = Math.min(CHUNK, length - start);
      for (const i of read) regions[i]!.set(arrays[i]!.subarray(start, start + n));
      kernel(ptrs, n);
      for (const i of written) ((i === 0 ? pOut : undefined) ?? arrays[i]!).set(regions[i]!.subarray(0, n), start);
    }
  }

  /**
   * Whether runMany can take this call: the phase has a table kernel (src/codegen/wat_table.ts; none where it
   * reads a per-tensor mean) whose rows fit the pack's table.
   */
  runsMany(call: PhaseCall): boolean {
    const { sig } = callPart(call);
    return (
      tableRowWords(sig) <= MAX_ROW_WORDS &&
      typeof ruleKernels(this.memory, call.plan.key)?.[`${call.phase}_all`] === 'function'
    );
  }

  /**
   * One phase (the same plan and phase for all) on many arrays, in as few kernel calls as fit: arrays of up to
   * PACK elements are copied side by side into the pack's regions and stepped by one call of the table kernel
   * per pack; longer ones, and those with resident state, by run(). Every length is checked before anything is
   * written; each array is stepped exactly as run() would, bit for bit.
   */
  runMany(entries: readonly ArrayEntry[]): void {
    const call = entries[0]?.call;
    if (call === undefined) return;
    const { phase, sig } = callPart(call);
    const name = `${call.plan.key} ${call.phase}`;
    for (const e of entries) {
      if (e.call.plan !== call.plan || e.call.phase !== call.phase) {
        throw new TypeError(
          `adopt-optim runMany: one call runs one phase of one plan (${name}), not ${e.call.plan.key} ${e.call.phase}`,
        );
      }
      if (sig.arrays.length !== e.slots.length + 2) {
        throw new TypeError(
          `adopt-optim ${name}: expected ${sig.arrays.length - 2} state arrays, got ${e.slots.length}.`,
        );
      }
      const arrays = [e.p, e.g, ...e.slots];
      checkLengths(
        name,
        e.p.length,
        Object.fromEntries([...sig.arrays.map((a, i) => [a, arrays[i]]), ['out.p', e.pOut]]),
      );
    }
    const fn = this.runsMany(call) ? ruleKernels(this.memory, call.plan.key)?.[`${call.phase}_all`] : undefined;
    const fits = (e: ArrayEntry) =>
      fn !== undefined && e.p.length <= PACK && residentBlock(e.slots as Float32Array[]) === undefined;
    const packed = entries.filter(fits);
    for (const e of entries) if (!fits(e)) this.run(e.call, e.p, e.g, [...e.slots], e.pOut);
    if (packed.length === 0) return;
    const pack = (this.pack ??= new Pack());
    const written = writtenArrays(phase).map((a) => sig.arrays.indexOf(a));
    const read = arraysRead(phase.writes.map(([, v]) => v)).map((a) => sig.arrays.indexOf(a));
    for (let first = 0; first < packed.length; ) {
      // as many arrays as fit side by side (16-byte aligned), up to MAX_ROWS
      const rows: TableRow[] = [];
      let used = 0;
      let last = first;
      for (; last < packed.length && rows.length < MAX_ROWS; last++) {
        const e = packed[last]!;
        const n = e.p.length;
        if (used + n > PACK) break;
        rows.push({ offsets: sig.arrays.map((_, i) => pack.region(i) + 4 * used), n, scalars: e.call.scalars });
        used += Math.ceil(n / 4) * 4;
      }
      const group = packed.slice(first, last);
      group.forEach((e, r) => {
        const arrays = [e.p, e.g, ...e.slots];
        const at = (rows[r]!.offsets[0]! - pack.region(0)) / 4;
        for (const i of read) pack.views[i]!.set(arrays[i]!, at);
      });
      writeTable(pack.memory, pack.table, sig, rows);
      ruleKernels(pack.memory, call.plan.key)![`${call.phase}_all`]!(pack.table, rows.length);
      group.forEach((e, r) => {
        const arrays = [e.p, e.g, ...e.slots];
        const at = (rows[r]!.offsets[0]! - pack.region(0)) / 4;
        for (const i of written)
          ((i === 0 ? e.pOut : undefined) ?? arrays[i]!).set(pack.views[i]!.subarray(at, at + e.p.length));
      });
      first = last;
    }
  }

  private pack: Pack | undefined;

  allFinite(g: Float32Array): boolean {
    const check = finiteKernel(this.memory)!;
    const region = this.regions[0]!;
    for (let start = 0; start < g.length; start += CHUNK) {
      const n = Math.min(CHUNK, g.length - start);
      region.set(g.subarray(start, start + n));
      if (check(0, n) === 0) return false;
    }
    return true;
  }
}

export type { RuleExports };
