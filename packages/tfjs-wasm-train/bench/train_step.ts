/**
 * `npm run bench`: one training step (trainOnBatch) of
 *  - an MLP 784-256-256-10 (ReLU, softmax) at batch 128, and
 *  - a small CNN (Conv2D 3×3×16 ReLU, MaxPool 2, Conv2D 3×3×32 ReLU, MaxPool 2, Dense 10 softmax) on
 *    28×28×1 inputs at batch 64,
 * on wasm with our kernels, on wasm with tfjs's kernels only, on wasm with only the kernels tfjs lacks
 * (so the CNN can train at all; tfjs's own BatchMatMul, _FusedMatMul, Conv2DBackpropInput and
 * MaxPoolGrad), and on cpu. All run in one
 * process, interleaved within each repetition so machine noise hits them alike; each cell is the
 * median over repetitions with the spread (min-max). Also the issue's three matMul products alone,
 * and the kernels of a small transformer's training step alone (attention products, transposes,
 * unstack/split, bias-gradient sums).
 *
 * Writes docs/bench/train_step.json and docs/bench/train_step.txt at the repository root.
 * Usage: npm run bench [-- --quick]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { disableWasmTraining, enableWasmTraining } from '../src/index.js';

const QUICK = process.argv.includes('--quick');
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const OUT_DIR = join(ROOT, 'docs', 'bench');

type Mode = 'wasm + tfjs-wasm-train' | 'wasm, tfjs kernels' | 'wasm, missing kernels only' | 'cpu';
const MODES: Mode[] = ['wasm + tfjs-wasm-train', 'wasm, tfjs kernels', 'wasm, missing kernels only', 'cpu'];

// tfjs's own configs, to put back for the 'missing kernels only' mode
const TFJS_OWN = ['BatchMatMul', '_FusedMatMul', 'Conv2DBackpropInput', 'MaxPoolGrad'].map(
  (k) => tf.getKernel(k, 'wasm')!,
);

async function setMode(mode: Mode): Promise<void> {
  disableWasmTraining();
  if (mode === 'wasm + tfjs-wasm-train') enableWasmTraining();
  if (mode === 'wasm, missing kernels only') {
    enableWasmTraining();
    for (const config of TFJS_OWN) {
      tf.unregisterKernel(config.kernelName, 'wasm');
      tf.registerKernel(config);
    }
  }
  const backend = mode === 'cpu' ? 'cpu' : 'wasm';
  if (tf.getBackend() !== backend) {
    if (!(await tf.setBackend(backend))) throw new Error(`no backend ${backend}`);
    await tf.ready();
  }
}

interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s.at(-1)!, n: s.length };
}

function mlp(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [784], units: 256, activation: 'relu' }));
  m.add(tf.layers.dense({ units: 256, activation: 'relu' }));
  m.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  return m;
}

function cnn(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  return m;
}

interface Workload {
  name: string;
  make: () => tf.Sequential;
  inputShape: number[];
  batch: number;
  /** repetitions per mode (cpu is slow on the CNN) */
  reps: (mode: Mode) => number;
}

const WORKLOADS: Workload[] = [
  {
    name: 'MLP 784-256-256-10, batch 128',
    make: mlp,
    inputShape: [784],
    batch: 128,
    reps: (m) => (QUICK ? 5 : m === 'cpu' ? 9 : 21),
  },
  {
    name: 'CNN conv16-pool-conv32-pool-dense10, 28x28x1, batch 64',
    make: cnn,
    inputShape: [28, 28, 1],
    batch: 64,
    reps: (m) => (QUICK ? (m === 'cpu' ? 1 : 5) : m === 'cpu' ? 3 : 21),
  },
];

interface Cell {
  workload: string;
  mode: Mode;
  ms?: Stat;
  error?: string;
}

/** One model and data set per mode, created on that mode's backend with the same initial weights. */
async function benchWorkload(w: Workload): Promise<Cell[]> {
  await setMode('cpu');
  const init = w.make();
  const weights = init.getWeights().map((t) => ({ shape: t.shape, values: t.dataSync().slice() }));
  init.dispose();
  const xs = Float32Array.from({ length: w.batch * w.inputShape.reduce((a, b) => a * b) }, () => Math.random());
  const labels = Float32Array.from({ length: w.batch * 10 }, (_, i) => (i % 10 === Math.floor(i / 10) % 10 ? 1 : 0));
  const runs = new Map<Mode, { model: tf.Sequential; x: tf.Tensor; y: tf.Tensor; times: number[]; error?: string }>();
  for (const mode of MODES) {
    await setMode(mode);
    const model = w.make();
    model.setWeights(weights.map((v) => tf.tensor(v.values, v.shape)));
    model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
    const run = {
      model,
      x: tf.tensor(xs, [w.batch, ...w.inputShape]),
      y: tf.tensor2d(labels, [w.batch, 10]),
      times: [] as number[],
      error: undefined as string | undefined,
    };
    try {
      await model.trainOnBatch(run.x, run.y); // warm-up: kernel setup, XNNPACK operators, optimizer state
      if (mode !== 'cpu') await model.trainOnBatch(run.x, run.y);
    } catch (e) {
      run.error = (e as Error).message;
    }
    runs.set(mode, run);
  }
  const maxReps = Math.max(...MODES.map(w.reps));
  for (let rep = 0; rep < maxReps; rep++) {
    for (const mode of MODES) {
      const run = runs.get(mode)!;
      // spread a mode's fewer repetitions over the whole run
      const reps = w.reps(mode);
      if (run.error !== undefined || rep % Math.max(1, Math.floor(maxReps / reps)) !== 0 || run.times.length >= reps)
        continue;
      await setMode(mode);
      const t0 = performance.now();
      await run.model.trainOnBatch(run.x, run.y);
      run.times.push(performance.now() - t0);
    }
  }
  const cells: Cell[] = [];
  for (const mode of MODES) {
    const run = runs.get(mode)!;
    await setMode(mode);
    cells.push(
      run.error !== undefined
        ? { workload: w.name, mode, error: run.error }
        : { workload: w.name, mode, ms: stat(run.times) },
    );
    tf.dispose([run.x, run.y]);
    run.model.dispose();
  }
  return cells;
}

