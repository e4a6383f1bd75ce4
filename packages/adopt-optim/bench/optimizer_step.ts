/**
 * `npm run bench`: one optimizer step, measured side by side in one run.
 *
 * For 1e5, 1e6 and 1e7 parameters held in one tensor and in 100 tensors, on the tfjs `cpu` and
 * `wasm` backends: our fused ADOPT (also with nonFinite: 'off', which skips its extra read of the
 * gradient), 8-bit and 4-bit state, our op-by-op ADOPT (fused: false), tf.train.adam, and a
 * memory-bandwidth probe (a Float32Array copy moving the same 28 bytes per parameter that an
 * ADOPT step must read and write). Also the framework-free core's fused ADOPT on plain arrays.
 * And the machine's own limit: a C kernel doing the same step on the same lengths (bench/native.ts,
 * compiled now with the system's compiler; skipped, with the reason, where there is none), on one
 * thread and on all of them. Methods are interleaved within each repetition, so machine noise hits
 * them alike; each cell is the median over repetitions with its spread (min-max).
 *
 * Usage: npm run bench [-- --quick] [-- --core | --wasm] [-- --no-native] [-- --out FILE]
 *   (--core: only the core's rows; --wasm: no cpu backend; --no-native: no C kernel)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import '../src/lowbit/index.js'; // int8 / int4 state (the optional entry point)
import { adopt, core } from '../src/index.js';
import { Rng } from '../src/random.js';
import { ALL_THREADS, buildNative, NativeServer } from './native.js';
import { stat, time, type Stat } from './stats.js';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const OUT = args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'out/bench/optimizer_step.json';
const SIZES = QUICK ? [1e5, 1e6] : [1e5, 1e6, 1e7];
const LAYOUTS = [1, 100];

function repetitions(size: number, backend: string): number {
  if (size >= 1e7) return backend === 'cpu' ? 3 : 7;
  if (size >= 1e6) return backend === 'cpu' ? 5 : 15;
  return 30;
}

/** Copies 3.5 floats per parameter: 28 bytes moved (read + written) per parameter. */
function makeProbe(size: number): () => void {
  const src = new Float32Array(Math.round(3.5 * size)).fill(1);
  const dst = new Float32Array(src.length);
  return () => dst.set(src);
}

interface Row {
  backend: string;
  params: number;
  tensors: number;
  method: string;
  seconds: Stat;
  paramsPerSecond: Stat;
  vsTfAdam?: number;
  vsFloor?: number;
  /** params/s over the native C kernel's on one thread / on all threads, same lengths, same run. */
  vsNative1?: number;
  vsNativeAll?: number;
  /** Native rows on all threads: 1-thread time / all-thread time, per repetition. */
  overOneThread?: Stat;
  /** Seconds of each repetition, in order (the native lanes ran in the same repetitions). */
  times?: number[];
  /** vsNative1 and vsNativeAll per repetition: the C kernel's time over this row's, in the same repetition. */
  ofNative1?: Stat;
  ofNativeAll?: Stat;
  stateBytesPerParam?: number;
  /** params/s over the float32-state run of the same method, same size (core int8 rows). */
  vsFloat32?: number;
  peakExtraBytes?: number;
  memoryBefore?: tf.MemoryInfo;
  memoryAfter?: tf.MemoryInfo;
}

/** Bytes of an int8 optimizer's codes and scales (src/tfjs/lowbit_store.ts, LowBitStore.bytes). */
function int8Bytes(opt: tf.Optimizer): number {
  const store = opt as unknown as Record<'lowBit' | 'int8', { bytes(): { heap: number; outside: number } } | undefined>;
  const b = (store.lowBit ?? store.int8)?.bytes(); // int8: the field's name before 0.3
  return b === undefined ? NaN : b.heap + b.outside;
}

const lowBit = (method: string) => method.endsWith('int8') || method.endsWith('int4');

function split(size: number, tensors: number): number[] {
  const base = Math.floor(size / tensors);
  return Array.from({ length: tensors }, (_, i) => (i < size - base * tensors ? base + 1 : base));
}

const NATIVE_1 = 'native C, 1 thread';
const NATIVE_ALL = `native C, ${ALL_THREADS} threads`;

/** The native kernel, stepped once per repetition on one thread and on all, beside the methods it bounds. */
class NativeLanes {
  private one: number[] = [];
  private all: number[] = [];
  constructor(private readonly server: NativeServer | undefined) {}

  async start(lengths: number[]): Promise<void> {
    this.one = [];
    this.all = [];
    await this.server?.alloc(lengths);
  }

