/**
 * 8-bit state (docs/ALGORITHM.md §11) for the TensorFlow.js optimizers, on the `wasm` and `cpu`
 * backends.
 *
 * The codes and scales of each variable are not tensor slots: tfjs has no int8 dtype, and the
 * slots of NamedStateOptimizer are float32 tensors of the variable's shape. On wasm they live on
 * the backend's heap, allocated with its malloc, and the kernels update p and the codes in place
 * there (src/backends/tfjs_state8.ts); on cpu (and on wasm where that route is unavailable) in a
 * WebAssembly memory of their own (the core's layout, src/kernels/state8.ts), with p and g copied
 * through it. A variable's codes move from one to the other at its next step if the backend
 * changes. The optimizer has no slots and no state tensors; per variable, `getWeights()` adds
 * `<variable>/qm`, `<variable>/qv` (int32 tensors, one code per element, exact) and
 * `<variable>/mScale`, `<variable>/vScale` (float32, one per block of 256), and `setWeights()`
 * takes them back, checked before anything changes. A float32 state
 * (`<variable>/m`, `<variable>/v`) given to an int8 optimizer is quantised (§11.4), and 8-bit
 * weights given to a float32 optimizer are de-quantised (`dequantizeInt8Weights`).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  adam8Step, adopt8Init, adopt8Step, allocateInt8Moments, BLOCK, dequantizeMoments, int8MomentsBytes, int8MomentsLength, quantizeMoments,
  type Int8Moments, type State8Kernel,
} from '../kernels/state8.js';
import { HeapInt8Moments, type WasmState8 } from '../backends/tfjs_state8.js';
import type { FusedKernels } from '../backends/tfjs_fused.js';
import type { AdamKernelArgs, AdoptKernelArgs } from '../rules/scalars.js';
import { OptimizerArgumentError } from '../validate.js';
import type { NamedTensor } from './named_state_optimizer.js';
import { stateFormatOf, type ExternalState } from './slot_store.js';

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Weight suffixes of the 8-bit state of a variable. */
export const INT8_SUFFIXES = ['qm', 'qv', 'mScale', 'vScale'] as const;
const INT8_BACKENDS = ['wasm', 'cpu'];

const pad4 = (n: number) => Math.ceil(n / 4) * 4;

/** A variable's codes and scales: in a memory of their own, or on the wasm heap. */
type Moments = Int8Moments | HeapInt8Moments;

let heapRoute = true;

/**
 * Whether the 8-bit state may live on tfjs's wasm heap (the default). Off, every backend takes the
 * separate-memory route: for tests and benchmarks that compare the two; not part of the API.
 */
export function setInt8HeapRoute(enabled: boolean): void {
  heapRoute = enabled;
}

/** Typed-array views of the codes and scales (of heap ones: valid until the heap next grows). */
function viewsOf(m: Moments): Int8Moments {
  return m instanceof HeapInt8Moments ? m.views() : m;
}

function copyMoments(from: Int8Moments, to: Int8Moments): void {
  to.qm.set(from.qm);
  to.qv.set(from.qv);
  to.mScale.set(from.mScale);
  to.vScale.set(from.vScale);
}

/** Number of codes (the padded length) of a variable's moments. */
function codesOf(m: Moments): number {
  return m instanceof HeapInt8Moments ? m.padded : m.qm.length;
}

function release(m: Moments): void {
  if (m instanceof HeapInt8Moments) m.free();
}

function split(name: string): [string, string] | null {
  const cut = name.lastIndexOf('/');
  return cut > 0 ? [name.slice(0, cut), name.slice(cut + 1)] : null;
}

