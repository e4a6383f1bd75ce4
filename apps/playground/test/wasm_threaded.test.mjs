// The fused kernels on tfjs's threaded wasm build: on a cross-origin-isolated page (COOP/COEP
// headers) tfjs's wasm backend runs its threaded build, whose heap is a shared WebAssembly.Memory;
// adopt-optim then instantiates its kernel variant that imports a shared memory
// (packages/adopt-optim/src/kernels/wasm_kernels.ts). Checks that the page is isolated and
// the heap shared, that the fused step runs (no tfjs kernel in a step) and agrees with the cpu
// backend; and that the core's threaded step (useThreads, Web Workers) equals one thread there. Skipped, saying
// why, only where no Chromium is installed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { executablePath, skip } from './chromium.mjs';
import { preview } from 'vite';

describe('fused kernels on the threaded wasm build (cross-origin-isolated page)', { skip }, () => {
  let server;
  let browser;
  let page;
  const errors = [];

  before(async () => {
    server = await preview({
      configFile: join(import.meta.dirname, '..', 'vite.config.ts'),
      logLevel: 'error',
      preview: {
        port: 0,
        host: '127.0.0.1',
        headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
      },
    });
    browser = await chromium.launch({
      executablePath,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(new URL('gpu.html', server.resolvedUrls.local[0]).href);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'ready', null, {
      timeout: 60_000,
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('the heap is shared and every optimizer steps fused, agreeing with cpu', async (t) => {
    const info = await page.evaluate(() => window.gpuChecks.wasmInfo());
    t.diagnostic(JSON.stringify(info));
    assert.equal(info.crossOriginIsolated, true);
    assert.equal(info.multithread, true, 'tfjs did not pick its threaded wasm build');
    assert.equal(info.heapShared, true);
    for (const [name, options] of [
      ['adopt', {}],
      ['adopt', { clip: null, weightDecay: 0.1, decoupled: true }],
      ['adam', {}],
      ['amsgrad', { maximize: true }],
    ]) {
      const r = await page.evaluate(([n, o]) => window.gpuChecks.compare('wasm', n, o), [name, options]);
      t.diagnostic(JSON.stringify(r));
      assert.equal(r.backend, 'wasm');
      assert.equal(r.programsPerStep, 0, `${name}: tfjs kernels ran in a step (the fused kernels were not used)`);
      assert.ok(r.maxRelativeDifferenceToCpu < 1e-4, `${name}: differs from cpu by ${r.maxRelativeDifferenceToCpu}`);
    }
  });

  it("the core's threaded step (useThreads: Web Workers on this page) steps as one thread does", async (t) => {
    const results = await page.evaluate(() => window.gpuChecks.coreThreads());
    t.diagnostic(JSON.stringify(results));
    assert.equal(results.length, 4);
    for (const r of results) {
      const what = `${r.dtype}, ${r.ready ? 'workers started' : 'before the workers start'}`;
      assert.equal(r.threaded, true, `${what}: init made no threaded state`);
      assert.equal(r.changed, true, `${what}: the steps changed nothing`);
      assert.equal(r.equal, true, `${what}: 2 threads differ from one`);
    }
  });

  it('no page errors', () => {
    assert.deepEqual(errors, []);
  });
});
