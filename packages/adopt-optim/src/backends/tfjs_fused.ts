/**
 * Fused optimizer steps on tfjs tensors: what the `wasm` and `cpu` backends' kernels share (FusedKernels, the
 * checks), and the wasm backend's (the cpu backend's are in ./cpu_fused.ts).
 *
 * wasm: our SIMD kernels are instantiated over the backend's own WebAssembly memory and update
 * p, m and v in place at their heap offsets: no copy, no allocation. The low-bit state kernels
 * are bound to it too (`lowBitHeap`, wasm_heap_lowbit.ts), with their codes allocated on the heap.
 *
 * wasm: in-place writes are safe only on a buffer nothing else can see. A buffer is written in
 * place only when its tensor data has one reference (no other tensor shares it: `tf.variable(t)`
 * and `reshape` share); otherwise the variable is first given a private copy, once. Arrays a
 * caller obtained with dataSync()/data() are copies out of the heap there, so they never change.
 *
 * Before any kernel runs, every buffer it will touch is checked against the length it will write
 * (and, on wasm, against the heap's size): a mismatch throws and nothing is written.
 *
 * src/dispatch.ts chooses these by backend (webgl_fused.ts and webgpu_fused.ts for the GPU backends).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Node } from '../rules/expr.js';
import { callCount, callPart, meansFromCount, type PhaseCall } from '../codegen/modules.js';
import { uniformArgs, writtenArrays } from '../codegen/signature.js';
import { finiteKernel, ruleKernels, sumSquaresKernel } from '../kernels/wasm_kernels.js';
import { tableBytes, writeTable, type TableRow } from '../kernels/kernel_table.js';
import type { WasmHeapLowBit, WasmHeapAccess } from './wasm_heap_lowbit.js';

/** Binds the low-bit kernels to a wasm heap: set by `import 'adopt-optim/lowbit'` (src/lowbit/index.ts). */
let bindLowBitHeap: ((heap: WasmHeapAccess) => WasmHeapLowBit | undefined) | null = null;

/** Called by the low-bit entry point: how the wasm kernels bind low-bit state to tfjs's heap. */
export function registerLowBitHeap(bind: (heap: WasmHeapAccess) => WasmHeapLowBit | undefined): void {
  bindLowBitHeap = bind;
}

export interface FusedKernels {
  /** The path these kernels are (src/dispatch.ts): reported by `NamedStateOptimizer.lastStepPaths`. */
  readonly path: 'wasm' | 'cpu' | 'webgl' | 'webgpu';
  /** Whether these tensors' data lives on this backend in a form the kernels can use. */
  accepts(tensors: tf.Tensor[]): boolean;
  /** Whether these kernels implement this plan (a GPU backend has no reductions yet: caution runs as tfjs ops there). */
  supports(call: PhaseCall): boolean;
  /** One phase of a rule on p, g and the state slots (in the rule's slot order), in place. */
  run(call: PhaseCall, p: tf.Variable, g: tf.Tensor, slots: tf.Variable[]): void;
  /**
   * Whether `runMany` can take this call: float32 kernels with a table kernel for its phase (src/codegen/wat_table.ts;
   * none where the phase reads a per-tensor mean). Such variables also pass `supports` and `accepts`.
   */
  runsMany?(call: PhaseCall): boolean;
  /**
   * One phase (the same plan and phase for all) on many variables, in one kernel call: every buffer of every
   * variable checked before anything is written (a mismatch throws and nothing changes), then each stepped
   * exactly as `run` would, bit for bit. Returns the entries it left alone because their tensors are not on
   * this backend (`accepts` would say false): those take the per-variable path.
   */
  runMany?(entries: readonly StepEntry[]): StepEntry[];
  allFinite(g: tf.Tensor): boolean;
  /** Σ g² in float64, one read of g (clipping by norm, src/gradient_clipping.ts). Missing on GPU backends. */
  sumSquares?(g: tf.Tensor): number;
  /**
   * For the 8-bit state kernels (docs/ALGORITHM.md §11) where the codes live in a memory of their
   * own (cpu; wasm where `lowBitHeap` is missing or not used): p and g as Float32Arrays the kernel may
   * read, and p it may write; `written()` makes the written p the variable's value. wasm: views of
   * the heap, p made private first (written in place, as adoptStep does); cpu: a new array for p
   * (as adoptStep's new p).
   */
  paramViews?(kernel: string, p: tf.Variable, g: tf.Tensor): ParamViews;
  /**
   * wasm: the low-bit state kernels in place on the heap, with the codes allocated there
   * (wasm_heap_lowbit.ts). Missing where the backend offers no malloc, the module cannot be bound, or the
   * low-bit entry point (`import 'adopt-optim/lowbit'`) was not imported.
   */
  readonly lowBitHeap?: WasmHeapLowBit;
}

