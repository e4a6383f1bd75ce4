/**
 * Fused optimizer steps on tfjs's webgl backend: one fragment program per output tensor
 * (new m, new v, [new vmax,] new p), each recomputing from the old p, g, m, v what it needs, so a
 * step is 3 programs per variable (4 for AMSGrad; ADOPT's first step, §2.3, is 1) instead of the
 * 14-16 of the op-by-op path. Rules: docs/ALGORITHM.md §2.2-§2.4 (ADOPT), §4.1-§4.3 (Adam family),
 * with §3 (weight decay, maximize); the scalars come from kernels/args.ts as for the WebAssembly
 * kernels. The program computes in the same order as the ops path (adopt.ts, adam_family.ts) so
 * the results agree within float32 rounding.
 *
 * - Programs are built through the backend's own GPGPUProgram API (`runWebGLProgram`): tfjs
 *   compiles, caches (one binary per program kind and shape) and allocates the output texture.
 *   The scalars are uniforms, so a new learning rate or step does not recompile.
 * - Textures: packed (RGBA, 4 values per texel) when tfjs packs binary ops (WEBGL_PACK, the
 *   default), as tf.train.adam's results are, so the model's packed matMuls take p as it is;
 *   unpacked otherwise. An input stored the other way is converted once per step, not once per
 *   program.
 * - Non-finite gradients (§6.3): `ok`, the step's verdict computed on the GPU, is an input; every
 *   output is `ok ? new : old`.
 * - float16 textures (WEBGL_RENDER_FLOAT32_ENABLED false): epsilon is raised to 1e-4 as in §7.1 (`webglEpsilon`, which
 *   the ops path uses too).
 * - The outputs are new textures: the variable and its slots are assigned them, and the old
 *   textures are released by `assign` (tfjs's texture manager recycles them).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { callCount, callPart, type PhaseCall } from '../codegen/modules.js';
import { capitalized, glslProgram, type GlslProgram } from '../codegen/glsl.js';
import { uniformArgs } from '../codegen/signature.js';
import type { GpuFusedKernels } from './gpu_kernels.js';
import { stackAll } from './gpu_reduce.js';
import { webglEpsilon } from './webgl_epsilon.js';

export { FLOAT16_EPSILON_FLOOR, webglEpsilon } from './webgl_epsilon.js';

interface TexData {
  isPacked?: boolean;
  texture?: unknown;
}

interface GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;
  packedInputs?: boolean;
  packedOutput?: boolean;
  enableShapeUniforms?: boolean;
  customUniforms?: { name: string; type: 'float' }[];
}

interface WebGLBackendInternals {
  runWebGLProgram(program: GPGPUProgram, inputs: TensorInfo[], dtype: string, uniforms?: number[][]): TensorInfo;
  texData: { get(dataId: object): TexData | undefined };
  packTensor(t: TensorInfo): TensorInfo;
  unpackTensor(t: TensorInfo): TensorInfo;
  disposeIntermediateTensorInfo(t: TensorInfo): void;
}

/** Elements each texel of the non-finite count scans (a loop in one fragment). */
const FLAG_CHUNK = 2048;
/** Largest finite float32: stands for an infinite clip bound in a uniform. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** A program computing one array a phase writes (src/codegen/glsl.ts), guarded by the step's verdict. */
class FusedProgram implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;
  packedInputs: boolean;
  packedOutput: boolean;
  enableShapeUniforms: boolean;
  customUniforms: { name: string; type: 'float' }[];

  constructor(program: GlslProgram, target: string, shape: number[], packed: boolean, guarded: boolean) {
    this.variableNames = [...program.inputs.map(capitalized), ...(guarded ? ['Ok'] : [])];
    this.outputShape = shape;
    this.packedInputs = packed;
    this.packedOutput = packed;
    this.enableShapeUniforms = tf.env().getBool('WEBGL_USE_SHAPES_UNIFORMS') && shape.length <= 4;
    this.customUniforms = program.uniforms.map((i) => ({ name: `u${i}`, type: 'float' as const }));
    const ok = guarded ? (packed ? 'getOk().x > 0.5' : 'getOk() > 0.5') : 'true';
    this.userCode = `
      #define T ${packed ? 'vec4' : 'float'}
      T fusedUpdate() { ${program.body} }
      void main() {
        bool ok = ${ok};
        setOutput(ok ? fusedUpdate() : get${capitalized(target)}AtOutCoords());
      }
    `;
  }
}

class WebGLFused implements GpuFusedKernels {
  readonly path = 'webgl';
  private stepOk: tf.Tensor | null = null;
  /** `stepOk` converted to this step's texture layout, made on first use, released by endStep. */
  private okInput: TensorInfo | null = null;
  private converted: TensorInfo[] = [];

