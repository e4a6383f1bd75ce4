// Browser step bench (`npm run bench:browser` at the root): serves the built playground
// (dist/, from `npm run build -w adopt-playground`), opens bench.html in headless Chromium with
// WebGL (ANGLE on SwiftShader) and WebGPU (SwiftShader adapter), and times one applyGradients of
// 100 tensors x 1e3 and x 1e4 parameters for fused ADOPT, ADOPT from tfjs ops, tf.train.adam and
// tf.train.sgd on webgl, webgpu and wasm, interleaved. Writes docs/bench/browser_step.json and .txt.
// Without a GPU these timings are CPU-emulated (SwiftShader): read ratios and program counts.
//   node scripts/bench-browser.mjs [--reps N] [--quick]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { preview } from 'vite';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const repsArg = args.indexOf('--reps');
const reps = repsArg >= 0 ? Number(args[repsArg + 1]) : quick ? 3 : 7;
const root = join(import.meta.dirname, '..');
const out = join(root, '..', '..', 'docs', 'bench');
const executablePath =
  process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (executablePath === undefined) {
  console.error('no Chromium installed (apt-get install chromium, or set CHROMIUM_PATH)');
  process.exit(1);
}
if (!existsSync(join(root, 'dist', 'bench.html'))) {
  console.error('dist/bench.html is missing: run `npm run build && npm run build -w adopt-playground` first');
  process.exit(1);
}

const started = Date.now();
const server = await preview({
  configFile: join(root, 'vite.config.ts'),
  preview: { port: 0, host: '127.0.0.1' },
  logLevel: 'error',
});
const browser = await chromium.launch({
  executablePath,
  args: [
    '--no-sandbox',
    '--use-angle=swiftshader',
    '--enable-unsafe-swiftshader',
    '--enable-unsafe-webgpu',
    '--use-webgpu-adapter=swiftshader',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
  ],
});
const results = [];
let environment;
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(new URL('bench.html', server.resolvedUrls.local[0]).href);
  await page.waitForFunction(() => document.getElementById('status').textContent === 'ready', null, {
    timeout: 60_000,
  });
  environment = await page.evaluate(async () => ({
    userAgent: window.stepBench.userAgent,
    webgpuAdapter: await window.stepBench.adapter(),
    webglRenderer: window.stepBench.webglRenderer(),
  }));
  for (const size of [1e3, 1e4]) {
    for (const backend of ['webgl', 'webgpu', 'wasm']) {
      const r = await page.evaluate(([b, s, n]) => window.stepBench.run(b, 100, s, n), [backend, size, reps]);
      console.log(
        `${backend} 100 x ${size}: ${
          r.error ??
          Object.entries(r.ms)
            .map(([k, v]) => `${k} ${median(v).toFixed(1)} ms`)
            .join(', ')
        }`,
      );
      results.push(r);
    }
  }
} finally {
  await browser.close();
  await server.close();
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

const rows = [];
for (const r of results) {
  if (r.error) {
    rows.push({ backend: r.backend, tensors: r.tensors, size: r.size, error: r.error });
    continue;
  }
  const adam = median(r.ms['tf.train.adam']);
  for (const [name, ms] of Object.entries(r.ms)) {
    rows.push({
      backend: r.backend,
      tensors: r.tensors,
      size: r.size,
      optimizer: name,
      n: ms.length,
      medianMs: median(ms),
      minMs: Math.min(...ms),
      maxMs: Math.max(...ms),
      vsAdam: adam / median(ms),
      programs: r.programs[name],
    });
  }
}
const unit = { webgl: 'programs', webgpu: 'dispatches', wasm: 'tfjs kernels' };
const lines = [
  'adopt-optim browser bench: one applyGradients on 100 variables, ms (median, min-max, n), interleaved',
  `Chromium headless: ${environment.userAgent}`,
  `WebGL renderer: ${environment.webglRenderer}; WebGPU adapter: ${JSON.stringify(environment.webgpuAdapter)}`,
  'Without a GPU both are SwiftShader (CPU-emulated): compare ratios and program counts, not absolute times.',
  'x adam = tf.train.adam median / this median (> 1: faster than tf.train.adam on the same backend).',
  'programs per step: webgl runWebGLProgram calls; webgpu compute dispatches (bind groups, ours included); wasm tfjs ' +
    'kernels run',
  '(fused ADOPT on wasm runs its own WebAssembly kernel, not counted). nonFinite is the default (throw) except where ' +
    'the row says off:',
  'on webgl/webgpu the difference is the GPU-side finiteness check (docs/ALGORITHM.md §6.3).',
  "The gradients are packed device tensors, as after a backward pass (tfjs's Adam runs 23 programs per variable on " +
    'webgl then,',
  "14 with unpacked gradients). webgl counts include 1 upload per step: the bench's sync reads the last variable back.",
  '',
  '| backend | params | optimizer | ms per step | x adam | programs per step |',
  '|---|---|---|---|---|---|',
];
for (const row of rows) {
  if (row.error) {
    lines.push(`| ${row.backend} | ${row.tensors} x ${row.size} | - | ${row.error} | - | - |`);
    continue;
  }
  lines.push(
    `| ${row.backend} | ${row.tensors} x ${row.size} | ${row.optimizer} | ${fmt(row.medianMs)} ` +
      `(${fmt(row.minMs)}-${fmt(row.maxMs)}, n=${row.n}) | ${row.vsAdam.toFixed(2)} | ${row.programs ?? '-'} ` +
      `${unit[row.backend]} |`,
  );
}
lines.push('', `${new Date().toISOString()}; took ${Math.round((Date.now() - started) / 1000)} s.`);
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'browser_step.json'),
  `${JSON.stringify({ date: new Date().toISOString(), reps, environment, rows }, null, 2)}\n`,
);
writeFileSync(join(out, 'browser_step.txt'), `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