  async tick(): Promise<void> {
    if (this.server === undefined) return;
    this.one.push(await this.server.step(1));
    this.all.push(await this.server.step(ALL_THREADS));
  }

  /** Its two rows, and each row's fractions of it (filled in place); frees its tensors. */
  async finish(rows: Row[], backend: string, size: number, tensors: number, probe: Stat): Promise<Row[]> {
    if (this.server === undefined) return [];
    await this.server.free();
    const lanes = [
      { method: NATIVE_1, times: this.one },
      { method: NATIVE_ALL, times: this.all },
    ].map((l): Row => {
      const pps = stat(l.times.map((t) => size / t));
      return {
        backend,
        params: size,
        tensors,
        method: l.method,
        seconds: stat(l.times),
        paramsPerSecond: pps,
        vsFloor: pps.median / probe.median,
      };
    });
    lanes[1]!.overOneThread = stat(this.one.map((t, i) => t / this.all[i]!));
    for (const r of [...rows, ...lanes]) {
      r.vsNative1 = r.paramsPerSecond.median / lanes[0]!.paramsPerSecond.median;
      r.vsNativeAll = r.paramsPerSecond.median / lanes[1]!.paramsPerSecond.median;
      if (r.times === undefined) continue;
      r.ofNative1 = stat(r.times.map((t, i) => this.one[i]! / t));
      r.ofNativeAll = stat(r.times.map((t, i) => this.all[i]! / t));
    }
    return lanes;
  }
}

async function benchBackend(backend: string, native: NativeLanes): Promise<Row[]> {
  await tf.setBackend(backend);
  await tf.ready();
  const rows: Row[] = [];
  for (const size of SIZES) {
    for (const tensors of LAYOUTS) {
      const lengths = split(size, tensors);
      const reps = repetitions(size, backend);
      const grads = lengths.map((n, i) => tf.randomNormal([n], 0, 1, 'float32', i));
      const methods: { name: string; make: () => tf.Optimizer }[] = [
        { name: 'ADOPT fused', make: () => adopt(1e-3) },
        // no pass over g for the NaN/Infinity check: the same 28 B/param as the native kernel
        { name: 'ADOPT fused nonFinite off', make: () => adopt(1e-3, { nonFinite: 'off' }) },
        { name: 'ADOPT fused int8', make: () => adopt(1e-3, { stateDtype: 'int8' }) },
        { name: 'ADOPT fused int4', make: () => adopt(1e-3, { stateDtype: 'int4' }) },
        { name: 'ADOPT op-by-op', make: () => adopt(1e-3, { fused: false }) },
        { name: 'tf.train.adam', make: () => tf.train.adam(1e-3) },
      ];
      const runs = methods.map((m) => {
        const vars = lengths.map((n, i) => tf.variable(tf.randomNormal([n], 0, 1, 'float32', 100 + i)));
        const opt = m.make();
        const named = vars.map((v, i) => ({ name: v.name, tensor: grads[i]! }));
        const step = () => opt.applyGradients(named);
        step(); // ADOPT's first step only initialises v; both warm up state and buffers
        step();
        return { ...m, vars, opt, step, times: [] as number[] };
      });
      const probe = makeProbe(size);
      const probeTimes: number[] = [];
      probe();
      await native.start(lengths);
      for (let r = 0; r < reps; r++) {
        for (const run of runs) run.times.push(time(run.step));
        probeTimes.push(time(probe));
        await native.tick();
      }
      const probeStat = stat(probeTimes.map((t) => size / t));
      const adamStat = stat(runs.find((r) => r.name === 'tf.train.adam')!.times.map((t) => size / t));
      const fusedStat = stat(runs.find((r) => r.name === 'ADOPT fused')!.times.map((t) => size / t));
      const first = rows.length;
      for (const run of runs) {
        const before = tf.memory();
        const profile = await tf.profile(run.step);
        const after = tf.memory();
        const pps = stat(run.times.map((t) => size / t));
        rows.push({
          backend,
          params: size,
          tensors,
          method: run.name,
          seconds: stat(run.times),
          times: run.times,
          paramsPerSecond: pps,
          vsTfAdam: pps.median / adamStat.median,
          vsFloor: pps.median / probeStat.median,
          // int8: the codes and scales the optimizer holds (on the wasm heap, or in memories of their own on cpu)
          stateBytesPerParam: lowBit(run.name) ? int8Bytes(run.opt) / size : 8,
          ...(lowBit(run.name) ? { vsFloat32: pps.median / fusedStat.median } : {}),
          peakExtraBytes: Math.max(0, profile.peakBytes - before.numBytes),
          memoryBefore: before,
          memoryAfter: after,
        });
        run.opt.dispose();
        tf.dispose(run.vars);
      }
      rows.push({
        backend,
        params: size,
        tensors,
        method: 'bandwidth probe (copy of 28 B/param)',
        seconds: stat(probeTimes),
        times: probeTimes,
        paramsPerSecond: probeStat,
        vsFloor: 1,
      });
      rows.push(...(await native.finish(rows.slice(first), backend, size, tensors, probeStat)));
      tf.dispose(grads);
      progress(`${backend} ${size.toExponential(0)} x${tensors} done`);
    }
  }
  return rows;
}

