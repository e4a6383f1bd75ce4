/**
 * A small pool of worker threads that run calls of our generated WebAssembly kernels over shared
 * WebAssembly memories, synchronously for the caller: Node's `worker_threads`, or Web Workers on a
 * cross-origin-isolated page.
 *
 * Each worker gets the compiled modules (shared-memory variants, src/kernels/wasm_kernels.ts) and the
 * memories once, by message, and instantiates them on first use. A run posts one call to each worker,
 * runs the first call on the calling thread, then blocks on a shared counter (Atomics.wait; a spin on
 * a browser's main thread, where waiting is not allowed) until every worker has answered. In Node the
 * workers sleep on a shared sequence number and read their MessagePort with receiveMessageOnPort (no
 * event-loop hop); in browsers they wait for messages. Workers are unref'd in Node, so an idle pool
 * never keeps a process alive; `dispose` terminates them.
 */
import { kernelModule, ruleKernels } from './wasm_kernels.js';

/** The most threads a pool runs (the calling thread and 63 workers). */
export const MAX_THREADS = 64;

/** How long a run waits for its workers before it gives up (a worker that died never answers). */
const ANSWER_TIMEOUT_MS = 60_000;

/** The worker's program: plain JavaScript, self-contained (it is evaluated from a string, no imports). */
const WORKER_SOURCE = `
const node = typeof process === 'object' ? process.getBuiltinModule?.('node:worker_threads') ?? null : null;
let control, results;
const memories = new Map(), modules = new Map(), instances = new Map();
const onMessage = (m) => {
  if (m.type === 'init') {
    control = new Int32Array(m.control);
    results = new Float64Array(m.results);
    Atomics.add(control, 4, 1); // started: runs may come to this worker now
    Atomics.notify(control, 4);
    if (m.port === undefined) return;
    // Node: sleep on the shared sequence number, take the messages from the port without the event loop
    let seen = Atomics.load(control, 2);
    for (;;) {
      for (let r = node.receiveMessageOnPort(m.port); r !== undefined; r = node.receiveMessageOnPort(m.port)) {
        onMessage(r.message);
      }
      if (Atomics.load(control, 3) !== 0) return;
      Atomics.wait(control, 2, seen);
      seen = Atomics.load(control, 2);
    }
  }
  if (m.type === 'memory') { memories.set(m.id, m.memory); return; }
  if (m.type === 'module') { modules.set(m.key, m.module); return; }
  if (m.type === 'forget') {
    memories.delete(m.id);
    for (const name of [...instances.keys()]) if (name.startsWith(m.id + '/')) instances.delete(name);
    return;
  }
  if (m.type !== 'run') return;
  try {
    const name = m.id + '/' + m.key;
    let exports = instances.get(name);
    if (exports === undefined) {
      const memory = memories.get(m.id);
      exports = new WebAssembly.Instance(modules.get(m.key), { env: { memory } }).exports;
      instances.set(name, exports);
    }
    const r = exports[m.fn](...m.args);
    results[m.slot] = typeof r === 'number' ? r : 0;
  } catch (e) {
    Atomics.store(control, 1, 1);
  }
  Atomics.add(control, 0, 1);
  Atomics.notify(control, 0);
};
if (node !== null) node.parentPort.on('message', onMessage);
else self.addEventListener('message', (e) => onMessage(e.data));
`;

/** What the pool needs of a worker (Node's Worker and the browser's both fit). */
interface WorkerLike {
  postMessage(message: unknown, transfer?: unknown[]): void;
  terminate(): unknown;
}

/** Where the pool posts a worker's messages: its MessagePort in Node (read by the worker without its event loop). */
interface PortLike {
  postMessage(message: unknown): void;
}

/** Shared control words: answers counted, a failure flag, the sequence number workers sleep on, stop, started. */
const DONE = 0;
const FAILED = 1;
const SEQUENCE = 2;
const STOP = 3;
const STARTED = 4;
/** How long a Node pool waits for its workers to start. */
const START_TIMEOUT_MS = 30_000;

/** A shared memory the pool's calls run over, with the id workers know it by. */
export interface PoolMemory {
  readonly id: number;
  readonly memory: WebAssembly.Memory;
}

/** One kernel call: module key (e.g. `adopt_...`, `adopt_..._int8`, `finite`), export name and its arguments. */
export interface PoolCall {
  readonly key: string;
  readonly fn: string;
  readonly args: readonly number[];
}