/** One variable of a `runMany`: its call, p, g and slots (in the rule's slot order). */
export interface StepEntry {
  readonly call: PhaseCall;
  readonly p: tf.Variable;
  readonly g: tf.Tensor;
  readonly slots: readonly tf.Variable[];
}

/** The one plan and phase of a runMany's entries, or a TypeError. */
export function sharedPhase(entries: readonly StepEntry[]): PhaseCall {
  const first = entries[0]?.call;
  if (first === undefined) throw new TypeError('adopt-optim runMany: no variables');
  for (const { call } of entries) {
    if (call.plan !== first.plan || call.phase !== first.phase) {
      throw new TypeError(
        `adopt-optim runMany: one call runs one phase of one plan (${first.plan.key} ${first.phase}), ` +
          `not ${call.plan.key} ${call.phase}`,
      );
    }
  }
  return first;
}

export interface ParamViews {
  p: Float32Array;
  g: Float32Array;
  written(): void;
}

interface WasmBackendInternals {
  wasm: {
    asm: { memory?: WebAssembly.Memory };
    _malloc?(bytes: number): number;
    _free?(offset: number): void;
    /** The heap of the threaded build (cross-origin-isolated pages): imported, so not in `asm`. */
    wasmMemory?: WebAssembly.Memory;
    tfjs: {
      registerTensor(id: number, size: number, memoryOffset: number): void;
      disposeData(id: number): void;
    };
  };
  dataIdMap: {
    get(dataId: object): { id: number; memoryOffset: number; shape?: number[]; dtype?: string } | undefined;
  };
  refCount(dataId: object): number;
}

/** Gives the variable a buffer of its own: a new tensor from a kernel, adopted by assign. */
function privateCopy(variable: tf.Variable): void {
  tf.tidy(() => variable.assign(tf.add(variable, 0)));
}

/** The wasm backend's heap: exported by the plain build, imported (shared) by the threaded one. */
function wasmHeap(b: WasmBackendInternals): WebAssembly.Memory | undefined {
  return b.wasm?.asm?.memory ?? b.wasm?.wasmMemory;
}

export function bufferError(kernel: string, what: string, detail: string): Error {
  return new RangeError(`adopt-optim ${kernel}: buffer "${what}" ${detail}; nothing was written.`);
}

class WasmFused implements FusedKernels, WasmHeapAccess {
  readonly path = 'wasm';
  private heapLowBit: WasmHeapLowBit | undefined | null = null;
  readonly memory: WebAssembly.Memory;
  /** The backend's module, kept: backend.dispose() drops its `wasm` but the heap lives on. */
  private readonly module: WasmBackendInternals['wasm'];

  constructor(
    private readonly backend: WasmBackendInternals,
    private readonly allFiniteKernel: (g: number, n: number) => number,
  ) {
    this.memory = wasmHeap(backend)!;
    this.module = backend.wasm;
  }

  /** The low-bit kernels bound to this heap (first asked for after the low-bit entry point registered them). */
  get lowBitHeap(): WasmHeapLowBit | undefined {
    if (this.heapLowBit === null && bindLowBitHeap !== null) {
      const malloc = typeof this.module._malloc === 'function' && typeof this.module._free === 'function';
      this.heapLowBit = malloc ? bindLowBitHeap(this) : undefined;
    }
    return this.heapLowBit ?? undefined;
  }

  malloc(bytes: number): number {
    // `>>> 0`: offsets above 2 GiB come back negative (as tfjs's own allocations do)
    return this.module._malloc!(bytes) >>> 0;
  }

  free(offset: number): void {
    this.module._free!(offset);
  }

  /**
   * Heap offset of a tensor's data, after checking that it holds `n` float32 elements that lie
   * inside the heap: the kernel will read or write exactly that range.
   */
  region(
    kernel: string,
    what: string,
    t: tf.Tensor,
    n: number,
    heap = this.heapBytes(),
    info = this.backend.dataIdMap.get(t.dataId),
  ): number {
    if (info === undefined || typeof info.memoryOffset !== 'number')
      throw bufferError(kernel, what, 'is not on the wasm heap');
    const size = info.shape === undefined ? t.size : tf.util.sizeFromShape(info.shape);
    if ((info.dtype ?? t.dtype) !== 'float32' || t.dtype !== 'float32')
      throw bufferError(kernel, what, `has dtype ${info.dtype ?? t.dtype}, not float32`);
    if (size !== n || t.size !== n) throw bufferError(kernel, what, `holds ${size} elements but the step touches ${n}`);
    const end = info.memoryOffset + 4 * n;
    if (info.memoryOffset < 0 || (info.memoryOffset & 3) !== 0 || end > heap) {
      throw bufferError(kernel, what, `at heap offset ${info.memoryOffset} does not fit the heap`);
    }
    return info.memoryOffset;
  }

