/**
 * `initWasmThreads`: the threaded wasm build in Node (child processes, since a process starts wasm once), its
 * results against a float64 reference and bit for bit against the single-threaded build, a clean exit with an
 * idle pool, the errors and the fallback when threads cannot start, and bad options refused before any change.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initWasmThreads } from '../src/index.js';
import { startNodeThreads, workerPrelude } from '../src/threads_node.js';
import { Rng, U32 } from './helpers.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CHILD = join(HERE, 'threads_child.ts');
const PRELOAD = join(HERE, 'threads_preload.mjs');
/** A child trains for seconds; a pool that kept it alive would hang it until this limit. */
const CHILD_LIMIT_MS = 120_000;

interface ChildRun {
  info: { threads: number; workers: number; reason?: string };
  backend: string;
  products: Record<string, string>;
  losses: number[];
  weights: string[];
  tensors: number[];
}

type ChildOut = { out: Record<string, unknown>; stderr: string };

function childWith(nodeArgs: string[], env: NodeJS.ProcessEnv, args: string[]): Promise<ChildOut> {
  return new Promise((resolve, reject) => {
    const options = { timeout: CHILD_LIMIT_MS, maxBuffer: 64 << 20, env };
    execFile(process.execPath, [...nodeArgs, '--import', 'tsx', CHILD, ...args], options, (error, stdout, stderr) => {
      if (error) reject(new Error(`child ${args.join(' ')} did not exit cleanly (${error.message}): ${stderr}`));
      else resolve({ out: JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>, stderr });
    });
  });
}

const child = async (...args: string[]): Promise<Record<string, unknown>> =>
  (await childWith([], process.env, args)).out;

const floats = (b64: string): Float32Array => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
};

/** max |ours − a·b| / (2·γ(k)·Σ|a||b|), a·b and Σ|a||b| in float64 (a [m, k], b [k, n] row-major). */
function errorRatio(ours: Float32Array, a: Float32Array, b: Float32Array, m: number, k: number, n: number): number {
  const gamma = (k * U32) / (1 - k * U32);
  let worst = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      let abs = 0;
      for (let p = 0; p < k; p++) {
        const t = a[i * k + p]! * b[p * n + j]!;
        sum += t;
        abs += Math.abs(t);
      }
      worst = Math.max(worst, Math.abs(ours[i * n + j]! - sum) / (2 * gamma * abs + 1e-30));
    }
  }
  return worst;
}

describe('initWasmThreads in Node (child processes)', () => {
  let one: ChildRun;
  let two: ChildRun;

  it('starts 2 threads (1 worker), trains, leaks no tensor per step, and exits on its own', async () => {
    two = (await child('2')) as unknown as ChildRun;
    assert.deepEqual(two.info, { threads: 2, workers: 1 });
    assert.equal(two.backend, 'wasm');
    assert.equal(new Set(two.tensors).size, 1, `tensors after each step: ${two.tensors}`);
  });

  it('threads: 1 is the single-threaded build, no workers', async () => {
    one = (await child('1')) as unknown as ChildRun;
    assert.deepEqual(one.info, { threads: 1, workers: 0 });
  });

  it('products on 2 threads agree with a float64 reference within the float32 summation bound', () => {
    const a = new Rng(1).array(257 * 300);
    const b = new Rng(2).array(300 * 190);
    for (const key of ['NN', 'TN', 'NT', 'TT']) {
      const ratio = errorRatio(floats(two.products[key]!), a, b, 257, 300, 190);
      assert.ok(ratio <= 1, `${key}: error ${ratio} of the bound`);
    }
  });

  it('2 threads give bit for bit the single-threaded results (products, losses, trained weights)', () => {
    assert.deepEqual(two.products, one.products);
    assert.deepEqual(two.losses, one.losses);
    assert.deepEqual(two.weights, one.weights);
    assert.ok(two.losses.at(-1)! < two.losses[0]!, `the loss fell: ${two.losses}`);
  });

  it('without SharedArrayBuffer: a clear error, and the backend is not started', async () => {
    const out = await child('2', 'nosab');
    assert.match(String(out['error']), /cannot start 2 threads: SharedArrayBuffer is not available/);
    assert.equal(out['started'], false);
  });

  it("without SharedArrayBuffer, fallback 'single-thread': one thread, and why", async () => {
    const out = await child('2', 'nosab', 'fallback');
    const reason = 'SharedArrayBuffer is not available in this Node process';
    assert.deepEqual(out['info'], { threads: 1, workers: 0, reason });
    assert.equal(out['backend'], 'wasm');
  });

  it('once started, another count is refused and the same count is accepted', async () => {
    const out = await child('2', 'twice');
    assert.match(String(out['error']), /already runs with 2 thread\(s\); call initWasmThreads\(\{ threads: 1 \}\)/);
    assert.deepEqual(out['again'], { threads: 2, workers: 1 });
  });

  it('calls in flight at once start one backend: same count gets it, another is refused; it exits', async () => {
    const out = await child('2', 'concurrent');
    const [a, b, c] = out['results'] as Record<string, unknown>[];
    assert.deepEqual(a, { threads: 2, workers: 1 });
    assert.deepEqual(b, { threads: 2, workers: 1 });
    assert.match(String(c!['error']), /already runs with 2 thread\(s\); call initWasmThreads\(\{ threads: 1 \}\)/);
    assert.equal(out['backend'], 'wasm');
    assert.equal(out['product'], 4);
  });

  it("pool workers run none of the process's preloads (--import, NODE_OPTIONS)", async () => {
    const env = { ...process.env, NODE_OPTIONS: `--import ${pathToFileURL(PRELOAD).href}` };
    const { out, stderr } = await childWith(['--import', pathToFileURL(PRELOAD).href], env, ['2', 'twice']);
    assert.deepEqual(out['again'], { threads: 2, workers: 1 });
    assert.doesNotMatch(stderr, /PRELOAD RAN IN A WORKER/);
  });
});