type WorkerFactory = () => { worker: WorkerLike; channel?: () => [PortLike, unknown] };

/** How this platform starts a worker from source text, or why it cannot. */
function workerFactory(): WorkerFactory | string {
  const g = globalThis as {
    process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown };
    crossOriginIsolated?: boolean;
    Worker?: new (url: string) => WorkerLike;
    Blob?: typeof Blob;
    URL?: typeof URL;
  };
  if (g.process?.versions?.node !== undefined) {
    const threads = g.process.getBuiltinModule?.('node:worker_threads') as
      | {
          Worker: new (source: string, options: { eval: true }) => WorkerLike & { unref(): void };
          MessageChannel: new () => { port1: PortLike; port2: unknown };
        }
      | undefined;
    if (threads === undefined) return `Node ${g.process.versions.node} has no process.getBuiltinModule (Node >= 20.16)`;
    const { MessageChannel } = threads;
    return () => {
      const worker = new threads.Worker(WORKER_SOURCE, { eval: true });
      worker.unref(); // an idle pool does not keep the process alive
      return {
        worker,
        channel: () => {
          const c = new MessageChannel();
          return [c.port1, c.port2];
        },
      };
    };
  }
  if (g.Worker === undefined || g.Blob === undefined || g.URL === undefined) return 'this platform has no Web Workers';
  if (g.crossOriginIsolated !== true) {
    return 'the page is not cross-origin isolated (SharedArrayBuffer needs COOP/COEP headers)';
  }
  const url = g.URL.createObjectURL(new g.Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  return () => ({ worker: new g.Worker!(url) });
}

/** Why threads cannot run here, or null where they can. */
export function threadsUnavailable(): string | null {
  if (typeof SharedArrayBuffer === 'undefined') return 'SharedArrayBuffer is not available';
  const f = workerFactory();
  return typeof f === 'string' ? f : null;
}

/** Runs one call on this thread (what every worker does with its own); returns its result, 0 for none. */
export function callKernel(memory: WebAssembly.Memory, call: PoolCall): number {
  const exports = ruleKernels(memory, call.key) as unknown as Record<string, (...a: number[]) => unknown> | null;
  const fn = exports?.[call.fn];
  if (fn === undefined) throw new Error(`adopt-optim threads: no kernel ${call.key}.${call.fn} for this memory`);
  const r = fn(...call.args);
  return typeof r === 'number' ? r : 0;
}

/** Blocks until `control[0]` reaches `expected`: Atomics.wait where allowed, else a spin. */
function waitFor(control: Int32Array, expected: number): void {
  const deadline = Date.now() + ANSWER_TIMEOUT_MS;
  let canWait = true;
  for (let seen = Atomics.load(control, 0); seen < expected; seen = Atomics.load(control, 0)) {
    if (Date.now() > deadline) {
      throw new Error(`adopt-optim threads: a worker did not answer within ${ANSWER_TIMEOUT_MS / 1000} s`);
    }
    if (canWait) {
      try {
        Atomics.wait(control, 0, seen, 1000);
      } catch {
        canWait = false; // a browser's main thread: spin on Atomics.load
      }
    }
  }
}

export class ThreadPool {
  private readonly workers: WorkerLike[] = [];
  /** Where each worker's messages go: its port (Node) or the worker itself (browsers). */
  private readonly ports: PortLike[] = [];
  /** Whether workers sleep on SEQUENCE (Node) rather than wait for messages (browsers). */
  private readonly sequenced: boolean;
  private readonly control = new Int32Array(new SharedArrayBuffer(32));
  private readonly results: Float64Array;
  private readonly sentMemories = new Set<number>();
  private readonly sentModules = new Set<string>();
  private disposed = false;