/** The issue's three products alone, with and without our kernels (wasm). */
async function benchMatMuls(): Promise<{ product: string; tfjs: Stat; ours: Stat }[]> {
  await setMode('wasm, tfjs kernels');
  const x = tf.randomNormal([128, 784]);
  const w = tf.randomNormal([784, 256]);
  const dy = tf.randomNormal([128, 256]);
  const products: [string, () => tf.Tensor][] = [
    ['x[128,784] @ w[784,256]', () => tf.matMul(x, w)],
    ['dy[128,256] @ wT (w[784,256])', () => tf.matMul(dy, w, false, true)],
    ['xT (x[128,784]) @ dy[128,256]', () => tf.matMul(x, dy, true, false)],
  ];
  const out = [];
  for (const [product, f] of products) {
    const times: Record<'tfjs' | 'ours', number[]> = { tfjs: [], ours: [] };
    for (let rep = 0; rep < (QUICK ? 5 : 25); rep++) {
      for (const which of ['tfjs', 'ours'] as const) {
        await setMode(which === 'ours' ? 'wasm + tfjs-wasm-train' : 'wasm, tfjs kernels');
        const t0 = performance.now();
        const r = f();
        times[which].push(performance.now() - t0);
        r.dispose();
      }
    }
    out.push({ product, tfjs: stat(times.tfjs), ours: stat(times.ours) });
  }
  tf.dispose([x, w, dy]);
  return out;
}

/**
 * The kernels a small transformer's training step leaned on (GPT width 160, 4 heads, context 64,
 * batch 32), each alone, with and without our kernels (wasm).
 */
async function benchTransformerKernels(): Promise<{ product: string; tfjs: Stat; ours: Stat }[]> {
  await setMode('wasm, tfjs kernels');
  const qkv = tf.randomNormal([32, 64, 3, 4, 40]);
  const split = tf.randomNormal([3, 32, 4, 64, 40]);
  const q = tf.randomNormal([32, 4, 64, 40]);
  const k = tf.randomNormal([32, 4, 64, 40]);
  const p = tf.randomNormal([32, 4, 64, 64]);
  const h = tf.randomNormal([2048, 640]);
  const fused = tf.randomNormal([2048, 480]);
  const ops: [string, () => tf.Tensor | tf.Tensor[]][] = [
    ['Transpose [32,64,3,4,40] -> [3,32,4,64,40] (q, k, v)', () => tf.transpose(qkv, [2, 0, 3, 1, 4])],
    ['Transpose [3,32,4,64,40] -> [32,64,3,4,40] (its gradient)', () => tf.transpose(split, [1, 3, 0, 2, 4])],
    ['Unpack [3,32,4,64,40] (tf.unstack)', () => tf.unstack(split)],
    ['BatchMatMul q·kT [32,4,64,40] x [32,4,64,40]T', () => tf.matMul(q, k, false, true)],
    ['BatchMatMul p·v [32,4,64,64] x [32,4,64,40]', () => tf.matMul(p, k)],
    ['BatchMatMul pT·dy [32,4,64,64]T x [32,4,64,40]', () => tf.matMul(p, k, true, false)],
    ['Transpose [2048,640] (xT of a Dense gradient)', () => tf.transpose(h)],
    ['Sum [2048,640] over axis 0 (a bias gradient)', () => tf.sum(h, 0)],
    ['SplitV [2048,480] into 3 along axis 1 (tf.split)', () => tf.split(fused, 3, 1)],
  ];
  const out = [];
  for (const [product, f] of ops) {
    const times: Record<'tfjs' | 'ours', number[]> = { tfjs: [], ours: [] };
    for (let rep = 0; rep < (QUICK ? 3 : 11); rep++) {
      for (const which of ['tfjs', 'ours'] as const) {
        await setMode(which === 'ours' ? 'wasm + tfjs-wasm-train' : 'wasm, tfjs kernels');
        const t0 = performance.now();
        const r = f();
        times[which].push(performance.now() - t0);
        tf.dispose(r);
      }
    }
    out.push({ product, tfjs: stat(times.tfjs), ours: stat(times.ours) });
  }
  tf.dispose([qkv, split, q, k, p, h, fused]);
  return out;
}

