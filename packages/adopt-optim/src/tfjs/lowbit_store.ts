/**
 * Low-bit state (docs/ALGORITHM.md §11 8-bit, §12 4-bit) for the TensorFlow.js optimizers, on the
 * `wasm` and `cpu` backends.
 *
 * The codes and scales of each variable are not tensor slots: tfjs has no int8 dtype, and the
 * slots of NamedStateOptimizer are float32 tensors of the variable's shape. 8-bit state on wasm
 * lives on the backend's heap, allocated with its malloc, and the kernels update p and the codes in
 * place there (src/backends/wasm_heap_lowbit.ts); on cpu, 4-bit state everywhere, and 8-bit where that
 * route is unavailable, in a WebAssembly memory of its own (the core's layout,
 * src/kernels/lowbit_arrays.ts), with p and g copied through it (read in place from the wasm heap). A
 * variable's codes move from one to the other at its next step if the backend changes. The
 * optimizer has no slots and no state tensors; per variable, `getWeights()` adds the codes (int32
 * tensors of the variable's shape, one code per element, exact) and the scales (float32, one per
 * block), named as ./lowbit_weights.ts says, and `setWeights()` takes them back, checked before
 * anything changes.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  allocateMoments,
  lowBitMomentsBytes,
  lowBitStep,
  momentsLength,
  quantizeMoments,
  writesParams,
  type LowBitMoments,
} from '../kernels/lowbit_arrays.js';
import { codeBytes, INT8, paddedLength, readCode, scaleCount, type LowBitFormat } from '../formats/state_formats.js';
import { HeapMoments, type WasmHeapLowBit } from '../backends/wasm_heap_lowbit.js';
import { GpuLowBitMoments } from '../backends/webgpu_lowbit.js';
import { stateOnWebgpuError } from '../backends/webgpu_moves.js';
import { checkLowBitBackend, lowBitRoute } from '../dispatch.js';
import type { PhaseCall } from '../codegen/modules.js';
import type { FusedKernels } from '../backends/tfjs_fused.js';
import { lowBitNeedsSimd, OptimizerArgumentError } from '../validate.js';
import { stateFormatOf, type ExternalState, type NamedTensor } from './slot_store.js';
import { groupBy, readLowBit, split, suffixesOf, type LowBitTaker, type Restored } from './lowbit_weights.js';

/** The webgpu kernels' low-bit entry (webgpu_fused.ts), where the backend's kernels have it (src/dispatch.ts). */
interface GpuLowBitKernels {
  runLowBit(
    call: PhaseCall,
    p: tf.Variable,
    g: tf.Tensor,
    s: GpuLowBitMoments,
    format: LowBitFormat,
    seed: number,
  ): void;
}

/** A variable's codes and scales: in a memory of their own, or on the wasm heap. */
type Moments = LowBitMoments | HeapMoments | GpuLowBitMoments;

/**
 * Typed-array views of the codes and scales (of heap ones: valid until the heap next grows). Moments
 * on the GPU are moved by `check` (offGpu) before any step elsewhere, so they are not read here.
 */
function viewsOf(m: Moments): LowBitMoments {
  if (m instanceof GpuLowBitMoments) throw new Error('adopt-optim: low-bit state on the GPU read without a CPU copy.');
  return m instanceof HeapMoments ? m.views() : m;
}

function copyMoments(from: LowBitMoments, to: LowBitMoments): void {
  to.qm.set(from.qm);
  to.qv.set(from.qv);
  to.mScale.set(from.mScale);
  to.vScale.set(from.vScale);
}

/** Number of codes (the padded length) of a variable's moments. */
function codesOf(m: Moments, f: LowBitFormat): number {
  return m instanceof HeapMoments || m instanceof GpuLowBitMoments ? m.padded : (m.qm.length * 8) / f.bits;
}

function release(m: Moments): void {
  if (m instanceof HeapMoments || m instanceof GpuLowBitMoments) m.free();
}