/** Groups the entries with the given suffixes by variable; the rest are returned as they are. */
function groupBy(weights: NamedTensor[], suffixes: readonly string[]): { groups: Map<string, Map<string, tf.Tensor>>; rest: NamedTensor[] } {
  const groups = new Map<string, Map<string, tf.Tensor>>();
  const rest: NamedTensor[] = [];
  for (const w of weights) {
    const parts = typeof w?.name === 'string' ? split(w.name) : null;
    if (parts === null || !suffixes.includes(parts[1])) {
      rest.push(w);
      continue;
    }
    const group = groups.get(parts[0]) ?? new Map<string, tf.Tensor>();
    group.set(parts[1], w.tensor);
    groups.set(parts[0], group);
  }
  return { groups, rest };
}

/** Moments read from saved weights, with the shape they were saved for (undefined: format 1 without a live variable). */
interface Restored {
  moments: Int8Moments;
  shape: number[] | undefined;
}

/**
 * Reads and checks the 8-bit weights of one variable into fresh moments. Format 2 (STATE_FORMAT_VERSION):
 * the codes have the variable's shape, which must be the live variable's where there is one. Format 1:
 * 1-D codes padded to a multiple of 4, whose length must be the live variable's padded size.
 */
async function readInt8(
  owner: string, name: string, group: Map<string, tf.Tensor>, live: { shape: number[]; size: number } | undefined, format: number,
): Promise<Restored> {
  const missing = INT8_SUFFIXES.filter((s) => !group.has(s));
  if (missing.length > 0) {
    throw new OptimizerArgumentError(`${owner}: incomplete 8-bit state for "${name}": no ${missing.map((s) => `"${name}/${s}"`).join(', ')}.`);
  }
  const [qm, qv, sm, sv] = INT8_SUFFIXES.map((s) => group.get(s)!);
  for (const [t, suffix, dtype] of [[qm, 'qm', 'int32'], [qv, 'qv', 'int32'], [sm, 'mScale', 'float32'], [sv, 'vScale', 'float32']] as const) {
    if (t!.isDisposed) throw new OptimizerArgumentError(`${owner}: the tensor of weight "${name}/${suffix}" is disposed; nothing was changed.`);
    const shaped = format >= 2 && (suffix === 'qm' || suffix === 'qv'); // format 2 codes: the variable's shape
    if (t!.dtype !== dtype || (!shaped && t!.rank !== 1)) {
      throw new OptimizerArgumentError(`${owner}: weight "${name}/${suffix}" is ${t!.dtype} of shape [${t!.shape}]; expected ${shaped ? 'an' : 'a 1-D'} ${dtype} tensor.`);
    }
  }
  let size: number;
  let shape: number[] | undefined;
  if (format >= 2) {
    size = qm!.size;
    shape = [...qm!.shape];
    if (!tf.util.arraysEqual(qv!.shape, qm!.shape) || (live !== undefined && !tf.util.arraysEqual(shape, live.shape))) {
      throw new OptimizerArgumentError(
        `${owner}: the 8-bit state of "${name}" has codes of shape [${qm!.shape}] / [${qv!.shape}]` +
          `${live === undefined ? '' : ` but the variable has shape [${live.shape}]`}; expected ${live === undefined ? 'one shape for both' : `[${live.shape}]`}. Nothing was changed.`,
      );
    }
  } else {
    size = live?.size ?? qm!.size;
    shape = live?.shape;
    if (qm!.size % 4 !== 0 || qv!.size !== qm!.size || (live !== undefined && pad4(live.size) !== qm!.size)) {
      throw new OptimizerArgumentError(
        `${owner}: the 8-bit state of "${name}" has ${qm!.size} / ${qv!.size} codes` +
          `${live === undefined ? '' : ` but the variable has ${live.size} elements`}; expected ${live === undefined ? 'a multiple of 4' : pad4(live.size)} codes ` +
          '(format 1: 1-D, padded to a multiple of 4). Nothing was changed.',
      );
    }
  }
  const padded = pad4(size);
  const blocks = Math.ceil(padded / BLOCK);
  if (sm!.size !== blocks || sv!.size !== blocks) {
    throw new OptimizerArgumentError(
      `${owner}: the 8-bit state of "${name}" has ${sm!.size} / ${sv!.size} scales for ${size} elements; expected one per ${BLOCK} (${blocks}). Nothing was changed.`,
    );
  }
  const out = allocateInt8Moments(size);
  if (out === null) throw new OptimizerArgumentError(`${owner}: stateDtype 'int8' needs WebAssembly SIMD, which is not available here.`);
  const [cm, cv, fm, fv] = await Promise.all([qm!.data(), qv!.data(), sm!.data(), sv!.data()]);
  for (let i = 0; i < cm.length; i++) {
    const a = cm[i] as number;
    const b = cv[i] as number;
    if (!(Number.isInteger(a) && a >= -127 && a <= 127) || !(Number.isInteger(b) && b >= 0 && b <= 255) ||
      (i >= size && (a !== 0 || b !== 0))) {
      throw new OptimizerArgumentError(`${owner}: weight "${name}/qm" or "${name}/qv" holds ${a} / ${b} at index ${i}; expected codes -127..127 and 0..255 (0 in the padding). Nothing was changed.`);
    }
  }
  for (let i = 0; i < blocks; i++) {
    if (!(Number.isFinite(fm[i]) && fm[i]! >= 0 && Number.isFinite(fv[i]) && fv[i]! >= 0)) {
      throw new OptimizerArgumentError(`${owner}: weight "${name}/mScale" or "${name}/vScale" holds ${fm[i]} / ${fv[i]} at block ${i}; expected finite scales >= 0. Nothing was changed.`);
    }
    // codes decode to m = code · mScale (|code| <= 127) and v = (code · vScale)² (code <= 255): both must be float32
    if (127 * fm[i]! > FLOAT32_MAX || (255 * fv[i]!) ** 2 > FLOAT32_MAX) {
      throw new OptimizerArgumentError(
        `${owner}: weight "${name}/mScale" or "${name}/vScale" holds ${fm[i]} / ${fv[i]} at block ${i}; such a scale decodes beyond ` +
          'float32 (|m| up to 127 · mScale, v up to (255 · vScale)²) and the next step would write Infinity. Nothing was changed.',
      );
    }
  }
  out.qm.set(cm as Int32Array); // format 2: the padding stays 0
  out.qv.set(cv as Int32Array);
  out.mScale.set(fm as Float32Array);
  out.vScale.set(fv as Float32Array);
  return { moments: out, shape };
}

