// End-to-end tests of the playground in headless Chromium (Debian's chromium), driven by
// playwright-core. They read results from the page, as a person would. Screenshots go to
// test-artifacts/. Skipped, saying why, only where no Chromium is installed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { executablePath, skip } from './chromium.mjs';
import { preview } from 'vite';

const artifacts = join(import.meta.dirname, '..', 'test-artifacts');

describe('playground in headless Chromium', { skip }, () => {
  let server;
  let browser;
  let base;
  const errors = [];

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    server = await preview({ configFile: join(import.meta.dirname, '..', 'vite.config.ts'), preview: { port: 0, host: '127.0.0.1' }, logLevel: 'error' });
    base = server.resolvedUrls.local[0];
    browser = await chromium.launch({
      executablePath,
      // no GPU here: WebGL runs on SwiftShader; the network flags keep Chromium from calling out
      args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function open(path, viewport = { width: 1200, height: 900 }) {
    const page = await browser.newPage({ viewport });
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`${path}: ${m.text()}`); });
    page.on('pageerror', (e) => errors.push(`${path}: ${e.message}`));
    await page.goto(new URL(path, base).href);
    return page;
  }

  it('the toy view: ADOPT ends near -1 and Adam near +1 for k = 10, beta2 = 0.1', async (t) => {
    const page = await open('index.html');
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.locator('#toy-k').selectOption('10');
    await page.locator('#toy-beta2').fill('0.1');
    await page.locator('#toy-steps').fill('50000');
    await page.locator('#toy-chains').fill('64');
    await page.getByRole('button', { name: 'Run' }).click();
    await page.waitForSelector('#toy-result-adopt-unclipped', { timeout: 120_000 });
    const median = async (id) => Number(await page.locator(`#toy-result-${id}`).getAttribute('data-median'));
    const results = { adam: await median('adam'), adopt: await median('adopt'), unclipped: await median('adopt-unclipped') };
    t.diagnostic(`median theta after 50,000 steps: ${JSON.stringify(results)}`);
    assert.ok(results.adopt < -0.9, `ADOPT median ${results.adopt}`);
    assert.ok(results.unclipped < -0.9, `unclipped ADOPT median ${results.unclipped}`);
    assert.ok(results.adam > 0.9, `Adam median ${results.adam}`);
    assert.match(await page.locator('#toy-result-adam').innerText(), /went to the wrong end/);
    await page.screenshot({ path: join(artifacts, 'playground-toy.png'), fullPage: true });
    // keyboard: the tabs move with the arrow keys
    await page.getByRole('tab', { name: 'Convex counterexample' }).focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getByRole('tab', { name: 'MNIST' }).getAttribute('aria-selected'), 'true');
    assert.equal(await page.locator('#view-mnist').isVisible(), true);
    await page.close();
  });

  async function trainMnist(page, backend, steps) {
    await page.locator('#mnist-backend').selectOption(backend);
    await page.getByRole('button', { name: 'Start' }).click();
    await page.waitForFunction((n) => Number(document.getElementById('mnist-steps').textContent) >= n, steps, { timeout: 300_000, polling: 500 });
    await page.getByRole('button', { name: 'Pause' }).click();
    return {
      backend: await page.locator('#mnist-active-backend').innerText(),
      stepsPerSecond: Number(await page.locator('#mnist-sps').getAttribute('data-value')),
      adopt: Number(await page.locator('#mnist-acc-adopt').getAttribute('data-value')),
      adam: Number(await page.locator('#mnist-acc-adam').getAttribute('data-value')),
    };
  }

  it('MNIST trains on webgl to over 90% test accuracy; steps per second on webgl and wasm', async (t) => {
    const page = await open('index.html');
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.getByRole('tab', { name: 'MNIST' }).click();
    const webgl = await trainMnist(page, 'webgl', 400);
    t.diagnostic(`webgl: ${JSON.stringify(webgl)}`);
    assert.equal(webgl.backend, 'webgl');
    assert.ok(webgl.adopt > 0.9, `ADOPT test accuracy ${webgl.adopt}`);
    assert.ok(webgl.adam > 0.9, `Adam test accuracy ${webgl.adam}`);
    await page.screenshot({ path: join(artifacts, 'playground-mnist.png'), fullPage: true });
    await page.getByRole('button', { name: 'Reset' }).click();
    const wasm = await trainMnist(page, 'wasm', 100);
    t.diagnostic(`wasm: ${JSON.stringify(wasm)}`);
    assert.equal(wasm.backend, 'wasm');
    assert.ok(wasm.stepsPerSecond > 0);
    await page.close();
  });

  it('is readable at phone width', async () => {
    const page = await open('index.html', { width: 375, height: 800 });
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than the screen`);
    await page.close();
  });

  for (const f16 of [false, true]) {
    it(`ADOPT on webgl with float${f16 ? 16 : 32} textures${f16 ? ' stays finite (no 0/0 where v = 0)' : ' agrees with the cpu backend'}`, async (t) => {
      const page = await open(`checks.html?f16=${f16 ? 1 : 0}`);
      await page.waitForFunction(() => document.getElementById('result').textContent !== 'running', null, { timeout: 120_000 });
      const result = JSON.parse(await page.locator('#result').innerText());
      t.diagnostic(JSON.stringify(result));
      assert.equal(result.webgl, true, 'WebGL is not available');
      assert.equal(result.finite, true);
      assert.equal(result.zeroGradientUnchanged, true);
      if (!f16) assert.ok(result.maxRelativeDifferenceToCpu < 1e-4, `webgl differs from cpu by ${result.maxRelativeDifferenceToCpu}`);
      await page.close();
    });
  }

  it('no console errors on any page', () => {
    assert.deepEqual(errors, []);
  });
});
