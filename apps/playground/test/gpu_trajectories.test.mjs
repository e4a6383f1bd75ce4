// Behaviour kept across the redesign on the GPU backends (headless Chromium, SwiftShader): every
// optimizer configuration the variant tests cover, fused and op by op, on webgl and webgpu, reproduces
// the parameters and state recorded from the 0.2 kernels (test/fixtures/gpu-trajectories-v0.2.json)
// within 1 ulp per step of the values involved, and reports how many values are bit-identical (all ADOPT
// values were, on the machine that recorded it; the Adam family takes a declared reorder on these paths).
// Other machines may run SwiftShader with other float contractions, hence the bound. RECORD=1 writes the
// fixture instead (done once, on the code whose behaviour is kept).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { preview } from 'vite';
import { executablePath, GPU_FLAGS, skip } from './chromium.mjs';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'gpu-trajectories-v0.2.json');
const RECORD = process.env.RECORD === '1';

/** Distance between float32 values in units in the last place (NaN: 0 from NaN, else Infinity). */
function ulps(a, b) {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  const i = new Int32Array(new Float32Array([a, b]).buffer);
  const key = (x) => (x < 0 ? -2147483648 - x : x);
  return Math.abs(key(i[0]) - key(i[1]));
}

/** The variants of packages/adopt-optim/test/variants.ts: [optimizer, options, scheduled]. */
export const CONFIGS = [
  ['adopt', {}],
  ['adopt', { clip: null }],
  ['adopt', { beta2: 0.5, clip: { exponent: 0.5 } }],
  ['adopt', { weightDecay: 0.1 }],
  ['adopt', { weightDecay: 0.1, decoupled: true }],
  ['adopt', { maximize: true }],
  ['adam', {}],
  ['adam', { weightDecay: 0.1, maximize: true }],
  ['adamw', {}],
  ['amsgrad', {}],
  ['adopt', { nesterov: true }],
  ['adopt', { caution: true }],
  ['adopt', { nesterov: true, caution: true, clip: null, maximize: true }],
  ['adopt', { caution: true, weightDecay: 0.1 }],
  ['adopt', { weightDecay: 0.1, decoupled: true, correctedWeightDecay: true }, true],
  ['adam', { caution: true }],
  ['amsgrad', { caution: true, maximize: true }],
  ['adamw', { weightDecay: 0.1, correctedWeightDecay: true, caution: true }, true],
];

describe('GPU paths reproduce the 0.2 trajectories (headless Chromium)', { skip }, () => {
  let server;
  let browser;
  let page;
  let webgpu = false;
  const recorded = {};
  const fixture = !RECORD && existsSync(FIXTURE) ? JSON.parse(readFileSync(FIXTURE, 'utf8')) : null;

  before(async () => {
    server = await preview({
      configFile: join(import.meta.dirname, '..', 'vite.config.ts'),
      preview: { port: 0, host: '127.0.0.1' },
      logLevel: 'error',
    });
    browser = await chromium.launch({ executablePath, args: GPU_FLAGS });
    page = await browser.newPage();
    await page.goto(new URL('gpu.html', server.resolvedUrls.local[0]).href);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'ready', null, {
      timeout: 60_000,
    });
    webgpu = (await page.evaluate(() => window.gpuChecks.adapterInfo())) !== null;
  });
  after(async () => {
    if (RECORD) writeFileSync(FIXTURE, `${JSON.stringify(recorded)}\n`);
    await browser?.close();
    await server?.close();
  });

  for (const backend of ['webgl', 'webgpu']) {
    for (const fused of [true, false]) {
      it(`${backend}, fused ${fused}`, async (t) => {
        if (backend === 'webgpu' && !webgpu) return t.skip('no WebGPU adapter in this Chromium');
        let values = 0;
        let identical = 0;
        for (const [name, options, scheduled] of CONFIGS) {
          const key =
            `${backend} ${fused ? 'fused' : 'ops'} ${name} ` +
            `${JSON.stringify(options)}${scheduled ? ' scheduled' : ''}`;
          const { clip, ...rest } = options;
          const opts = {
            ...rest,
            fused,
            ...(clip === null ? { clip: null } : clip ? { clipExponent: clip.exponent } : {}),
          };
          const r = await page.evaluate(
            ([b, n, o, s]) => window.gpuChecks.trajectory(b, n, o, s),
            [backend, name, opts, scheduled === true],
          );
          assert.equal(r.backend, backend);
          if (RECORD) {
            recorded[key] = r.steps;
            continue;
          }
          assert.ok(fixture !== null, `no fixture at ${FIXTURE}: record it with RECORD=1 on the 0.2 code`);
          const want = fixture[key];
          assert.ok(want !== undefined, `no recording for ${key}`);
          want.forEach((recorded, step) => {
            // the marker's value is the state format: 0.2 wrote 1, format 2 saves 8-bit codes in the variable's shape
            // (packages/adopt-optim/test/trajectories.test.ts asFormat2; no 8-bit state on the GPU paths)
            const snap = Object.fromEntries(
              Object.entries(recorded).map(([k, v]) => [
                k,
                k.startsWith('optimizer:') && v === Buffer.from(Int32Array.of(1).buffer).toString('base64')
                  ? Buffer.from(Int32Array.of(2).buffer).toString('base64')
                  : v,
              ]),
            );
            for (const k of Object.keys(snap)) {
              values += Buffer.from(snap[k], 'base64').length / 4;
              if (r.steps[step][k] === snap[k]) {
                identical += Buffer.from(snap[k], 'base64').length / 4;
                continue;
              }
              // Bit for bit on the machine that recorded it (measured: every value, ADOPT and Adam alike, before
              // the Adam rule took its WebAssembly order). Elsewhere SwiftShader may fuse or order float operations
              // differently, so the test asks for at most 1 ulp per step of the values involved; the declared Adam
              // reorder (packages/adopt-optim/test/trajectories.test.ts REORDERED) is within the same bound.
              assert.ok(!/step|iter|optimizer:/.test(k), `${key}: step ${step} "${k}" differs from 0.2`);
              const got = new Float32Array(new Uint8Array(Buffer.from(r.steps[step][k], 'base64')).buffer);
              const was = new Float32Array(new Uint8Array(Buffer.from(snap[k], 'base64')).buffer);
              // measured against the values the step works with: where p passes near 0, against the previous p
              const before =
                step > 0 ? new Float32Array(new Uint8Array(Buffer.from(want[step - 1][k], 'base64')).buffer) : was;
              got.forEach((x, i) => {
                if (Object.is(x, was[i])) identical++;
                const scale = Math.max(Math.abs(x), Math.abs(was[i]), Math.abs(before[i]));
                const ok = ulps(x, was[i]) <= step + 1 || Math.abs(x - was[i]) <= (step + 1) * 2 ** -23 * scale;
                assert.ok(
                  ok,
                  `${key}: step ${step} "${k}"[${i}] is ${ulps(x, was[i])} ulp from 0.2 (${x} vs ${was[i]})`,
                );
              });
            }
          });
        }
        if (!RECORD) t.diagnostic(`${identical} of ${values} recorded values reproduced bit for bit`);
      });
    }
  }
});
