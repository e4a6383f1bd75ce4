/**
 * The core's threaded step (useThreads, src/core/threads.ts) beside the native C kernel (bench/native.ts) on 1 and
 * on 2 threads, interleaved repetition by repetition in one run: ADOPT at 1e7 parameters with float32, 8-bit, 4-bit
 * and bfloat16 state. Per state format:
 *   default          the core as it is without threads (state of its own, params and grads plain arrays)
 *   shared, T thr    state made with threads on, params and grads its threadBuffers (nothing copied), T threads
 *   shared, copy     as above on 2 threads but with plain params and grads (copied in and out on this thread)
 * The second thread's gain (time on 1 / time on 2, per repetition) is set beside the native kernel's, and as the
 * fraction (ours - 1) / (native's - 1) of it. `--threshold` measures instead where a second thread starts to pay:
 * 1 vs 2 threads on shared state of 16 K ... 2 M elements.
 *
 * The machine's load (os.loadavg) is printed with the numbers: other processes change them.
 * Usage: node --import tsx bench/threads.ts [--size N] [--reps N] [--threshold] [--no-native]
 */
import * as os from 'node:os';
import * as core from '../src/core/index.js';
import { threading } from '../src/kernels/threaded_state.js';
import { ALL_THREADS, buildNative, NativeServer } from './native.js';
import { stat, time, type Stat } from './stats.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SIZE = option('--size', 1e7);
const REPS = option('--reps', 15);
const THREADS = Math.max(2, Math.min(ALL_THREADS, 2));
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

type Dtype = 'float32' | 'int8' | 'int4' | 'bfloat16';

/** One timed method: a step, and the thread count to run it with (threading.minPerThread set around it). */
interface Lane {
  name: string;
  threads: number;
  step: () => void;
  times: number[];
}

function gradient(size: number): Float32Array {
  const rng = new core.Rng(1);
  return Float32Array.from({ length: size }, () => rng.normal() * 0.1);
}

/** The lanes of one state format at `size` (threads must be on: useThreads(THREADS)). */
function lanes(dtype: Dtype, size: number, g0: Float32Array, copy: boolean): Lane[] {
  const out: Lane[] = [];
  const opt = core.adopt(1e-3, { stateDtype: dtype });
  // the default path: made with threads off (minPerThread above the size: ordinary state)
  threading.minPerThread = Number.MAX_SAFE_INTEGER;
  const p0 = new Float32Array(size).fill(0.5);
  const s0 = opt.init(p0);
  threading.minPerThread = 1;
  const s1 = opt.init(p0);
  const own = core.threadBuffers(s1);
  if (own === null) throw new Error(`no threaded state for ${dtype}`);
  own.params.fill(0.5);
  own.grads.set(g0);
  out.push({ name: `${dtype} default`, threads: 1, step: () => opt.step(p0, g0, s0), times: [] });
  out.push({ name: `${dtype} shared, 1 thr`, threads: 1, step: () => opt.step(own.params, own.grads, s1), times: [] });
  out.push({
    name: `${dtype} shared, ${THREADS} thr`,
    threads: THREADS,
    step: () => opt.step(own.params, own.grads, s1),
    times: [],
  });
  if (copy) {
    const p2 = new Float32Array(size).fill(0.5);
    const s2 = opt.init(p2);
    out.push({
      name: `${dtype} shared, copy, ${THREADS} thr`,
      threads: THREADS,
      step: () => opt.step(p2, g0, s2),
      times: [],
    });
  }
  for (const l of out) for (let i = 0; i < 2; i++) timed(l); // the first step (ADOPT: v = g²) and a warm one
  for (const l of out) l.times.length = 0;
  return out;
}

function timed(l: Lane): void {
  threading.minPerThread = l.threads === 1 ? Number.MAX_SAFE_INTEGER : 1;
  l.times.push(time(l.step));
}

const x = (seconds: number, l: Lane) => (seconds / stat(l.times).median).toFixed(2);
const g = (pps: number) => `${(pps / 1e9).toFixed(2)} G/s`;
const spread = (s: Stat, digits = 2) =>
  `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`;