/** The 8-bit moments of an optimizer's variables, by variable name. */
export class Int8Store implements ExternalState {
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

  constructor(private readonly owner: string) {}

  /** Bytes of the state itself (NamedStateOptimizer.stateBytes): per moment 1 byte per (padded) element, 4 per block; no scratch. */
  stateBytes(): number {
    let total = 0;
    for (const m of this.moments.values()) {
      const codes = codesOf(m);
      total += 2 * codes + 2 * 4 * Math.ceil(codes / BLOCK);
    }
    return total;
  }

  /** Whether moments restored under `savedName` fit `variable`: its shape where known, else its padded size (SlotStore.findRestored). */
  fits(savedName: string, variable: tf.Variable): boolean {
    const m = this.moments.get(savedName);
    if (!this.restored.has(savedName) || m === undefined) return false;
    const shape = this.shapes.get(savedName);
    return shape !== undefined ? tf.util.arraysEqual(shape, variable.shape) : codesOf(m) === pad4(variable.size);
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
    const backend = tf.getBackend();
    if (!INT8_BACKENDS.includes(backend)) {
      throw new OptimizerArgumentError(
        `${this.owner}: stateDtype 'int8' runs on the wasm and cpu backends only (fused WebAssembly kernels); the backend is ${backend}. Nothing was changed.`,
      );
    }
    const m = this.moments.get(name);
    const shape = this.shapes.get(name);
    if (m !== undefined && shape !== undefined && !tf.util.arraysEqual(shape, variable.shape)) {
      throw new OptimizerArgumentError(
        `${this.owner}: the 8-bit state of variable "${variable.name}" was made for shape [${shape}] but the variable has shape ` +
          `[${variable.shape}]; was the variable re-created with another shape? Nothing was changed.`,
      );
    }
    const codes = m === undefined ? 0 : codesOf(m);
    if (m !== undefined && codes !== pad4(variable.size)) {
      throw new OptimizerArgumentError(
        `${this.owner}: the 8-bit state of variable "${variable.name}" holds ${codes} codes but the variable has ${variable.size} elements; nothing was changed.`,
      );
    }
    if (m === undefined && step > 0) {
      throw new OptimizerArgumentError(`${this.owner}: variable "${variable.name}" is at step ${step} but has no 8-bit state; nothing was changed.`);
    }
  }