/**
 * The core's fused ADOPT with float32 state and with 8-bit state (docs/ALGORITHM.md §11), side
 * by side and interleaved; state bytes per parameter measured from the arrays / memory allocated.
 */
async function benchCore(native: NativeLanes): Promise<Row[]> {
  const rows: Row[] = [];
  for (const size of SIZES) {
    const reps = repetitions(size, 'wasm');
    const rng = new Rng(1);
    const g = Float32Array.from({ length: size }, () => rng.normal() * 0.1); // varied: the codes are not all equal
    const runs = (['float32', 'int8', 'int4'] as const).map((stateDtype) => {
      const p = new Float32Array(size).fill(0.5);
      const opt = core.adopt(1e-3, { stateDtype });
      const state = opt.init(p);
      opt.step(p, g, state);
      opt.step(p, g, state);
      const s = state.adopt as unknown as Record<string, ArrayBufferView>;
      const bytes =
        stateDtype !== 'float32'
          ? core.int8MomentsBytes(state.adopt as unknown as core.Int8Moments)
          : s['m']!.byteLength + s['v']!.byteLength;
      return { stateDtype, step: () => opt.step(p, g, state), times: [] as number[], bytes };
    });
    const probe = makeProbe(size);
    probe();
    const probeTimes: number[] = [];
    await native.start([size]);
    for (let r = 0; r < reps; r++) {
      for (const run of runs) run.times.push(time(run.step));
      probeTimes.push(time(probe));
      await native.tick();
    }
    const probeStat = stat(probeTimes.map((t) => size / t));
    const float32 = stat(runs[0]!.times.map((t) => size / t));
    const first = rows.length;
    for (const run of runs) {
      const pps = stat(run.times.map((t) => size / t));
      rows.push({
        backend: 'core',
        params: size,
        tensors: 1,
        method: `core.adopt fused${run.stateDtype === 'float32' ? '' : ` ${run.stateDtype}`}`,
        seconds: stat(run.times),
        times: run.times,
        paramsPerSecond: pps,
        vsFloor: pps.median / probeStat.median,
        stateBytesPerParam: run.bytes / size,
        vsFloat32: pps.median / float32.median,
      });
    }
    rows.push({
      backend: 'core',
      params: size,
      tensors: 1,
      method: 'bandwidth probe (copy of 28 B/param)',
      seconds: stat(probeTimes),
      times: probeTimes,
      paramsPerSecond: probeStat,
      vsFloor: 1,
    });
    rows.push(...(await native.finish(rows.slice(first), 'core', size, 1, probeStat)));
    progress(`core ${size.toExponential(0)} done`);
  }
  return rows;
}

function progress(message: string): void {
  process.stderr.write(`  ${message}\n`);
}

const pct = (x: number | undefined) => (x === undefined ? '' : `${(100 * x).toFixed(0)}%`);
const fmt = (x: number) => (x >= 1e9 ? `${(x / 1e9).toFixed(2)} G` : `${(x / 1e6).toFixed(1)} M`);

