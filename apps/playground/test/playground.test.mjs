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
    server = await preview({
      configFile: join(import.meta.dirname, '..', 'vite.config.ts'),
      preview: { port: 0, host: '127.0.0.1' },
      logLevel: 'error',
    });
    base = server.resolvedUrls.local[0];
    browser = await chromium.launch({
      executablePath,
      // no GPU here: WebGL runs on SwiftShader; the network flags keep Chromium from calling out
      args: [
        '--no-sandbox',
        '--use-angle=swiftshader',
        '--enable-unsafe-swiftshader',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function open(path, viewport = { width: 1200, height: 900 }) {
    const page = await browser.newPage({ viewport });
    page.on('console', (m) => {
      // errors; and what a failed WebGL shader or call leaves: tfjs logs the info log, Chromium warns of GL errors
      const gl = /Failed to (compile|link)|ERROR: \d+:\d+|GL_INVALID|GL_OUT_OF_MEMORY|CONTEXT_LOST/;
      if (m.type() === 'error' || gl.test(m.text())) {
        errors.push(`${path}: ${m.text()}`);
      }
    });
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
    const results = {
      adam: await median('adam'),
      adopt: await median('adopt'),
      unclipped: await median('adopt-unclipped'),
    };
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
    await page.waitForFunction((n) => Number(document.getElementById('mnist-steps').textContent) >= n, steps, {
      timeout: 300_000,
      polling: 500,
    });
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
    await page.getByRole('button', { name: 'Reset', exact: true }).click();
    const wasm = await trainMnist(page, 'wasm', 100);
    t.diagnostic(`wasm: ${JSON.stringify(wasm)}`);
    assert.equal(wasm.backend, 'wasm');
    assert.ok(wasm.stepsPerSecond > 0);
    await page.close();
  });

  async function mnistTab(page, backend) {
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.getByRole('tab', { name: 'MNIST' }).click();
    await page.locator('#mnist-backend').selectOption(backend);
    await page.waitForFunction((b) => document.getElementById('mnist-active-backend').textContent === b, backend, {
      timeout: 30_000,
    });
  }
  const legend = (page, chart) =>
    page
      .locator(`#${chart} >> xpath=preceding-sibling::ul[1] >> li`)
      .evaluateAll((lis) => lis.map((li) => li.textContent));

  it('the beta2 = 0.5 preset: Adam diverges and is shown as diverged while ADOPT trains past 85%', async (t) => {
    const page = await open('index.html');
    await mnistTab(page, 'wasm');
    await page.getByRole('button', { name: 'Preset: β2 = 0.5' }).click();
    assert.equal(await page.locator('#mnist-beta2').inputValue(), '0.5');
    assert.match(await page.locator('#mnist-explain').innerText(), /Adam to diverge/);
    await page.getByRole('button', { name: 'Start' }).click();
    // bounded: Adam must be stopped as diverged, and ADOPT above 85%, within 600 steps
    await page.waitForFunction(
      () =>
        document.getElementById('mnist-state-adam')?.dataset.diverged !== undefined &&
        Number(document.getElementById('mnist-acc-adopt')?.dataset.value) > 0.85,
      null,
      { timeout: 240_000, polling: 500 },
    );
    const steps = Number(await page.locator('#mnist-steps').innerText());
    const divergedAt = Number(await page.locator('#mnist-state-adam').getAttribute('data-diverged'));
    const adopt = Number(await page.locator('#mnist-acc-adopt').getAttribute('data-value'));
    t.diagnostic(JSON.stringify({ steps, divergedAt, adopt }));
    assert.ok(steps <= 600, `took ${steps} steps`);
    assert.equal(await page.locator('#mnist-state-adopt').innerText(), 'training');
    assert.match(await page.locator('#mnist-state-adam').innerText(), /^diverged at step \d+/);
    assert.match(await page.locator('#mnist-verdict').innerText(), /Adam diverged at step \d+.*ADOPT kept training/s);
    // the legends list exactly the series drawn, and say that Adam's line ends
    for (const chart of ['mnist-loss-chart', 'mnist-acc-chart']) {
      const items = await legend(page, chart);
      assert.equal(items.length, 2, JSON.stringify(items));
      assert.equal(items[0], 'ADOPT');
      assert.match(items[1], /^Adam — diverged at step \d+ \(its line ends there\)$/);
    }
    await page
      .getByRole('button', { name: 'Pause' })
      .click()
      .catch(() => {});
    await page.screenshot({ path: join(artifacts, 'playground-beta2.png'), fullPage: true });
    await page.close();
  });

  it('8-bit state on wasm: its path and bytes per parameter beside float32; on webgl a note says it is refused', async (t) => {
    const page = await open('index.html');
    await mnistTab(page, 'wasm');
    for (const [name, on] of [
      ['ADOPT', true],
      ['Adam', false],
      ['AdamW', false],
      ['AMSGrad', true],
    ]) {
      await page.getByRole('checkbox', { name, exact: true }).setChecked(on);
    }
    await page.locator('#mnist-dtype').selectOption('int8');
    await page.getByRole('button', { name: 'Start' }).click();
    await page.waitForFunction(() => Number(document.getElementById('mnist-steps').textContent) >= 50, null, {
      timeout: 120_000,
      polling: 250,
    });
    await page.getByRole('button', { name: 'Pause' }).click();
    const params = 784 * 128 + 128 + 128 * 10 + 10;
    const read = async (key) => ({
      paths: await page.locator(`#mnist-path-${key}`).getAttribute('data-paths'),
      perParam: Number(await page.locator(`#mnist-bytes-${key}`).getAttribute('data-value')) / params,
      sps: Number(await page.locator(`#mnist-sps-${key}`).getAttribute('data-value')),
    });
    const adopt = await read('adopt');
    const ams = await read('amsgrad');
    t.diagnostic(JSON.stringify({ adopt, ams }));
    assert.equal(adopt.paths, 'int8');
    assert.ok(adopt.perParam > 2 && adopt.perParam < 2.1, `8-bit ADOPT: ${adopt.perParam} B/param`);
    assert.equal(ams.paths, 'wasm');
    assert.equal(ams.perParam, 12);
    assert.ok(adopt.sps > 0 && ams.sps > 0);
    assert.match(await page.locator('#mnist-path-adopt').innerText(), /8-bit state/);
    await page.locator('#mnist-backend').selectOption('webgl');
    await page.waitForFunction(() => document.getElementById('mnist-active-backend').textContent === 'webgl', null, {
      timeout: 30_000,
    });
    assert.equal(await page.locator('#mnist-dtype').inputValue(), 'float32');
    assert.equal(await page.locator('#mnist-dtype option[value=int8]').isDisabled(), true);
    assert.match(await page.locator('#mnist-dtype-note').innerText(), /on webgl adopt-optim refuses it/);
    await page.getByRole('button', { name: 'Start' }).click();
    await page.waitForFunction(() => Number(document.getElementById('mnist-steps').textContent) >= 25, null, {
      timeout: 120_000,
      polling: 250,
    });
    await page.getByRole('button', { name: 'Pause' }).click();
    assert.equal(await page.locator('#mnist-path-adopt').getAttribute('data-paths'), 'webgl');
    assert.equal(Number(await page.locator('#mnist-bytes-adopt').getAttribute('data-value')) / params, 8);
    await page.close();
  });

  it('falls back, and says so, when WebGPU and WebGL are missing', async () => {
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(`fallback: ${e.message}`));
    await page.addInitScript(() => {
      const get = HTMLCanvasElement.prototype.getContext;
      HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
        return /webgl/.test(type) ? null : get.call(this, type, ...rest);
      };
      if (typeof OffscreenCanvas !== 'undefined') {
        const off = OffscreenCanvas.prototype.getContext;
        OffscreenCanvas.prototype.getContext = function (type, ...rest) {
          return /webgl/.test(type) ? null : off.call(this, type, ...rest);
        };
      }
    });
    await page.goto(new URL('index.html', base).href);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.getByRole('tab', { name: 'MNIST' }).click();
    assert.equal(await page.locator('#mnist-active-backend').innerText(), 'wasm');
    assert.equal(
      await page.locator('#mnist-fallback').innerText(),
      'webgpu and webgl not available here: fell back to wasm.',
    );
    await page.close();
  });

  for (const [width, height] of [
    [1280, 900],
    [390, 844],
  ]) {
    it(`nothing is wider than the screen or cut off at ${width} px, the legends included`, async () => {
      const page = await open('index.html', { width, height });
      await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      await page.locator('#toy-steps').fill('2000');
      await page.getByRole('checkbox', { name: 'AMSGrad' }).setChecked(false);
      await page.getByRole('button', { name: 'Run' }).click();
      await page.waitForSelector('#toy-result-adopt-unclipped', { timeout: 60_000 });
      // the toy legend: exactly the three optimizers run, each inside the screen
      const toy = await legend(page, 'toy-chart');
      assert.deepEqual(toy, ['ADOPT', 'ADOPT (unclipped)', 'Adam']);
      await mnistTab(page, 'wasm');
      await page.getByRole('button', { name: 'Start' }).click();
      await page.waitForFunction(() => Number(document.getElementById('mnist-steps').textContent) >= 25, null, {
        timeout: 120_000,
        polling: 250,
      });
      await page.getByRole('button', { name: 'Pause' }).click();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `the page is ${overflow}px wider than the screen`);
      const outside = await page
        .locator('.legend li, .chart svg, #mnist-table caption, #mnist-table th, #mnist-table td')
        .evaluateAll(
          (els) =>
            els.map((e) => e.getBoundingClientRect()).filter((r) => r.left < 0 || r.right > window.innerWidth + 1)
              .length,
        );
      assert.equal(outside, 0, 'a legend, chart or table cell reaches past the screen');
      if (width === 390) await page.screenshot({ path: join(artifacts, 'playground-phone.png'), fullPage: true });
      await page.close();
    });
  }

  for (const f16 of [false, true]) {
    it(`ADOPT on webgl with float${f16 ? 16 : 32} textures${f16 ? ' stays finite (no 0/0 where v = 0)' : ' agrees with the cpu backend'}`, async (t) => {
      const page = await open(`checks.html?f16=${f16 ? 1 : 0}`);
      await page.waitForFunction(() => document.getElementById('result').textContent !== 'running', null, {
        timeout: 120_000,
      });
      const result = JSON.parse(await page.locator('#result').innerText());
      t.diagnostic(JSON.stringify(result));
      assert.equal(result.webgl, true, 'WebGL is not available');
      assert.equal(result.finite, true);
      assert.equal(result.zeroGradientUnchanged, true);
      if (!f16)
        assert.ok(
          result.maxRelativeDifferenceToCpu < 1e-4,
          `webgl differs from cpu by ${result.maxRelativeDifferenceToCpu}`,
        );
      await page.close();
    });
  }

  it('no console errors on any page', () => {
    assert.deepEqual(errors, []);
  });
});
