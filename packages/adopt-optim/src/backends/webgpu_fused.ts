/**
 * Fused optimizer steps on tfjs's webgpu backend: one compute dispatch per variable per step that
 * reads p, g, m, v (vmax) and writes p, m, v (vmax) in place, in the buffers tfjs already holds.
 * Rules: docs/ALGORITHM.md §2.2-§2.4 (ADOPT), §4.1-§4.3 (Adam family) with §3; scalars from
 * kernels/args.ts; the arithmetic follows the ops path (adopt.ts, adam_family.ts) operation by
 * operation, so results agree within float32 rounding.
 *
 * - tfjs's WebGPUProgram API binds inputs read-only and has a single output, so an in-place
 *   update of three tensors cannot go through it. The pipeline here is our own (WGSL, compiled
 *   once per kind on the backend's device); it is recorded into tfjs's current compute pass, in
 *   order with tfjs's own dispatches, with the buffers of tfjs's tensors and a uniform buffer
 *   from tfjs's pool (`makeUniforms`). Storage buffers: p, g, m, v, vmax, ok: at most 6 of the 8
 *   per stage WebGPU guarantees.
 * - In place is safe only on a buffer nothing else can see: a tensor written here must hold the
 *   only reference to its data (`tf.variable(t)` and `clone` share); otherwise it is first given
 *   a private copy, once. After the write its CPU-side copy (kept by tfjs after a read) is dropped
 *   so later reads see the new values.
 * - Non-finite gradients (§6.3): one dispatch per gradient counts its non-finite elements into a
 *   vector (atomics, zeroed by clearBuffer); `ok`, the step's verdict computed from it on the GPU,
 *   is bound as a storage buffer and the update returns before writing when it is false.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { callCount, callPart, type PhaseCall } from '../codegen/modules.js';
import { uniformArgs, writtenArrays } from '../codegen/signature.js';
import { WORKGROUP, wgslShader, type WgslShader } from '../codegen/wgsl.js';
import type { GpuFusedKernels } from './gpu_kernels.js';
import { wgslLowBitShader, type WgslLowBitShader } from '../codegen/wgsl_lowbit.js';
import type { LowBitFormat } from '../formats/state_formats.js';
import type { GpuLowBitMoments } from './webgpu_lowbit.js';

/* Minimal WebGPU types (the library's tsconfig has no DOM / @webgpu/types). */
interface GPUBufferLike {
  size: number;
}
interface GPUComputePipelineLike {
  getBindGroupLayout(index: number): unknown;
}
interface GPUDeviceLike {
  createShaderModule(d: { code: string }): unknown;
  createComputePipeline(d: {
    layout: 'auto';
    compute: { module: unknown; entryPoint: string };
  }): GPUComputePipelineLike;
  createBindGroup(d: { layout: unknown; entries: { binding: number; resource: unknown }[] }): unknown;
  limits?: { maxStorageBuffersPerShaderStage?: number };
}
interface GPUComputePassLike {
  setPipeline(p: GPUComputePipelineLike): void;
  setBindGroup(index: number, group: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
}
interface TensorData {
  values: unknown;
  resource: unknown;
  refCount: number;
  external?: boolean;
  dtype: string;
}
interface WebGPUBackendInternals {
  device: GPUDeviceLike;
  tensorMap: { get(dataId: object): TensorData | undefined };
  uploadToGPU(dataId: object): void;
  makeTensorInfo(shape: number[], dtype: string): TensorInfo;
  makeUniforms(u: { type: string; data: number[] }[]): { offset: number; size: number; buffer: GPUBufferLike };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  commandEncoder: { beginComputePass(d: object): GPUComputePassLike; clearBuffer(b: GPUBufferLike): void };
  computePassEncoder: GPUComputePassLike | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
}

const MAX_GROUPS_PER_DIM = 65535;
/** Largest finite float32: stands for an infinite clip bound in a uniform. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Count of non-finite elements of g, added atomically into flags[index] (zeroed once per step by
 * clearBuffer): a grid-stride loop over up to FLAG_MAX_GROUPS workgroups; only a thread that
 * found something touches the atomic.
 */
const FLAG_WORKGROUP = 256;
const FLAG_ELEMENTS_PER_THREAD = 8;
const FLAG_MAX_GROUPS = 1024;
const FLAG_SHADER = `
  @group(0) @binding(0) var<storage, read> g: array<f32>;
  @group(0) @binding(1) var<storage, read_write> flags: array<atomic<u32>>;
  struct Uniforms { size: u32, index: u32, stride: u32, }
  @group(0) @binding(2) var<uniform> u: Uniforms;
  @compute @workgroup_size(${FLAG_WORKGROUP})
  fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    var bad = 0u;
    for (var i = id.x; i < u.size; i += u.stride) {
      // exponent bits >= 127 + 63: |g| >= 2^63 (GRADIENT_LIMIT), NaN or ±Infinity
      if ((bitcast<u32>(g[i]) & 0x7f800000u) >= 0x5f000000u) { bad += 1u; }
    }
    if (bad > 0u) { atomicAdd(&flags[u.index], bad); }
  }`;

/** A 2-D grid of `groups` workgroups (at most 65535 per dimension). */
function grid(groups: number): [number, number] {
  const x = Math.min(groups, MAX_GROUPS_PER_DIM);
  return [x, Math.ceil(groups / x)];
}

/** A phase's scalars as float32 uniforms: an infinite clip bound becomes the largest finite float32. */
function scalarUniforms(
  sig: Parameters<typeof uniformArgs>[0],
  scalars: Parameters<typeof uniformArgs>[1],
): { type: string; data: number[] }[] {
  return uniformArgs(sig, scalars).map((v) => ({
    type: 'float32',
    data: [Math.max(-FLOAT32_MAX, Math.min(FLOAT32_MAX, v))],
  }));
}

class WebGPUFused implements GpuFusedKernels {
  readonly path = 'webgpu';
  private readonly pipelines = new Map<string, GPUComputePipelineLike>();
  private readonly shaders = new Map<string, WgslShader>();
  private readonly lowBitShaders = new Map<string, WgslLowBitShader>();
  private stepOk: tf.Tensor | null = null;
  /** Number of our dispatches (for the bench's count; tfjs's own go through runWebGPUProgram). */
  dispatches = 0;