  /** The heap's size now (it grows, never shrinks: a range checked inside stays inside). */
  heapBytes(): number {
    return this.memory.buffer.byteLength;
  }

  accepts(tensors: tf.Tensor[]): boolean {
    // a tensor created before a backend switch stays on its old backend until tfjs moves it
    return tensors.every((t) => typeof this.backend.dataIdMap.get(t.dataId)?.memoryOffset === 'number');
  }

  /**
   * Heap offset of a variable's buffer after making it private if it is shared (a new buffer of
   * the same size, so the checks already made still hold; checked again all the same).
   */
  owned(kernel: string, what: string, variable: tf.Variable, n: number, offset: number): number {
    if (this.backend.refCount(variable.dataId) <= 1) return offset;
    privateCopy(variable);
    return this.region(kernel, what, variable, n);
  }

  /**
   * Tells the backend's C++ side that these tensors changed. It assumes tensor data never
   * changes: XNNPACK operators for matMul and conv2d are cached by tensor id with the weights
   * packed inside, and would keep multiplying by the old weights. Unregistering and registering
   * the id again runs its disposal callbacks (dropping those operators) and keeps the data.
   */
  written(...tensors: tf.Tensor[]): void {
    const { tfjs } = this.backend.wasm;
    for (const t of tensors) {
      const info = this.backend.dataIdMap.get(t.dataId)!;
      tfjs.disposeData(info.id);
      tfjs.registerTensor(info.id, t.size, info.memoryOffset);
    }
  }

  // Every region is checked before anything is copied or written; then the variables are made
  // private where shared (privateCopy writes nothing but a new buffer of the same size).

  supports(): boolean {
    return true;
  }

  run(call: PhaseCall, p: tf.Variable, g: tf.Tensor, slots: tf.Variable[]): void {
    const { phase, sig } = callPart(call);
    const name = `${call.plan.key} ${call.phase}`;
    const n = p.size;
    if (sig.arrays.length !== slots.length + 2)
      throw new TypeError(`adopt-optim ${name}: expected ${sig.arrays.length - 2} state arrays.`);
    const k = ruleKernels(this.memory, call.plan.key);
    if (k === null) throw new Error(`adopt-optim ${name}: the WebAssembly kernels could not be bound to the heap.`);
    const tensors: tf.Tensor[] = [p, g, ...slots];
    const heap = this.heapBytes();
    // every region is checked before anything is written; then the written variables are made
    // private where shared (privateCopy writes nothing but a new buffer of the same size)
    const ptrs = tensors.map((t, i) => this.region(name, sig.arrays[i]!, t, n, heap));
    const written = writtenArrays(phase).map((a) => sig.arrays.indexOf(a));
    for (const i of written) ptrs[i] = this.owned(name, sig.arrays[i]!, tensors[i] as tf.Variable, n, ptrs[i]!);
    let means: Map<object, number> | undefined;
    const counting = callCount(call);
    if (counting !== undefined) {
      // the reduction's counting pass (caution, §10.2): nothing is written
      const count = k[counting.fn]!(...ptrs, n, ...uniformArgs(counting.sig, call.scalars));
      means = meansFromCount(call.plan, count, n, call.phase);
    }
    k[call.phase]!(...ptrs, n, ...uniformArgs(sig, call.scalars, means as Map<Node, number> | undefined));
    this.written(...written.map((i) => tensors[i]!));
  }

  runsMany(call: PhaseCall): boolean {
    const k = ruleKernels(this.memory, call.plan.key);
    return typeof this.module._malloc === 'function' && typeof k?.[`${call.phase}_all`] === 'function';
  }