  constructor(private readonly backend: WebGLBackendInternals) {}

  accepts(tensors: tf.Tensor[]): boolean {
    return tensors.every((t) => t.dtype === 'float32' && t.size > 0 && !t.isDisposed);
  }

  beginStep(ok: tf.Tensor | null): void {
    if (ok !== this.stepOk) this.okInput = null; // a new verdict (a first step redone: gpu_first_steps.ts)
    this.stepOk = ok;
  }

  endStep(): void {
    for (const t of this.converted) this.backend.disposeIntermediateTensorInfo(t);
    this.converted = [];
    this.okInput = null;
    this.stepOk = null;
  }

  private get packed(): boolean {
    return tf.env().getBool('WEBGL_PACK_BINARY_OPERATIONS');
  }

  /** A tensor as an input of a program of this layout: converted once per call when stored the other way. */
  private input(t: TensorInfo, packed: boolean, into: TensorInfo[]): TensorInfo {
    const data = this.backend.texData.get(t.dataId);
    if (data === undefined || data.texture == null || !!data.isPacked === packed) return t;
    const c = packed ? this.backend.packTensor(t) : this.backend.unpackTensor(t);
    into.push(c);
    return c;
  }

  private okTensor(packed: boolean): TensorInfo | null {
    if (this.stepOk === null) return null;
    if (this.okInput === null) this.okInput = this.input(this.stepOk, packed, this.converted);
    return this.okInput;
  }

  supports(call: PhaseCall): boolean {
    return callCount(call) === undefined; // a per-tensor mean (caution) needs a reduction program: tfjs ops
  }

  /**
   * One program per array the phase writes (each reading only old values), in the phase's order;
   * then every target is assigned its new value.
   */
  run(call: PhaseCall, p: tf.Variable, g: tf.Tensor, slots: tf.Variable[]): void {
    const { phase, sig } = callPart(call);
    const packed = this.packed;
    const ok = this.okTensor(packed);
    const tensors: Record<string, tf.Tensor> = Object.fromEntries([p, g, ...slots].map((t, i) => [sig.arrays[i]!, t]));
    const local: TensorInfo[] = [];
    const inputs: Record<string, TensorInfo> = {};
    const input = (name: string): TensorInfo => (inputs[name] ??= this.input(tensors[name]!, packed, local));
    const scalars = { ...call.scalars, epsilon: webglEpsilon(call.scalars['epsilon'] ?? 0) };
    // uniforms hold finite float32: an infinite clip bound becomes the largest finite one
    const values = uniformArgs(sig, scalars).map((x) => Math.max(-FLOAT32_MAX, Math.min(FLOAT32_MAX, x)));
    const outputs: tf.Tensor[] = [];
    try {
      for (const [target, value] of phase.writes) {
        const glsl = glslProgram(sig, target, value, packed);
        const program = new FusedProgram(glsl, target, p.shape, packed, ok !== null);
        let info: TensorInfo;
        try {
          info = this.backend.runWebGLProgram(
            program,
            [...glsl.inputs.map(input), ...(ok !== null ? [ok] : [])],
            'float32',
            glsl.uniforms.map((i) => [values[i]!]),
          );
        } catch (e) {
          // programs are generated (a user's rule among them): say which, before any of this phase's writes
          throw new Error(
            `adopt-optim webgl: the generated program of ${call.plan.key} (${call.phase}, the new ${target}) ` +
              `could not run; this variable was not written: ${(e as Error).message}`,
            { cause: e },
          );
        }
        outputs.push(tf.engine().makeTensorFromTensorInfo(info));
      }
    } finally {
      for (const t of local) this.backend.disposeIntermediateTensorInfo(t);
    }
    // every program has read the old values: now the targets take the new ones
    phase.writes.forEach(([target], i) => (tensors[target] as tf.Variable).assign(outputs[i]!));
    tf.dispose(outputs);
  }

  /** One flag per gradient: its count of NaN / ±Infinity elements (§6.3), stacked. */
  gradientFlags(gs: tf.Tensor[]): tf.Tensor {
    return stackAll(gs.map((g) => this.gradientFlag(g)));
  }