  /**
   * One step of `kernel` on variable p with gradient g (checked by `check` first). On wasm, in
   * place on the heap (the codes move there on the first step); elsewhere on the codes in a memory
   * of their own, with p and g copied through it: views of the wasm heap where `kernels` offers
   * them, else a new array for p that `commit` makes the variable's value.
   */
  step(
    kernel: State8Kernel, p: tf.Variable, g: tf.Tensor, args: AdoptKernelArgs | AdamKernelArgs, seed: number,
    kernels: FusedKernels | null, commit: (next: Float32Array) => void,
  ): void {
    this.restored.delete(p.name);
    const heap = heapRoute ? kernels?.int8 : undefined;
    if (heap !== undefined && kernels!.accepts([p, g])) {
      heap.run(kernel, p, g, this.onHeap(p, heap), args, seed);
      return;
    }
    const s = this.inMemory(p);
    const run = (pv: Float32Array, gv: Float32Array) => {
      if (kernel === 'adopt8Init') adopt8Init(pv, gv, s, args as AdoptKernelArgs, seed); // reads p (coupled decay), writes only the codes
      else if (kernel === 'adopt8Step') adopt8Step(pv, gv, s, args as AdoptKernelArgs, seed);
      else adam8Step(pv, gv, s, args as AdamKernelArgs, seed);
    };
    const views = kernels?.paramViews?.(kernel === 'adam8Step' ? 'adam8' : 'adopt8', p, g); // wasm: views of the heap
    if (views !== undefined) {
      run(views.p, views.g);
      if (kernel !== 'adopt8Init') views.written();
      return;
    }
    const gv = g.dataSync() as Float32Array;
    if (kernel === 'adopt8Init') {
      run(p.dataSync() as Float32Array, gv);
      return;
    }
    // on a copy of p (an array a caller holds never changes), then assigned
    const next = Float32Array.from(p.dataSync() as Float32Array);
    run(next, gv);
    commit(next);
  }