describe('initWasmThreads options', () => {
  for (const threads of [0, 9, 1.5, Number.NaN, -1]) {
    it(`refuses threads: ${threads} before changing anything`, async () => {
      const backend = tf.getBackend();
      await assert.rejects(initWasmThreads({ threads }), /threads must be an integer from 1 to 8 .*got/);
      assert.equal(tf.engine().registry['wasm'], undefined);
      assert.equal(tf.getBackend(), backend);
    });
  }
  for (const [options, message] of [
    [{ thread: 4 }, /unknown option "thread"; did you mean "threads"\? expected threads or fallback/],
    [{ threads: 2, fallBack: 'single-thread' }, /unknown option "fallBack"; did you mean "fallback"\?/],
    [{ cores: 2 }, /unknown option "cores"; expected threads or fallback/],
    [4, /options must be an object \(\{ threads: 4, fallback: 'single-thread' \}\), got number 4/],
    [null, /options must be an object .*got null/],
    [[2], /options must be an object .*got an array/],
  ] as const) {
    it(`refuses options ${JSON.stringify(options)} before changing anything`, async () => {
      const backend = tf.getBackend();
      await assert.rejects(initWasmThreads(options as never), message);
      assert.equal(tf.engine().registry['wasm'], undefined);
      assert.equal(tf.getBackend(), backend);
    });
  }
  it('refuses an unknown fallback', async () => {
    const bad = initWasmThreads({ threads: 2, fallback: 'maybe' as never });
    await assert.rejects(bad, /fallback must be 'error' or 'single-thread', got maybe/);
    assert.equal(tf.engine().registry['wasm'], undefined);
  });
});

describe('the worker prelude (module variables of tfjs Node bundle)', () => {
  it('defines each module variable the factory uses, by how it uses it', () => {
    const text = 'var fs = require$$2; var nodePath = require$$0; require$$9.performance; require$$4.cpus().length';
    const prelude = workerPrelude(text);
    assert.match(prelude, /var require\$\$2 = require\("fs"\);/);
    assert.match(prelude, /var require\$\$0 = require\("path"\);/);
    assert.match(prelude, /var require\$\$9 = require\("perf_hooks"\);/);
    assert.match(prelude, /var require\$\$4 = require\("os"\);/);
    assert.match(prelude, /var commonjsGlobal = globalThis;/);
  });
  it('refuses a module variable it cannot place', () => {
    const text = 'var fs = require$$0; require$$7.foo()';
    assert.throws(() => workerPrelude(text), /uses require\$\$7, whose module is unknown/);
  });
});

describe('the scripts handed to the workers', () => {
  it('are written once however often tfjs asks (a rewrite truncates them under a worker reading them)', async () => {
    const main = 'var WasmBackendModuleThreadedSimd = function () { var fs = require$$0; }';
    const worker = '"use strict";var Module={};WasmBackendModuleThreadedSimd(Module)';
    const seen: { path: string; ino: number; mtimeMs: number; text: string }[] = [];
    await startNodeThreads(
      2,
      async () => {
        void new Blob([main]);
        for (let i = 0; i < 8; i++) {
          const path = URL.createObjectURL(new Blob([worker]));
          const { ino, mtimeMs } = statSync(path);
          seen.push({ path, ino, mtimeMs, text: readFileSync(path, 'utf8') });
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      },
      () => undefined,
    );
    assert.equal(seen.length, 8);
    for (const s of seen) assert.deepEqual(s, seen[0]);
    assert.ok(seen[0]!.text.endsWith(worker));
  });
});