  constructor(private readonly backend: WebGPUBackendInternals) {}

  accepts(tensors: tf.Tensor[]): boolean {
    return tensors.every((t) => t.dtype === 'float32' && t.size > 0 && !t.isDisposed);
  }

  beginStep(ok: tf.Tensor | null): void {
    this.stepOk = ok;
  }

  endStep(): void {
    this.stepOk = null;
  }

  /** One dispatch per gradient, each writing its count of non-finite elements into one vector. */
  gradientFlags(gs: tf.Tensor[]): tf.Tensor {
    const b = this.backend;
    const flags = tf.engine().makeTensorFromTensorInfo(b.makeTensorInfo([gs.length], 'int32'));
    const [buffer] = this.buffers([flags]);
    b.ensureCommandEncoderReady();
    b.endComputePassEncoder(); // clearBuffer is recorded outside a compute pass
    b.commandEncoder.clearBuffer(buffer!);
    const pipeline = this.pipeline('flags', () => FLAG_SHADER);
    gs.forEach((g, index) => {
      const groups = Math.min(Math.ceil(g.size / (FLAG_WORKGROUP * FLAG_ELEMENTS_PER_THREAD)), FLAG_MAX_GROUPS);
      this.dispatch(
        pipeline,
        [g, flags],
        [
          { type: 'uint32', data: [g.size] },
          { type: 'uint32', data: [index] },
          { type: 'uint32', data: [groups * FLAG_WORKGROUP] },
        ],
        groups,
        1,
      );
    });
    return flags;
  }

  allFinite(): boolean {
    throw new Error('adopt-optim: the webgpu kernels check gradients on the GPU (docs/ALGORITHM.md §6.3)');
  }

