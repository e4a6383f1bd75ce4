/**
 * `npm run bench:gpt-profile -w adopt-lab`: one training step of the charlm-medium GPT (1.27M parameters,
 * width 160, 4 layers, context 64, batch 32) with ADOPT on wasm with tfjs-wasm-train, timed, then profiled per
 * kernel (tf.profile) with the matrix products broken down by shape and their GFLOP/s. The products alone
 * are the floor a faster step could approach. Writes docs/bench/gpt_step_profile.txt.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { enableWasmTraining } from 'tfjs-wasm-train';
import { adopt } from 'adopt-optim';
import { Gpt } from '../src/gpt.js';

const B = 32;
const T = 64;
await tf.setBackend('wasm');
await tf.ready();
enableWasmTraining();
const model = new Gpt({ vocab: 80, width: 160, layers: 4, heads: 4, context: T }, 1);
const opt = adopt(1e-3);
const x = tf.randomUniform([B, T], 0, 80, 'int32', 3) as tf.Tensor2D;
const y = tf.randomUniform([B, T], 0, 80, 'int32', 4) as tf.Tensor2D;
const step = () => opt.minimize(() => model.loss(x, y), false, model.variables);
step();
step();
const times: number[] = [];
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  step();
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const stepMs = times[2]!;
const profile = await tf.profile(() => {
  step();
});
// tf.profile lists custom-gradient scopes ("unnamed scope") beside the kernels they run: leave them out
const kernels = profile.kernels.filter((k) => k.name !== 'unnamed scope');
const total = kernels.reduce((a, k) => a + ((k.kernelTimeMs as number) || 0), 0);
const byName = new Map<string, { ms: number; n: number }>();
for (const k of kernels) {
  const e = byName.get(k.name) ?? { ms: 0, n: 0 };
  e.ms += (k.kernelTimeMs as number) || 0;
  e.n++;
  byName.set(k.name, e);
}
const products = new Map<string, { ms: number; n: number; flop: number }>();
for (const k of kernels.filter((k) => k.name === 'BatchMatMul')) {
  const [a, b] = k.inputShapes as number[][];
  const out = k.outputShapes[0] as number[];
  const inner = out.at(-2) === a!.at(-2) ? a!.at(-1)! : a!.at(-2)!; // transposeA when the rows differ
  const key = `[${a}] x [${b}] -> [${out}]`;
  const e = products.get(key) ?? { ms: 0, n: 0, flop: 0 };
  e.ms += (k.kernelTimeMs as number) || 0;
  e.n++;
  e.flop += 2 * out.reduce((p, q) => p * q, 1) * inner;
  products.set(key, e);
}
const matmul = byName.get('BatchMatMul')!;
const flop = [...products.values()].reduce((a, e) => a + e.flop, 0);
const lines = [
  `One ADOPT training step of the charlm-medium GPT (1.27M parameters, batch ${B}, context ${T}) on wasm with ` +
    `tfjs-wasm-train, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}.`,
  `Step: median of 5, ${stepMs.toFixed(0)} ms (spread ${times[0]!.toFixed(0)}-${times[4]!.toFixed(0)}). Kernels in ` +
    `one profiled step: ${total.toFixed(0)} ms over ${kernels.length} calls.`,
  `Matrix products alone: ${matmul.ms.toFixed(0)} ms (${((100 * matmul.ms) / total).toFixed(0)}% of the kernels), ` +
    `${(flop / 1e9).toFixed(2)} GFLOP at ${(flop / matmul.ms / 1e6).toFixed(1)} GFLOP/s:`,
  `a step with every other kernel free would take ${((100 * matmul.ms) / total).toFixed(0)}% of today's, ` +
    `${(total / matmul.ms).toFixed(2)}x faster at most.`,
  '',
  '| kernel | ms | calls | share |',
  '|---|---|---|---|',
  ...[...byName]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([n, e]) => `| ${n} | ${e.ms.toFixed(1)} | ${e.n} | ${((100 * e.ms) / total).toFixed(1)}% |`),
  '',
  '| matrix product (shapes) | ms | calls | GFLOP/s |',
  '|---|---|---|---|',
  ...[...products]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([key, e]) => `| ${key} | ${e.ms.toFixed(1)} | ${e.n} | ${(e.flop / e.ms / 1e6).toFixed(1)} |`),
];
const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'bench');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'gpt_step_profile.txt'), `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
