/**
 * The low-bit state kernels (docs/ALGORITHM.md §11 8-bit, §12 4-bit) in place on tfjs's wasm heap.
 *
 * The generated low-bit kernels (`<rule>_<format>` modules) are instantiated over the backend's own WebAssembly memory
 * (as the float32 kernels are, tfjs_fused.ts; the shared-memory variant for tfjs's threaded build),
 * and the codes and scales of each variable are allocated on that heap with the backend's malloc:
 * one allocation per variable, laid out by `codesLayout` (qm, qv, mScale, vScale). A step then
 * reads p, g and the codes where they are and writes p and the codes in place: no copy of p or g.
 * Only an array whose length is not a multiple of the format's group (4 elements at 8 bits, 16 at
 * 4) has its last block (under 256 elements) copied through a scratch on the heap, padded with zeros
 * as the separate-memory route pads it (src/kernels/lowbit_arrays.ts): the kernels take a group at a time
 * and must not touch the floats past the end of p. Same kernels, same blocks, same hash indices: bit-identical to that route (tested).
 *
 * The codes are not tfjs tensors (the optimizer has no state tensors: tf.memory() does not count
 * them), but they take room in the heap, the 4 GiB that also holds every tensor. They are freed by
 * the optimizer's dispose() or setWeights() (which replaces them), and, as a last resort, when an
 * optimizer dropped without dispose() is garbage-collected. The scratch (4 KiB) is allocated once
 * per backend and kept.
 *
 * Every entry checks, before anything is written: p and g are float32 tensors of n elements on the
 * heap (as the float32 kernels check them), the codes are live, were allocated on this heap for n
 * elements, lie inside the heap and overlap neither p nor g. p is made private first if another
 * tensor shares its buffer, and after the write the backend is told that p changed (XNNPACK keeps
 * packed copies of weights keyed by tensor id: `written` in tfjs_fused.ts). The codes need no such
 * notice: no tfjs kernel ever sees them.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { PhaseCall } from '../codegen/modules.js';
import {
  BLOCK,
  bindLowBitKernels,
  callLowBit,
  codesLayout,
  writesParams,
  type LowBitMoments,
  type LowBitKernels,
} from '../kernels/lowbit_arrays.js';
import { codeBytes, INT8, paddedLength, scaleCount, type LowBitFormat } from '../formats/state_formats.js';

/** What the heap route needs from the wasm backend and the float32 kernels' checks (tfjs_fused.ts). */
export interface WasmHeapAccess {
  /** The backend's heap (the same object for the backend's life; its buffer changes as it grows). */
  readonly memory: WebAssembly.Memory;
  heapBytes(): number;
  /** Heap offset of a float32 tensor of n elements, checked to lie inside the heap. */
  region(kernel: string, what: string, t: tf.Tensor, n: number, heap?: number): number;
  /** Heap offset of the variable's buffer after making it private if it is shared. */
  owned(kernel: string, what: string, variable: tf.Variable, n: number, offset: number): number;
  /** Tells the backend that these tensors' data changed (drops XNNPACK's packed copies). */
  written(...tensors: tf.Tensor[]): void;
  /** The backend's malloc (a heap offset, 0 when there is no room) and free. */
  malloc(bytes: number): number;
  free(offset: number): void;
}

/** Block scratch (2 x 256 floats), then p and g of a last partial block (256 floats each). */
const SCRATCH_BYTES = 4 * BLOCK * 4;

const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** Frees the allocation of an optimizer dropped without dispose(), once it is garbage-collected. */
const finalizer =
  typeof FinalizationRegistry === 'function' ? new FinalizationRegistry<() => void>((free) => free()) : null;

function stateError(kernel: string, detail: string, s?: HeapMoments): Error {
  const what = s instanceof HeapMoments ? `${s.format.bits}-bit` : 'low-bit';
  return new RangeError(`adopt-optim ${kernel}: the ${what} state ${detail}; nothing was written.`);
}

/** The codes and scales of one variable, in one allocation on a wasm heap. */
export class HeapMoments {
  readonly layout: ReturnType<typeof codesLayout>;
  private live = true;

