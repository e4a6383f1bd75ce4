// `npm run bench:webgpu-node` (root): one optimizer step on tfjs's webgpu backend in Node, through Dawn (the
// `webgpu` package), with the same methods and counts as the browser bench (src/step_bench.ts): fused ADOPT
// (with and without the non-finite check), ADOPT from tfjs ops, tf.train.adam and tf.train.sgd on 100 variables
// of 1e3 and 1e4 parameters. On a machine with a GPU it measures the GPU; `--swiftshader` (the default when
// Dawn finds no adapter) uses SwiftShader, CPU-emulated: read the ratios and dispatch counts.
// Writes docs/bench/webgpu_node.json and .txt.
//   node scripts/bench-webgpu-node.mjs [--swiftshader] [--reps N] [--quick]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { playgroundDir, withDawn } from './dawn.mjs';

const args = process.argv.slice(2);
if (process.env.ADOPT_DAWN_CHILD === undefined) {
  // the parent: run the bench in a child with Dawn's environment (the Vulkan loader reads it at start-up)
  const run = (swiftshader) =>
    withDawn(new URL(import.meta.url).pathname, args, { swiftshader, nodeArgs: ['--import', 'tsx'], stdio: 'inherit' });
  const forced = args.includes('--swiftshader');
  process.env.ADOPT_DAWN_CHILD = '1';
  let r = run(forced);
  if (r.status === 3 && !forced) {
    console.log('Dawn found no GPU adapter: running on SwiftShader instead.');
    r = run(true);
  }
  process.exit(r.status ?? 1);
}

const quick = args.includes('--quick');
const repsAt = args.indexOf('--reps');
const reps = repsAt >= 0 ? Number(args[repsAt + 1]) : quick ? 3 : 7;
const { installWebGPU } = await import('./dawn.mjs');
const adapter = await installWebGPU();
if (adapter === null) process.exit(3);
const tf = await import('@tensorflow/tfjs');
await import('@tensorflow/tfjs-backend-webgpu');
const { runStepBench, optimizersFor } = await import('../src/step_bench.ts');
const OPTIMIZERS = optimizersFor('webgpu');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const started = Date.now();
const results = [];
for (const size of quick ? [1e3] : [1e3, 1e4]) {
  const r = await runStepBench('webgpu', 100, size, reps);
  if (r.error) throw new Error(r.error);
  results.push(r);
  console.log(
    `webgpu (Node, ${adapter.description || adapter.vendor}) 100 x ${size}: ` +
      `${OPTIMIZERS.map((n) => `${n} ${median(r.ms[n]).toFixed(1)} ms`).join(', ')}`,
  );
}
const swiftshader = /swiftshader/i.test(`${adapter.description} ${adapter.vendor}`);
const lines = [
  `One optimizer step (applyGradients on 100 variables) on tfjs's webgpu backend in Node ${process.version} through ` +
    'Dawn (webgpu package),',
  `adapter: ${JSON.stringify(adapter)}; ${reps} interleaved repetitions, medians.`,
  swiftshader
    ? 'SwiftShader (CPU-emulated): read the ratios to tf.train.adam and the dispatch counts, not the milliseconds.'
    : "A hardware adapter: the milliseconds are this GPU's.",
  '',
  '| parameters | method | median ms | x tf.train.adam | dispatches per step |',
  '|---|---|---|---|---|',
];
for (const r of results) {
  const adam = median(r.ms['tf.train.adam']);
  for (const n of OPTIMIZERS)
    lines.push(
      `| 100 x ${r.size} | ${n} | ${median(r.ms[n]).toFixed(2)} | ${(adam / median(r.ms[n])).toFixed(2)} | ` +
        `${r.programs[n]} |`,
    );
}
const out = join(playgroundDir, '..', '..', 'docs', 'bench');
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'webgpu_node.json'),
  `${JSON.stringify({ node: process.version, adapter, reps, results, seconds: (Date.now() - started) / 1000 }, null, 2)}\n`,
);
writeFileSync(join(out, 'webgpu_node.txt'), `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
tf.disposeVariables();
