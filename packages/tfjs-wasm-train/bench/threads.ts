/**
 * `npm run bench:threads`: one training step on wasm with tfjs-wasm-train, 1 thread beside N threads
 * (`initWasmThreads`), side by side in one run:
 *  - the MNIST MLP 784-256-256-10 (ReLU, softmax) at batch 128, trainOnBatch with tf.train.adam, and
 *  - adopt-lab's character GPT (1.27M parameters: width 160, 4 layers, 4 heads, context 64) at batch 32, one
 *    ADOPT step (adopt-optim), the model taken from this monorepo's packages/adopt-lab/src/gpt.ts.
 * A process starts wasm once, so each (workload, threads) runs in a child process; the children alternate
 * (1, N, N, 1, 1, N, ...) so machine noise hits both alike. Each cell: median and min-max of all timed steps.
 * Also one profiled GPT step on N threads: where the time goes, and which kernels still run on one thread.
 * Writes docs/bench/threads.json and docs/bench/threads.txt at the repository root.
 * Usage: npm run bench:threads [-- --threads N] [--rounds R] [--quick]
 */
import { execFileSync, type ExecFileSyncOptionsWithStringEncoding } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..', '..');
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const QUICK = process.argv.includes('--quick');

type Workload = 'mlp' | 'gpt';
const STEPS: Record<Workload, number> = { mlp: QUICK ? 5 : 15, gpt: QUICK ? 2 : 4 };
const TITLES: Record<Workload, string> = {
  mlp: 'MNIST MLP 784-256-256-10, batch 128 (trainOnBatch, Adam)',
  gpt: 'GPT 1.27M (width 160, 4 layers, context 64), batch 32 (one ADOPT step)',
};

interface ChildResult {
  threads: number;
  workers: number;
  times: number[];
  profile?: { name: string; ms: number; calls: number }[];
}

async function gptStep(): Promise<() => void> {
  const { adopt } = await import('adopt-optim');
  const gptPath = join(ROOT, 'packages', 'adopt-lab', 'src', 'gpt.ts');
  const { Gpt } = (await import(pathToFileURL(gptPath).href)) as {
    Gpt: new (c: object, seed: number) => { variables: tf.Variable[]; loss(x: tf.Tensor, y: tf.Tensor): tf.Scalar };
  };
  const model = new Gpt({ vocab: 80, width: 160, layers: 4, heads: 4, context: 64 }, 1);
  const opt = adopt(1e-3);
  const x = tf.randomUniform([32, 64], 0, 80, 'int32', 3);
  const y = tf.randomUniform([32, 64], 0, 80, 'int32', 4);
  return () => void opt.minimize(() => model.loss(x, y), false, model.variables);
}

async function mlpStep(): Promise<() => Promise<void>> {
  const m = tf.sequential();
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  m.add(tf.layers.dense({ inputShape: [784], units: 256, activation: 'relu', kernelInitializer: init(1) }));
  m.add(tf.layers.dense({ units: 256, activation: 'relu', kernelInitializer: init(2) }));
  m.add(tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(3) }));
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const x = tf.randomUniform([128, 784], 0, 1, 'float32', 5);
  const y = tf.oneHot(tf.randomUniform([128], 0, 10, 'int32', 6) as tf.Tensor1D, 10);
  return async () => void (await m.trainOnBatch(x, y));
}

/** In a child: start wasm with `threads`, warm up, time `steps` steps, optionally profile one. */
async function child(workload: Workload, threads: number, steps: number, profile: boolean): Promise<ChildResult> {
  const { enableWasmTraining, initWasmThreads } = await import('../src/index.js');
  const info = await initWasmThreads({ threads });
  enableWasmTraining();
  const step = workload === 'gpt' ? await gptStep() : await mlpStep();
  await step();
  await step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  const result: ChildResult = { threads: info.threads, workers: info.workers, times };
  if (profile) {
    const p = await tf.profile(async () => void (await step()));
    const by = new Map<string, { ms: number; calls: number }>();
    for (const k of p.kernels.filter((k) => k.name !== 'unnamed scope')) {
      const e = by.get(k.name) ?? { ms: 0, calls: 0 };
      e.ms += (k.kernelTimeMs as number) || 0;
      e.calls++;
      by.set(k.name, e);
    }
    result.profile = [...by].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.ms - a.ms);
  }
  return result;
}

