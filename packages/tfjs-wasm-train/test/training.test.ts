/**
 * Whole networks: gradients of a Conv2D + depthwise + pooling + Dense network on wasm equal cpu's,
 * and model.fit with adopt-optim's fused, in-place ADOPT on wasm follows the cpu run (its
 * in-place weight updates must reach XNNPACK's operator caches, which hold packed weights).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adopt } from 'adopt-optim';
import { enableWasmTraining, disableWasmTraining } from '../src/index.js';
import { Rng, size, useBackend, wasmRecords } from './helpers.js';

before(() => {
  enableWasmTraining();
});
after(() => disableWasmTraining());

interface Params {
  [name: string]: { shape: number[]; values: Float32Array };
}

function makeParams(rng: Rng): Params {
  const p = (shape: number[], scale: number) => ({ shape, values: rng.array(size(shape)).map((v) => v * scale) });
  return {
    conv1: p([3, 3, 2, 6], 0.4),
    bias1: p([6], 0.1),
    dw: p([3, 3, 6, 2], 0.4),
    conv2: p([3, 3, 12, 8], 0.3),
    dense: p([2 * 2 * 8, 5], 0.3),
    denseBias: p([5], 0.1),
  };
}

/** A network that exercises every kernel we register on the way back. */
function network(w: Record<string, tf.Tensor>, x: tf.Tensor4D, labels: tf.Tensor): tf.Scalar {
  let h: tf.Tensor4D = tf.fused.conv2d({
    x,
    filter: w['conv1'] as tf.Tensor4D,
    strides: 1,
    pad: 'same',
    bias: w['bias1'],
    activation: 'relu',
  });
  h = tf.maxPool(h, 2, 2, 'valid');
  h = tf.depthwiseConv2d(h, w['dw'] as tf.Tensor4D, [2, 2], 'same');
  h = tf.relu(tf.conv2d(h, w['conv2'] as tf.Tensor4D, 1, 'valid'));
  const flat = tf.reshape(h, [x.shape[0], -1]) as tf.Tensor2D;
  const logits = tf.fused.matMul({ a: flat, b: w['dense'] as tf.Tensor2D, bias: w['denseBias'], activation: 'linear' });
  // a transposed product in the forward pass too
  const hidden = tf.matMul(logits, w['dense'] as tf.Tensor2D, false, true);
  const out = tf.add(logits, tf.mul(0.1, tf.matMul(hidden, w['dense'] as tf.Tensor2D)));
  return tf.losses.softmaxCrossEntropy(labels, out) as tf.Scalar;
}

async function gradientsOn(
  backend: 'cpu' | 'wasm',
  params: Params,
  xv: Float32Array,
  yv: Float32Array,
): Promise<Map<string, Float32Array>> {
  await useBackend(backend);
  const result = new Map<string, Float32Array>();
  tf.tidy(() => {
    const names = Object.keys(params);
    const w = names.map((n) => tf.tensor(params[n]!.values, params[n]!.shape));
    const x = tf.tensor4d(xv, [4, 17, 17, 2]);
    const labels = tf.tensor2d(yv, [4, 5]);
    const grads = tf.grads((...ws: tf.Tensor[]) =>
      network(Object.fromEntries(names.map((n, i) => [n, ws[i]!])), x, labels),
    )(w);
    names.forEach((n, i) => result.set(n, grads[i]!.dataSync().slice() as Float32Array));
  });
  return result;
}

describe('gradients of a whole network', () => {
  it('tf.grads of Conv2D + depthwise + MaxPool + Dense on wasm equal cpu (relative 1e-4 of each gradient)', async () => {
    const rng = new Rng(30);
    const params = makeParams(rng);
    const xv = rng.array(4 * 17 * 17 * 2);
    const yv = Float32Array.from({ length: 20 }, (_, i) => (i % 5 === i % 3 ? 1 : 0));
    const cpu = await gradientsOn('cpu', params, xv, yv);
    const wasm = await gradientsOn('wasm', params, xv, yv);
    const report: string[] = [];
    for (const [name, ref] of cpu) {
      const ours = wasm.get(name)!;
      const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const err = ref.reduce((m, v, i) => Math.max(m, Math.abs(v - ours[i]!)), 0);
      report.push(`${name}: max |wasm − cpu| ${err.toExponential(2)} (max |grad| ${scale.toExponential(2)})`);
      assert.ok(scale > 0, `${name} has a gradient`);
      assert.ok(err <= 1e-4 * scale, `${name}: ${err} vs ${scale}`);
    }
    console.log(report.join('\n'));
  });

  it('without the kernels, the same gradients fail on wasm (the gap this package fills)', async () => {
    disableWasmTraining();
    try {
      const rng = new Rng(31);
      await assert.rejects(
        gradientsOn('wasm', makeParams(rng), rng.array(4 * 17 * 17 * 2), new Float32Array(20)),
        /Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'/,
      );
    } finally {
      enableWasmTraining();
    }
  });
});