/** The low-bit moments of an optimizer's variables, by variable name, in one format. */
export class LowBitStore implements ExternalState, LowBitTaker {
  private moments = new Map<string, Moments>();
  /**
   * The shape each variable's moments were made or restored for (as float32 slots are bound to
   * their variable's shape): the codes alone record only a padded length, so [4, 4] would pass for
   * [16] and 13 elements for 16.
   */
  private shapes = new Map<string, number[]>();
  private handedOut: tf.Tensor[] = [];
  /** Variables whose moments setWeights installed and no variable has stepped yet: they may be claimed by a renamed one. */
  private restored = new Set<string>();

  private readonly bits: string;

  /**
   * Whether the state may live on tfjs's wasm heap (the default). Off, every backend takes the
   * separate-memory route: for tests and benchmarks that compare the two; not part of the API.
   */
  heapRoute = true;

  constructor(
    private readonly owner: string,
    readonly format: LowBitFormat = INT8,
  ) {
    this.bits = `${format.bits}-bit`;
  }

  /** Bytes of the state itself (NamedStateOptimizer.stateBytes): per moment the codes of the padded elements, 4 per block; no scratch. */
  stateBytes(): number {
    let total = 0;
    for (const m of this.moments.values()) {
      const codes = codesOf(m, this.format);
      total += 2 * codeBytes(this.format, codes) + 2 * 4 * scaleCount(this.format, codes);
    }
    return total;
  }

  /** Whether moments restored under `savedName` fit `variable`: its shape where known, else its padded size (SlotStore.findRestored). */
  fits(savedName: string, variable: tf.Variable): boolean {
    const m = this.moments.get(savedName);
    if (!this.restored.has(savedName) || m === undefined) return false;
    const shape = this.shapes.get(savedName);
    return shape !== undefined
      ? tf.util.arraysEqual(shape, variable.shape)
      : codesOf(m, this.format) === paddedLength(this.format, variable.size);
  }

  /** Restored moments claimed by a variable tfjs renamed (`dense/kernel_1` for the saved `dense/kernel`). */
  rename(from: string, to: string): void {
    const m = this.moments.get(from);
    if (m === undefined) return;
    const old = this.moments.get(to);
    if (old !== undefined) release(old);
    this.moments.delete(from);
    this.moments.set(to, m);
    const shape = this.shapes.get(from);
    this.shapes.delete(from);
    if (shape !== undefined) this.shapes.set(to, shape);
    this.restored.delete(from);
  }

  /**
   * Throws, before anything changes, if this variable cannot take an 8-bit step here. `name`: where
   * its moments are kept (the saved name of restored moments a renamed variable will claim).
   */
  check(variable: tf.Variable, step: number, name = variable.name): void {
    checkLowBitBackend(this.owner, this.format.dtype); // src/dispatch.ts: which backends run low-bit state
    const backend = tf.getBackend();
    let m = this.moments.get(name);
    if (m instanceof GpuLowBitMoments && backend !== 'webgpu') m = this.offGpu(name, m, variable);
    const shape = this.shapes.get(name);
    if (m !== undefined && shape !== undefined && !tf.util.arraysEqual(shape, variable.shape)) {
      throw new OptimizerArgumentError(
        `${this.owner}: the ${this.bits} state of variable "${variable.name}" was made for shape [${shape}] but the variable has shape ` +
          `[${variable.shape}]; was the variable re-created with another shape? Nothing was changed.`,
      );
    }
    const codes = m === undefined ? 0 : codesOf(m, this.format);
    if (m !== undefined && codes !== paddedLength(this.format, variable.size)) {
      throw new OptimizerArgumentError(
        `${this.owner}: the ${this.bits} state of variable "${variable.name}" holds ${codes} codes but the variable has ${variable.size} elements; nothing was changed.`,
      );
    }
    if (m === undefined && step > 0) {
      throw new OptimizerArgumentError(
        `${this.owner}: variable "${variable.name}" is at step ${step} but has no ${this.bits} state; nothing was changed.`,
      );
    }
  }

