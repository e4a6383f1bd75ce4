/**
 * `initWasmThreads` in a browser (headless Chromium; skipped where there is none): a cross-origin-isolated page
 * runs the threaded build on the count asked for (tfjs alone would cap it at half the cores), with the results of
 * one thread bit for bit; a page that is not isolated gets the clear error, or one thread with `fallback`.
 * Uses esbuild and playwright-core from the workspace (the playground's), Chromium from CHROMIUM_PATH or /usr/bin.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (path) => path !== undefined && existsSync(path),
);
const WASM_DIR = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));

type Browser = { newPage(): Promise<Page>; close(): Promise<void> };
type Page = {
  goto(url: string): Promise<unknown>;
  waitForFunction(f: string): Promise<unknown>;
  evaluate<T>(f: string): Promise<T>;
  close(): Promise<void>;
};
interface Result {
  info?: { threads: number; workers: number; reason?: string };
  product?: string;
  error?: string;
}

type Chromium = { launch(o: object): Promise<Browser> };

async function tools(): Promise<{ esbuild: typeof import('esbuild'); chromium: Chromium } | null> {
  if (CHROMIUM === undefined) return null;
  try {
    const esbuild = await import('esbuild');
    const { chromium } = (await import('playwright-core' as string)) as { chromium: Chromium };
    return { esbuild, chromium };
  } catch {
    return null;
  }
}

const found = await tools();

const skip = found === null ? 'no Chromium, esbuild or playwright-core' : false;

describe('initWasmThreads in headless Chromium', { skip }, () => {
  let dir: string;
  let server: Server;
  let browser: Browser;
  let isolated = true;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tfjs-wasm-threads-page-'));
    // as a user's bundle would be: no settings (the Node shim loads Node's modules only when it runs)
    await found!.esbuild.build({
      entryPoints: [join(HERE, 'browser', 'threads_page.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      outfile: join(dir, 'page.js'),
      logLevel: 'error',
    });
    server = createServer((req, res) => {
      const url = req.url ?? '/';
      const file =
        url === '/'
          ? null
          : url === '/page.js'
            ? join(dir, 'page.js')
            : url.startsWith('/wasm/')
              ? join(WASM_DIR, url.slice(6))
              : '';
      if (file === '' || (file !== null && !existsSync(file))) return void res.writeHead(404).end();
      const type = file === null ? 'text/html' : file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
      const coi = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
      const headers = isolated ? coi : {};
      res.writeHead(200, { 'Content-Type': type, ...headers });
      res.end(file === null ? '<script type="module" src="/page.js"></script>' : readFileSync(file));
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.on('listening', resolve));
    browser = await found!.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function page(threads: number, fallback: 'error' | 'single-thread' = 'error'): Promise<Result> {
    const p = await browser.newPage();
    try {
      const { port } = server.address() as { port: number };
      await p.goto(`http://127.0.0.1:${port}/`);
      await p.waitForFunction('typeof window.run === "function"');
      return await p.evaluate<Result>(`window.run(${threads}, ${JSON.stringify(fallback)})`);
    } finally {
      await p.close();
    }
  }

  it("an isolated page runs 2 threads, with 1 thread's product bit for bit", async () => {
    isolated = true;
    const one = await page(1);
    const two = await page(2);
    assert.deepEqual(one.info, { threads: 1, workers: 0 });
    assert.deepEqual(two.info, { threads: 2, workers: 1 }, JSON.stringify(two));
    assert.ok(two.product !== undefined && two.product === one.product);
  });

  it('a page that is not isolated: a clear error, or one thread with the reason', async () => {
    isolated = false;
    const refused = await page(2);
    const why = /cannot start 2 threads: SharedArrayBuffer is not available: the page must be cross-origin isolated/;
    assert.match(refused.error ?? '', why);
    const fellBack = await page(2, 'single-thread');
    assert.equal(fellBack.info?.threads, 1);
    assert.match(fellBack.info?.reason ?? '', /cross-origin isolated/);
  });
});
