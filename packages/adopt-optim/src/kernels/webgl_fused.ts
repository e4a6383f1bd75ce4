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
 * - float16 textures (WEBGL_RENDER_FLOAT32_ENABLED false): epsilon is raised to 1e-4 as in §7.1.
 * - The outputs are new textures: the variable and its slots are assigned them, and the old
 *   textures are released by `assign` (tfjs's texture manager recycles them).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { AdamKernelArgs, AdoptKernelArgs } from './args.js';
import type { GpuFusedKernels } from './gpu_fused.js';

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

type Kind = 'adoptInit' | 'adoptM' | 'adoptV' | 'adoptP' | 'adamM' | 'adamV' | 'adamVmax' | 'adamP';

/** Inputs, uniforms and the value computed, per program kind; T is float or vec4. */
const KINDS: Record<Kind, { inputs: string[]; uniforms: string[]; body: string; old: string }> = {
  // §2.3: v = g'², nothing else
  adoptInit: { inputs: ['p', 'g', 'v'], uniforms: ['sgn', 'wd'], old: 'v', body: 'T gg = preparedGrad(); return gg * gg;' },
  // §2.4: m = b1 m + (1 - b1) clip(g' / max(sqrt(v), eps), c)
  adoptM: {
    inputs: ['p', 'g', 'm', 'v'], uniforms: ['sgn', 'wd', 'eps', 'clipC', 'b1', 'ob1'], old: 'm',
    body: 'T n = clamp(preparedGrad() / max(sqrt(getVAtOutCoords()), eps), -clipC, clipC); return getMAtOutCoords() * b1 + n * ob1;',
  },
  adoptV: {
    inputs: ['p', 'g', 'v'], uniforms: ['sgn', 'wd', 'b2', 'ob2'], old: 'v',
    body: 'T gg = preparedGrad(); return getVAtOutCoords() * b2 + (gg * gg) * ob2;',
  },
  adoptP: {
    inputs: ['p', 'g', 'm', 'v'], uniforms: ['sgn', 'wd', 'eps', 'clipC', 'b1', 'ob1', 'lr', 'decay'], old: 'p',
    body: 'T n = clamp(preparedGrad() / max(sqrt(getVAtOutCoords()), eps), -clipC, clipC); T m1 = getMAtOutCoords() * b1 + n * ob1;' +
      ' return getPAtOutCoords() * decay - m1 * lr;',
  },
  // §4.1: m = b1 m + (1 - b1) g', v = b2 v + (1 - b2) g'², vmax = max(vmax, v) (§4.3)
  adamM: { inputs: ['p', 'g', 'm'], uniforms: ['sgn', 'wd', 'b1', 'ob1'], old: 'm', body: 'return getMAtOutCoords() * b1 + preparedGrad() * ob1;' },
  adamV: {
    inputs: ['p', 'g', 'v'], uniforms: ['sgn', 'wd', 'b2', 'ob2'], old: 'v',
    body: 'T gg = preparedGrad(); return getVAtOutCoords() * b2 + (gg * gg) * ob2;',
  },
  adamVmax: {
    inputs: ['p', 'g', 'v', 'vmax'], uniforms: ['sgn', 'wd', 'b2', 'ob2'], old: 'vmax',
    body: 'T gg = preparedGrad(); return max(getVmaxAtOutCoords(), getVAtOutCoords() * b2 + (gg * gg) * ob2);',
  },
  // p = decay p - (m / (sqrt(v̂) / sqrt(1 - b2^t) + eps)) * lr / (1 - b1^t), v̂ = v or vmax
  adamP: {
    inputs: ['p', 'g', 'm', 'v', 'vmax'], uniforms: ['sgn', 'wd', 'b1', 'ob1', 'b2', 'ob2', 'eps', 'sqrtBc2', 'stepSize', 'decay'], old: 'p',
    body: 'T gg = preparedGrad(); T m1 = getMAtOutCoords() * b1 + gg * ob1; T v1 = getVAtOutCoords() * b2 + (gg * gg) * ob2;' +
      ' VMAX return getPAtOutCoords() * decay - (m1 / (sqrt(v1) / sqrtBc2 + eps)) * stepSize;',
  },
};

function capitalized(name: string): string {
  return name[0]!.toUpperCase() + name.slice(1);
}

class FusedProgram implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;
  packedInputs: boolean;
  packedOutput: boolean;
  enableShapeUniforms: boolean;
  customUniforms: { name: string; type: 'float' }[];

  constructor(kind: Kind, shape: number[], packed: boolean, guarded: boolean, amsgrad: boolean) {
    const k = KINDS[kind];
    const inputs = k.inputs.filter((n) => n !== 'vmax' || amsgrad || kind === 'adamVmax');
    this.variableNames = [...inputs.map(capitalized), ...(guarded ? ['Ok'] : [])];
    this.outputShape = shape;
    this.packedInputs = packed;
    this.packedOutput = packed;
    this.enableShapeUniforms = tf.env().getBool('WEBGL_USE_SHAPES_UNIFORMS') && shape.length <= 4;
    this.customUniforms = k.uniforms.map((name) => ({ name, type: 'float' as const }));
    const T = packed ? 'vec4' : 'float';
    const ok = guarded ? (packed ? 'getOk().x > 0.5' : 'getOk() > 0.5') : 'true';
    const body = k.body.replace('VMAX', amsgrad ? 'v1 = max(getVmaxAtOutCoords(), v1);' : '');
    this.userCode = `
      #define T ${T}
      // the prepared gradient g' = sign * g + wd * p (§2.2, §3.1, §3.3)
      T preparedGrad() { return getGAtOutCoords() * sgn + getPAtOutCoords() * wd; }
      T fusedUpdate() { ${body} }
      void main() {
        bool ok = ${ok};
        setOutput(ok ? fusedUpdate() : get${capitalized(k.old)}AtOutCoords());
      }
    `;
  }
}