  /**
   * One phase of a rule (`call`: the same PhaseCall the float32 kernels run) on variable p with
   * gradient g (checked by `check` first). On webgpu, one dispatch on the codes in GPU buffers; on
   * wasm, in place on the heap (the codes move there on the first step); elsewhere on the codes in
   * a memory of their own, with p and g copied through it: views of the wasm heap where `kernels`
   * offers them, else a new array for p that `commit` makes the variable's value.
   */
  step(
    call: PhaseCall,
    p: tf.Variable,
    g: tf.Tensor,
    seed: number,
    kernels: FusedKernels | null,
    commit: (next: Float32Array) => void,
  ): void {
    this.restored.delete(p.name);
    const route = lowBitRoute(kernels, p, g, this.heapRoute); // src/dispatch.ts chooses
    if (route === 'gpu') {
      (kernels as unknown as GpuLowBitKernels).runLowBit(call, p, g, this.onGpu(p), this.format, seed);
      return;
    }
    if (route === 'heap') {
      const heap = kernels!.lowBitHeap!;
      heap.run(call, p, g, this.onHeap(p, heap), seed);
      return;
    }
    const s = this.inMemory(p);
    // ADOPT's first step reads p (coupled decay) and writes only the codes
    const writesP = writesParams(call);
    const run = (pv: Float32Array, gv: Float32Array) => lowBitStep(call, pv, gv, s, seed);
    const views = kernels?.paramViews?.(`${call.plan.key}_${this.format.key}`, p, g); // wasm: views of the heap
    if (views !== undefined) {
      run(views.p, views.g);
      if (writesP) views.written();
      return;
    }
    const gv = g.dataSync() as Float32Array;
    if (!writesP) {
      run(p.dataSync() as Float32Array, gv);
      return;
    }
    // on a copy of p (an array a caller holds never changes), then assigned
    const next = Float32Array.from(p.dataSync() as Float32Array);
    run(next, gv);
    commit(next);
  }

  /**
   * Moments on the GPU brought back before a step elsewhere (from check, before anything changes):
   * only from the CPU copy an asynchronous read left (getWeights); otherwise refused, saying how to
   * move them (../backends/webgpu_moves.ts). Never a synchronous read of the GPU.
   */
  private offGpu(name: string, m: GpuLowBitMoments, variable: tf.Variable): LowBitMoments {
    const views = m.views();
    if (views === null) throw stateOnWebgpuError(this.owner, `${this.bits} state`, variable.name);
    const made = allocateMoments(this.format, m.length);
    if (made === null) throw lowBitNeedsSimd(this.owner, this.format.dtype);
    copyMoments(views, made);
    release(m);
    this.moments.set(name, made);
    return made;
  }

  /** A variable's moments on the GPU (webgpu): made (zeros) on its first step, or uploaded there. */
  private onGpu(variable: tf.Variable): GpuLowBitMoments {
    const m = this.moments.get(variable.name);
    if (m instanceof GpuLowBitMoments && !m.freed) return m;
    const made = new GpuLowBitMoments(variable.size, this.format, m === undefined ? undefined : viewsOf(m)); // lengths checked by `check`
    if (m !== undefined) release(m);
    this.moments.set(variable.name, made);
    this.shapes.set(variable.name, variable.shape.slice());
    return made;
  }

  /** A variable's moments on this heap: made (zeros) on its first step, or moved there. */
  private onHeap(variable: tf.Variable, heap: WasmHeapLowBit): HeapMoments {
    const m = this.moments.get(variable.name);
    if (m instanceof HeapMoments && m.owner === heap) return m;
    const made = heap.allocate(variable.size, this.format);
    if (m !== undefined) {
      copyMoments(viewsOf(m), made.views()); // lengths checked by `check`
      release(m);
    }
    this.moments.set(variable.name, made);
    this.shapes.set(variable.name, variable.shape.slice());
    return made;
  }

  /**
   * A variable's moments in a memory of their own: made (zeros) on its first step, or moved there
   * (also from moments restored before the variable existed, made for its padded length).
   */
  private inMemory(variable: tf.Variable): LowBitMoments {
    const m = this.moments.get(variable.name);
    if (
      m !== undefined &&
      !(m instanceof HeapMoments) &&
      !(m instanceof GpuLowBitMoments) &&
      momentsLength(m) === variable.size
    ) {
      this.shapes.set(variable.name, variable.shape.slice());
      return m;
    }
    const made = allocateMoments(this.format, variable.size);
    if (made === null) throw lowBitNeedsSimd(this.owner, this.format.dtype);
    if (m !== undefined) {
      copyMoments(viewsOf(m), made); // the same codes: lengths checked by `check`
      release(m);
    }
    this.moments.set(variable.name, made);
    this.shapes.set(variable.name, variable.shape.slice());
    return made;
  }

