/**
 * Starting tfjs's threaded wasm build under Node's worker_threads (a runtime shim; nothing in node_modules changes).
 *
 * tfjs 4.22's threaded build has a Node branch (emscripten's pthreads on worker_threads), but three things stop it
 * in Node, found one after the other:
 *  1. its worker script and main script are handed over as `blob:` URLs: `new Worker('blob:nodedata:…')` is
 *     refused (ERR_WORKER_PATH) and the worker's `importScripts` reads files only. We write both scripts to a
 *     temporary folder while the backend starts (the text is tfjs's own, taken from the Blobs it makes), hand the
 *     worker that path, and tell the worker where the main script is; the folder is deleted once every worker
 *     has loaded (tfjs's backend is ready only then).
 *  2. the main script is one function taken out of tfjs's Node bundle: it refers to the bundle's module
 *     variables (`require$$0` = fs, `require$$1` = path, `require$$3` = perf_hooks, `require$$4` = os,
 *     `commonjsGlobal`), which do not exist in a worker. We read which variable is which module from the text
 *     itself and define them in front of it (an unknown one is refused with a clear error).
 *  3. tfjs's C++ (`init_with_threads_count`) caps the pool at `emscripten_num_logical_cores() / 2`, i.e.
 *     `os.cpus().length / 2` in Node: one thread on a 2-core machine, whatever `setThreadsCount` says. While the
 *     backend starts, `os.cpus()` reports 2 × the requested count, so the cap is the count asked for.
 * Also, emscripten's workers would inherit the process's Node options (`--import`, `--require`, NODE_OPTIONS) and
 * run its preloads again: they are started without them.
 * The globals touched (`Blob`, `URL.createObjectURL`, `os.cpus`, `worker_threads.Worker`) are restored when the
 * start ends, success or not.
 *
 * Afterwards: emscripten starts 8 workers whatever the count; those XNNPACK's pool did not take are terminated
 * (threads - 1 stay, the calling thread is the pool's first), and the pool's workers are unref'd, so an idle pool
 * never keeps the process alive (emscripten ref's a worker while it runs a thread, and these run forever).
 */
import type * as Fs from 'node:fs';
import type * as Os from 'node:os';
import type * as Path from 'node:path';
import type * as WorkerThreads from 'node:worker_threads';

/**
 * Node's modules, loaded when first needed and not imported statically, so that a browser bundle of this package
 * (which takes this file in, for the `import()` of threads.ts) needs none of them and no bundler setting.
 */
async function builtin<T>(name: string): Promise<T> {
  const module = (await import(/* webpackIgnore: true */ /* @vite-ignore */ name)) as { default?: T };
  return module.default ?? (module as T);
}

async function nodeModules(): Promise<{ fs: typeof Fs; os: typeof Os; path: typeof Path; wt: typeof WorkerThreads }> {
  const [fs, os, path, wt] = await Promise.all([
    builtin<typeof Fs>('node:fs'),
    builtin<typeof Os>('node:os'),
    builtin<typeof Path>('node:path'),
    builtin<typeof WorkerThreads>('node:worker_threads'),
  ]);
  return { fs, os, path, wt };
}

/** emscripten's PThread object (the part used here). */
interface PThreadLike {
  unusedWorkers: { terminate(): unknown }[];
  runningWorkers: { unref(): void }[];
}

/** The module variables of tfjs's Node bundle the factory text may use, recognised by how it uses them. */
const MODULE_USES: [RegExp, string][] = [
  [/var fs = (require\$\$\d+);/, 'fs'],
  [/var nodePath = (require\$\$\d+);/, 'path'],
  [/(require\$\$\d+)\.performance\b/, 'perf_hooks'],
  [/(require\$\$\d+)\.cpus\(\)/, 'os'],
];

const MAIN_PREFIX = 'var WasmBackendModuleThreadedSimd';