  constructor(
    /** The heap kernels that allocated it (one per backend). */
    readonly owner: WasmHeapLowBit,
    /** Elements of the variable it was made for. */
    readonly length: number,
    /** Heap offset of the allocation's start (16-aligned, inside the malloc'd block). */
    readonly base: number,
    private readonly release: () => void,
    /** Its format (8-bit or 4-bit). */
    readonly format: LowBitFormat = INT8,
  ) {
    this.layout = codesLayout(length, format);
    finalizer?.register(this, release, this);
  }

  get freed(): boolean {
    return !this.live;
  }

  /** Codes of the array (padded to the format's group). */
  get padded(): number {
    return this.layout.padded;
  }

  /** Bytes of heap it takes (the malloc'd block, alignment slack included). */
  get bytes(): number {
    return this.layout.bytes + 15;
  }

  /**
   * Views of the codes and scales on the heap: valid until the heap next grows (any tfjs
   * allocation may grow it), so take them, use them, and drop them.
   */
  views(): LowBitMoments {
    if (!this.live) throw new Error('adopt-optim: the low-bit state on the wasm heap was freed.');
    const buffer = this.owner.heap.memory.buffer;
    const { padded, blocks, qm, qv, sm, sv } = this.layout;
    const bytes = codeBytes(this.format, padded);
    const rest = {
      qv: new Uint8Array(buffer, this.base + qv, bytes),
      mScale: new Float32Array(buffer, this.base + sm, blocks),
      vScale: new Float32Array(buffer, this.base + sv, blocks),
    };
    return this.format.bits === 8
      ? { qm: new Int8Array(buffer, this.base + qm, bytes), ...rest }
      : { qm: new Uint8Array(buffer, this.base + qm, bytes), ...rest };
  }

  /** Returns the allocation to the heap; idempotent. */
  free(): void {
    if (!this.live) return;
    this.live = false;
    finalizer?.unregister(this);
    this.release();
  }
}

/** The low-bit kernels of one wasm backend, bound to its heap. */
export class WasmHeapLowBit {
  private scratch = 0;
  /** Allocations live now and their bytes (for tests and benchmarks). */
  liveCount = 0;
  liveBytes = 0;

  constructor(
    readonly heap: WasmHeapAccess,
    private readonly k: LowBitKernels,
  ) {}

  /** Zeroed codes and scales for an array of `length` elements, on the heap. */
  allocate(length: number, format: LowBitFormat = INT8): HeapMoments {
    const { bytes } = codesLayout(length, format);
    const raw = this.heap.malloc(bytes + 15);
    if (raw === 0) {
      throw new RangeError(
        `adopt-optim: the wasm heap has no room for the ${format.bits}-bit state of ${length} elements (${bytes} bytes).`,
      );
    }
    const base = align16(raw);
    new Uint8Array(this.heap.memory.buffer, base, bytes).fill(0);
    this.liveCount++;
    this.liveBytes += bytes + 15;
    const heap = this.heap;
    let released = false;
    // holds nothing that refers to the moments object (the finalizer's held value must not)
    const release = () => {
      if (released) return;
      released = true;
      this.liveCount--;
      this.liveBytes -= bytes + 15;
      try {
        heap.free(raw);
      } catch {
        // a backend disposed since: its heap goes with it
      }
    };
    return new HeapMoments(this, length, base, release, format);
  }

  /** The scratch's heap offset, allocated on first use and kept for the backend's life. */
  private scratchOffset(): number {
    if (this.scratch === 0) {
      const raw = this.heap.malloc(SCRATCH_BYTES + 15);
      if (raw === 0)
        throw new RangeError("adopt-optim: the wasm heap has no room for the low-bit kernels' scratch (4 KiB).");
      this.scratch = align16(raw);
    }
    return this.scratch;
  }

