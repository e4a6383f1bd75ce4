/**
 * The optional entry points (issue 36), in a process that has not imported them: low-bit state is refused at
 * construction naming `import 'adopt-optim/lowbit'`, low-bit entries given to setWeights likewise; a GPU backend
 * (here a stand-in: tfjs's cpu kernels registered under the names 'webgl' and 'webgpu', so that the dispatcher's
 * name checks see a GPU) runs as tfjs ops with one console warning per backend naming `import 'adopt-optim/gpu'`,
 * checks non-finite gradients synchronously on webgl and refuses them on webgpu (where a synchronous read is
 * not reliable); then, with the entries imported, the same calls work. Nothing here imports the entries statically.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu'; // tfjs-core and its cpu backend only: no real webgl to stand in for
import { adam, adopt, NonFiniteGradientError, OptimizerArgumentError } from '../src/index.js';

/** tfjs's cpu backend under another name, with every cpu kernel registered for it. */
function standIn(name: 'webgl' | 'webgpu'): void {
  if (tf.findBackend(name) !== null) return;
  const cpu = tf.findBackendFactory('cpu')!;
  tf.registerBackend(name, cpu, -1);
  // the ops path reads webgl's float16 flag (epsilon, §7.1): float32 textures here
  if (name === 'webgl') tf.env().registerFlag('WEBGL_RENDER_FLOAT32_ENABLED', () => true);
  for (const kernel of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...kernel, backendName: name });
}

/** The console warnings `f` printed. */
function warnings(f: () => void): string[] {
  const seen: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => seen.push(args.join(' '));
  try {
    f();
  } finally {
    console.warn = warn;
  }
  return seen;
}

afterEach(async () => {
  await tf.setBackend('cpu');
});

