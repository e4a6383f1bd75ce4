// The optimizers' steps on the GPU backends in headless Chromium (gpu.html): webgl on SwiftShader
// (ANGLE) and webgpu on SwiftShader's Vulkan adapter. Each optimizer agrees with the cpu backend,
// reads nothing back synchronously during a step, and a step with a NaN gradient changes nothing
// (docs/ALGORITHM.md §6.3). Skipped, saying why, only where no Chromium is installed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { preview } from 'vite';
import { executablePath, GPU_FLAGS, skip } from './chromium.mjs';

describe('optimizer steps on webgl and webgpu (headless Chromium)', { skip }, () => {
  let server;
  let browser;
  let page;
  const errors = [];
  let webgpu = false;

  before(async () => {
    server = await preview({
      configFile: join(import.meta.dirname, '..', 'vite.config.ts'),
      preview: { port: 0, host: '127.0.0.1' },
      logLevel: 'error',
    });
    browser = await chromium.launch({ executablePath, args: GPU_FLAGS });
    page = await browser.newPage();
    page.on('console', (m) => {
      // errors; and what a failed WebGL shader or call leaves: tfjs logs the info log, Chromium warns of GL errors
      const gl = /Failed to (compile|link)|ERROR: \d+:\d+|GL_INVALID|GL_OUT_OF_MEMORY|CONTEXT_LOST/;
      if (m.type() === 'error' || gl.test(m.text())) {
        errors.push(m.text());
      }
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(new URL('gpu.html', server.resolvedUrls.local[0]).href);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'ready', null, {
      timeout: 60_000,
    });
    const adapter = await page.evaluate(() => window.gpuChecks.adapterInfo());
    webgpu = adapter !== null;
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const call = (fn, ...args) => page.evaluate(([f, a]) => window.gpuChecks[f](...a), [fn, args]);

  for (const backend of ['webgl', 'webgpu']) {
    for (const fused of [true, false]) {
      it(`${backend}, fused ${fused}: every optimizer agrees with cpu; no synchronous readback in a step`, async (t) => {
        if (backend === 'webgpu' && !webgpu) return t.skip('no WebGPU adapter in this Chromium');
        const cases = [
          ['adopt', {}],
          ['adopt', { clip: null, weightDecay: 0.1, maximize: true }],
          ['adopt', { weightDecay: 0.05, decoupled: true }],
          ['adam', {}],
          ['adamw', {}],
          ['amsgrad', { weightDecay: 0.01 }],
          ['adopt', { nonFinite: 'off' }],
          ['adamw', { nonFinite: 'off' }],
          // generated from the rules like the rest: fused on the GPU too (caution's per-tensor mean runs as ops there)
          ['adopt', { nesterov: true, nonFinite: 'off' }],
          ['adopt', { epsilonMode: 'add', epsilon: 1e-2, nonFinite: 'off' }],
          ['adopt', { caution: true }],
          ['adam', { caution: true, weightDecay: 0.01 }],
          // rules the library does not ship, defined with defineRule: generated for the GPU the same way
          ['lion', { nonFinite: 'off' }],
          ['sgd_nesterov', { nonFinite: 'off' }],
          ['lion', {}],
          // Keras-style gradient clipping: tfjs ops on the GPU (no readback) before the fused rule; cpu folds the
          // norm's scale
          ['adopt', { clipnorm: 1 }],
          ['adam', { globalClipnorm: 1 }],
          ['adopt', { clipvalue: 0.5 }],
          ['adamw', { clipnorm: 2, nonFinite: 'off' }],
        ];
        for (const [name, options] of cases) {
          const r = await call('compare', backend, name, { ...options, fused });
          t.diagnostic(JSON.stringify(r));
          assert.equal(r.backend, backend);
          assert.ok(
            r.maxRelativeDifferenceToCpu < 1e-4,
            `${name} ${JSON.stringify(options)}: differs from cpu by ${r.maxRelativeDifferenceToCpu}`,
          );
          assert.equal(r.readSyncDuringSteps, 0, `${name}: synchronous readbacks during steps`);
          if (fused && options.nonFinite === 'off' && options.clipnorm === undefined) {
            // three variables: one program per array written on webgl (new m, v, p; a one-slot rule: 2), 1 dispatch
            // each on webgpu
            const written = name === 'lion' || name === 'sgd_nesterov' ? 2 : 3;
            assert.equal(r.programsPerStep, backend === 'webgl' ? 3 * written : 3, `${name}: programs per step`);
          }
        }
      });
    }
    for (const policy of ['throw', 'skip']) {
      it(`${backend}: a NaN gradient changes nothing, 'nonFinite: ${policy}' reports it`, async (t) => {
        if (backend === 'webgpu' && !webgpu) return t.skip('no WebGPU adapter in this Chromium');
        for (const [name, fused] of [
          ['adopt', true],
          ['adopt', false],
          ['amsgrad', true],
          ['adam', false],
        ]) {
          const r = await call('nanStep', backend, name, policy, { fused });
          t.diagnostic(`${name} fused ${fused}: ${JSON.stringify(r)}`);
          assert.equal(r.backend, backend);
          assert.equal(r.unchanged, true, 'parameters or state changed');
          assert.equal(r.readSyncDuringStep, 0);
          assert.equal(r.afterNextGoodStepFinite, true);
          if (policy === 'throw') {
            assert.equal(r.surfaced, 'checkFinite');
            assert.equal(r.variableName, 'b');
            assert.equal(r.errorStep, 3);
            assert.equal(r.countersUnchanged, true, 'counters were not rolled back');
            assert.equal(r.iterationsAfter, r.iterationsBefore);
            assert.equal(r.nextCallThrows, true, 'the next applyGradients did not throw');
          } else {
            assert.equal(r.surfaced, 'none');
            assert.equal(r.skippedSteps, 1);
          }
        }
      });
    }
  }

  it('webgpu: 8-bit, 4-bit and bfloat16 state agree with cpu (its WebAssembly kernels), one dispatch per variable, no synchronous readback; a NaN step changes nothing; webgl refuses it', async (t) => {
    if (!webgpu) return t.skip('no WebGPU adapter in this Chromium');
    for (const [name, options] of [
      ['adopt', { stateDtype: 'int8' }],
      ['adopt', { stateDtype: 'int4' }],
      ['adamw', { stateDtype: 'int4', nonFinite: 'off' }],
      ['adam', { stateDtype: 'int8', nonFinite: 'off' }],
      ['adopt', { stateDtype: 'bfloat16' }],
      ['adamw', { stateDtype: 'bfloat16', nonFinite: 'off' }],
    ]) {
      const r = await call('compare', 'webgpu', name, options);
      t.diagnostic(JSON.stringify(r));
      // 12 steps; the codes are the WebAssembly kernels' (tested code for code in Node on Dawn), a rare one a code
      // apart
      assert.ok(
        r.maxRelativeDifferenceToCpu < 1e-3,
        `${name} ${JSON.stringify(options)}: differs from cpu by ${r.maxRelativeDifferenceToCpu}`,
      );
      assert.equal(r.readSyncDuringSteps, 0, `${name}: synchronous readbacks during steps`);
      if (options.nonFinite === 'off') assert.equal(r.programsPerStep, 3, `${name}: dispatches per step (3 variables)`);
    }
    const r = await call('nanStep', 'webgpu', 'adopt', 'throw', { stateDtype: 'int4' });
    t.diagnostic(JSON.stringify(r));
    assert.equal(r.unchanged, true, 'parameters, codes or scales changed');
    assert.equal(r.countersUnchanged, true);
    assert.equal(r.readSyncDuringStep, 0);
    await assert.rejects(
      call('compare', 'webgl', 'adopt', { stateDtype: 'int8' }),
      /runs on the wasm, cpu and webgpu backends only/,
    );
  });

  it('a variable of 4.3 M elements (WebGPU: a 2-D dispatch; WebGL: the non-finite count in several parts)', async (t) => {
    for (const backend of webgpu ? ['webgl', 'webgpu'] : ['webgl']) {
      const r = await call('compare', backend, 'adopt', {}, 3, [4_300_000, 10]);
      t.diagnostic(JSON.stringify(r));
      assert.ok(r.maxRelativeDifferenceToCpu < 1e-4, `${backend}: differs from cpu by ${r.maxRelativeDifferenceToCpu}`);
    }
  });

  it('model.fit with adopt() trains on webgpu and webgl, and the device stays alive', async (t) => {
    for (const backend of webgpu ? ['webgpu', 'webgl'] : ['webgl']) {
      const r = await call('fit', backend, true);
      t.diagnostic(JSON.stringify(r));
      assert.equal(r.backend, backend);
      assert.ok(r.last < r.first / 4, `${backend}: loss ${r.first} -> ${r.last}`);
      assert.equal(r.alive, true);
    }
  });

  it('NaN and Infinity at the edges of odd-shaped (packed) gradients are caught; finite ones are not flagged', async (t) => {
    for (const backend of webgpu ? ['webgl', 'webgpu'] : ['webgl']) {
      const r = await call('edgeFlags', backend);
      t.diagnostic(JSON.stringify(r));
      assert.deepEqual(r.missed, [], `${backend}: missed`);
      assert.deepEqual(r.falseAlarms, [], `${backend}: false alarms`);
    }
  });

  it('no texture or buffer leak over 1,000 steps', async (t) => {
    for (const backend of webgpu ? ['webgl', 'webgpu'] : ['webgl']) {
      const r = await call('leaks', backend, 'adopt', {}, 1000);
      t.diagnostic(JSON.stringify(r));
      assert.deepEqual(r.last, r.first, `${backend}: GPU bytes / tensors grew`);
      assert.equal(r.readSync, 0);
    }
  });

  it('regressions: a skipped first ADOPT step redone as on cpu; globalClipnorm over 9 and 13 variables', async (t) => {
    for (const backend of webgpu ? ['webgl', 'webgpu'] : ['webgl']) {
      const cases = [
        [{}, true],
        [{ fused: false }, true],
        [{}, false],
        [{ fused: false }, false],
      ];
      if (backend === 'webgpu') cases.push([{ stateDtype: 'int4' }, true]);
      for (const [options, wait] of cases) {
        // wait false: every step issued before the first verdict arrives (the first step redone on the GPU)
        const r = await call('skipFirst', backend, options, wait);
        t.diagnostic(`${JSON.stringify(options)}: ${JSON.stringify(r)}`);
        const d = r.maxRelativeDifferenceToCpu;
        assert.ok(d < 1e-4, `${backend} ${JSON.stringify(options)}: differs from cpu by ${d}`);
        assert.ok(r.largestMove < 10, `${backend}: a parameter moved by ${r.largestMove} (a division by epsilon)`);
        assert.equal(r.countersAsCpu, true, `${backend}: counters or skippedSteps differ from cpu's`);
      }
      for (const count of [9, 13]) {
        const sizes = Array.from({ length: count }, (_x, i) => 5 + 11 * i);
        const r = await call('compare', backend, 'adam', { globalClipnorm: 0.5 }, 4, sizes);
        t.diagnostic(`globalClipnorm, ${count} variables: ${JSON.stringify(r)}`);
        const d = r.maxRelativeDifferenceToCpu;
        assert.ok(d < 1e-4, `${backend}, ${count} variables: differs from cpu by ${d}`);
      }
    }
  });

  it('state leaving webgpu (for cpu, webgl): refused until read asynchronously; moved as on cpu', async (t) => {
    if (!webgpu) return t.skip('no WebGPU adapter in this Chromium');
    const cases = [
      ['cpu', {}],
      ['cpu', { stateDtype: 'int8' }],
      ['cpu', { stateDtype: 'int4' }],
      ['webgl', {}],
    ];
    for (const [to, options] of cases) {
      for (const how of ['before', 'after']) {
        const r = await call('moveOffWebgpu', to, options, how);
        t.diagnostic(`${JSON.stringify(options)}: ${JSON.stringify(r)}`);
        const d = r.maxRelativeDifferenceToCpu;
        assert.ok(d < 1e-5, `${to} ${JSON.stringify(options)} saved ${how}: differs from cpu by ${d}`);
        assert.equal(r.unchanged, true, 'a refused step changed something');
        if (how === 'after') assert.match(r.refused, /is on the webgpu backend.*getWeights\(\).*Nothing was changed/);
      }
    }
  });

  it('differential fuzzer: random options × sizes × policies × variable counts, webgl and webgpu vs cpu', async (t) => {
    // CI: a few cases; ADOPT_GPU_FUZZ_CASES=N for a long run (ADOPT_GPU_FUZZ_SEED: the first seed)
    const count = Number(process.env.ADOPT_GPU_FUZZ_CASES ?? 16);
    const first = Number(process.env.ADOPT_GPU_FUZZ_SEED ?? 1);
    const backends = webgpu ? ['webgl', 'webgpu'] : ['webgl'];
    const started = Date.now();
    const r = await call('fuzz', first, count, backends);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    t.diagnostic(`${r.cases} cases from seed ${first} in ${seconds} s; ${r.failures.length} failed`);
    for (const f of r.failures.slice(0, 10)) t.diagnostic(JSON.stringify(f));
    assert.deepEqual(r.failures, []);
  });

  it('differential fuzzer: a seeded GPU-only bug (tfjs AddN drops an input on webgl / webgpu) is caught', async (t) => {
    // seeds whose case clips by the global norm over several variables (the fault's reach)
    const backends = webgpu ? ['webgl', 'webgpu'] : ['webgl'];
    const seeds = [];
    for (let seed = 1; seeds.length < 4 && seed < 5000; seed++) {
      const c = await call('fuzzCase', seed, backends);
      if (c.options.globalClipnorm === 0.05 && c.shapes.length >= 3) seeds.push(seed);
    }
    const failures = [];
    try {
      await call('seedBug', true);
      for (const seed of seeds) failures.push(...(await call('fuzz', seed, 1, backends)).failures);
    } finally {
      await call('seedBug', false);
    }
    // a case whose gradients' global norm stays under the bound never clips: the fault has nothing to change there
    t.diagnostic(`seeded bug: caught in ${failures.length} of ${seeds.length} cases (seeds ${seeds})`);
    for (const f of failures) t.diagnostic(`seed ${f.case.seed}: ${f.why}`);
    assert.ok(failures.length >= 1, 'the fuzzer missed the seeded bug');
    const clean = await call('fuzz', failures[0].case.seed, 1, backends);
    assert.deepEqual(clean.failures, [], 'without the fault the same case passes');
  });

  it('GPU errors fail a check: a dispatch over the buffer limit (webgpu), a bad shader (webgl)', async (t) => {
    const mark = errors.length;
    await call('addNOf', 7); // 7 inputs and the output: 8 storage buffers, allowed
    if (webgpu) await assert.rejects(call('addNOf', 9), /GPU errors in addNOf: webgpu validation: .*storage buffers/);
    else t.diagnostic('no WebGPU adapter: the webgpu half is skipped');
    await assert.rejects(call('badShader'), /Failed to compile fragment shader/);
    const logged = errors.slice(mark).some((e) => /notDeclared|ERROR: \d+:\d+/.test(e));
    assert.ok(logged, 'the shader log reached the page errors');
    errors.splice(mark); // expected here: not errors of the other checks
  });

  it('no page errors', () => {
    assert.deepEqual(
      errors.filter((e) => !/synchronously reading data from GPU/.test(e)),
      [],
    );
  });
});
