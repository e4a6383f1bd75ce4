/**
 * Where the core's optimizers reach the threaded step (./threaded_state.ts): a slot that `useThreads`
 * (src/core/threads.ts) fills, empty until then, so that a bundle that never turns threads on carries
 * none of the threading code.
 */
import type { PhaseCall } from '../codegen/modules.js';
import type { LowBitFormat } from '../formats/state_formats.js';
import type { LowBitMoments } from './lowbit_arrays.js';

/** The threaded step's entry points; each answers null / false / undefined where it does not apply. */
export interface ThreadHooks {
  /** Float32 state slots in a shared memory, where threads are on and the array is large enough. */
  slots(length: number, count: number): Float32Array[] | null;
  /** Low-bit moments in a shared memory, likewise. */
  moments(format: LowBitFormat, length: number): LowBitMoments | null;
  /** Runs a float32 phase across the threads; false where the slots are not threaded state. */
  float32(call: PhaseCall, p: Float32Array, g: Float32Array, slots: Float32Array[]): boolean;
  /** Runs a low-bit phase across the threads; false where the moments are not threaded state. */
  lowBit(call: PhaseCall, p: Float32Array, g: Float32Array, s: LowBitMoments, seed: number): boolean;
  /** Whether the array is a threaded state's (its step runs through `float32` / `lowBit`, not a table call). */
  owns(array: Float32Array | undefined): boolean;
  /** Throws for params or grads in a threaded state's memory other than as its threadBuffers (before a step). */
  checkPlacement(p: Float32Array, g: Float32Array): void;
  /** Whether every gradient is finite, across the threads; undefined where g is not a threaded block's. */
  allFinite(g: Float32Array): boolean | undefined;
}

export const threadHooks: { current: ThreadHooks | null } = { current: null };