describe("without import 'adopt-optim/lowbit'", () => {
  for (const stateDtype of ['int8', 'int4', 'bfloat16'] as const) {
    it(`stateDtype '${stateDtype}' is refused at construction, naming the import`, () => {
      const before = tf.memory().numTensors;
      for (const make of [() => adopt(1e-3, { stateDtype }), () => adam(1e-3, { stateDtype })]) {
        assert.throws(make, (e: Error) => {
          assert.ok(e instanceof OptimizerArgumentError);
          assert.match(e.message, new RegExp(`stateDtype '${stateDtype}' needs .*import 'adopt-optim/lowbit'`));
          assert.match(e.message, /Nothing was changed/);
          return true;
        });
      }
      assert.equal(tf.memory().numTensors, before);
    });
  }

  it('where another copy of adopt-optim ran the import (ESM vs CommonJS), the refusal says so (round 2 F6)', () => {
    const ran = Symbol.for('adopt-optim: lowbit entry point ran');
    const global = globalThis as Record<symbol, unknown>;
    global[ran] = true; // as the other copy's entry point sets it
    try {
      assert.throws(
        () => adopt(1e-3, { stateDtype: 'int8' }),
        /'float32' \(import 'adopt-optim\/lowbit' ran, but into another copy of adopt-optim: .*CommonJS/,
      );
    } finally {
      delete global[ran];
    }
    assert.throws(
      () => adopt(1e-3, { stateDtype: 'int8' }),
      (e: Error) => !e.message.includes('another copy'),
    );
  });

  it('float32 state works, and setWeights refuses low-bit entries, naming the import', async () => {
    await tf.setBackend('cpu');
    const w = tf.variable(tf.tensor1d([1, 2, 3]), true, 'entry_w');
    const opt = adopt(0.1);
    opt.applyGradients({ entry_w: tf.onesLike(w) });
    const saved = await opt.getWeights();
    const codes = { name: 'entry_w/qm', tensor: tf.zeros([256], 'int32') };
    await assert.rejects(
      opt.setWeights([...saved, codes]),
      /"entry_w\/qm" is low-bit state; .*import 'adopt-optim\/lowbit'/,
    );
    assert.equal(opt.stepOf('entry_w'), 1, 'the refused call changed nothing');
    codes.tensor.dispose();
    opt.dispose();
    w.dispose();
  });
});

describe("without import 'adopt-optim/gpu'", () => {
  it('webgl runs as tfjs ops, warns once naming the import, and checks non-finite gradients synchronously', async () => {
    standIn('webgl');
    await tf.setBackend('webgl');
    const w = tf.variable(tf.tensor1d([1, 2, 3]), true, 'gl_w');
    const opt = adopt(0.1);
    const first = warnings(() => opt.applyGradients({ gl_w: tf.onesLike(w) }));
    assert.equal(first.length, 1, first.join('\n'));
    assert.match(first[0]!, /webgl backend's fused kernels .* import 'adopt-optim\/gpu'.*lastStepPaths: ops/);
    assert.deepEqual(opt.lastStepPaths, ['ops']);
    const second = warnings(() => opt.applyGradients({ gl_w: tf.onesLike(w) }));
    assert.deepEqual(second, [], 'one warning per backend');
    const before = Array.from(w.dataSync());
    assert.throws(() => opt.applyGradients({ gl_w: tf.tensor1d([1, NaN, 1]) }), NonFiniteGradientError);
    assert.deepEqual(Array.from(w.dataSync()), before, 'the refused step changed nothing');
    opt.dispose();
    w.dispose();
  });

  it("webgpu refuses a step with nonFinite other than 'off' (naming the import) and runs ops with 'off'", async () => {
    standIn('webgpu');
    await tf.setBackend('webgpu');
    const w = tf.variable(tf.tensor1d([1, 2, 3]), true, 'gpu_w');
    const checked = adopt(0.1);
    const before = Array.from(w.dataSync());
    warnings(() =>
      assert.throws(
        () => checked.applyGradients({ gpu_w: tf.onesLike(w) }),
        /nonFinite 'throw' on webgpu needs .*import 'adopt-optim\/gpu'.*nonFinite: 'off'.*Nothing was changed/,
      ),
    );
    assert.deepEqual(Array.from(w.dataSync()), before);
    assert.equal(checked.iterations, 0);
    const off = adam(0.1, { nonFinite: 'off' }); // (ADOPT's first step changes no parameter)
    assert.deepEqual(
      warnings(() => off.applyGradients({ gpu_w: tf.onesLike(w) })),
      [],
      'the webgpu warning was given once',
    );
    assert.deepEqual(off.lastStepPaths, ['ops']);
    assert.notDeepEqual(Array.from(w.dataSync()), before);
    checked.dispose();
    off.dispose();
    w.dispose();
  });
});

describe('with the entries imported', () => {
  it('low-bit state is made, and a GPU backend without GPU internals says so (the fused kernels are registered)', async () => {
    await import('../src/lowbit/index.js');
    await import('../src/gpu/index.js');
    await tf.setBackend('cpu');
    const w = tf.variable(tf.tensor1d([1, 2, 3]), true, 'lb_w');
    const opt = adopt(0.1, { stateDtype: 'int8' });
    opt.applyGradients({ lb_w: tf.onesLike(w) });
    assert.deepEqual(opt.lastStepPaths, ['int8']);
    opt.dispose();
    w.dispose();
    // the stand-in 'webgl' has no WebGL internals: the registered kernel maker declines, the step runs as ops
    await tf.setBackend('webgl');
    const v = tf.variable(tf.tensor1d([1, 2, 3]), true, 'gl_v');
    const gl = adopt(0.1);
    assert.deepEqual(
      warnings(() => gl.applyGradients({ gl_v: tf.onesLike(v) })),
      [],
    );
    assert.deepEqual(gl.lastStepPaths, ['ops']);
    await gl.checkFinite(); // the GPU guard's asynchronous check
    gl.dispose();
    v.dispose();
  });
});
