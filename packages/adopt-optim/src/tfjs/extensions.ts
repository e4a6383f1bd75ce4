/**
 * The optional pieces of the TensorFlow.js optimizers, filled in when their entry points are imported (as tfjs
 * backends register themselves), so that `import { adopt }` alone stays small: `import 'adopt-optim/lowbit'`
 * (src/lowbit/index.ts) brings the low-bit state store (int8, int4, bfloat16), `import 'adopt-optim/gpu'`
 * (src/gpu/index.ts) the GPU non-finite check and first steps (its kernels fill src/dispatch.ts's table).
 * Asking for a missing piece says which import brings it, before anything changes.
 */
import type { NonFinitePolicy } from '../hyperparams.js';
import type { LowBitDtype, LowBitFormat } from '../formats/state_formats.js';
import { OptimizerArgumentError } from '../validate.js';
import type { LowBitStore } from './lowbit_store.js';
import type { setWeightsWithLowBit } from './lowbit_weights.js';
import type { GpuFiniteGuard, RollbackTarget } from './gpu_nonfinite.js';
import type { FirstSteps } from './gpu_first_steps.js';

/** What `import 'adopt-optim/lowbit'` registers for the optimizers. */
export interface LowBitPieces {
  /** A store of low-bit moments in this format for the optimizer `owner`. */
  store(owner: string, format: LowBitFormat): LowBitStore;
  /** The dither's seed at a variable's step count (docs/ALGORITHM.md §11.3). */
  stepSeed(step: number): number;
  /** setWeights of an optimizer that may hold low-bit state, or be given low-bit entries. */
  setWeights: typeof setWeightsWithLowBit;
}

/** What `import 'adopt-optim/gpu'` registers for the optimizers (the kernels go to src/dispatch.ts). */
export interface GpuPieces {
  /** The asynchronous non-finite check on the GPU (§6.3). */
  guard(policy: NonFinitePolicy, target: RollbackTarget): GpuFiniteGuard;
  /** First steps awaiting their verdict on the GPU, redone if skipped. */
  firstSteps(): FirstSteps;
}

/** The import that brings low-bit state. */
export const LOWBIT_ENTRY = "import 'adopt-optim/lowbit'";

let lowBitPieces: LowBitPieces | null = null;
let gpuPieces: GpuPieces | null = null;

/**
 * Set on globalThis by every copy of adopt-optim whose low-bit entry point ran: Node may load two copies (the ES
 * module and the CommonJS build), and an entry point imported into one registers nothing in the other.
 */
const LOWBIT_RAN = Symbol.for('adopt-optim: lowbit entry point ran');

/** Called by src/lowbit/index.ts. */
export function registerLowBitPieces(pieces: LowBitPieces): void {
  lowBitPieces = pieces;
  (globalThis as Record<symbol, unknown>)[LOWBIT_RAN] = true;
}

/** ` (...)`: why the import seems missing where another copy of adopt-optim made it; else ''. */
export function lowBitElsewhere(): string {
  if ((globalThis as Record<symbol, unknown>)[LOWBIT_RAN] !== true) return '';
  return (
    ` (${LOWBIT_ENTRY} ran, but into another copy of adopt-optim: Node loads its ES module and its CommonJS ` +
    'build as two copies, so import the entry point the way adopt-optim itself is loaded)'
  );
}

/** Called by src/gpu/index.ts. */
export function registerGpuPieces(pieces: GpuPieces): void {
  gpuPieces = pieces;
}

/** The GPU pieces, or null where `import 'adopt-optim/gpu'` was not made. */
export function gpuPiecesIfLoaded(): GpuPieces | null {
  return gpuPieces;
}

/** The low-bit pieces, or null where `import 'adopt-optim/lowbit'` was not made. */
export function lowBitPiecesIfLoaded(): LowBitPieces | null {
  return lowBitPieces;
}

/** The low-bit pieces for an optimizer asked for `stateDtype`; refused (naming the import) where not loaded. */
export function lowBitPiecesFor(owner: string, dtype: LowBitDtype): LowBitPieces {
  if (lowBitPieces === null) {
    throw new OptimizerArgumentError(
      `${owner}: stateDtype '${dtype}' needs the low-bit state, which comes with ${LOWBIT_ENTRY}: add that ` +
        `import once (beside your tfjs backend import), or use stateDtype 'float32'${lowBitElsewhere()}. ` +
        'Nothing was changed.',
    );
  }
  return lowBitPieces;
}