/** The default thread count in Node: the cores this process may use. */
export async function nodeCores(): Promise<number> {
  const os = await builtin<typeof Os>('node:os');
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/**
 * worker_threads' Worker, but a pool worker takes none of the process's Node options, from the command line or
 * NODE_OPTIONS: `--import`, `--require` or `--loader` would run the application's preloads again in every worker
 * (e.g. one that starts wasm threads).
 */
function PoolWorker(Base: typeof WorkerThreads.Worker): typeof WorkerThreads.Worker {
  return class extends Base {
    constructor(filename: string | URL, options?: WorkerThreads.WorkerOptions) {
      const env: Record<string, string | undefined> = { ...process.env };
      delete env['NODE_OPTIONS'];
      super(filename, { execArgv: [], env, ...options });
    }
  };
}

/**
 * What the factory text needs defined before it in a worker: `var require$$N = require('…');` for each module
 * variable it uses, and `commonjsGlobal`. Throws when it uses a module variable we cannot tell the module of.
 */
export function workerPrelude(factoryText: string): string {
  const known = new Map<string, string>();
  for (const [pattern, module] of MODULE_USES) {
    const m = pattern.exec(factoryText);
    if (m !== null) known.set(m[1]!, module);
  }
  const used = new Set(factoryText.match(/\brequire\$\$\d+\b/g) ?? []);
  const unknown = [...used].filter((v) => !known.has(v));
  if (unknown.length > 0) {
    throw new Error(
      'tfjs-wasm-train: cannot start wasm threads in Node with this @tensorflow/tfjs-backend-wasm build: ' +
        'its threaded ' +
        `module uses ${unknown.join(', ')}, whose module is unknown (tested with tfjs 4.22)`,
    );
  }
  const lines = [...used].map((v) => `var ${v} = require(${JSON.stringify(known.get(v))});`);
  return `${lines.join('\n')}\nvar commonjsGlobal = globalThis;\n`;
}

/**
 * Runs `start` (which must start tfjs's wasm backend with the threaded build and `threads` threads: the flags
 * set, then `tf.setBackend('wasm')`) with the shim in place, then trims emscripten's workers to the pool's.
 * Returns what `start` returned and the number of worker threads left running.
 */
export async function startNodeThreads<T>(
  threads: number,
  start: () => Promise<T>,
  pthread: () => PThreadLike | undefined,
): Promise<{ result: T; workers: number }> {
  const { fs, os, path, wt } = await nodeModules();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-wasm-threads-'));
  const mainPath = path.join(dir, 'main.js');
  const workerPath = path.join(dir, 'worker.js');
  const texts = new WeakMap<Blob, string>();
  let mainText: string | undefined;
  let shimError: Error | undefined;
  let written = false;
  const OriginalBlob = globalThis.Blob;
  const originalCreate = URL.createObjectURL;
  const osModule = os as { cpus: typeof os.cpus };
  const originalCpus = osModule.cpus;

  class RecordingBlob extends OriginalBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (parts?.every((p) => typeof p === 'string')) {
        const text = (parts as string[]).join('');
        texts.set(this, text);
        if (text.startsWith(MAIN_PREFIX)) mainText = text;
      }
    }
  }
  const createObjectURL = (blob: Blob): string => {
    const text = texts.get(blob);
    // tfjs asks for a URL of the worker script only (the main script goes to the workers as a Blob)
    if (text === undefined || text.startsWith(MAIN_PREFIX) || !text.includes('WasmBackendModuleThreadedSimd(Module)')) {
      return originalCreate(blob);
    }
    // asked once per worker (8 times): write once, for a rewrite truncates the file under a worker reading it
    // (an empty script: the worker exits at once, code 0, and the start waits for it forever)
    if (written) return workerPath;
    try {
      if (mainText === undefined) throw new Error('tfjs-wasm-train: the threaded wasm main script was not seen');
      fs.writeFileSync(mainPath, workerPrelude(mainText) + mainText);
      // the worker turns the main-script Blob into a URL and reads that path: point it at our file instead
      const redirect = `URL.createObjectURL = () => ${JSON.stringify(mainPath)}; URL.revokeObjectURL = () => {};\n`;
      fs.writeFileSync(workerPath, redirect + text);
      written = true;
    } catch (e) {
      shimError = e as Error;
      throw e;
    }
    return workerPath;
  };
  const cores = originalCpus();
  const workers = wt as { Worker: typeof wt.Worker };
  const OriginalWorker = workers.Worker;
  globalThis.Blob = RecordingBlob as typeof Blob;
  URL.createObjectURL = createObjectURL;
  osModule.cpus = () => Array.from({ length: 2 * threads }, (_, i) => cores[i % Math.max(1, cores.length)]!);
  workers.Worker = PoolWorker(OriginalWorker);
  let result: T;
  try {
    result = await start();
  } finally {
    globalThis.Blob = OriginalBlob;
    URL.createObjectURL = originalCreate;
    osModule.cpus = originalCpus;
    workers.Worker = OriginalWorker;
    // emscripten set the global Worker to the class it took: leave there the plain one, as tfjs alone would
    const global = globalThis as { Worker?: unknown };
    if (global.Worker !== undefined) global.Worker = OriginalWorker;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (shimError !== undefined) throw shimError;
  const pool = pthread();
  if (pool === undefined) return { result, workers: 0 };
  for (const worker of pool.unusedWorkers) void worker.terminate();
  pool.unusedWorkers = [];
  for (const worker of pool.runningWorkers) worker.unref();
  return { result, workers: pool.runningWorkers.length };
}