  /**
   * Every variable in one call of the table kernel (src/codegen/wat_table.ts), its table on the heap (kept
   * between steps, grown when short). The checks and their order are run()'s, over all variables first.
   */
  runMany(entries: readonly StepEntry[]): StepEntry[] {
    const call = sharedPhase(entries);
    const { phase, sig } = callPart(call);
    const name = `${call.plan.key} ${call.phase}`;
    const fn = ruleKernels(this.memory, call.plan.key)?.[`${call.phase}_all`];
    if (fn === undefined || callCount(call) !== undefined)
      throw new Error(`adopt-optim ${name}: no table kernel for this phase.`);
    const heap = this.heapBytes();
    const taken: StepEntry[] = [];
    const left: StepEntry[] = [];
    const rows: TableRow[] = [];
    for (const entry of entries) {
      const { call: c, p, g, slots } = entry;
      if (sig.arrays.length !== slots.length + 2)
        throw new TypeError(`adopt-optim ${name}: expected ${sig.arrays.length - 2} state arrays.`);
      const n = p.size;
      const tensors = [p, g, ...slots];
      const infos = tensors.map((t) => this.backend.dataIdMap.get(t.dataId));
      // a tensor made before a backend switch stays on its old backend until tfjs moves it: not ours to run
      if (infos.some((info) => typeof info?.memoryOffset !== 'number')) {
        left.push(entry);
        continue;
      }
      const offsets = tensors.map((t, i) => this.region(name, sig.arrays[i]!, t, n, heap, infos[i]));
      taken.push(entry);
      rows.push({ offsets, n, scalars: c.scalars });
    }
    if (taken.length === 0) return left;
    const table = this.table(tableBytes(sig, rows.length)); // before owned(): a refusal here writes nothing
    const written = writtenArrays(phase).map((a) => sig.arrays.indexOf(a));
    taken.forEach(({ p, g, slots }, r) => {
      const tensors = [p, g, ...slots];
      const row = rows[r]!;
      const offsets = row.offsets as number[];
      for (const i of written)
        offsets[i] = this.owned(name, sig.arrays[i]!, tensors[i] as tf.Variable, row.n, offsets[i]!);
    });
    writeTable(this.memory, table, sig, rows);
    fn(table, rows.length);
    // only p can sit in an XNNPACK operator's cache (a weight of a matMul or conv2d): the slots are the
    // optimizer's own variables, never handed out (getWeights copies them), so they are not re-registered
    if (written.includes(0)) for (const { p } of taken) this.written(p);
    return left;
  }

  /** The heap offset of a table of at least `bytes` (allocated once, grown by doubling). */
  private table(bytes: number): number {
    if (this.tableSize < bytes) {
      if (this.tableSize > 0) this.free(this.tableOffset);
      this.tableSize = Math.max(bytes, 2 * this.tableSize, 4096);
      this.tableOffset = this.malloc(this.tableSize);
      if (this.tableOffset === 0 || this.tableOffset + this.tableSize > this.heapBytes()) {
        this.tableSize = 0;
        throw new RangeError(`adopt-optim: no heap room for a kernel table of ${bytes} bytes; nothing was written.`);
      }
    }
    return this.tableOffset;
  }

  private tableOffset = 0;
  private tableSize = 0;

  paramViews(kernel: string, p: tf.Variable, g: tf.Tensor): ParamViews {
    const n = p.size;
    const heap = this.heapBytes();
    let po = this.region(kernel, 'p', p, n, heap);
    const go = this.region(kernel, 'g', g, n, heap);
    po = this.owned(kernel, 'p', p, n, po);
    const buffer = this.memory.buffer; // after owned(): it may have grown the heap
    return {
      p: new Float32Array(buffer, po, n),
      g: new Float32Array(buffer, go, n),
      written: () => this.written(p),
    };
  }

  allFinite(g: tf.Tensor): boolean {
    return this.allFiniteKernel(this.region('allFinite', 'g', g, g.size), g.size) === 1;
  }

  sumSquares(g: tf.Tensor): number {
    return (this.sumSquaresKernel ??= sumSquaresKernel(this.memory)!)(
      this.region('sumSquares', 'g', g, g.size),
      g.size,
    );
  }

  private sumSquaresKernel: ((g: number, n: number) => number) | undefined;
}

/** The wasm backend's kernels (src/dispatch.ts chooses them), or null where its internals are not as expected. */
export function wasmFusedKernels(backend: object): FusedKernels | null {
  const b = backend as WasmBackendInternals;
  const memory = wasmHeap(b);
  const k = memory instanceof WebAssembly.Memory ? finiteKernel(memory) : null;
  const usable =
    k !== null &&
    typeof b.dataIdMap?.get === 'function' &&
    typeof b.wasm.tfjs?.registerTensor === 'function' &&
    typeof b.wasm.tfjs?.disposeData === 'function';
  return usable ? new WasmFused(b, k) : null;
}
