/**
 * The one dispatcher (src/dispatch.ts): it alone makes a backend's kernels, it says which backends check
 * gradients on the GPU, and `fused: false` always runs as tfjs ops.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { backendKernels, gpuFusedKernels, isGpuBackend, stepKernels } from '../src/dispatch.js';
import { adopt } from '../src/index.js';
import { BACKENDS, useBackend } from './backends.js';

const SRC = new URL('../src/', import.meta.url);

function sources(dir: URL, prefix = ''): string[] {
  return readdirSync(dir).flatMap((f) =>
    statSync(new URL(f, dir)).isDirectory()
      ? sources(new URL(`${f}/`, dir), `${prefix}${f}/`)
      : f.endsWith('.ts')
        ? [`${prefix}${f}`]
        : [],
  );
}

it("only src/dispatch.ts makes a backend's kernels", () => {
  const makers = /\b(wasmFusedKernels|cpuFusedKernels|webglFusedKernels|webgpuFusedKernels)\s*[(,]/;
  for (const file of sources(SRC)) {
    if (file === 'dispatch.ts') continue;
    const code = readFileSync(new URL(file, SRC), 'utf8').replace(/^export function \w+/gm, '');
    assert.doesNotMatch(code, makers, `src/${file} makes a backend's kernels; src/dispatch.ts chooses them`);
  }
});

it("the GPU backends are those of the dispatcher's table", () => {
  assert.deepEqual(['cpu', 'wasm', 'webgl', 'webgpu', 'tensorflow'].filter(isGpuBackend), ['webgl', 'webgpu']);
});

for (const backend of BACKENDS) {
  describe(`dispatch on ${backend}`, () => {
    it('fused: its own kernels, made once; fused: false and the GPU entry: none', async () => {
      await useBackend(backend);
      const k = backendKernels();
      assert.equal(k?.path, backend);
      assert.equal(backendKernels(), k, 'made once per backend');
      assert.equal(stepKernels(true), k);
      assert.equal(stepKernels(false), null);
      assert.equal(gpuFusedKernels(), null);
    });

    it("the path a step took is the dispatcher's", async () => {
      await useBackend(backend);
      const w = tf.variable(tf.tensor([1, 2, 3]));
      for (const [fused, path] of [
        [true, backend],
        [false, 'ops'],
      ] as const) {
        const opt = adopt(1e-3, { fused });
        opt.applyGradients({ [w.name]: tf.tensor([0.1, -0.2, 0.3]) });
        assert.deepEqual(opt.lastStepPaths, [path]);
        opt.dispose();
      }
      w.dispose();
    });
  });
}