function printTable(rows: Row[]): void {
  const header = [
    'backend',
    'params',
    'tensors',
    'method',
    'params/s median',
    'spread (min-max)',
    'x tf.train.adam',
    'of floor',
    'of C 1T',
    `of C ${ALL_THREADS}T`,
    'peak extra B',
    'state B/param',
    'x float32 state',
  ];
  const lines = rows.map((r) => [
    r.backend,
    r.params.toExponential(0),
    String(r.tensors),
    r.method,
    fmt(r.paramsPerSecond.median),
    `${fmt(r.paramsPerSecond.min)}-${fmt(r.paramsPerSecond.max)}`,
    r.vsTfAdam === undefined ? '' : r.vsTfAdam.toFixed(1),
    pct(r.vsFloor),
    pct(r.vsNative1),
    pct(r.vsNativeAll),
    r.peakExtraBytes === undefined ? '' : String(r.peakExtraBytes),
    r.stateBytesPerParam === undefined ? '' : r.stateBytesPerParam.toFixed(2),
    r.vsFloat32 === undefined ? '' : r.vsFloat32.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(show(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const l of lines) console.log(show(l));
}

function targets(rows: Row[]): string[] {
  const find = (backend: string, method: string) =>
    rows.find((r) => r.backend === backend && r.params === 1e7 && r.tensors === 1 && r.method === method);
  const out: string[] = [];
  const check = (label: string, value: number | undefined, goal: number, unit: string) => {
    if (value === undefined) return;
    out.push(
      `${value >= goal ? 'met   ' : 'MISSED'} ${label}: ${unit === '%' ? `${(100 * value).toFixed(0)}%` : `${value.toFixed(1)}x`} (target ${unit === '%' ? `${goal * 100}%` : `${goal}x`})`,
    );
  };
  check('wasm 1e7, fused ADOPT vs bandwidth floor', find('wasm', 'ADOPT fused')?.vsFloor, 0.75, '%');
  check('wasm 1e7, fused ADOPT vs tf.train.adam', find('wasm', 'ADOPT fused')?.vsTfAdam, 6, 'x');
  check('cpu 1e7, fused ADOPT vs tf.train.adam', find('cpu', 'ADOPT fused')?.vsTfAdam, 50, 'x');
  check('wasm 1e7, fused ADOPT int8 state vs float32 state', find('wasm', 'ADOPT fused int8')?.vsFloat32, 1.2, 'x');
  check('core 1e7, fused ADOPT vs bandwidth floor', find('core', 'core.adopt fused')?.vsFloor, 0.5, '%');
  check(
    'core 1e7, fused ADOPT int8 state vs float32 state',
    find('core', 'core.adopt fused int8')?.vsFloat32,
    1.2,
    'x',
  );
  const bytes8 = find('core', 'core.adopt fused int8')?.stateBytesPerParam;
  if (bytes8 !== undefined)
    out.push(
      `${bytes8 <= 2.1 ? 'met   ' : 'MISSED'} core 1e7, int8 state bytes per parameter: ${bytes8.toFixed(3)} (target 2.1)`,
    );
  const bytes4 = find('core', 'core.adopt fused int4')?.stateBytesPerParam;
  if (bytes4 !== undefined)
    out.push(
      `${bytes4 <= 1.1 ? 'met   ' : 'MISSED'} core 1e7, int4 state bytes per parameter (with its chunk scratch): ${bytes4.toFixed(3)} (target 1.1)`,
    );
  const many = rows.find(
    (r) => r.backend === 'wasm' && r.params === 1e6 && r.tensors === 100 && r.method === 'ADOPT fused',
  );
  check('wasm 100 tensors of 1e4 (one applyGradients), fused ADOPT vs bandwidth floor', many?.vsFloor, 0.8, '%');
  const peak = rows.filter((r) => r.method === 'ADOPT fused').map((r) => r.peakExtraBytes ?? 0);
  if (peak.length)
    out.push(
      `${Math.max(...peak) === 0 ? 'met   ' : 'MISSED'} peak extra memory of a fused step: ${Math.max(...peak)} bytes (target 0)`,
    );
  return out;
}

/** The size the summary against the machine's limit reads: the largest measured (1e7; 1e6 with --quick). */
const LARGEST = SIZES.at(-1)!;

/**
 * What the native rows say (LARGEST in one tensor): the second thread's gain, our steps as fractions of the C
 * kernel, and the low-bit steps against float32 state. Reported, not judged: the machine sets these limits.
 */
function limits(rows: Row[]): string[] {
  const at = (backend: string, method: string) =>
    rows.find((r) => r.backend === backend && r.params === LARGEST && r.tensors === 1 && r.method === method);
  const out: string[] = [];
  const g = (x: number) => `${(x / 1e9).toFixed(2)} G/s`;
  for (const backend of ['core', 'wasm', 'cpu']) {
    const one = at(backend, NATIVE_1),
      all = at(backend, NATIVE_ALL);
    if (one && all) {
      const gain = all.overOneThread!;
      out.push(
        `native C beside ${backend}: ${g(one.paramsPerSecond.median)} on 1 thread, ` +
          `${g(all.paramsPerSecond.median)} on ${ALL_THREADS}: ` +
          `x${(all.paramsPerSecond.median / one.paramsPerSecond.median).toFixed(2)} ` +
          `(per repetition ${gain.median.toFixed(2)}, ${gain.min.toFixed(2)}-${gain.max.toFixed(2)})`,
      );
    }
  }
  const float32 = rows.filter(
    (r) =>
      r.params === LARGEST &&
      r.tensors === 1 &&
      r.vsNativeAll !== undefined &&
      (r.method === 'ADOPT fused' || r.method === 'ADOPT fused nonFinite off' || r.method === 'core.adopt fused'),
  );
  for (const r of float32) {
    const spread = (x: Stat | undefined) => (x === undefined ? '' : ` (per repetition ${pct(x.min)}-${pct(x.max)})`);
    out.push(
      `${r.backend} ${r.method}: ${g(r.paramsPerSecond.median)} = ${pct(r.vsNative1)}${spread(r.ofNative1)} ` +
        `of native C on 1 thread, ${pct(r.vsNativeAll)}${spread(r.ofNativeAll)} on ${ALL_THREADS} threads, ` +
        `${pct(r.vsFloor)} of the copy floor`,
    );
  }
  const best = float32.reduce<Row | undefined>(
    (b, r) => (b === undefined || r.paramsPerSecond.median > b.paramsPerSecond.median ? r : b),
    undefined,
  );
  if (best) {
    out.push(
      `best float32 step: ${best.backend} ${best.method}, ${pct(best.vsNativeAll)} of the machine ` +
        `(native C on ${ALL_THREADS} threads)`,
    );
  }
  const pairs = [
    ['wasm', 'ADOPT fused', 'ADOPT fused int'],
    ['core', 'core.adopt fused', 'core.adopt fused int'],
  ] as const;
  for (const [backend, f32, low] of pairs) {
    const base = at(backend, f32);
    for (const bits of ['8', '4']) {
      const r = at(backend, low + bits);
      if (!base || !r) continue;
      out.push(
        `${backend} ${bits}-bit state: x${(r.paramsPerSecond.median / base.paramsPerSecond.median).toFixed(2)} ` +
          'the float32 state step (one thread)',
      );
    }
  }
  return out;
}

console.log(`adopt-optim benchmark: one optimizer step, ${QUICK ? 'quick' : 'full'} run, Node ${process.version}`);
const started = Date.now();
const CORE_ONLY = args.includes('--core');
const WASM_ONLY = args.includes('--wasm');
const build = args.includes('--no-native') ? { reason: '--no-native' } : buildNative();
if (!('reason' in build)) process.once('exit', () => build.remove()); // also when the bench fails
const server = 'reason' in build ? undefined : new NativeServer(build);
console.log(
  'reason' in build
    ? `Native C kernel: skipped (${build.reason}); no "native C" rows.`
    : `Native C kernel: ${build.command}, bench/native/adopt_step.c; ${ALL_THREADS} threads available.`,
);
const native = new NativeLanes(server);
const rows = [
  ...(await benchCore(native)),
  ...(CORE_ONLY ? [] : await benchBackend('wasm', native)),
  ...(CORE_ONLY || WASM_ONLY ? [] : await benchBackend('cpu', native)),
];
await server?.close();
printTable(rows);
console.log(
  '\nOptimizer state: 8 bytes per parameter for ADOPT (m, v) and for tf.train.adam (m, v); int8 state: codes of m and sqrt(v) plus a float32 scale per 256; int4: half a byte each plus a scale per 128 (column "state B/param").',
);
console.log('"of floor" = params/s divided by the probe\'s params/s (probe bytes/s / 28) in the same run.');
console.log(
  `"of C 1T", "of C ${ALL_THREADS}T" = params/s divided by the native C kernel's (same step, same lengths, ` +
    `28 B/param) on 1 and on ${ALL_THREADS} threads, same run.`,
);
const verdicts = targets(rows);
console.log(`\nTargets (1e7 parameters in one tensor unless said):\n${verdicts.map((v) => `  ${v}`).join('\n')}`);
const limitLines = limits(rows);
if (limitLines.length) {
  console.log(`\nAgainst the machine's limit (${LARGEST.toExponential(0)} parameters, one tensor; medians):`);
  for (const l of limitLines) console.log(`  ${l}`);
}
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(
  OUT,
  JSON.stringify(
    {
      node: process.version,
      date: new Date().toISOString(),
      quick: QUICK,
      threads: ALL_THREADS,
      native: 'reason' in build ? { skipped: build.reason } : { compiler: build.command },
      rows,
      targets: verdicts,
      limits: limitLines,
    },
    null,
    2,
  ),
);
console.log(`\nWrote ${OUT} in ${((Date.now() - started) / 1000).toFixed(0)} s.`);
