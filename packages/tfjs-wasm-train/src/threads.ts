/**
 * `initWasmThreads()`: starts tfjs's wasm backend on several threads (XNNPACK's pool), in Node and in browsers.
 *
 * tfjs picks its threaded wasm build by itself only in cross-origin-isolated pages, never in Node, and caps the
 * pool at half the logical cores in both (one thread on a 2-core machine). This starts the threaded build with
 * the count asked for (default: every core this process may use, at most tfjs's 8): in Node through a runtime
 * shim (`threads_node.ts`), in a browser by tfjs's own route. Only what runs inside tfjs's wasm uses the threads:
 * XNNPACK's matrix products and convolutions (which our training kernels hand their work to) and tfjs's other
 * multithreaded C++ kernels; the JavaScript loops of our Transpose, Slice, Unpack, SplitV and Sum run on the
 * calling thread.
 */
import { engine, env, setBackend } from '@tensorflow/tfjs-core';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { WASM } from './kernels/backend.js';

/** tfjs 4.22's C++ caps its pool at 8 threads (and emscripten pre-starts 8 workers). */
export const MAX_WASM_THREADS = 8;

export interface WasmThreadsOptions {
  /**
   * Threads in the pool, the calling thread included (1: tfjs's single-threaded build, no workers). Default: the
   * cores this process may use (`os.availableParallelism()` in Node, `navigator.hardwareConcurrency` in
   * browsers), at most 8.
   */
  threads?: number;
  /**
   * When threads cannot start here (no SharedArrayBuffer or shared wasm memory; in browsers, a page that is not
   * cross-origin isolated): `'error'` (default) throws, `'single-thread'` starts the single-threaded build and
   * says why in `reason`.
   */
  fallback?: 'error' | 'single-thread';
}

export interface WasmThreadsInfo {
  /** threads the backend runs with (tfjs's `getThreadsCount()`) */
  threads: number;
  /** worker threads started for them (threads - 1 in Node; 0 with one thread) */
  workers: number;
  /** why fewer threads run than asked for (only with `fallback: 'single-thread'`) */
  reason?: string;
}

type Registry = { registry: Record<string, { wasm?: { PThread?: unknown } } | undefined> };

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** Why threads cannot start here, or undefined when they can. */
export function threadsUnavailable(): string | undefined {
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') {
    return isNode()
      ? 'SharedArrayBuffer is not available in this Node process'
      : 'SharedArrayBuffer is not available: the page must be cross-origin isolated ' +
          '(Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp)';
  }
  if (!isNode() && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) {
    return (
      'the page is not cross-origin isolated (Cross-Origin-Opener-Policy: same-origin, ' +
      'Cross-Origin-Embedder-Policy: require-corp), so wasm memory cannot be shared with workers'
    );
  }
  try {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true } as WebAssembly.MemoryDescriptor);
    if (!(memory.buffer instanceof SharedArrayBuffer)) return 'this WebAssembly engine has no shared memory (threads)';
  } catch {
    return 'this WebAssembly engine has no shared memory (threads)';
  }
  return undefined;
}

async function defaultThreads(): Promise<number> {
  const cores = isNode()
    ? await (await import('./threads_node.js')).nodeCores()
    : ((globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1);
  return Math.max(1, Math.min(MAX_WASM_THREADS, cores));
}

const OPTION_NAMES = ['threads', 'fallback'] as const;

/** Edit distance (insertions, deletions, substitutions), for "did you mean". */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

function checkOptions(options: WasmThreadsOptions): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const got =
      options === null ? 'null' : Array.isArray(options) ? 'an array' : `${typeof options} ${String(options)}`;
    throw new Error(
      `initWasmThreads (tfjs-wasm-train): options must be an object ({ threads: 4, fallback: 'single-thread' }), ` +
        `got ${got}`,
    );
  }
  for (const key of Object.keys(options)) {
    if ((OPTION_NAMES as readonly string[]).includes(key)) continue;
    const near = OPTION_NAMES.find((name) => distance(key.toLowerCase(), name) <= 2);
    throw new Error(
      `initWasmThreads (tfjs-wasm-train): unknown option "${key}";${near ? ` did you mean "${near}"?` : ''} ` +
        `expected ${OPTION_NAMES.join(' or ')}`,
    );
  }
  const { threads, fallback } = options;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= MAX_WASM_THREADS)) {
    throw new Error(
      `initWasmThreads (tfjs-wasm-train): threads must be an integer from 1 to ${MAX_WASM_THREADS} ` +
        `(tfjs's wasm pool holds at most ${MAX_WASM_THREADS}), got ${String(threads)}`,
    );
  }
  if (fallback !== undefined && fallback !== 'error' && fallback !== 'single-thread') {
    throw new Error(
      `initWasmThreads (tfjs-wasm-train): fallback must be 'error' or 'single-thread', got ${String(fallback)}`,
    );
  }
}

