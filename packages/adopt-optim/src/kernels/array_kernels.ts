/**
 * The fused kernels on JS Float32Arrays (the framework-free core and tfjs's cpu backend):
 * chunks of the arrays are copied into a small WebAssembly memory of ours, updated by the SIMD
 * kernel while they sit in cache, and copied back. Nothing is allocated per step beyond
 * subarray views; the memory is sized once and never grows.
 *
 * Optimizer state made by `allocateResidentState` lives in a WebAssembly memory of its own
 * (fixed size, so its Float32Array views never detach); the kernel then updates m and v in
 * place and only p and g travel through chunks: 12 bytes copied per parameter instead of 28.
 */
import { cautionFactors, type AdamKernelArgs, type AdoptKernelArgs } from './args.js';
import { instantiateKernels, type KernelExports } from './wasm_kernels.js';

/** Elements per chunk: 5 buffers x 16 K floats = 320 kB, resident in L2. */
const CHUNK = 16384;
const BYTES = CHUNK * 4;

/** Arrays of at least this length get resident state; smaller ones are not worth a memory. */
export const RESIDENT_MIN_LENGTH = 65536;

/** A WebAssembly memory holding one variable's state slots, with scratch for a chunk of p and g. */
interface ResidentBlock {
  k: KernelExports;
  /** Byte offset of each slot array in the memory. */
  offsets: Map<Float32Array, number>;
  scratch: [Float32Array, Float32Array];
}

const residentBlocks = new WeakMap<ArrayBufferLike, ResidentBlock>();

/**
 * `count` zeroed Float32Arrays of `length` that share a private WebAssembly memory, or null
 * (too short, no SIMD, or no address space left for another memory).
 */
export function allocateResidentState(length: number, count: number): Float32Array[] | null {
  if (length < RESIDENT_MIN_LENGTH) return null;
  const padded = Math.ceil(length / 4) * 4; // 16-byte aligned slots
  const bytes = 2 * BYTES + count * padded * 4;
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536), maximum: Math.ceil(bytes / 65536) });
  } catch {
    return null;
  }
  const k = instantiateKernels(memory);
  if (k === null) return null;
  const offsets = new Map<Float32Array, number>();
  const slots = Array.from({ length: count }, (_, i) => {
    const offset = 2 * BYTES + i * padded * 4;
    const view = new Float32Array(memory.buffer, offset, length);
    offsets.set(view, offset);
    return view;
  });
  const scratch: [Float32Array, Float32Array] = [
    new Float32Array(memory.buffer, 0, CHUNK), new Float32Array(memory.buffer, BYTES, CHUNK),
  ];
  residentBlocks.set(memory.buffer, { k, offsets, scratch });
  return slots;
}

/** The block holding all of `slots` in place, if they were made by allocateResidentState. */
function residentBlock(slots: Float32Array[]): ResidentBlock | undefined {
  const block = residentBlocks.get(slots[0]!.buffer);
  return block !== undefined && slots.every((s) => block.offsets.has(s)) ? block : undefined;
}

/** Runs kernel(n, start) with p and g copied through the block's scratch; the new p goes to pOut. */
function residentChunked(
  block: ResidentBlock, p: Float32Array, g: Float32Array, pOut: Float32Array | null,
  kernel: (n: number, start: number) => void,
): void {
  const [sp, sg] = block.scratch;
  for (let start = 0; start < p.length; start += CHUNK) {
    const n = Math.min(CHUNK, p.length - start);
    sp.set(p.subarray(start, start + n));
    sg.set(g.subarray(start, start + n));
    kernel(n, start);
    if (pOut !== null) pOut.set(sp.subarray(0, n), start);
  }
}

/** Output arrays of a step that writes new values beside the old ones instead of over them. */
export interface StepOutputs {
  p?: Float32Array;
  m?: Float32Array;
  v?: Float32Array;
  vmax?: Float32Array;
}

/**
 * Throws unless every array has `length` elements: the kernels write `length` elements into each,
 * so a shorter one (state of another shape) would be overrun. Checked before anything is written.
 */