  /** A variable's moments on this heap: made (zeros) on its first step, or moved there. */
  private onHeap(variable: tf.Variable, heap: WasmState8): HeapInt8Moments {
    const m = this.moments.get(variable.name);
    if (m instanceof HeapInt8Moments && m.owner === heap) return m;
    const made = heap.allocate(variable.size);
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
  private inMemory(variable: tf.Variable): Int8Moments {
    const m = this.moments.get(variable.name);
    if (m !== undefined && !(m instanceof HeapInt8Moments) && int8MomentsLength(m) === variable.size) {
      this.shapes.set(variable.name, variable.shape.slice());
      return m;
    }
    const made = allocateInt8Moments(variable.size);
    if (made === null) throw new OptimizerArgumentError(`${this.owner}: stateDtype 'int8' needs WebAssembly SIMD, which is not available here.`);
    if (m !== undefined) {
      copyMoments(viewsOf(m), made); // the same codes: lengths checked by `check`
      release(m);
    }
    this.moments.set(variable.name, made);
    this.shapes.set(variable.name, variable.shape.slice());
    return made;
  }

  /** Bytes the codes and scales take: on wasm heaps, and in memories of their own (with their scratch). */
  bytes(): { heap: number; outside: number } {
    let heap = 0;
    let outside = 0;
    for (const m of this.moments.values()) {
      if (m instanceof HeapInt8Moments) heap += m.bytes;
      else outside += int8MomentsBytes(m);
    }
    return { heap, outside };
  }

  private disposeHandedOut(): void {
    tf.dispose(this.handedOut);
    this.handedOut = [];
  }

  /** `<name>/qm`, `/qv` (int32, one code per element), `/mScale`, `/vScale` of every variable; owned here until the next call. */
  weights(): NamedTensor[] {
    this.disposeHandedOut();
    const out: NamedTensor[] = [];
    for (const [name, m] of this.moments) {
      // copied out before any tensor is made: a tensor may grow the wasm heap, detaching heap views
      const v = viewsOf(m);
      // format 2 (STATE_FORMAT_VERSION): the codes in the variable's shape, without the padding
      const shape = this.shapes.get(name) ?? [codesOf(m)];
      const n = shape.reduce((a, b) => a * b, 1);
      const [qm, qv, sm, sv] = [Int32Array.from(v.qm.subarray(0, n)), Int32Array.from(v.qv.subarray(0, n)), v.mScale.slice(), v.vScale.slice()];
      const tensors: [string, tf.Tensor][] = [
        ['qm', tf.tensor(qm, shape, 'int32')], ['qv', tf.tensor(qv, shape, 'int32')],
        ['mScale', tf.tensor1d(sm, 'float32')], ['vScale', tf.tensor1d(sv, 'float32')],
      ];
      for (const [suffix, tensor] of tensors) {
        this.handedOut.push(tensor);
        out.push({ name: `${name}/${suffix}`, tensor });
      }
    }
    return out;
  }

  /**
   * Reads the 8-bit entries (and float32 `m`, `v`, quantised) of `weights` into fresh moments,
   * checking everything; returns them with the entries left for NamedStateOptimizer.setWeights.
   * Nothing here changes until `install`.
   */
  async take(weights: NamedTensor[]): Promise<{ rest: NamedTensor[]; fresh: Map<string, Restored> }> {
    const owner = `${this.owner}.setWeights`;
    const registered = tf.engine().registeredVariables;
    const format = await stateFormatOf(owner, weights);
    const { groups, rest: afterInt8 } = groupBy(weights, INT8_SUFFIXES);
    const { groups: floats, rest } = groupBy(afterInt8, ['m', 'v']);
    const fresh = new Map<string, Restored>();
    for (const [name, group] of groups) fresh.set(name, await readInt8(owner, name, group, registered[name], format));
    for (const [name, group] of floats) {
      const m = group.get('m');
      const v = group.get('v');
      if (fresh.has(name) || m === undefined || v === undefined || m.dtype !== 'float32' || v.dtype !== 'float32' ||
        m.size !== v.size || m.isDisposed || v.isDisposed) {
        throw new OptimizerArgumentError(
          `${owner}: float32 state of "${name}" to convert to 8-bit state needs "${name}/m" and "${name}/v", float32 of one size (and no 8-bit entries beside them).`,
        );
      }
      const live = registered[name];
      if (live !== undefined && !tf.util.arraysEqual(live.shape, m.shape)) {
        throw new OptimizerArgumentError(`${owner}: the saved state of "${name}" has shape [${m.shape}] but the variable has [${live.shape}]; nothing was changed.`);
      }
      const [mv, vv] = await Promise.all([m.data(), v.data()]);
      for (let i = 0; i < mv.length; i++) {
        if (!Number.isFinite(mv[i]) || !Number.isFinite(vv[i]) || vv[i]! < 0) {
          throw new OptimizerArgumentError(`${owner}: weight "${name}/m" or "${name}/v" holds ${mv[i]} / ${vv[i]} at index ${i}; expected finite values (v >= 0). Nothing was changed.`);
        }
      }
      const q = allocateInt8Moments(m.size);
      if (q === null) throw new OptimizerArgumentError(`${owner}: stateDtype 'int8' needs WebAssembly SIMD, which is not available here.`);
      quantizeMoments(mv, vv, q); // §11.4
      fresh.set(name, { moments: q, shape: [...m.shape] });
    }
    // every variable with moments needs its step counter, and every one with a step counter its moments
    for (const name of fresh.keys()) {
      if (!rest.some((w) => w?.name === `${name}/step`)) {
        throw new OptimizerArgumentError(
          `${owner}: incomplete state for variable "${name}": 8-bit state but no step counter "${name}/step" ` +
            '(without it the variable would restart at step 0). Nothing was changed.',
        );
      }
    }
    for (const w of rest) {
      const parts = typeof w?.name === 'string' ? split(w.name) : null;
      if (parts !== null && parts[1] === 'step' && !fresh.has(parts[0])) {
        throw new OptimizerArgumentError(
          `${owner}: incomplete state for variable "${parts[0]}": a step counter but no 8-bit state ` +
            `(${INT8_SUFFIXES.map((x) => `"${parts[0]}/${x}"`).join(', ')}) nor float32 "${parts[0]}/m", "${parts[0]}/v". Nothing was changed.`,
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

/**
 * For a float32 optimizer: replaces the 8-bit entries of `weights` by de-quantised `<variable>/m`
 * and `<variable>/v` (§11.4) shaped like the live variable of that name, which must exist (the
 * codes do not record the shape). Returns the new list and the tensors made, for the caller to
 * dispose once setWeights has copied them.
 */
export async function dequantizeInt8Weights(owner: string, weights: NamedTensor[]): Promise<{ weights: NamedTensor[]; made: tf.Tensor[] }> {
  const { groups, rest } = groupBy(weights, INT8_SUFFIXES);
  if (groups.size === 0) return { weights, made: [] };
  const registered = tf.engine().registeredVariables;
  const format = await stateFormatOf(owner, weights);
  const made: tf.Tensor[] = [];
  const out = [...rest];
  try {
    for (const [name, group] of groups) {
      const live = registered[name];
      if (live === undefined) {
        throw new OptimizerArgumentError(
          `${owner}: 8-bit state of "${name}" can be converted to float32 only for a live variable of that name (the codes do not record its shape); nothing was changed.`,
        );
      }
      const { moments: q } = await readInt8(owner, name, group, live, format);
      const { m, v } = dequantizeMoments(q, live.size);
      const mt = tf.tensor(m, live.shape, 'float32');
      const vt = tf.tensor(v, live.shape, 'float32');
      made.push(mt, vt);
      out.push({ name: `${name}/m`, tensor: mt }, { name: `${name}/v`, tensor: vt });
    }
  } catch (error) {
    tf.dispose(made);
    throw error;
  }
  return { weights: out, made };
}

/**
 * setWeights of an optimizer that may hold 8-bit state, shared by ADOPT and the Adam family: with
 * 8-bit state, 8-bit entries or float32 `m` / `v` (quantised, §11.4); with float32 state, 8-bit
 * entries are de-quantised for live variables. `setFloat` is the base class's setWeights, which
 * checks everything before anything changes.
 */
export async function setWeightsWithInt8(
  owner: string, store: Int8Store | null, weightValues: NamedTensor[], setFloat: (w: NamedTensor[]) => Promise<void>,
): Promise<void> {
  if (!Array.isArray(weightValues)) return setFloat(weightValues);
  if (store !== null) {
    const { rest, fresh } = await store.take(weightValues);
    await setFloat(rest);
    store.install(fresh);
    return;
  }
  const { weights, made } = await dequantizeInt8Weights(owner, weightValues);
  try {
    await setFloat(weights);
  } finally {
    tf.dispose(made);
  }
}
