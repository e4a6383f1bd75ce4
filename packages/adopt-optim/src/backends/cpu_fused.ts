/**
 * The fused step of the tfjs `cpu` backend: tensors are JS Float32Arrays, and the kernels run on them chunk by
 * chunk (ArrayKernels). What every backend's kernels share is in ./tfjs_fused.ts.
 *
 * p, m, v (and vmax) are updated in place, in buffers of their own (given once, at the
 * first step, when the data is shared or was not allocated here: `owned`). The cpu backend hands
 * out its own arrays, so three doors are guarded for the buffers written here (`guardCpu`, once per
 * backend): the engine's readSync/read (what dataSync(), data(), array() use) return copies, as the
 * wasm backend does for every tensor; a tensor the backend makes over such a buffer (tfjs's cpu
 * Slice returns a subarray view) gets a copy at birth; and a buffer shared with another tensor
 * (tf.variable(t), clone, reshape) is never written: the variable gets a private copy first.
 * So an array or tensor a caller holds never changes, and a step allocates nothing. (0.2 wrote
 * each new p into a fresh array instead: at 1e7 parameters allocating and faulting in 40 MB cost
 * ~400-550 ms here, more than the step itself; issue 22.) Kernels read the buffers directly
 * (backend.data / bufferSync), without a copy. Before any kernel runs, every buffer it will touch is checked against
 * the length it will write: a mismatch throws and nothing is written.
 */
import * as tf from '@tensorflow/tfjs-core';
import { callPart, type PhaseCall } from '../codegen/modules.js';
import { writtenArrays } from '../codegen/signature.js';
import { ArrayKernels } from '../kernels/array_kernels.js';
import { sumOfSquares } from '../gradient_clipping.js';
import { bufferError, sharedPhase, type FusedKernels, type ParamViews, type StepEntry } from './tfjs_fused.js';

interface CpuBackendInternals {
  data: { get(dataId: object): { values?: unknown; dtype?: string } | undefined };
  refCount(dataId: object): number;
  write(values: unknown, shape: number[], dtype: string): object;
}

interface EngineReads {
  readSync(dataId: object): unknown;
  read(dataId: object): Promise<unknown>;
}

/** cpu buffers made here for a parameter or a state slot, the only ones written in place. */
const ownedCpuBuffers = new WeakSet<ArrayBufferLike>();
const guardedCpuBackends = new WeakSet<object>();
const guardedEngines = new WeakSet<object>();

/** Whether `values` lies in a buffer the fused cpu step writes in place. */
const inOwnedBuffer = (values: unknown): values is Float32Array =>
  values instanceof Float32Array && ownedCpuBuffers.has(values.buffer);

/**
 * The copy-on-read and copy-on-view guards of the cpu path (see the header): installed once per
 * backend and engine, before the first buffer is written in place. A read of any other tensor costs
 * one WeakSet lookup.
 */
function guardCpu(backend: CpuBackendInternals): void {
  if (!guardedCpuBackends.has(backend)) {
    const write = backend.write.bind(backend);
    backend.write = (values, shape, dtype) => write(inOwnedBuffer(values) ? values.slice() : values, shape, dtype);
    guardedCpuBackends.add(backend);
  }
  const engine = tf.engine() as unknown as EngineReads;
  if (!guardedEngines.has(engine)) {
    const readSync = engine.readSync.bind(engine);
    const read = engine.read.bind(engine);
    engine.readSync = (dataId) => {
      const v = readSync(dataId);
      return inOwnedBuffer(v) ? v.slice() : v;
    };
    engine.read = async (dataId) => {
      const v = await read(dataId);
      return inOwnedBuffer(v) ? v.slice() : v;
    };
    guardedEngines.add(engine);
  }
}

class CpuFused implements FusedKernels {
  readonly path = 'cpu';
  constructor(
    private readonly backend: CpuBackendInternals,
    private readonly k: ArrayKernels,
  ) {
    guardCpu(backend);
  }

  /** A tensor's data, checked to hold the `n` float32 elements the kernel will read. */
  private values(kernel: string, what: string, t: tf.Tensor, n: number): Float32Array {
    const values = this.backend.data.get(t.dataId)?.values;
    if (!(values instanceof Float32Array)) throw bufferError(kernel, what, 'is not a float32 cpu tensor');
    if (values.length !== n || t.size !== n)
      throw bufferError(kernel, what, `holds ${values.length} elements but the step touches ${n}`);
    return values;
  }

  accepts(tensors: tf.Tensor[]): boolean {
    return tensors.every((t) => this.backend.data.get(t.dataId)?.values instanceof Float32Array);
  }