class WebGLFused implements GpuFusedKernels {
  private stepOk: tf.Tensor | null = null;
  /** `stepOk` converted to this step's texture layout, made on first use, released by endStep. */
  private okInput: TensorInfo | null = null;
  private converted: TensorInfo[] = [];

  constructor(private readonly backend: WebGLBackendInternals) {}

  accepts(tensors: tf.Tensor[]): boolean {
    return tensors.every((t) => t.dtype === 'float32' && t.size > 0 && !t.isDisposed);
  }

  beginStep(ok: tf.Tensor | null): void {
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

  private epsilon(epsilon: number): number {
    return tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED') ? epsilon : Math.max(epsilon, 1e-4); // §7.1
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

  /** Runs the programs of `kinds` (in order) and assigns each output to its target. */
  private run(
    named: Record<string, tf.Tensor>, plan: [Kind, tf.Variable][], uniforms: Record<string, number>, amsgrad: boolean,
  ): void {
    const packed = this.packed;
    const ok = this.okTensor(packed);
    const local: TensorInfo[] = [];
    const inputs: Record<string, TensorInfo> = {};
    for (const [name, t] of Object.entries(named)) inputs[name] = this.input(t, packed, local);
    const shape = named['p']!.shape;
    const outputs: tf.Tensor[] = [];
    try {
      for (const [kind] of plan) {
        const program = new FusedProgram(kind, shape, packed, ok !== null, amsgrad);
        const names = KINDS[kind].inputs.filter((n) => n !== 'vmax' || amsgrad || kind === 'adamVmax');
        const info = this.backend.runWebGLProgram(
          program, [...names.map((n) => inputs[n]!), ...(ok !== null ? [ok] : [])], 'float32',
          program.customUniforms.map((u) => [uniforms[u.name]!]),
        );
        outputs.push(tf.engine().makeTensorFromTensorInfo(info));
      }
    } finally {
      for (const t of local) this.backend.disposeIntermediateTensorInfo(t);
    }
    // every program has read the old values: now the targets take the new ones
    plan.forEach(([, target], i) => target.assign(outputs[i]!));
    tf.dispose(outputs);
  }

  adoptInit(p: tf.Variable, g: tf.Tensor, v: tf.Variable, a: AdoptKernelArgs): void {
    this.run({ p, g, v }, [['adoptInit', v]], { sgn: a.sign, wd: a.coupledDecay }, false);
  }

  adoptStep(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, a: AdoptKernelArgs): void {
    this.run({ p, g, m, v }, [['adoptM', m], ['adoptV', v], ['adoptP', p]], {
      sgn: a.sign, wd: a.coupledDecay, eps: this.epsilon(a.epsilon), clipC: Math.min(a.clip, FLOAT32_MAX),
      b1: a.beta1, ob1: a.oneMinusBeta1, b2: a.beta2, ob2: a.oneMinusBeta2, lr: a.lr, decay: a.decay,
    }, false);
  }

  adamStep(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, vmax: tf.Variable | null, a: AdamKernelArgs): void {
    const plan: [Kind, tf.Variable][] = [['adamM', m], ['adamV', v]];
    if (vmax !== null) plan.push(['adamVmax', vmax]);
    plan.push(['adamP', p]);
    this.run({ p, g, m, v, ...(vmax !== null ? { vmax } : {}) }, plan, {
      sgn: a.sign, wd: a.coupledDecay, b1: a.beta1, ob1: a.oneMinusBeta1, b2: a.beta2, ob2: a.oneMinusBeta2,
      eps: this.epsilon(a.epsilon), sqrtBc2: 1 / a.invSqrtBiasCorrection2, stepSize: a.stepSize, decay: a.decay,
    }, vmax !== null);
  }

  /** One flag per gradient: its count of NaN / ±Infinity elements (§6.3), stacked. */
  gradientFlags(gs: tf.Tensor[]): tf.Tensor {
    return tf.stack(gs.map((g) => this.gradientFlag(g)));
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
              // exponent bits all ones: NaN or ±Infinity (immune to fast-math isnan folding)
              if ((floatBitsToUint(getG(i)) & 0x7f800000u) == 0x7f800000u) bad += 1.0;
            }
            setOutput(bad);
          }
        `,
      };
      const info = this.backend.runWebGLProgram(program, [{ dataId: input.dataId, shape: [n], dtype: 'float32' }], 'float32');
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
    const read = g.rank === 1
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
        // exponent bits all ones: NaN or ±Infinity (immune to fast-math isnan folding)
        bool adoptNonFinite(float v) { return (floatBitsToUint(v) & 0x7f800000u) == 0x7f800000u; }
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
    const usable = typeof b.runWebGLProgram === 'function' && typeof b.texData?.get === 'function' &&
      typeof b.packTensor === 'function' && typeof b.unpackTensor === 'function' &&
      typeof b.disposeIntermediateTensorInfo === 'function' && typeof tf.engine().makeTensorFromTensorInfo === 'function';
    k = usable ? new WebGLFused(b as WebGLBackendInternals) : null;
    byBackend.set(backend, k);
  }
  return k;
}
