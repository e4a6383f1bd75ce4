/**
 * Threads for the core's optimizer step: `useThreads(n)` starts a pool of n - 1 workers (Node's
 * worker_threads, or Web Workers on a cross-origin-isolated page) that step large arrays with the
 * calling thread, each a contiguous range, bit-identical to one thread. The step stays synchronous.
 *
 *   const threads = useThreads(2);
 *   const opt = adopt(1e-3);
 *   const state = opt.init(params);                 // state in a shared WebAssembly memory
 *   const { params: p, grads: g } = threadBuffers(state)!; // step these: no copy in or out
 *   p.set(params);
 *   ... write the gradient into g ...; opt.step(p, g, state);
 *   threads.dispose();                              // or useThreads(1)
 */
import { checkKnownKeys, OptimizerArgumentError } from '../validate.js';
import { threadHooks } from '../kernels/thread_hooks.js';
import { MAX_THREADS, ThreadPool, threadsUnavailable } from '../kernels/thread_pool.js';
import {
  allocateThreadedMoments,
  allocateThreadedSlots,
  blockArrays,
  DEFAULT_MIN_PER_THREAD,
  threadedAllFinite,
  threadedCheckPlacement,
  threadedOwns,
  threadedFloat32Run,
  threadedLowBitRun,
  threading,
} from '../kernels/threaded_state.js';

/** Options of useThreads. */
export interface ThreadOptions {
  /**
   * Elements per thread below which a step uses fewer threads (one below twice this), and arrays
   * shorter than twice this get ordinary, unshared state at `init`. Default 131072 (bench/threads.ts --threshold).
   */
  minPerThread?: number;
}

/** What useThreads returns: the thread count, and `dispose` to stop the workers (back to one thread). */
export interface ThreadSetup {
  /** The thread count asked for (the calling thread included). */
  readonly threads: number;
  /** Terminates the workers (if they are still the ones in use): the step is back on one thread. */
  dispose(): void;
  /**
   * Resolves once the workers have started. In Node they have when useThreads returns; a browser starts them
   * only after the calling thread returns to its event loop, and steps before that run every range on the
   * calling thread (the same result, one thread's speed): `await setup.ready` before the first step.
   */
  readonly ready: Promise<void>;
}

/** Threads the core's step uses now (1: no workers). */
export function threadCount(): number {
  return threading.pool?.threads ?? 1;
}

/**
 * Steps the core's optimizers on `threads` threads (the calling one and `threads - 1` workers) from
 * now on: `init` puts the state of arrays of at least 2 · minPerThread elements in a shared
 * WebAssembly memory, and their `step` splits across the threads. `useThreads(1)` (or `dispose()`)
 * stops the workers; state made while threads were on keeps working on one thread.
 * Throws, changing nothing, for a count that is not an integer from 1 to 64, an unknown option, or where no worker
 * threads can run (no SharedArrayBuffer, a page that is not cross-origin isolated).
 */
export function useThreads(threads: number, options: ThreadOptions = {}): ThreadSetup {
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new OptimizerArgumentError(
      `useThreads: invalid threads ${String(threads)}; expected an integer from 1 to ${MAX_THREADS} (1: no workers).`,
    );
  }
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
    throw new OptimizerArgumentError(
      `useThreads: invalid options ${String(options)}; expected an object such as { minPerThread: 131072 }.`,
    );
  }
  checkKnownKeys('useThreads', options ?? {}, ['minPerThread']); // a typo would otherwise be ignored unseen
  const min = options?.minPerThread ?? DEFAULT_MIN_PER_THREAD;
  if (typeof min !== 'number' || !Number.isInteger(min) || min < 1) {
    throw new OptimizerArgumentError(
      `useThreads: invalid options.minPerThread ${String(min)}; expected an integer >= 1 (elements per thread).`,
    );
  }
  if (threads > 1) {
    const why = threadsUnavailable();
    if (why !== null) throw new OptimizerArgumentError(`useThreads(${threads}): no worker threads here: ${why}.`);
  }
  const pool = threads > 1 ? new ThreadPool(threads) : null;
  threading.pool?.dispose();
  threading.pool = pool;
  threading.minPerThread = min;
  threadHooks.current ??= {
    slots: (length, count) => (large(length) ? allocateThreadedSlots(length, count) : null),
    moments: (format, length) => (large(length) ? allocateThreadedMoments(format, length) : null),
    float32: threadedFloat32Run,
    lowBit: threadedLowBitRun,
    allFinite: threadedAllFinite,
    checkPlacement: threadedCheckPlacement,
    owns: threadedOwns,
  };
  return {
    threads,
    ready: pool?.ready ?? Promise.resolve(),
    dispose() {
      if (threading.pool === pool && pool !== null) {
        pool.dispose();
        threading.pool = null;
      }
    },
  };
}

const large = (length: number) => threading.pool !== null && length >= 2 * threading.minPerThread;

/**
 * The params and grads arrays that live beside a threaded state (made by `init` while threads were
 * on): step these and nothing is copied; the step of other arrays copies them in and p back out on
 * the calling thread. Null for state that is not threaded. A threaded state's arrays are views of a
 * SharedArrayBuffer, which structuredClone shares instead of copying: snapshot them with `slice()`.
 */
export function threadBuffers(state: unknown): { params: Float32Array; grads: Float32Array } | null {
  const s = state as Record<string, unknown> | null;
  const inner = (s?.['adopt'] ?? s?.['adam'] ?? s) as Record<string, unknown> | null | undefined;
  const slots = (inner?.['slots'] ?? inner) as Record<string, unknown> | null | undefined;
  if (slots === null || typeof slots !== 'object') return null;
  for (const v of Object.values(slots)) if (ArrayBuffer.isView(v)) return blockArrays(v);
  return null;
}