  /** A pool of `threads` threads: the calling one and `threads - 1` workers (started now). */
  constructor(readonly threads: number) {
    const factory = workerFactory();
    if (typeof factory === 'string') throw new Error(`adopt-optim threads: no worker threads here: ${factory}`);
    this.results = new Float64Array(new SharedArrayBuffer(8 * threads));
    let sequenced = true;
    for (let i = 1; i < threads; i++) {
      const { worker, channel } = factory();
      const init = { type: 'init', control: this.control.buffer, results: this.results.buffer };
      if (channel === undefined) {
        sequenced = false;
        worker.postMessage(init);
        this.ports.push(worker);
      } else {
        const [mine, theirs] = channel();
        worker.postMessage({ ...init, port: theirs }, [theirs]);
        this.ports.push(mine);
      }
      this.workers.push(worker);
    }
    this.sequenced = sequenced;
    if (sequenced) {
      // Node starts workers on threads of their own: wait here, so that the first step already has them
      const deadline = Date.now() + START_TIMEOUT_MS;
      for (
        let seen = Atomics.load(this.control, STARTED);
        seen < threads - 1;
        seen = Atomics.load(this.control, STARTED)
      ) {
        if (Date.now() > deadline) {
          this.dispose();
          throw new Error(`adopt-optim threads: the workers did not start within ${START_TIMEOUT_MS / 1000} s`);
        }
        Atomics.wait(this.control, STARTED, seen, 100);
      }
    }
    this.ready = this.started() ? Promise.resolve() : new Promise((resolve) => this.poll(resolve));
  }

  /**
   * Resolves once every worker has started. A browser starts workers only when the page's thread returns to its
   * event loop: until then (and without waiting for them) a run does every range here, in order.
   */
  readonly ready: Promise<void>;

  private started(): boolean {
    return Atomics.load(this.control, STARTED) >= this.workers.length;
  }

  private poll(resolve: () => void): void {
    if (this.started() || this.disposed) resolve();
    else setTimeout(() => this.poll(resolve), 5);
  }

  /**
   * Runs calls[i] on thread i over `m` (calls[0] here, the others on the workers) and returns what each
   * returned (0 for a call without a result). At most `threads` calls.
   */
  run(m: PoolMemory, calls: readonly PoolCall[]): number[] {
    if (this.disposed) throw new Error('adopt-optim threads: the thread pool was disposed');
    if (calls.length > this.threads)
      throw new RangeError(`adopt-optim threads: ${calls.length} calls for ${this.threads} threads`);
    if (!this.started()) return calls.map((c) => callKernel(m.memory, c)); // workers not started yet (browsers)
    Atomics.store(this.control, DONE, 0);
    Atomics.store(this.control, FAILED, 0);
    for (let i = 1; i < calls.length; i++) this.post(i - 1, m, calls[i]!);
    this.wake();
    let first = Number.NaN;
    let failure: unknown;
    try {
      first = callKernel(m.memory, calls[0]!);
    } catch (e) {
      failure = e;
    }
    waitFor(this.control, calls.length - 1); // even after a failure here: the workers still write the memory
    if (failure !== undefined) throw failure;
    if (Atomics.load(this.control, FAILED) !== 0)
      throw new Error('adopt-optim threads: a kernel call failed in a worker');
    return [first, ...Array.from(this.results.subarray(0, calls.length - 1))];
  }

  private post(worker: number, m: PoolMemory, call: PoolCall): void {
    if (!this.sentMemories.has(m.id)) {
      for (const w of this.ports) w.postMessage({ type: 'memory', id: m.id, memory: m.memory });
      this.sentMemories.add(m.id);
    }
    if (!this.sentModules.has(call.key)) {
      const module = kernelModule(call.key, true);
      if (module === null)
        throw new Error(`adopt-optim threads: the shared-memory module ${call.key} cannot be compiled`);
      for (const w of this.ports) w.postMessage({ type: 'module', key: call.key, module });
      this.sentModules.add(call.key);
    }
    this.ports[worker]!.postMessage({
      type: 'run',
      id: m.id,
      key: call.key,
      fn: call.fn,
      args: call.args,
      slot: worker,
    });
  }

  /** Tells the workers to drop a memory (its state was collected). */
  forget(id: number): void {
    if (this.disposed || !this.sentMemories.delete(id)) return;
    for (const w of this.ports) w.postMessage({ type: 'forget', id }); // read at the next run
  }

  /** Wakes sleeping workers to read their ports (Node). */
  private wake(): void {
    if (!this.sequenced) return;
    Atomics.add(this.control, SEQUENCE, 1);
    Atomics.notify(this.control, SEQUENCE);
  }

  /** Terminates the workers; the pool cannot run again. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.control, STOP, 1);
    this.wake();
    for (const w of this.workers) void w.terminate();
  }
}