async function main(): Promise<void> {
  const setup = core.useThreads(THREADS);
  const build = args.includes('--no-native') ? { reason: '--no-native' } : buildNative();
  const server = 'binary' in build ? new NativeServer(build) : undefined;
  console.log(`# threads bench: ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load before: ${load()}`);
  if (!('binary' in build)) console.log(`# native kernel skipped: ${build.reason}`);
  if (args.includes('--threshold')) {
    await threshold();
  } else {
    await compare(server);
  }
  console.log(`# load after: ${load()}`);
  await server?.close();
  if ('remove' in build) build.remove();
  setup.dispose();
}

async function compare(server: NativeServer | undefined): Promise<void> {
  const g0 = gradient(SIZE);
  const nat1: number[] = [];
  const natT: number[] = [];
  await server?.alloc([SIZE]);
  let float32Default = Number.NaN;
  for (const dtype of ['float32', 'int8', 'int4', 'bfloat16'] as const) {
    const ls = lanes(dtype, SIZE, g0, dtype === 'float32');
    for (let r = 0; r < REPS; r++) {
      for (const l of ls) timed(l);
      if (server !== undefined && dtype === 'float32') {
        nat1.push(await server.step(1));
        natT.push(await server.step(THREADS));
      }
    }
    const byName = new Map(ls.map((l) => [l.name, l]));
    const one = byName.get(`${dtype} shared, 1 thr`)!;
    const many = byName.get(`${dtype} shared, ${THREADS} thr`)!;
    const def = byName.get(`${dtype} default`)!;
    for (const l of ls) {
      const pps = stat(l.times.map((t) => SIZE / t / 1e9));
      console.log(`${l.name.padEnd(32)} ${spread(pps)} G/s`);
    }
    const gain = stat(one.times.map((t, i) => t / many.times[i]!));
    const overDefault = stat(def.times.map((t, i) => t / many.times[i]!));
    console.log(`  ${dtype}: ${THREADS} threads over 1 (shared state): ${spread(gain)}x`);
    console.log(`  ${dtype}: ${THREADS} threads over the default path: ${spread(overDefault)}x`);
    if (dtype === 'float32') float32Default = stat(def.times).median;
    else console.log(`  ${dtype} on ${THREADS} threads over float32's default path: ${x(float32Default, many)}x`);
    if (dtype === 'float32' && nat1.length > 0) {
      const natGain = stat(nat1.map((t, i) => t / natT[i]!));
      const fraction = (gain.median - 1) / (natGain.median - 1);
      const perRep = stat(one.times.map((t, i) => (t / many.times[i]! - 1) / (nat1[i]! / natT[i]! - 1)));
      console.log(
        `native C: 1 thread ${g(SIZE / stat(nat1).median)}, ${THREADS} threads ${g(SIZE / stat(natT).median)}`,
      );
      console.log(`  native C: ${THREADS} threads over 1: ${spread(natGain)}x`);
      console.log(`  float32: our gain / native's (gain - 1 each, medians): ${fraction.toFixed(2)}`);
      console.log(`  (per repetition: ${spread(perRep)})`);
      const ofNative = (100 * stat(natT).median) / stat(many.times).median;
      console.log(`  float32 on ${THREADS} threads: ${ofNative.toFixed(0)}% of native C on ${THREADS} threads`);
    }
    console.log(`# load: ${load()}`);
  }
  await server?.free();
}

async function threshold(): Promise<void> {
  for (const size of [1 << 14, 1 << 15, 1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 21]) {
    const g0 = gradient(size);
    for (const dtype of ['float32', 'int8'] as const) {
      const ls = lanes(dtype, size, g0, false).slice(1);
      const reps = Math.max(15, Math.min(400, Math.round(2e8 / size)));
      for (let r = 0; r < reps; r++) for (const l of ls) timed(l);
      const [a, b] = ls.map((l) => stat(l.times));
      console.log(
        `${String(size).padStart(8)} ${dtype.padEnd(8)} 1 thr ${(a!.median * 1e6).toFixed(0).padStart(6)} us, ` +
          `${THREADS} thr ${(b!.median * 1e6).toFixed(0).padStart(6)} us: ${(a!.median / b!.median).toFixed(2)}x`,
      );
    }
  }
}

await main();