  /** Bytes the codes and scales take: on wasm heaps, in memories of their own (with their scratch), and on the GPU. */
  bytes(): { heap: number; outside: number; gpu: number } {
    let heap = 0;
    let outside = 0;
    let gpu = 0;
    for (const m of this.moments.values()) {
      if (m instanceof HeapMoments) heap += m.bytes;
      else if (m instanceof GpuLowBitMoments) gpu += m.bytes;
      else outside += lowBitMomentsBytes(m);
    }
    return { heap, outside, gpu };
  }

  private disposeHandedOut(): void {
    tf.dispose(this.handedOut);
    this.handedOut = [];
  }

  /**
   * The codes (int32, one per element, the variable's shape) and scales of every variable, named by
   * suffixesOf; owned here until the next call. Captured when called: the GPU reads are all issued
   * and every other variable's codes copied before this returns, so steps taken before the promise
   * resolves do not show in it (getWeights pairs it with the counters taken at the same moment).
   */
  weights(): Promise<NamedTensor[]> {
    const f = this.format;
    const copy = (v: LowBitMoments): LowBitMoments =>
      ({
        ...v,
        qm: v.qm.slice(),
        qv: v.qv.slice(),
        mScale: v.mScale.slice(),
        vScale: v.vScale.slice(),
      }) as LowBitMoments;
    const captured = [...this.moments].map(([name, m]) => ({
      name,
      shape: this.shapes.get(name) ?? [codesOf(m, f)],
      // heap views are copied now: a tensor made later may grow the wasm heap, and a step may change them
      values: m instanceof GpuLowBitMoments ? m.read() : Promise.resolve(copy(viewsOf(m))),
    }));
    return this.build(captured);
  }

  private async build(
    captured: { name: string; shape: number[]; values: Promise<LowBitMoments> }[],
  ): Promise<NamedTensor[]> {
    const all = await Promise.all(captured.map((c) => c.values));
    this.disposeHandedOut();
    const out: NamedTensor[] = [];
    const f = this.format;
    const [nqm, nqv, nsm, nsv] = suffixesOf(f);
    captured.forEach(({ name, shape }, k) => {
      const v = all[k]!;
      // format 2 (STATE_FORMAT_VERSION): the codes in the variable's shape, without the padding
      const n = shape.reduce((a, b) => a * b, 1);
      const unpack = (codes: Int8Array | Uint8Array, signed: boolean) =>
        f.bits === 8
          ? Int32Array.from(codes.subarray(0, n))
          : Int32Array.from({ length: n }, (_x, i) => readCode(f, codes, i, signed));
      const tensors: [string, tf.Tensor][] = [
        [nqm!, tf.tensor(unpack(v.qm, f.m.signed), shape, 'int32')],
        [nqv!, tf.tensor(unpack(v.qv, f.u.signed), shape, 'int32')],
        // the scales, where the format has them
        ...((f.scaled
          ? [
              [nsm!, tf.tensor1d(v.mScale, 'float32')],
              [nsv!, tf.tensor1d(v.vScale, 'float32')],
            ]
          : []) as [string, tf.Tensor][]),
      ];
      for (const [suffix, tensor] of tensors) {
        this.handedOut.push(tensor);
        out.push({ name: `${name}/${suffix}`, tensor });
      }
    });
    return out;
  }

