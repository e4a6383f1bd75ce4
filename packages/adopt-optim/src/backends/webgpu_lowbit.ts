/**
 * Low-bit state (docs/ALGORITHM.md §11, §12) on tfjs's webgpu backend: the codes and scales of one
 * variable as four tfjs tensors in GPU buffers — the codes packed in int32 words (the bytes of
 * §11.1 / §12.1: the same bytes the WebAssembly kernels keep), the scales float32 — updated in
 * place by one dispatch per variable (src/codegen/wgsl_lowbit.ts via webgpu_fused.ts). They are
 * state tensors of the optimizer (counted in `tf.memory()`, made on a variable's first step,
 * disposed with the optimizer); `read()` reads them back asynchronously for getWeights, and `views()`
 * hands over the copy that read left, to move the state to another backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LowBitMoments } from '../kernels/lowbit_arrays.js';
import { blockCount, codeBytes, paddedLength, scaleCount, type LowBitFormat } from '../formats/state_formats.js';
import { hasCpuCopy } from './webgpu_moves.js';

/** `held` scales: those of `from`, zeros after them. */
function scalesOf(held: number, from?: Float32Array): Float32Array {
  const out = new Float32Array(held);
  if (from !== undefined) out.set(from.subarray(0, held));
  return out;
}

export class GpuLowBitMoments {
  /** qm, qv (int32 words of codes), mScale, vScale (float32). */
  readonly tensors: readonly [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  readonly padded: number;
  readonly words: number;
  /** Blocks (workgroups' unit of work) and scales per moment (one per block, or none: then one unused). */
  readonly blocks: number;
  readonly scales: number;
  private live = true;

  /** Zeroed codes for `length` elements, or the codes and scales of `from` (same format and length) uploaded. */
  constructor(
    readonly length: number,
    readonly format: LowBitFormat,
    from?: LowBitMoments,
  ) {
    this.padded = paddedLength(format, length);
    this.words = codeBytes(format, this.padded) / 4;
    this.blocks = blockCount(format, this.padded);
    this.scales = scaleCount(format, this.padded);
    const held = Math.max(1, this.scales); // a storage buffer is never empty
    const words = (codes?: Int8Array | Uint8Array) => {
      const out = new Int32Array(this.words);
      if (codes !== undefined)
        new Uint8Array(out.buffer).set(new Uint8Array(codes.buffer, codes.byteOffset, 4 * this.words));
      return out;
    };
    this.tensors = tf.tidy(
      () =>
        [
          tf.keep(tf.tensor1d(words(from?.qm), 'int32')),
          tf.keep(tf.tensor1d(words(from?.qv), 'int32')),
          tf.keep(tf.tensor1d(scalesOf(held, from?.mScale), 'float32')),
          tf.keep(tf.tensor1d(scalesOf(held, from?.vScale), 'float32')),
        ] as const,
    );
  }

  get freed(): boolean {
    return !this.live;
  }

  /** Bytes of GPU memory the codes and scales take. */
  get bytes(): number {
    return 2 * 4 * this.words + 2 * 4 * this.scales;
  }

  /**
   * The codes and scales as plain typed arrays, for moving the state to another backend at a step,
   * only where each tensor keeps a CPU copy from an asynchronous read since its last write
   * (getWeights makes one); null otherwise. Never a synchronous read of the GPU: tfjs's webgpu
   * backend returned wrong values for one in Chromium and has none in Node (./webgpu_moves.ts).
   */
  views(): LowBitMoments | null {
    if (!this.live) throw new Error('adopt-optim: the low-bit state on the GPU was freed.');
    if (this.tensors.some((t) => !hasCpuCopy(t))) return null;
    return this.fromValues(this.tensors.map((t) => t.dataSync()));
  }

  /** The codes and scales read back asynchronously (getWeights); tfjs keeps a CPU copy of each until the next step. */
  async read(): Promise<LowBitMoments> {
    if (!this.live) throw new Error('adopt-optim: the low-bit state on the GPU was freed.');
    return this.fromValues(await Promise.all(this.tensors.map((t) => t.data())));
  }

  private fromValues([qm, qv, sm, sv]: ArrayLike<number>[]): LowBitMoments {
    const bytes = (w: ArrayLike<number>) => new Uint8Array(Int32Array.from(w).buffer);
    const scales = (x: ArrayLike<number>) => Float32Array.from(x).slice(0, this.scales);
    const rest = { qv: bytes(qv!), mScale: scales(sm!), vScale: scales(sv!) };
    return this.format.bits === 8 ? { qm: new Int8Array(bytes(qm!).buffer), ...rest } : { qm: bytes(qm!), ...rest };
  }

  free(): void {
    if (!this.live) return;
    this.live = false;
    tf.dispose([...this.tensors]);
  }
}