  private pipeline(key: string, code: () => string): GPUComputePipelineLike {
    let pipeline = this.pipelines.get(key);
    if (pipeline === undefined) {
      const module = this.backend.device.createShaderModule({ code: code() });
      pipeline = this.backend.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /** Gives a variable a buffer of its own when its data is shared (or external, or a bool/int buffer). */
  private makePrivate(t: tf.Variable): void {
    const data = this.backend.tensorMap.get(t.dataId);
    if (data === undefined || data.refCount > 1 || data.external === true) {
      tf.tidy(() => t.assign(tf.add(t, 0)));
    }
  }

  supports(call: PhaseCall): boolean {
    return callCount(call) === undefined; // a per-tensor mean (caution) needs a reduction pass: tfjs ops
  }

  /** One dispatch: the phase's shader (src/codegen/wgsl.ts) updates p and the slots in place. */
  run(call: PhaseCall, p: tf.Variable, g: tf.Tensor, slots: tf.Variable[]): void {
    const { phase, sig } = callPart(call);
    const guarded = this.stepOk !== null;
    const key = `${call.plan.key}/${call.phase}/${guarded}`;
    let shader = this.shaders.get(key);
    if (shader === undefined) this.shaders.set(key, (shader = wgslShader(sig, phase, guarded)));
    const named: Record<string, tf.Tensor> = Object.fromEntries([p, g, ...slots].map((t, i) => [sig.arrays[i]!, t]));
    const written = writtenArrays(phase).map((a) => named[a] as tf.Variable);
    for (const t of written) this.makePrivate(t);
    const b = this.backend;
    const tensors: TensorInfo[] = [...shader.arrays.map((name) => named[name]!), ...(guarded ? [this.stepOk!] : [])];
    const resources = this.buffers(tensors);
    const n = p.size;
    const need = n * 4;
    resources.forEach((r, i) => {
      if (i < shader!.arrays.length && r.size < need) {
        throw new RangeError(
          `adopt-optim webgpu: buffer "${shader!.arrays[i]}" holds ${r.size} bytes, expected ${need}; nothing was written.`,
        );
      }
    });
    const [x, y] = grid(Math.ceil(n / WORKGROUP));
    const code = shader.code;
    this.dispatch(
      this.pipeline(key, () => code),
      tensors,
      [...scalarUniforms(sig, call.scalars), { type: 'uint32', data: [n] }, { type: 'uint32', data: [x * WORKGROUP] }],
      x,
      y,
    );
    // the CPU copy tfjs keeps after a read is stale now
    for (const t of written) b.tensorMap.get(t.dataId)!.values = null;
  }

  /**
   * One step on low-bit state (§11, §12): one workgroup per block (src/codegen/wgsl_lowbit.ts), p
   * and the codes and scales written in place. Every buffer's size is checked against the step's
   * length before the dispatch is recorded.
   */
  runLowBit(
    call: PhaseCall,
    p: tf.Variable,
    g: tf.Tensor,
    s: GpuLowBitMoments,
    format: LowBitFormat,
    seed: number,
  ): void {
    const n = p.size;
    if (s.freed || s.length !== n || s.format !== format) {
      const why = s.freed
        ? 'was freed'
        : s.format !== format
          ? `is ${s.format.bits}-bit state`
          : `holds ${s.length} elements but the step touches ${n}`;
      throw new RangeError(`adopt-optim webgpu: the ${format.bits}-bit state ${why}; nothing was written.`);
    }
    if (n === 0) return; // nothing to dispatch (a dispatch of 0 workgroups over 0-byte buffers)
    const { phase, sig } = callPart(call);
    const guarded = this.stepOk !== null;
    const key = `${call.plan.key}/${call.phase}/${format.key}/${guarded}`;
    let shader = this.lowBitShaders.get(key);
    if (shader === undefined) this.lowBitShaders.set(key, (shader = wgslLowBitShader(sig, phase, guarded, format)));
    const writesP = writtenArrays(phase).includes('p');
    if (writesP) this.makePrivate(p);
    const tensors: TensorInfo[] = [p, g, ...s.tensors, ...(guarded ? [this.stepOk!] : [])];
    const need = [4 * n, 4 * n, 4 * s.words, 4 * s.words, 4 * s.scales, 4 * s.scales];
    const names = ['p', 'g', 'qm', 'qv', 'mScale', 'vScale'];
    this.buffers(tensors).forEach((r, i) => {
      if (i < need.length && r.size < need[i]!) {
        throw new RangeError(
          `adopt-optim webgpu: buffer "${names[i]}" holds ${r.size} bytes, expected ${need[i]}; nothing was written.`,
        );
      }
    });
    const [x, y] = grid(Math.ceil(s.blocks / shader.blocksPerGroup));
    const code = shader.code;
    this.dispatch(
      this.pipeline(key, () => code),
      tensors,
      [
        ...scalarUniforms(sig, call.scalars),
        { type: 'uint32', data: [n] },
        { type: 'uint32', data: [seed >>> 0] },
        { type: 'uint32', data: [x] },
        { type: 'uint32', data: [s.blocks] },
        { type: 'uint32', data: [s.words] },
      ],
      x,
      y,
    );
    // the CPU copies tfjs keeps after a read are stale now
    for (const t of [...(writesP ? [p] : []), ...s.tensors]) this.backend.tensorMap.get(t.dataId)!.values = null;
  }

  /** The GPU buffers of tensors (uploaded first where their data is still on the CPU). */
  private buffers(tensors: TensorInfo[]): GPUBufferLike[] {
    return tensors.map((t) => {
      this.backend.uploadToGPU(t.dataId);
      const resource = this.backend.tensorMap.get(t.dataId)!.resource;
      if (resource == null || typeof (resource as GPUBufferLike).size !== 'number') {
        throw new Error('adopt-optim webgpu: a tensor is not held in a GPU buffer; nothing was written.');
      }
      return resource as GPUBufferLike;
    });
  }

  /** Records one dispatch into tfjs's current compute pass, as its runWebGPUProgram does. */
  private dispatch(
    pipeline: GPUComputePipelineLike,
    tensors: TensorInfo[],
    uniforms: { type: string; data: number[] }[],
    x: number,
    y: number,
  ): void {
    const b = this.backend;
    // a dispatch binding more storage buffers than the device allows is dropped silently: never issue one
    const limit = b.device.limits?.maxStorageBuffersPerShaderStage ?? 8;
    if (tensors.length > limit) {
      throw new RangeError(
        `adopt-optim webgpu: a dispatch would bind ${tensors.length} storage buffers; the device allows ${limit}. ` +
          'Nothing was written.',
      );
    }
    const resources = this.buffers(tensors);
    const uniform = b.makeUniforms(uniforms);
    const bindGroup = b.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        ...resources.map((buffer, binding) => ({ binding, resource: { buffer } })),
        { binding: resources.length, resource: uniform },
      ],
    });
    for (const t of tensors) b.commandQueueOwnedIds.add(t.dataId);
    b.ensureCommandEncoderReady();
    if (b.computePassEncoder === null || b.computePassEncoder === undefined)
      b.computePassEncoder = b.commandEncoder.beginComputePass({});
    const pass = b.computePassEncoder;
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, 1);
    this.dispatches++;
    b.dispatchCountInPass++;
    if (tf.env().getNumber('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') <= b.dispatchCountInPass) {
      b.endComputePassEncoder();
      b.submitQueue();
    }
  }
}

const byBackend = new WeakMap<object, WebGPUFused | null>();

export function webgpuFusedKernels(backend: object): GpuFusedKernels | null {
  let k = byBackend.get(backend);
  if (k === undefined) {
    const b = backend as Partial<WebGPUBackendInternals>;
    const usable =
      b.device != null &&
      typeof b.device.createComputePipeline === 'function' &&
      typeof b.tensorMap?.get === 'function' &&
      typeof b.uploadToGPU === 'function' &&
      typeof b.makeUniforms === 'function' &&
      typeof b.makeTensorInfo === 'function' &&
      typeof tf.engine().makeTensorFromTensorInfo === 'function' &&
      typeof b.ensureCommandEncoderReady === 'function' &&
      typeof b.endComputePassEncoder === 'function' &&
      typeof b.submitQueue === 'function' &&
      b.commandQueueOwnedIds instanceof WeakSet;
    k = usable ? new WebGPUFused(b as WebGPUBackendInternals) : null;
    byBackend.set(backend, k);
  }
  return k;
}