  /**
   * A variable's buffer (parameter or state slot), written in place: made private first, once, if
   * another tensor shares its data or it was not made here (a caller may hold the array: it was
   * handed out before the guards, or the variable wraps the caller's own array).
   */
  private owned(kernel: string, what: string, variable: tf.Variable, n: number): Float32Array {
    const values = this.values(kernel, what, variable, n);
    if (
      this.backend.refCount(variable.dataId) === 1 &&
      inOwnedBuffer(values) &&
      values.length === values.buffer.byteLength / 4
    )
      return values;
    const own = new Float32Array(n); // a buffer of its own, not a view: written in place from now on
    own.set(values);
    const entry = this.backend.data.get(variable.dataId);
    if (entry !== undefined && this.backend.refCount(variable.dataId) === 1) {
      entry.values = own; // same dataId, size and dtype: only the array changes; the old one stays as it was
    } else {
      // shared with another tensor (tf.variable(t), clone, reshape): that one keeps the old data
      tf.tidy(() => variable.assign(tf.tensor(own, variable.shape, 'float32')));
    }
    const now = this.values(kernel, what, variable, n);
    if (now !== own) throw bufferError(kernel, what, 'could not be given a buffer of its own');
    ownedCpuBuffers.add(own.buffer);
    return own;
  }

  supports(): boolean {
    return true;
  }

  run(call: PhaseCall, p: tf.Variable, g: tf.Tensor, slots: tf.Variable[]): void {
    const { phase, sig } = callPart(call);
    const name = `${call.plan.key} ${call.phase}`;
    const n = p.size;
    const pv = this.values(name, 'p', p, n);
    const gv = this.values(name, 'g', g, n);
    slots.forEach((slot, i) => this.values(name, sig.arrays[i + 2]!, slot, n)); // checked before owned() may copy
    const written = new Set(writtenArrays(phase));
    const slotValues = slots.map((slot, i) => {
      const what = sig.arrays[i + 2]!;
      return written.has(what) ? this.owned(name, what, slot, n) : this.values(name, what, slot, n);
    });
    this.k.run(call, written.has('p') ? this.owned(name, 'p', p, n) : pv, gv, slotValues);
  }

  runsMany(call: PhaseCall): boolean {
    return this.k.runsMany(call);
  }

  /**
   * Every variable's arrays checked, the written ones made private, then ArrayKernels.runMany (packed, one call
   * per pack).
   */
  runMany(entries: readonly StepEntry[]): StepEntry[] {
    const call = sharedPhase(entries);
    const { phase, sig } = callPart(call);
    const name = `${call.plan.key} ${call.phase}`;
    const taken = entries.filter(({ p, g, slots }) => this.accepts([p, g, ...slots]));
    for (const { p, g, slots } of taken) {
      const n = p.size;
      this.values(name, 'p', p, n);
      this.values(name, 'g', g, n);
      slots.forEach((slot, i) => this.values(name, sig.arrays[i + 2]!, slot, n)); // all checked before owned() may copy
    }
    const written = new Set(writtenArrays(phase));
    this.k.runMany(
      taken.map(({ call: c, p, g, slots }) => {
        const n = p.size;
        const slotValues = slots.map((slot, i) => {
          const what = sig.arrays[i + 2]!;
          return written.has(what) ? this.owned(name, what, slot, n) : this.values(name, what, slot, n);
        });
        const pv = written.has('p') ? this.owned(name, 'p', p, n) : this.values(name, 'p', p, n);
        return { call: c, p: pv, g: this.values(name, 'g', g, n), slots: slotValues };
      }),
    );
    const ran = new Set(taken);
    return entries.filter((e) => !ran.has(e));
  }

  paramViews(kernel: string, p: tf.Variable, g: tf.Tensor): ParamViews {
    const n = p.size;
    this.values(kernel, 'g', g, n); // checked before p is made private
    return { p: this.owned(kernel, 'p', p, n), g: this.values(kernel, 'g', g, n), written: () => {} };
  }

  allFinite(g: tf.Tensor): boolean {
    return this.k.allFinite(this.values('allFinite', 'g', g, g.size));
  }

  sumSquares(g: tf.Tensor): number {
    return sumOfSquares(this.values('sumSquares', 'g', g, g.size)); // in place: the backend's own array
  }
}

/** The cpu backend's kernels (src/dispatch.ts chooses them), or null without WebAssembly SIMD. */
export function cpuFusedKernels(backend: object): FusedKernels | null {
  const b = backend as CpuBackendInternals;
  const k = ArrayKernels.get();
  return k !== null && typeof b.data?.get === 'function' ? new CpuFused(b, k) : null;
}