  /** The codes' byte range, checked against the heap and against the tensors the step touches. */
  private checkState(
    kernel: string,
    s: HeapMoments,
    n: number,
    heap: number,
    tensors: [string, number][],
    scr: number,
  ): void {
    if (!(s instanceof HeapMoments) || s.owner !== this)
      throw stateError(kernel, "was not allocated on this backend's heap");
    if (s.freed) throw stateError(kernel, 'was freed (the optimizer was disposed or its state replaced)', s);
    if (s.length !== n) throw stateError(kernel, `holds ${s.length} elements but the step touches ${n}`, s);
    const ranges: [string, number, number][] = [
      ['the codes', s.base, s.layout.bytes],
      ['the scratch', scr, SCRATCH_BYTES],
    ];
    for (const [what, at, bytes] of ranges) {
      if (at <= 0 || at + bytes > heap)
        throw stateError(kernel, `(${what} at heap offset ${at}, ${bytes} bytes) does not fit the heap`, s);
      for (const [name, offset] of tensors) {
        if (n > 0 && at < offset + 4 * n && offset < at + bytes) {
          throw stateError(
            kernel,
            `(${what} at heap offset ${at}, ${bytes} bytes) overlaps buffer "${name}" at ${offset}`,
            s,
          );
        }
      }
    }
  }

  /**
   * One phase of a rule (`call`: plan, phase, scalars) in the codes' format on p (written in place
   * where the phase writes it; ADOPT's first step writes only the codes) with gradient g and the codes `s`.
   */
  run(call: PhaseCall, p: tf.Variable, g: tf.Tensor, s: HeapMoments, seed: number): void {
    const kernel = `${call.plan.key} ${call.phase}`;
    const h = this.heap;
    const n = p.size;
    const scr = this.scratchOffset(); // may grow the heap: the offsets below are taken after
    const heap = h.heapBytes();
    let po = h.region(kernel, 'p', p, n, heap);
    const go = h.region(kernel, 'g', g, n, heap);
    this.checkState(
      kernel,
      s,
      n,
      heap,
      [
        ['p', po],
        ['g', go],
      ],
      scr,
    );
    const writesP = writesParams(call);
    if (writesP) po = h.owned(kernel, 'p', p, n, po); // a new buffer of the same size where p was shared
    const { qm, qv, sm, sv } = s.layout;
    const fmt = s.format;
    const at = { p: po, g: go, qm: s.base + qm, qv: s.base + qv, sm: s.base + sm, sv: s.base + sv, scr };
    // in place: everything when n is a multiple of the group, else every block but the last (partial) one
    const whole = n % fmt.pad === 0 ? n : n - (n % fmt.block);
    if (whole > 0) callLowBit(this.k, call, at, whole, 0, seed, fmt);
    if (whole < n) {
      const rest = n - whole;
      const f = new Float32Array(h.memory.buffer);
      const sp = (scr + 2 * BLOCK * 4) / 4;
      const sg = sp + BLOCK;
      f.copyWithin(sp, po / 4 + whole, po / 4 + n);
      f.copyWithin(sg, go / 4 + whole, go / 4 + n);
      const padded = paddedLength(fmt, rest); // at most one block: 256 floats each for p and g
      f.fill(0, sp + rest, sp + padded); // padding: p = g = 0 keeps the padded codes at 0
      f.fill(0, sg + rest, sg + padded);
      const code = codeBytes(fmt, whole);
      const scale = 4 * scaleCount(fmt, whole);
      callLowBit(
        this.k,
        call,
        {
          ...at,
          p: 4 * sp,
          g: 4 * sg,
          qm: at.qm + code,
          qv: at.qv + code,
          sm: at.sm + scale,
          sv: at.sv + scale,
        },
        padded,
        whole,
        seed,
        fmt,
      );
      if (writesP) f.copyWithin(po / 4 + whole, sp, sp + rest);
    }
    if (writesP) h.written(p);
  }
}

/** The low-bit kernels bound to a wasm backend's heap, or undefined where they cannot be (no SIMD). */
export function bindHeapLowBit(heap: WasmHeapAccess): WasmHeapLowBit | undefined {
  const kernels = bindLowBitKernels(heap.memory);
  return kernels === null ? undefined : new WasmHeapLowBit(heap, kernels);
}
