// Custom rules whose slots are named like WGSL / GLSL keywords, built-ins and the identifiers the
// generated shaders (and tfjs's) use, stepped on webgl and webgpu in headless Chromium against the
// cpu backend, fused and as ops; on webgpu inside validation and internal error scopes, so a shader
// that does not compile (a command WebGPU drops silently) fails the test. Skipped, saying why, only
// where no Chromium is installed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { preview } from 'vite';
import { executablePath, GPU_FLAGS, skip } from './chromium.mjs';

const RULES = 6; // src/gpu_rules.ts HOSTILE_GROUPS

describe('custom rules with hostile slot names on webgl and webgpu (headless Chromium)', { skip }, () => {
  let server;
  let browser;
  let page;
  const errors = [];
  let webgpu = false;

  before(async () => {
    const configFile = join(import.meta.dirname, '..', 'vite.config.ts');
    server = await preview({ configFile, preview: { port: 0, host: '127.0.0.1' }, logLevel: 'error' });
    browser = await chromium.launch({ executablePath, args: GPU_FLAGS });
    page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(new URL('gpu.html', server.resolvedUrls.local[0]).href);
    const ready = () => document.getElementById('status').textContent === 'ready';
    await page.waitForFunction(ready, null, { timeout: 60_000 });
    webgpu = (await page.evaluate(() => window.gpuChecks.adapterInfo())) !== null;
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const call = (fn, ...args) => page.evaluate(([f, a]) => window.gpuChecks[f](...a), [fn, args]);

  for (const backend of ['webgl', 'webgpu']) {
    for (const fused of [true, false]) {
      it(`${backend}, fused ${fused}: every rule agrees with cpu, with no GPU error`, async (t) => {
        if (backend === 'webgpu' && !webgpu) return t.skip('no WebGPU adapter in this Chromium');
        for (let k = 0; k < RULES; k++) {
          const r = await call('compareInErrorScope', backend, `hostile${k}`, { fused, nonFinite: 'off' });
          t.diagnostic(JSON.stringify(r));
          assert.equal(r.backend, backend);
          assert.equal(r.gpuError, null, `hostile${k}: ${r.gpuError}`);
          const difference = r.maxRelativeDifferenceToCpu;
          assert.ok(difference < 1e-4, `hostile${k}: differs from cpu by ${difference}`);
        }
      });
    }
  }

  it('no page errors', () => {
    assert.deepEqual(
      errors.filter((e) => !/synchronously reading data from GPU/.test(e)),
      [],
    );
  });
});
