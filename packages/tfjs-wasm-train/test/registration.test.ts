/**
 * Registration: enabling before the wasm backend starts, idempotence, other backends and other
 * wasm kernels untouched, and disabling puts back tfjs's very own kernel configs.
 * (Its own process, as every test file: the backend is not initialised when it starts.)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { disableWasmTraining, enableWasmTraining, isWasmTrainingEnabled, WASM_TRAINING_KERNELS } from '../src/index.js';

function snapshot(backend: string): Map<string, tf.KernelConfig> {
  return new Map(tf.getKernelsForBackend(backend).map((k) => [k.kernelName, k]));
}

const cpuBefore = snapshot('cpu');
const wasmBefore = snapshot('wasm');
const originalBatchMatMul = tf.getKernel('BatchMatMul', 'wasm')!;
const originalFusedMatMul = tf.getKernel('_FusedMatMul', 'wasm')!;
const originalConvInput = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
// tfjs's own kernels that ours wrap (all but the three tfjs lacks)
const WRAPPED = [
  'BatchMatMul',
  '_FusedMatMul',
  'Conv2DBackpropInput',
  'MaxPoolGrad',
  'Transpose',
  'Slice',
  'Unpack',
  'SplitV',
  'Sum',
];
const originals = new Map(WRAPPED.map((name) => [name, tf.getKernel(name, 'wasm')!]));

describe('enableWasmTraining / disableWasmTraining', () => {
  it('tfjs 4.22 lacks the filter gradients on wasm (what this package is for)', () => {
    assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), undefined);
    assert.equal(tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm'), undefined);
    assert.equal(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm'), undefined);
    assert.ok(originalBatchMatMul.setupFunc, "tfjs's BatchMatMul has a setup function, which ours must keep");
  });

  it('works when enabled before the wasm backend is initialised (setup functions carried over)', async () => {
    const handle = enableWasmTraining();
    assert.deepEqual([...handle.kernels], [...WASM_TRAINING_KERNELS]);
    assert.ok(await tf.setBackend('wasm'));
    await tf.ready();
    const a = tf.tensor2d([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(Array.from(tf.matMul(a, a, false, true).dataSync()), [14, 32, 32, 77]);
    assert.deepEqual(Array.from(tf.matMul(a, a, true, false).dataSync()), [17, 22, 27, 22, 29, 36, 27, 36, 45]);
    a.dispose();
  });

  it('is idempotent: a second call returns the same handle and registers nothing new', () => {
    const first = enableWasmTraining();
    const registered = WASM_TRAINING_KERNELS.map((k) => tf.getKernel(k, 'wasm'));
    assert.equal(enableWasmTraining(), first);
    assert.deepEqual(
      WASM_TRAINING_KERNELS.map((k) => tf.getKernel(k, 'wasm')),
      registered,
    );
    assert.ok(isWasmTrainingEnabled());
  });

  it('registers only its twelve kernels, only for wasm: cpu and every other wasm kernel are the same objects', () => {
    assert.equal(WASM_TRAINING_KERNELS.length, 12);
    for (const name of WRAPPED) assert.ok((WASM_TRAINING_KERNELS as readonly string[]).includes(name), name);
    const cpuNow = snapshot('cpu');
    assert.equal(cpuNow.size, cpuBefore.size);
    for (const [name, config] of cpuBefore) assert.equal(cpuNow.get(name), config, `cpu ${name}`);
    const wasmNow = snapshot('wasm');
    for (const [name, config] of wasmBefore) {
      if ((WASM_TRAINING_KERNELS as readonly string[]).includes(name)) assert.notEqual(wasmNow.get(name), config, name);
      else assert.equal(wasmNow.get(name), config, `wasm ${name}`);
    }
    assert.equal(wasmNow.size, wasmBefore.size + 3);
    for (const backend of tf
      .engine()
      .backendNames()
      .filter((b) => b !== 'wasm' && b !== 'cpu')) {
      assert.equal(
        tf.getKernel('Conv2DBackpropFilter', backend)?.kernelFunc ===
          tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc,
        false,
      );
    }
  });

  it('disable puts back exactly what was there: the same config and function objects, and no filter gradients', () => {
    disableWasmTraining();
    assert.ok(!isWasmTrainingEnabled());
    assert.equal(tf.getKernel('BatchMatMul', 'wasm'), originalBatchMatMul);
    assert.equal(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc, originalBatchMatMul.kernelFunc);
    assert.equal(tf.getKernel('_FusedMatMul', 'wasm'), originalFusedMatMul);
    assert.equal(tf.getKernel('Conv2DBackpropInput', 'wasm'), originalConvInput);
    for (const [name, config] of originals) {
      assert.equal(tf.getKernel(name, 'wasm'), config, name);
      assert.equal(tf.getKernel(name, 'wasm')!.kernelFunc, config.kernelFunc, name);
    }
    assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), undefined);
    assert.equal(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm'), undefined);
    assert.equal(tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm'), undefined);
    const wasmNow = snapshot('wasm');
    assert.equal(wasmNow.size, wasmBefore.size);
    for (const [name, config] of wasmBefore) assert.equal(wasmNow.get(name), config, `wasm ${name}`);
    disableWasmTraining(); // a second disable does nothing
    assert.equal(tf.getKernel('BatchMatMul', 'wasm'), originalBatchMatMul);
  });

  it('can be enabled again after disabling, and the handle disables too', () => {
    const handle = enableWasmTraining();
    assert.notEqual(tf.getKernel('BatchMatMul', 'wasm'), originalBatchMatMul);
    handle.disable();
    assert.equal(tf.getKernel('BatchMatMul', 'wasm'), originalBatchMatMul);
  });

  it("leaves alone a kernel someone else registered over ours, and puts tfjs's back only where the name is free", () => {
    enableWasmTraining();
    const theirs: tf.KernelConfig = {
      kernelName: '_FusedMatMul',
      backendName: 'wasm',
      kernelFunc: originalFusedMatMul.kernelFunc,
    };
    tf.unregisterKernel('_FusedMatMul', 'wasm');
    tf.registerKernel(theirs);
    disableWasmTraining();
    assert.equal(tf.getKernel('_FusedMatMul', 'wasm'), theirs);
    assert.equal(tf.getKernel('BatchMatMul', 'wasm'), originalBatchMatMul);
    tf.unregisterKernel('_FusedMatMul', 'wasm');
    tf.registerKernel(originalFusedMatMul);
  });

  it("the side-effect entry 'register' enables on import", async () => {
    assert.ok(!isWasmTrainingEnabled());
    await import('../src/register.js');
    assert.ok(isWasmTrainingEnabled());
    assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
    disableWasmTraining();
  });
});