async function startSingle(reason?: string): Promise<WasmThreadsInfo> {
  env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  if (!(await setBackend(WASM))) throw new Error('initWasmThreads (tfjs-wasm-train): the wasm backend did not start');
  return reason === undefined ? { threads: 1, workers: 0 } : { threads: 1, workers: 0, reason };
}

/** Starts the threaded build with `threads` threads in a browser: tfjs's own route, without its cores / 2 cap. */
async function startBrowser(threads: number): Promise<boolean> {
  const nav = (globalThis as { navigator?: object }).navigator;
  // tfjs's C++ caps the pool at navigator.hardwareConcurrency / 2 when it starts
  if (nav !== undefined) Object.defineProperty(nav, 'hardwareConcurrency', { value: 2 * threads, configurable: true });
  try {
    return await setBackend(WASM);
  } finally {
    if (nav !== undefined) delete (nav as { hardwareConcurrency?: number }).hardwareConcurrency;
  }
}

/**
 * Starts tfjs's wasm backend with `threads` threads and makes it the current backend (it calls
 * `tf.setBackend('wasm')`). Call it instead of `tf.setBackend('wasm')`, before anything starts the wasm backend
 * (a call to `tf.ready()` or a first op on it would start it single-threaded): once started, the count is fixed
 * for the process, and asking for another count throws. Calling it again with the count in effect does nothing;
 * a call made while another is still starting the backend waits for it first. Unknown options are refused.
 * Results equal a single-threaded run's: XNNPACK splits products by output tiles, each summed in one order.
 */
export async function initWasmThreads(options: WasmThreadsOptions = {}): Promise<WasmThreadsInfo> {
  checkOptions(options);
  // a call made while another is starting the backend waits for it, then answers as for a started backend
  // (two starts at once would each start workers and neither backend would come up)
  while (starting !== undefined) await starting.catch(() => undefined);
  const run = start(options);
  starting = run;
  try {
    return await run;
  } finally {
    if (starting === run) starting = undefined;
  }
}

/** The start in progress, if any. */
let starting: Promise<WasmThreadsInfo> | undefined;

async function start(options: WasmThreadsOptions): Promise<WasmThreadsInfo> {
  const started = (engine() as unknown as Registry).registry[WASM];
  if (started !== undefined) {
    const running = getThreadsCount();
    const asked = options.threads ?? running;
    if (asked !== running) {
      throw new Error(
        `initWasmThreads (tfjs-wasm-train): the wasm backend already runs with ${running} thread(s); ` +
          `call initWasmThreads({ threads: ${asked} }) before tf.setBackend('wasm') or tf.ready() starts it`,
      );
    }
    if (!(await setBackend(WASM))) throw new Error('initWasmThreads (tfjs-wasm-train): the wasm backend did not start');
    return { threads: running, workers: Math.max(0, running - 1) };
  }
  const threads = options.threads ?? (await defaultThreads());
  if (threads === 1) return startSingle();
  const why = threadsUnavailable();
  if (why !== undefined) {
    if (options.fallback === 'single-thread') return startSingle(why);
    throw new Error(`initWasmThreads (tfjs-wasm-train): cannot start ${threads} threads: ${why}`);
  }
  env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  let ok: boolean;
  let workers = threads - 1;
  if (isNode()) {
    const { startNodeThreads } = await import('./threads_node.js');
    const pthread = () => (engine() as unknown as Registry).registry[WASM]?.wasm?.PThread as never;
    ({ result: ok, workers } = await startNodeThreads(threads, () => setBackend(WASM), pthread));
  } else {
    ok = await startBrowser(threads);
  }
  if (!ok) {
    throw new Error(`initWasmThreads (tfjs-wasm-train): the threaded wasm backend did not start (see tfjs's warning)`);
  }
  const running = getThreadsCount();
  if (running !== threads) {
    throw new Error(`initWasmThreads (tfjs-wasm-train): asked for ${threads} threads, tfjs's wasm pool has ${running}`);
  }
  return { threads, workers };
}