  /**
   * Count of NaN / ±Infinity elements of g, one program: read packed where g is (or will be
   * uploaded) packed and of rank 1 or 2 (packedGradientFlag); otherwise over g viewed as 1-D and
   * unpacked (a packed g of higher rank is unpacked first). Each output texel scans FLAG_CHUNK
   * elements; several texels are summed.
   */
  private gradientFlag(g: tf.Tensor): tf.Tensor {
    const data = this.backend.texData.get(g.dataId);
    const packed = this.packed && (g.rank === 1 || g.rank === 2) && (data?.texture == null || data.isPacked === true);
    if (packed) return this.packedGradientFlag(g);
    const local: TensorInfo[] = [];
    const input = this.input(g, false, local);
    const n = g.size;
    const parts = Math.ceil(n / FLAG_CHUNK);
    try {
      const program: GPGPUProgram = {
        variableNames: ['G'],
        outputShape: [parts],
        userCode: `
          void main() {
            int start = getOutputCoords() * ${FLAG_CHUNK};
            int end = min(start + ${FLAG_CHUNK}, ${n});
            float bad = 0.0;
            for (int i = start; i < end; i++) {
              // exponent bits >= 127 + 63: |g| >= 2^63, NaN or ±Infinity (GRADIENT_LIMIT; immune to fast-math isnan folding)
              if ((floatBitsToUint(getG(i)) & 0x7f800000u) >= 0x5f000000u) bad += 1.0;
            }
            setOutput(bad);
          }
        `,
      };
      const info = this.backend.runWebGLProgram(
        program,
        [{ dataId: input.dataId, shape: [n], dtype: 'float32' }],
        'float32',
      );
      const counts = tf.engine().makeTensorFromTensorInfo(info);
      if (parts === 1) return tf.reshape(counts, []);
      return tf.tidy(() => tf.sum(counts));
    } finally {
      for (const t of local) this.backend.disposeIntermediateTensorInfo(t);
    }
  }

  /**
   * The same count over a packed 1-D or 2-D g, read texel by texel as tfjs's packed programs lay
   * them out (x: (r, c), y: (r, c + 1), z: (r + 1, c), w: (r + 1, c + 1); 1-D: x, y), skipping the
   * lanes past the edge, whose contents are whatever the producing program left there. Saves the
   * unpack of the gradient (a program per variable).
   */
  private packedGradientFlag(g: tf.Tensor): tf.Tensor {
    const [rows, cols] = g.rank === 1 ? [1, g.shape[0]!] : [g.shape[0]!, g.shape[1]!];
    const blockCols = Math.ceil(cols / 2);
    const texels = Math.ceil(rows / 2) * blockCols;
    const chunk = FLAG_CHUNK / 4;
    const parts = Math.ceil(texels / chunk);
    const read =
      g.rank === 1
        ? `int col = t * 2; vec4 x = getG(col);
         if (adoptNonFinite(x.x)) bad += 1.0;
         if (col + 1 < ${cols} && adoptNonFinite(x.y)) bad += 1.0;`
        : `int row = (t / ${blockCols}) * 2; int col = (t - (t / ${blockCols}) * ${blockCols}) * 2; vec4 x = getG(row, col);
         bool right = col + 1 < ${cols}; bool below = row + 1 < ${rows};
         if (adoptNonFinite(x.x)) bad += 1.0;
         if (right && adoptNonFinite(x.y)) bad += 1.0;
         if (below && adoptNonFinite(x.z)) bad += 1.0;
         if (right && below && adoptNonFinite(x.w)) bad += 1.0;`;
    const program: GPGPUProgram = {
      variableNames: ['G'],
      outputShape: [parts],
      packedInputs: true,
      userCode: `
        // exponent bits >= 127 + 63: |v| >= 2^63, NaN or ±Infinity (GRADIENT_LIMIT; immune to fast-math isnan folding)
        bool adoptNonFinite(float v) { return (floatBitsToUint(v) & 0x7f800000u) >= 0x5f000000u; }
        void main() {
          int start = getOutputCoords() * ${chunk};
          int end = min(start + ${chunk}, ${texels});
          float bad = 0.0;
          for (int t = start; t < end; t++) {
            ${read}
          }
          setOutput(bad);
        }
      `,
    };
    const info = this.backend.runWebGLProgram(program, [g], 'float32');
    const counts = tf.engine().makeTensorFromTensorInfo(info);
    if (parts === 1) return tf.reshape(counts, []);
    return tf.tidy(() => tf.sum(counts));
  }

  allFinite(): boolean {
    throw new Error('adopt-optim: the webgl kernels check gradients on the GPU (docs/ALGORITHM.md §6.3)');
  }
}

const byBackend = new WeakMap<object, WebGLFused | null>();

export function webglFusedKernels(backend: object): GpuFusedKernels | null {
  let k = byBackend.get(backend);
  if (k === undefined) {
    const b = backend as Partial<WebGLBackendInternals>;
    const usable =
      typeof b.runWebGLProgram === 'function' &&
      typeof b.texData?.get === 'function' &&
      typeof b.packTensor === 'function' &&
      typeof b.unpackTensor === 'function' &&
      typeof b.disposeIntermediateTensorInfo === 'function' &&
      typeof tf.engine().makeTensorFromTensorInfo === 'function';
    k = usable ? new WebGLFused(b as WebGLBackendInternals) : null;
    byBackend.set(backend, k);
  }
  return k;
}