function cnn(): tf.Sequential {
  const m = tf.sequential();
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  m.add(
    tf.layers.conv2d({
      inputShape: [12, 12, 1],
      filters: 6,
      kernelSize: 3,
      activation: 'relu',
      kernelInitializer: init(1),
    }),
  );
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(
    tf.layers.depthwiseConv2d({
      kernelSize: 3,
      depthMultiplier: 2,
      padding: 'same',
      activation: 'relu',
      depthwiseInitializer: init(2),
    }),
  );
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(3) }));
  m.add(tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: init(4) }));
  return m;
}

/** A learnable task: the class is which quadrant of the image is brightest. */
function data(rng: Rng, n: number): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(n * 144);
  const y = new Float32Array(n * 4);
  for (let s = 0; s < n; s++) {
    const cls = rng.int(0, 3);
    y[s * 4 + cls] = 1;
    for (let i = 0; i < 12; i++)
      for (let j = 0; j < 12; j++) {
        const q = (i < 6 ? 0 : 2) + (j < 6 ? 0 : 1);
        x[s * 144 + i * 12 + j] = rng.next() * 0.5 + (q === cls ? 0.5 : 0);
      }
  }
  return { x, y };
}

async function fit(
  backend: 'cpu' | 'wasm',
  weights: Float32Array[],
  d: { x: Float32Array; y: Float32Array },
  n: number,
): Promise<{ losses: number[]; leaked: number; records: number }> {
  await useBackend(backend);
  const model = cnn();
  model.setWeights(weights.map((w, i) => tf.tensor(w, model.getWeights()[i]!.shape)));
  model.compile({ optimizer: adopt(3e-3), loss: 'categoricalCrossentropy' });
  const x = tf.tensor4d(d.x, [n, 12, 12, 1]);
  const y = tf.tensor2d(d.y, [n, 4]);
  const losses: number[] = [];
  let before = 0;
  let recordsBefore = 0;
  for (let epoch = 0; epoch < 8; epoch++) {
    if (epoch === 2) {
      before = tf.memory().numTensors;
      recordsBefore = backend === 'wasm' ? wasmRecords() : 0;
    }
    const h = await model.fit(x, y, { batchSize: 16, epochs: 1, shuffle: false, verbose: 0 });
    losses.push(h.history['loss']![0] as number);
  }
  const leaked = tf.memory().numTensors - before;
  const records = backend === 'wasm' ? wasmRecords() - recordsBefore : 0;
  tf.dispose([x, y]);
  model.dispose();
  return { losses, leaked, records };
}

describe('model.fit with adopt() on wasm', () => {
  it('a Conv2D + depthwise + MaxPool + Dense model trains on wasm: the loss falls and follows the cpu run', async () => {
    const rng = new Rng(40);
    const n = 64;
    const d = data(rng, n);
    await useBackend('cpu');
    const init = cnn();
    const weights = init.getWeights().map((w) => w.dataSync().slice() as Float32Array);
    init.dispose();
    const cpu = await fit('cpu', weights, d, n);
    const wasm = await fit('wasm', weights, d, n);
    console.log(`loss per epoch, cpu:  ${cpu.losses.map((l) => l.toFixed(5)).join(' ')}`);
    console.log(`loss per epoch, wasm: ${wasm.losses.map((l) => l.toFixed(5)).join(' ')}`);
    assert.ok(wasm.losses.at(-1)! < 0.6 * wasm.losses[0]!, `the loss falls: ${wasm.losses}`);
    const maxRel = Math.max(...wasm.losses.map((l, i) => Math.abs(l - cpu.losses[i]!) / cpu.losses[i]!));
    console.log(`max relative loss difference wasm vs cpu: ${maxRel.toExponential(2)}`);
    assert.ok(maxRel < 1e-3, `wasm follows cpu: ${maxRel}`);
    assert.equal(wasm.leaked, 0, 'no tensor leaked by six epochs of fit on wasm');
    assert.equal(wasm.records, 0, 'no wasm record leaked');
    assert.equal(cpu.leaked, 0);
  });
});