  /**
   * Reads this format's entries (and float32 `m`, `v`, quantised) of `weights` into fresh moments,
   * checking everything; returns them with the entries left for NamedStateOptimizer.setWeights.
   * Nothing here changes until `install`.
   */
  async take(weights: NamedTensor[]): Promise<{ rest: NamedTensor[]; fresh: Map<string, Restored> }> {
    const owner = `${this.owner}.setWeights`;
    const registered = tf.engine().registeredVariables;
    const format = await stateFormatOf(owner, weights);
    const f = this.format;
    const { groups, rest: afterCodes } = groupBy(weights, suffixesOf(f), owner);
    const { groups: floats, rest } = groupBy(afterCodes, ['m', 'v'], owner);
    const fresh = new Map<string, Restored>();
    for (const [name, group] of groups)
      fresh.set(name, await readLowBit(owner, f, name, group, registered[name], format));
    for (const [name, group] of floats) {
      const m = group.get('m');
      const v = group.get('v');
      if (
        fresh.has(name) ||
        m === undefined ||
        v === undefined ||
        m.dtype !== 'float32' ||
        v.dtype !== 'float32' ||
        !tf.util.arraysEqual(m.shape, v.shape) ||
        m.isDisposed ||
        v.isDisposed
      ) {
        throw new OptimizerArgumentError(
          `${owner}: float32 state of "${name}" to convert to ${this.bits} state needs "${name}/m" and "${name}/v", float32 of one shape (and no ${this.bits} entries beside them).`,
        );
      }
      const live = registered[name];
      if (live !== undefined && !tf.util.arraysEqual(live.shape, m.shape)) {
        throw new OptimizerArgumentError(
          `${owner}: the saved state of "${name}" has shape [${m.shape}] but the variable has [${live.shape}]; nothing was changed.`,
        );
      }
      const [mv, vv] = await Promise.all([m.data(), v.data()]);
      for (let i = 0; i < mv.length; i++) {
        if (!Number.isFinite(mv[i]) || !Number.isFinite(vv[i]) || vv[i]! < 0) {
          throw new OptimizerArgumentError(
            `${owner}: weight "${name}/m" or "${name}/v" holds ${mv[i]} / ${vv[i]} at index ${i}; expected finite values (v >= 0). Nothing was changed.`,
          );
        }
      }
      const q = allocateMoments(f, m.size);
      if (q === null) throw lowBitNeedsSimd(owner, f.dtype);
      quantizeMoments(mv, vv, q, f); // §11.4, §12.4
      fresh.set(name, { moments: q, shape: [...m.shape] });
    }
    // every variable with moments needs its step counter, and every one with a step counter its moments
    for (const name of fresh.keys()) {
      if (!rest.some((w) => w?.name === `${name}/step`)) {
        throw new OptimizerArgumentError(
          `${owner}: incomplete state for variable "${name}": ${this.bits} state but no step counter "${name}/step" ` +
            '(without it the variable would restart at step 0). Nothing was changed.',
        );
      }
    }
    for (const w of rest) {
      const parts = typeof w?.name === 'string' ? split(w.name) : null;
      if (parts !== null && parts[1] === 'step' && !fresh.has(parts[0])) {
        throw new OptimizerArgumentError(
          `${owner}: incomplete state for variable "${parts[0]}": a step counter but no ${this.bits} state ` +
            `(${suffixesOf(f)
              .map((x) => `"${parts[0]}/${x}"`)
              .join(', ')}) nor float32 "${parts[0]}/m", "${parts[0]}/v". Nothing was changed.`,
        );
      }
    }
    return { rest, fresh };
  }

  /**
   * Replaces every variable's moments (after NamedStateOptimizer.setWeights succeeded); the old
   * ones on a wasm heap are freed. The fresh ones move to the heap at their variable's next step.
   */
  install(fresh: Map<string, Restored>): void {
    for (const m of this.moments.values()) release(m);
    this.moments = new Map([...fresh].map(([name, r]) => [name, r.moments]));
    this.restored = new Set(fresh.keys());
    // bound to the shape they were saved for (format 2, or the live variable checked by take); format 1
    // without a live variable: at the variable's first step
    this.shapes = new Map([...fresh].flatMap(([name, r]) => (r.shape !== undefined ? [[name, [...r.shape]]] : [])));
  }

  /** Frees every variable's moments (those on a wasm heap go back to it). */
  dispose(): void {
    this.disposeHandedOut();
    for (const m of this.moments.values()) release(m);
    this.moments = new Map();
    this.shapes = new Map();
    this.restored = new Set();
  }
}
