/**
 * The fused kernels on JS Float32Arrays (the framework-free core and tfjs's cpu backend):
 * chunks of the arrays are copied into a small WebAssembly memory of ours, updated by the SIMD
 * kernel while they sit in cache, and copied back. Nothing is allocated per step beyond
 * subarray views; the memory is sized once and never grows.
 */
import type { AdamKernelArgs, AdoptKernelArgs } from './args.js';
import { instantiateKernels, type KernelExports } from './wasm_kernels.js';

/** Elements per chunk: 5 buffers x 16 K floats = 320 kB, resident in L2. */
const CHUNK = 16384;
const BYTES = CHUNK * 4;

export class ArrayKernels {
  private static instance: ArrayKernels | null | undefined;
  private readonly k: KernelExports;
  private readonly regions: Float32Array[];

  private constructor(k: KernelExports, memory: WebAssembly.Memory) {
    this.k = k;
    this.regions = [0, 1, 2, 3, 4].map((i) => new Float32Array(memory.buffer, i * BYTES, CHUNK));
  }

  /** The shared instance, or null where WebAssembly SIMD is unavailable. */
  static get(): ArrayKernels | null {
    if (ArrayKernels.instance === undefined) {
      const memory = new WebAssembly.Memory({ initial: Math.ceil((5 * BYTES) / 65536) });
      const k = instantiateKernels(memory);
      ArrayKernels.instance = k === null ? null : new ArrayKernels(k, memory);
    }
    return ArrayKernels.instance;
  }

  /** Runs `kernel(n)` over chunks; `inputs` are copied in, `outputs` (a subset, by index) back. */
  private chunked(arrays: Float32Array[], outputs: number[], kernel: (n: number) => void): void {
    const length = arrays[0]!.length;
    const regions = this.regions;
    for (let start = 0; start < length; start += CHUNK) {
      const n = Math.min(CHUNK, length - start);
      for (let i = 0; i < arrays.length; i++) regions[i]!.set(arrays[i]!.subarray(start, start + n));
      kernel(n);
      for (const i of outputs) arrays[i]!.set(regions[i]!.subarray(0, n), start);
    }
  }

  adoptInit(p: Float32Array, g: Float32Array, v: Float32Array, a: AdoptKernelArgs): void {
    this.chunked([p, g, v], [2], (n) => this.k.adopt_init(0, BYTES, 2 * BYTES, n, a.sign, a.coupledDecay));
  }

  adoptStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, a: AdoptKernelArgs): void {
    this.chunked([p, g, m, v], [0, 2, 3], (n) => this.k.adopt_step(
      0, BYTES, 2 * BYTES, 3 * BYTES, n, a.lr, a.beta1, a.oneMinusBeta1, a.beta2, a.oneMinusBeta2,
      a.epsilon, a.clip, a.sign, a.coupledDecay, a.decay));
  }

  adamStep(
    p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, vmax: Float32Array | null,
    a: AdamKernelArgs,
  ): void {
    const arrays = vmax === null ? [p, g, m, v] : [p, g, m, v, vmax];
    const outputs = vmax === null ? [0, 2, 3] : [0, 2, 3, 4];
    this.chunked(arrays, outputs, (n) => this.k.adam_step(
      0, BYTES, 2 * BYTES, 3 * BYTES, 4 * BYTES, n, a.stepSize, a.beta1, a.oneMinusBeta1, a.beta2,
      a.oneMinusBeta2, a.epsilon, a.invSqrtBiasCorrection2, a.sign, a.coupledDecay, a.decay, a.amsgrad ? 1 : 0));
  }

  allFinite(g: Float32Array): boolean {
    let finite = true;
    this.chunked([g], [], (n) => {
      if (finite && this.k.all_finite(0, n) === 0) finite = false;
    });
    return finite;
  }
}
