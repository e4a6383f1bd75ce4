/**
 * Fused optimizer steps on tfjs tensors, for the `wasm` and `cpu` backends.
 *
 * - wasm: our SIMD kernels are instantiated over the backend's own WebAssembly memory and update
 *   p, m and v in place at their heap offsets: no copy, no allocation.
 * - cpu: tensors are JS Float32Arrays; the kernels run on them chunk by chunk (ArrayKernels).
 *
 * In-place writes are safe only on a buffer nothing else can see. A buffer is written in place
 * only when its tensor data has one reference (no other tensor shares it: `tf.variable(t)`,
 * `reshape` and, on cpu, `clone` share) and, on cpu, when it was allocated here (a cpu tensor
 * made by `tf.tensor(array)` wraps the caller's array). Otherwise the variable is first given a
 * private copy, once; later steps then run in place.
 *
 * Caveat (cpu backend only): `dataSync()` there returns the tensor's own buffer, so an array a
 * caller obtained from a parameter's dataSync() changes with later steps; copy it to keep it.
 *
 * Other backends (webgl, webgpu, ...) return null and the optimizers use tfjs ops.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AdamKernelArgs, AdoptKernelArgs } from './args.js';
import { ArrayKernels } from './array_kernels.js';
import { instantiateKernels, type KernelExports } from './wasm_kernels.js';

export interface FusedKernels {
  /** Whether these tensors' data lives on this backend in a form the kernels can use. */
  accepts(tensors: tf.Tensor[]): boolean;
  adoptInit(p: tf.Variable, g: tf.Tensor, v: tf.Variable, a: AdoptKernelArgs): void;
  adoptStep(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, a: AdoptKernelArgs): void;
  adamStep(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, vmax: tf.Variable | null, a: AdamKernelArgs): void;
  allFinite(g: tf.Tensor): boolean;
}

interface WasmBackendInternals {
  wasm: {
    asm: { memory: WebAssembly.Memory };
    tfjs: {
      registerTensor(id: number, size: number, memoryOffset: number): void;
      disposeData(id: number): void;
    };
  };
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined };
  refCount(dataId: object): number;
}

interface CpuBackendInternals {
  data: { get(dataId: object): { values?: unknown } | undefined };
  refCount(dataId: object): number;
}

const fusedByBackend = new WeakMap<object, FusedKernels | null>();
/** cpu buffers allocated by `privateCopy`, the only ones written in place. */
const ownedCpuBuffers = new WeakSet<Float32Array>();

/** Gives the variable a buffer of its own: a new tensor from a kernel, adopted by assign. */
function privateCopy(variable: tf.Variable): void {
  tf.tidy(() => variable.assign(tf.add(variable, 0)));
}

class WasmFused implements FusedKernels {
  constructor(private readonly backend: WasmBackendInternals, private readonly k: KernelExports) {}

  private offset(t: tf.Tensor): number {
    return this.backend.dataIdMap.get(t.dataId)!.memoryOffset;
  }

  accepts(tensors: tf.Tensor[]): boolean {
    // a tensor created before a backend switch stays on its old backend until tfjs moves it
    return tensors.every((t) => typeof this.backend.dataIdMap.get(t.dataId)?.memoryOffset === 'number');
  }

  /** Heap offset of a variable's buffer, after making it private if it is shared. */
  private owned(variable: tf.Variable): number {
    if (this.backend.refCount(variable.dataId) > 1) privateCopy(variable);
    return this.offset(variable);
  }

  /**
   * Tells the backend's C++ side that these tensors changed. It assumes tensor data never
   * changes: XNNPACK operators for matMul and conv2d are cached by tensor id with the weights
   * packed inside, and would keep multiplying by the old weights. Unregistering and registering
   * the id again runs its disposal callbacks (dropping those operators) and keeps the data.
   */
  private written(...tensors: tf.Tensor[]): void {
    const { tfjs } = this.backend.wasm;
    for (const t of tensors) {
      const info = this.backend.dataIdMap.get(t.dataId)!;
      tfjs.disposeData(info.id);
      tfjs.registerTensor(info.id, t.size, info.memoryOffset);
    }
  }