function runChild(workload: Workload, threads: number, profile: boolean): ChildResult {
  const script = fileURLToPath(import.meta.url);
  const args = ['--import', 'tsx', script, '--child', workload, String(threads), String(STEPS[workload])];
  if (profile) args.push('--profile');
  const options: ExecFileSyncOptionsWithStringEncoding = { encoding: 'utf8', maxBuffer: 16 << 20, stdio: 'pipe' };
  const out = execFileSync(process.execPath, args, options);
  return JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult;
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

const f = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const cell = (s: Stat): string => `${f(s.median)} (${f(s.min)}-${f(s.max)})`;

async function parent(): Promise<void> {
  const n = arg('--threads', Math.min(8, availableParallelism()));
  const rounds = arg('--rounds', QUICK ? 1 : 3);
  if (!(Number.isInteger(n) && n >= 2 && n <= 8)) throw new Error(`--threads must be an integer from 2 to 8, got ${n}`);
  const loadBefore = loadavg()[0]!;
  const rows: { workload: Workload; one: Stat; many: Stat; perRound: number[] }[] = [];
  let profile: ChildResult['profile'];
  for (const workload of ['mlp', 'gpt'] as const) {
    const times = new Map<number, number[]>([
      [1, []],
      [n, []],
    ]);
    const perRound: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [1, n] : [n, 1];
      const medians = new Map<number, number>();
      for (const t of order) {
        const res = runChild(workload, t, workload === 'gpt' && t === n && r === rounds - 1);
        if (res.threads !== t) throw new Error(`asked for ${t} threads, the child ran ${res.threads}`);
        times.get(t)!.push(...res.times);
        medians.set(t, stat(res.times).median);
        if (res.profile) profile = res.profile;
        console.error(`${workload} round ${r + 1}: ${t} thread(s) ${res.times.map(f).join(' ')} ms`);
      }
      perRound.push(medians.get(1)! / medians.get(n)!);
    }
    rows.push({ workload, one: stat(times.get(1)!), many: stat(times.get(n)!), perRound });
  }
  const lines = [
    `One training step on wasm with tfjs-wasm-train, 1 thread vs ${n} (initWasmThreads), ` +
      `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${availableParallelism()} cores available. ` +
      `ms: median (min-max) of every timed step, children alternating over ${rounds} round(s). Load average ` +
      `${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after (above the core count, threads wait).`,
    '',
    `| workload | 1 thread | ${n} threads | speed-up (medians) | speed-up per round |`,
    '|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${TITLES[r.workload]} | ${cell(r.one)} | ${cell(r.many)} | ${(r.one.median / r.many.median).toFixed(2)}x ` +
        `| ${r.perRound.map((x) => x.toFixed(2)).join(', ')} |`,
    ),
  ];
  if (profile) {
    const total = profile.reduce((a, k) => a + k.ms, 0);
    lines.push(
      '',
      `GPT step on ${n} threads, per kernel (one profiled step, ${f(total)} ms of kernels; XNNPACK runs ` +
        'BatchMatMul, _FusedMatMul and convolutions on all threads, the rest runs on one):',
      '',
      '| kernel | ms | calls | share |',
      '|---|---|---|---|',
      ...profile
        .slice(0, 15)
        .map((k) => `| ${k.name} | ${f(k.ms)} | ${k.calls} | ${((100 * k.ms) / total).toFixed(1)}% |`),
    );
  }
  const outDir = join(ROOT, 'docs', 'bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'threads.json'), `${JSON.stringify({ threads: n, rounds, rows, profile }, null, 1)}\n`);
  writeFileSync(join(outDir, 'threads.txt'), `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
}

if (process.argv[2] === '--child') {
  const [workload, threads, steps] = [process.argv[3] as Workload, Number(process.argv[4]), Number(process.argv[5])];
  console.log(JSON.stringify(await child(workload, threads, steps, process.argv.includes('--profile'))));
} else {
  await parent();
}
