/**
 * `npm run bench:large -w adopt-optim`: how large a model ADOPT can train on the wasm backend in
 * Node, with float32 state and with 8-bit state (ALGORITHM.md §11).
 *
 * tfjs's wasm backend keeps every tensor in one WebAssembly memory, a 32-bit address space: at most
 * 4 GiB (measured here: the heap stops growing at 4006 MiB). With float32 state the heap holds the
 * parameters (4 B each), their gradients (4 B) and m and v (8 B); with 8-bit state it holds the
 * codes and scales too (~2 B, allocated on the heap so that the kernels update them in place there,
 * src/backends/wasm_heap_lowbit.ts; before that change they lived in memories of their own, outside it). Each case runs in a child
 * process of its own (an exhausted heap leaves a backend that cannot be trusted) and trains a deep
 * MLP of 1000-wide tanh layers (one 1000 x 1000 weight matrix each, so 1e8 parameters is 100 layers)
 * on a fixed batch of 8 random inputs and targets, loss = mean((f(x) - y)^2), for a few ADOPT steps;
 * activations are small, so the heap holds what the optimizer needs plus XNNPACK's packed copy of
 * each weight matrix. It reports the loss (it must fall), the step time, the wasm heap's size,
 * the bytes the optimizer's 8-bit state holds (measured from its allocations) and the process's
 * resident memory; or the error that stopped it.
 *
 * Usage: npm run bench:large -w adopt-optim [-- --out FILE]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import '../src/lowbit/index.js'; // int8 / int4 state (the optional entry point)
import { adopt } from '../src/index.js';
import type { LowBitStore } from '../src/tfjs/lowbit_store.js';

const WIDTH = 1000;
const BATCH = 8;
const STEPS = 4;

interface CaseResult {
  params: number;
  state: 'float32' | 'int8';
  ok: boolean;
  losses?: number[];
  stepSeconds?: number[];
  heapMiB?: number;
  /** Bytes of the live tensors (tf.memory().numBytes) after the steps: parameters, state on the heap, inputs. */
  tensorsMiB?: number;
  stateBytesOutsideHeap?: number;
  /** Bytes of the 8-bit state's allocations on the wasm heap (counted in heapMiB too). */
  stateBytesOnHeap?: number;
  rssMiB?: number;
  error?: string;
}

async function child(params: number, state: 'float32' | 'int8'): Promise<CaseResult> {
  await tf.setBackend('wasm');
  await tf.ready();
  const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length / 2 ** 20;
  const layers = Math.ceil(params / (WIDTH * WIDTH));
  const out: CaseResult = { params: layers * WIDTH * WIDTH, state, ok: false };
  const losses: number[] = [];
  const stepSeconds: number[] = [];
  try {
    const vars = Array.from({ length: layers }, (_, i) =>
      tf.variable(tf.randomNormal([WIDTH, WIDTH], 0, 1 / Math.sqrt(WIDTH), 'float32', i + 1), true, `layer${i}/kernel`),
    );
    const x = tf.randomNormal([BATCH, WIDTH], 0, 1, 'float32', 1001);
    const y = tf.randomUniform([BATCH, WIDTH], -0.5, 0.5, 'float32', 1002);
    const optimizer = adopt(1e-5, { stateDtype: state });
    const loss = () =>
      tf.tidy(
        () =>
          tf.mean(
            tf.square(
              tf.sub(
                vars.reduce((h: tf.Tensor, w) => tf.tanh(tf.matMul(h as tf.Tensor2D, w)), x),
                y,
              ),
            ),
          ) as tf.Scalar,
      );
    for (let s = 0; s < STEPS; s++) {
      const t0 = performance.now();
      const l = optimizer.minimize(loss, true, vars)!;
      losses.push(l.dataSync()[0]!);
      l.dispose();
      stepSeconds.push((performance.now() - t0) / 1000);
    }
    const after = loss();
    losses.push(after.dataSync()[0]!);
    after.dispose();
    const bytes = (optimizer as unknown as { lowBit: LowBitStore | null }).lowBit?.bytes() ?? { heap: 0, outside: 0 };
    out.stateBytesOutsideHeap = bytes.outside;
    out.stateBytesOnHeap = bytes.heap;
    out.ok = losses.every(Number.isFinite) && losses.at(-1)! < losses[0]!;
    if (!out.ok) out.error = `the loss did not fall: ${losses.join(', ')}`;
  } catch (e) {
    out.error = String((e as Error).message ?? e)
      .split('\n')[0]!
      .slice(0, 300);
  }
  out.losses = losses;
  out.stepSeconds = stepSeconds;
  out.heapMiB = Math.round(heap());
  out.tensorsMiB = Math.round(tf.memory().numBytes / 2 ** 20);
  out.rssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
  return out;
}

if (process.argv[2] === '--child') {
  const r = await child(Number(process.argv[3]), process.argv[4] as 'float32' | 'int8');
  process.stdout.write(`${JSON.stringify(r)}\n`);
} else {
  const args = process.argv.slice(2);
  const OUT = args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'out/bench/large_model.json';
  const cases: [number, 'float32' | 'int8'][] = [
    [1e8, 'float32'],
    [1e8, 'int8'],
    [1.5e8, 'float32'],
    [1.5e8, 'int8'],
    [2e8, 'float32'],
    [2e8, 'int8'],
    [2.5e8, 'int8'],
    [3e8, 'int8'],
  ];
  const results: CaseResult[] = [];
  for (const [params, state] of cases) {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', String(params), state],
      { encoding: 'utf8', timeout: 900_000, maxBuffer: 1 << 24 },
    );
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    let res: CaseResult;
    try {
      res = JSON.parse(line) as CaseResult;
    } catch {
      res = {
        params,
        state,
        ok: false,
        error: `the process ended with status ${r.status}${r.signal ? ` (${r.signal})` : ''}: ${r.stderr
          .trim()
          .split('\n')
          .filter((x) => /Error|error|memory/i.test(x))
          .slice(0, 2)
          .join(' | ')
          .slice(0, 300)}`,
      };
    }
    results.push(res);
    console.log(JSON.stringify(res));
  }
  const fmt = (x: number | undefined, d = 2) => (x === undefined ? '' : x.toFixed(d));
  const rows = results.map(
    (r) =>
      `| ${r.params.toExponential(1)} | ${r.state} | ${r.ok ? 'trains' : 'fails'} | ${r.losses?.length ? `${fmt(r.losses[0], 4)} → ${fmt(r.losses.at(-1), 4)}` : ''} | ${r.stepSeconds?.length ? fmt([...r.stepSeconds].sort((a, b) => a - b)[r.stepSeconds.length >> 1]) : ''} | ${r.heapMiB ?? ''} | ${r.tensorsMiB ?? ''} | ${r.stateBytesOnHeap ? fmt(r.stateBytesOnHeap / r.params, 3) : ''} | ${r.stateBytesOutsideHeap ? fmt(r.stateBytesOutsideHeap / r.params, 3) : ''} | ${r.rssMiB ?? ''} | ${r.error ?? ''} |`,
  );
  const text = [
    `# npm run bench:large -w adopt-optim (${new Date().toISOString()}), Node ${process.version}; deep MLP of ${WIDTH}-wide layers, batch ${BATCH}, ${STEPS} ADOPT steps (the first initialises v), wasm backend`,
    '| params | state | result | loss before → after | step s (median) | wasm heap MiB (peak) | live tensors MiB | 8-bit state B/param on the heap | 8-bit state B/param outside the heap | RSS MiB | error |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  console.log(`\n${text}`);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(OUT.replace(/\.json$/, '.txt'), `${text}\n`);
}