  adoptInit(p: tf.Variable, g: tf.Tensor, v: tf.Variable, a: AdoptKernelArgs): void {
    const vo = this.owned(v);
    this.k.adopt_init(this.offset(p), this.offset(g), vo, p.size, a.sign, a.coupledDecay);
    this.written(v);
  }

  adoptStep(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, a: AdoptKernelArgs): void {
    const po = this.owned(p);
    const mo = this.owned(m);
    const vo = this.owned(v);
    this.k.adopt_step(po, this.offset(g), mo, vo, p.size, a.lr, a.beta1, a.oneMinusBeta1, a.beta2,
      a.oneMinusBeta2, a.epsilon, a.clip, a.sign, a.coupledDecay, a.decay);
    this.written(p, m, v);
  }

  adamStep(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, vmax: tf.Variable | null, a: AdamKernelArgs): void {
    const po = this.owned(p);
    const mo = this.owned(m);
    const vo = this.owned(v);
    const xo = vmax === null ? 0 : this.owned(vmax);
    this.k.adam_step(po, this.offset(g), mo, vo, xo, p.size, a.stepSize, a.beta1, a.oneMinusBeta1, a.beta2,
      a.oneMinusBeta2, a.epsilon, a.invSqrtBiasCorrection2, a.sign, a.coupledDecay, a.decay, a.amsgrad ? 1 : 0);
    this.written(p, m, v, ...(vmax === null ? [] : [vmax]));
  }

  allFinite(g: tf.Tensor): boolean {
    return this.k.all_finite(this.offset(g), g.size) === 1;
  }
}

class CpuFused implements FusedKernels {
  constructor(private readonly backend: CpuBackendInternals, private readonly k: ArrayKernels) {}

  private values(t: tf.Tensor): Float32Array {
    const values = this.backend.data.get(t.dataId)?.values;
    if (!(values instanceof Float32Array)) throw new Error('adopt-optim: cpu tensor without Float32Array data');
    return values;
  }

  accepts(tensors: tf.Tensor[]): boolean {
    return tensors.every((t) => this.backend.data.get(t.dataId)?.values instanceof Float32Array);
  }

  private owned(variable: tf.Variable): Float32Array {
    let values = this.values(variable);
    if (this.backend.refCount(variable.dataId) > 1 || !ownedCpuBuffers.has(values)) {
      privateCopy(variable);
      values = this.values(variable);
      ownedCpuBuffers.add(values);
    }
    return values;
  }

  adoptInit(p: tf.Variable, g: tf.Tensor, v: tf.Variable, a: AdoptKernelArgs): void {
    this.k.adoptInit(this.values(p), this.values(g), this.owned(v), a);
  }

  adoptStep(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, a: AdoptKernelArgs): void {
    this.k.adoptStep(this.owned(p), this.values(g), this.owned(m), this.owned(v), a);
  }

  adamStep(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, vmax: tf.Variable | null, a: AdamKernelArgs): void {
    this.k.adamStep(this.owned(p), this.values(g), this.owned(m), this.owned(v), vmax === null ? null : this.owned(vmax), a);
  }

  allFinite(g: tf.Tensor): boolean {
    return this.k.allFinite(this.values(g));
  }
}

/** Fused kernels for the active backend, or null where only tfjs ops can be used. */
export function fusedKernelsForBackend(): FusedKernels | null {
  const backend = tf.backend() as object;
  let fused = fusedByBackend.get(backend);
  if (fused === undefined) {
    fused = createFused(tf.getBackend(), backend);
    fusedByBackend.set(backend, fused);
  }
  return fused;
}

function createFused(name: string, backend: object): FusedKernels | null {
  if (name === 'wasm') {
    const b = backend as WasmBackendInternals;
    const memory = b.wasm?.asm?.memory;
    const k = memory instanceof WebAssembly.Memory ? instantiateKernels(memory) : null;
    const usable = k !== null && typeof b.dataIdMap?.get === 'function' &&
      typeof b.wasm.tfjs?.registerTensor === 'function' && typeof b.wasm.tfjs?.disposeData === 'function';
    return usable ? new WasmFused(b, k) : null;
  }
  if (name === 'cpu') {
    const b = backend as CpuBackendInternals;
    const k = ArrayKernels.get();
    return k !== null && typeof b.data?.get === 'function' ? new CpuFused(b, k) : null;
  }
  return null;
}