function checkLengths(kernel: string, length: number, arrays: Record<string, Float32Array | null | undefined>): void {
  for (const name in arrays) {
    const array = arrays[name];
    if (array != null && array.length !== length) {
      throw new RangeError(
        `adopt-optim ${kernel}: buffer "${name}" holds ${array.length} elements but the step writes ${length}; nothing was written.`,
      );
    }
  }
}

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

  /**
   * Runs `kernel(n)` over chunks; `arrays` are copied in, `outputs` (a subset, by index) back,
   * into `targets[i]` where given, else over the input.
   */
  private chunked(
    arrays: Float32Array[], outputs: number[], kernel: (n: number) => void,
    targets: (Float32Array | undefined)[] = [],
  ): void {
    const length = arrays[0]!.length;
    const regions = this.regions;
    for (let start = 0; start < length; start += CHUNK) {
      const n = Math.min(CHUNK, length - start);
      for (let i = 0; i < arrays.length; i++) regions[i]!.set(arrays[i]!.subarray(start, start + n));
      kernel(n);
      for (const i of outputs) (targets[i] ?? arrays[i]!).set(regions[i]!.subarray(0, n), start);
    }
  }

  /** The new v goes to `out.v` where given (then `v` is only read), else over `v`. */
  adoptInit(p: Float32Array, g: Float32Array, v: Float32Array, a: AdoptKernelArgs, out: StepOutputs = {}): void {
    checkLengths('adoptInit', p.length, { g, v, 'out.v': out.v });
    const block = out.v === undefined ? residentBlock([v]) : undefined;
    if (block !== undefined) {
      const vo = block.offsets.get(v)!;
      residentChunked(block, p, g, null, (n, start) => block.k.adopt_init(0, BYTES, vo + 4 * start, n, a.sign, a.coupledDecay));
      return;
    }
    this.chunked([p, g, v], [2], (n) => this.k.adopt_init(0, BYTES, 2 * BYTES, n, a.sign, a.coupledDecay), [, , out.v]);
  }

  /**
   * One ADOPT step. Each new array goes to its `out` entry where given (the input is then only
   * read: tfjs's cpu backend gets new parameters beside the old, see tfjs_fused.ts), else over it.
   */
  adoptStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, a: AdoptKernelArgs, out: StepOutputs = {}): void {
    checkLengths('adoptStep', p.length, { g, m, v, 'out.p': out.p, 'out.m': out.m, 'out.v': out.v });
    const block = out.m === undefined && out.v === undefined ? residentBlock([m, v]) : undefined;
    const nest = a.nesterov ? 1 : 0;
    if (block !== undefined) {
      const mo = block.offsets.get(m)!;
      const vo = block.offsets.get(v)!;
      let count = 0; // caution's first pass (§10.2): nothing written
      if (a.caution) {
        residentChunked(block, p, g, null, (n, start) => {
          count += block.k.adopt_caution_count(0, BYTES, mo + 4 * start, vo + 4 * start, n, a.beta1, a.oneMinusBeta1,
            a.epsilon, a.clip, a.sign, a.coupledDecay);
        });
      }
      const [hi, lo] = cautionFactors(a.caution, count, p.length);
      residentChunked(block, p, g, out.p ?? p, (n, start) => block.k.adopt_step(
        0, BYTES, mo + 4 * start, vo + 4 * start, n, a.lr, a.beta1, a.oneMinusBeta1, a.beta2, a.oneMinusBeta2,
        a.epsilon, a.clip, a.sign, a.coupledDecay, a.decay, nest, hi, lo));
      return;
    }
    let count = 0;
    if (a.caution) {
      this.chunked([p, g, m, v], [], (n) => {
        count += this.k.adopt_caution_count(0, BYTES, 2 * BYTES, 3 * BYTES, n, a.beta1, a.oneMinusBeta1,
          a.epsilon, a.clip, a.sign, a.coupledDecay);
      });
    }
    const [hi, lo] = cautionFactors(a.caution, count, p.length);
    this.chunked([p, g, m, v], [0, 2, 3], (n) => this.k.adopt_step(
      0, BYTES, 2 * BYTES, 3 * BYTES, n, a.lr, a.beta1, a.oneMinusBeta1, a.beta2, a.oneMinusBeta2,
      a.epsilon, a.clip, a.sign, a.coupledDecay, a.decay, nest, hi, lo), [out.p, , out.m, out.v]);
  }

  /** One Adam / AMSGrad step; `out` as in adoptStep. */
  adamStep(
    p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, vmax: Float32Array | null,
    a: AdamKernelArgs, out: StepOutputs = {},
  ): void {
    checkLengths('adamStep', p.length, {
      g, m, v, vmax, 'out.p': out.p, 'out.m': out.m, 'out.v': out.v, 'out.vmax': out.vmax,
    });
    if (a.amsgrad && vmax === null) throw new TypeError('adopt-optim adamStep: amsgrad without a vmax buffer.');
    const inPlaceState = out.m === undefined && out.v === undefined && out.vmax === undefined;
    const block = inPlaceState ? residentBlock(vmax === null ? [m, v] : [m, v, vmax]) : undefined;
    if (block !== undefined) {
      const mo = block.offsets.get(m)!;
      const vo = block.offsets.get(v)!;
      const xo = vmax === null ? 0 : block.offsets.get(vmax)!;
      let count = 0; // caution's first pass (§10.2): nothing written
      if (a.caution) {
        residentChunked(block, p, g, null, (n, start) => {
          count += block.k.adam_caution_count(0, BYTES, mo + 4 * start, n, a.beta1, a.oneMinusBeta1, a.sign, a.coupledDecay);
        });
      }
      const [hi, lo] = cautionFactors(a.caution, count, p.length);
      residentChunked(block, p, g, out.p ?? p, (n, start) => block.k.adam_step(
        0, BYTES, mo + 4 * start, vo + 4 * start, vmax === null ? 0 : xo + 4 * start, n, a.stepSize, a.beta1,
        a.oneMinusBeta1, a.beta2, a.oneMinusBeta2, a.epsilon, a.invSqrtBiasCorrection2, a.sign, a.coupledDecay,
        a.decay, a.amsgrad ? 1 : 0, hi, lo));
      return;
    }
    let count = 0;
    if (a.caution) {
      this.chunked([p, g, m], [], (n) => {
        count += this.k.adam_caution_count(0, BYTES, 2 * BYTES, n, a.beta1, a.oneMinusBeta1, a.sign, a.coupledDecay);
      });
    }
    const [hi, lo] = cautionFactors(a.caution, count, p.length);
    const arrays = vmax === null ? [p, g, m, v] : [p, g, m, v, vmax];
    const outputs = vmax === null ? [0, 2, 3] : [0, 2, 3, 4];
    this.chunked(arrays, outputs, (n) => this.k.adam_step(
      0, BYTES, 2 * BYTES, 3 * BYTES, 4 * BYTES, n, a.stepSize, a.beta1, a.oneMinusBeta1, a.beta2,
      a.oneMinusBeta2, a.epsilon, a.invSqrtBiasCorrection2, a.sign, a.coupledDecay, a.decay, a.amsgrad ? 1 : 0, hi, lo),
    [out.p, undefined, out.m, out.v, out.vmax]);
  }

  allFinite(g: Float32Array): boolean {
    let finite = true;
    this.chunked([g], [], (n) => {
      if (finite && this.k.all_finite(0, n) === 0) finite = false;
    });
    return finite;
  }
}