const fmt = (s: Stat) => `${s.median.toFixed(1)} (${s.min.toFixed(1)}-${s.max.toFixed(1)}, n=${s.n})`;

async function main(): Promise<void> {
  const started = Date.now();
  const matmuls = await benchMatMuls();
  const transformer = await benchTransformerKernels();
  const cells: Cell[] = [];
  for (const w of WORKLOADS) cells.push(...(await benchWorkload(w)));
  disableWasmTraining();

  const lines: string[] = [];
  lines.push(`tfjs-wasm-train benchmark: one training step (trainOnBatch, tf.train.adam), ms, median (min-max, n)`);
  lines.push(
    `Node ${process.version}, tfjs ${tf.version.tfjs}, wasm backend SIMD single-threaded; ` +
      `${new Date().toISOString()}${QUICK ? ' (--quick)' : ''}`,
  );
  lines.push('');
  lines.push('| workload | mode | ms per step | x cpu |');
  lines.push('|---|---|---|---|');
  const ratios: Record<string, number> = {};
  for (const w of WORKLOADS) {
    const cpu = cells.find((c) => c.workload === w.name && c.mode === 'cpu')!.ms!.median;
    for (const c of cells.filter((x) => x.workload === w.name)) {
      lines.push(
        `| ${c.workload} | ${c.mode} | ${c.ms ? fmt(c.ms) : `fails: ${c.error}`} | ` +
          `${c.ms ? (cpu / c.ms.median).toFixed(1) : '-'} |`,
      );
    }
  }
  const get = (wi: number, mode: Mode) =>
    cells.find((c) => c.workload === WORKLOADS[wi]!.name && c.mode === mode)?.ms?.median;
  ratios['MLP: wasm+ours vs wasm (tfjs kernels)'] = get(0, 'wasm, tfjs kernels')! / get(0, 'wasm + tfjs-wasm-train')!;
  ratios['MLP: wasm+ours vs cpu'] = get(0, 'cpu')! / get(0, 'wasm + tfjs-wasm-train')!;
  ratios['CNN: wasm+ours vs cpu'] = get(1, 'cpu')! / get(1, 'wasm + tfjs-wasm-train')!;
  ratios['CNN: wasm+ours vs wasm with only the missing kernels'] =
    get(1, 'wasm, missing kernels only')! / get(1, 'wasm + tfjs-wasm-train')!;
  lines.push('');
  lines.push('| product (wasm) | tfjs kernel ms | tfjs-wasm-train ms | speed-up |');
  lines.push('|---|---|---|---|');
  for (const m of matmuls)
    lines.push(`| ${m.product} | ${fmt(m.tfjs)} | ${fmt(m.ours)} | ${(m.tfjs.median / m.ours.median).toFixed(1)}x |`);
  lines.push('');
  lines.push('| transformer kernel (wasm) | tfjs kernel ms | tfjs-wasm-train ms | speed-up |');
  lines.push('|---|---|---|---|');
  for (const m of transformer)
    lines.push(`| ${m.product} | ${fmt(m.tfjs)} | ${fmt(m.ours)} | ${(m.tfjs.median / m.ours.median).toFixed(1)}x |`);
  lines.push('');
  lines.push('Ratios (medians):');
  for (const [k, v] of Object.entries(ratios)) lines.push(`  ${k}: ${v.toFixed(1)}x`);
  lines.push('Targets (issue "Training at full speed on the wasm backend"):');
  const mlpTarget = ratios['MLP: wasm+ours vs wasm (tfjs kernels)']!;
  const cnnTarget = ratios['CNN: wasm+ours vs cpu']!;
  lines.push(
    `  ${mlpTarget >= 3 ? 'met   ' : 'MISSED'} MLP step on wasm, with vs without: ${mlpTarget.toFixed(1)}x (target 3x)`,
  );
  lines.push(
    `  ${cnnTarget >= 5 ? 'met   ' : 'MISSED'} CNN step, wasm with it vs cpu: ${cnnTarget.toFixed(1)}x (target 5x)`,
  );
  lines.push(`Took ${((Date.now() - started) / 1e3).toFixed(0)} s.`);
  const text = lines.join('\n');
  console.log(text);
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, 'train_step.txt'), `${text}\n`);
  writeFileSync(
    join(OUT_DIR, 'train_step.json'),
    `${JSON.stringify(
      {
        node: process.version,
        tfjs: tf.version.tfjs,
        date: new Date().toISOString(),
        quick: QUICK,
        unit: 'ms per step',
        steps: cells,
        matmuls,
        transformer,
        ratios,
        targets: { mlpWasmSpeedup: { value: mlpTarget, target: 3 }, cnnVsCpu: { value: cnnTarget, target: 5 } },
      },
      null,
      2,
    )}\n`,
  );
}

await main();
