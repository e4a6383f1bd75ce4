/**
 * 8-bit state on tfjs's wasm heap (src/backends/wasm_heap_lowbit.ts): the in-place route against the
 * separate-memory route (src/kernels/lowbit_arrays.ts, p and g copied through a memory of its own), bit
 * for bit in parameters, codes and scales; moving between the two routes mid-run; what a step
 * allocates (nothing after the first) and what dispose() and setWeights() free; and the checks at
 * the kernel entry (every buffer against the length the step touches, nothing written on refusal).
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adam, adamw, adopt, type NamedStateOptimizer } from '../src/index.js';
import { adoptKernelArgs } from '../src/rules/scalars.js';
import { adamCall, adoptCall } from '../src/codegen/modules.js';
import { backendKernels as fusedKernelsForBackend } from '../src/dispatch.js';
import { stepSeed } from '../src/kernels/lowbit_arrays.js';
import { LowBitStore } from '../src/tfjs/lowbit_store.js';
import { useBackend } from './backends.js';
import { Rng } from './reference.js';

// n % 4 != 0 (the last block through the scratch) with and without full blocks before it, exact
// blocks, a scalar, and one larger than the separate-memory route's chunk of 16384
const SHAPES = [[7, 9], [300], [5], [], [1000, 3], [773], [512], [258], [16384 + 1001]];
const STEPS = 12;

const MAKERS: [string, () => NamedStateOptimizer][] = [
  ['ADOPT', () => adopt(0.01, { stateDtype: 'int8' })],
  [
    'ADOPT nesterov, decoupled decay, maximize',
    () => adopt(0.01, { stateDtype: 'int8', nesterov: true, weightDecay: 0.1, decoupled: true, maximize: true }),
  ],
  ['ADOPT coupled decay, unclipped', () => adopt(0.01, { stateDtype: 'int8', weightDecay: 0.1, clip: null })],
  ['Adam coupled decay', () => adam(0.01, { stateDtype: 'int8', weightDecay: 0.1 })],
  ['AdamW', () => adamw(0.01, { stateDtype: 'int8' })],
];

function storeOf(opt: NamedStateOptimizer): LowBitStore {
  const store = (opt as unknown as { lowBit: LowBitStore | null }).lowBit;
  assert.ok(store instanceof LowBitStore);
  return store;
}

/** Bits of float32 values (NaN payloads, -0 and all). */
function bits(x: ArrayLike<number> | Float32Array): Uint32Array {
  return new Uint32Array(Float32Array.from(x as ArrayLike<number>).buffer);
}

/** Gradients of varied magnitude, with zero runs (zero codes) and a block of tiny values. */
function gradients(rng: Rng, shapes: number[][], step: number): Float32Array[] {
  return shapes.map((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const g = Float32Array.from(rng.gradient(n, 0.02));
    for (let i = 0; i < n; i++) {
      if ((i + step) % 97 < 5) g[i] = 0;
      else if (i % 1024 >= 512 && i % 1024 < 768) g[i] = g[i]! * 1e-30;
      else if (i % 331 === 7) g[i] = g[i]! * 1e4;
    }
    return g;
  });
}

interface Run {
  params: Float32Array[];
  weights: Map<string, Float32Array | Int32Array>;
  bytes: { heap: number; outside: number };
}

/** Trains variables of SHAPES for `steps` steps; `route(step)` picks the route before each step. */
async function train(make: () => NamedStateOptimizer, route: (step: number) => boolean, steps = STEPS): Promise<Run> {
  const rng = new Rng(7);
  const vars = SHAPES.map((shape, i) =>
    tf.variable(tf.tensor(rng.normals(shape.reduce((a, b) => a * b, 1)), shape), true, `heap_route_${i}`),
  );
  const opt = make();
  try {
    for (let step = 0; step < steps; step++) {
      storeOf(opt).heapRoute = route(step);
      const gs = gradients(rng, SHAPES, step).map((g, i) => tf.tensor(g, SHAPES[i]));
      opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: gs[i]! })));
      tf.dispose(gs);
    }
    const bytes = storeOf(opt).bytes();
    const weights = new Map(
      (await opt.getWeights()).map((w) => [w.name, w.tensor.dataSync().slice() as Float32Array | Int32Array]),
    );
    return { params: vars.map((v) => v.dataSync().slice() as Float32Array), weights, bytes };
  } finally {
    opt.dispose();
    tf.dispose(vars);
  }
}

function assertSameRun(a: Run, b: Run): void {
  a.params.forEach((p, i) =>
    assert.deepEqual(bits(p), bits(b.params[i]!), `parameters of variable ${i} (shape [${SHAPES[i]}])`),
  );
  assert.deepEqual([...a.weights.keys()], [...b.weights.keys()]);
  for (const [name, w] of a.weights) {
    const other = b.weights.get(name)!;
    if (w instanceof Int32Array) assert.deepEqual(w, other, `weight ${name}`);
    else assert.deepEqual(bits(w), bits(other), `weight ${name}`);
  }
}

describe('8-bit state on the wasm heap', () => {
  before(() => useBackend('wasm'));

  it('the module binds to the heap: fusedKernelsForBackend().lowBitHeap exists on wasm', () => {
    assert.ok(fusedKernelsForBackend()?.lowBitHeap !== undefined);
  });

  for (const [name, make] of MAKERS) {
    it(`${name}: in place on the heap = the separate-memory route, bit for bit (parameters, codes, scales)`, async () => {
      const heap = await train(make, () => true);
      const separate = await train(make, () => false);
      assert.ok(heap.bytes.heap > 0 && heap.bytes.outside === 0, `heap route: ${JSON.stringify(heap.bytes)}`);
      assert.ok(
        separate.bytes.heap === 0 && separate.bytes.outside > 0,
        `separate route: ${JSON.stringify(separate.bytes)}`,
      );
      assertSameRun(heap, separate);
    });
  }

  it('moving between the routes mid-run (codes copied across) changes nothing', async () => {
    const make = MAKERS[1]![1];
    const separate = await train(make, () => false);
    const mixed = await train(make, (step) => step % 5 < 3); // heap, heap, heap, separate, separate, ...
    assertSameRun(mixed, separate);
  });

  it("model.fit: the same weights as the separate-memory route (XNNPACK's packed weights dropped after each in-place write)", async () => {
    const x = tf.randomNormal([64, 10], 0, 1, 'float32', 1);
    const y = tf.randomNormal([64, 4], 0, 1, 'float32', 2);
    const final: Float32Array[][] = [];
    for (const heapRoute of [true, false]) {
      const model = tf.sequential({
        layers: [
          tf.layers.dense({
            inputShape: [10],
            units: 16,
            activation: 'relu',
            kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
          }),
          tf.layers.dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
        ],
      });
      const optimizer = adopt(0.01, { stateDtype: 'int8' });
      storeOf(optimizer).heapRoute = heapRoute;
      model.compile({ optimizer, loss: 'meanSquaredError' });
      await model.fit(x, y, { epochs: 8, batchSize: 16, shuffle: false, verbose: 0 });
      final.push(model.getWeights().map((w) => w.dataSync().slice() as Float32Array));
      model.optimizer.dispose();
      model.dispose();
    }
    final[0]!.forEach((w, i) => assert.deepEqual(bits(w), bits(final[1]![i]!), `weight ${i}`));
    tf.dispose([x, y]);
  });

  it('100 steps: no tensor and no byte more than after the first step; dispose() frees the heap allocations', () => {
    const k = fusedKernelsForBackend()!.lowBitHeap!;
    const countBefore = k.liveCount;
    const bytesBefore = k.liveBytes;
    const vars = [
      tf.variable(tf.randomNormal([301, 7], 0, 1, 'float32', 1)),
      tf.variable(tf.randomNormal([4096], 0, 1, 'float32', 2)),
    ];
    const grads = vars.map((v, i) => tf.randomNormal(v.shape, 0, 0.1, 'float32', 10 + i));
    const named = vars.map((v, i) => ({ name: v.name, tensor: grads[i]! }));
    for (const opt of [adopt(0.01, { stateDtype: 'int8' }), adamw(0.01, { stateDtype: 'int8' })]) {
      const tensors = tf.memory().numTensors;
      opt.applyGradients(named);
      // the first update: p gets its own buffer once (variables share their initial tensor's)
      opt.applyGradients(named);
      const first = tf.memory();
      assert.equal(first.numTensors, tensors, 'the 8-bit state holds no tensors');
      assert.equal(k.liveCount, countBefore + 2);
      const held = k.liveBytes;
      for (let i = 0; i < 100; i++) opt.applyGradients(named);
      const last = tf.memory();
      assert.equal(last.numTensors, first.numTensors);
      assert.equal(last.numBytes, first.numBytes);
      assert.equal(k.liveCount, countBefore + 2);
      assert.equal(k.liveBytes, held);
      assert.ok(vars.every((v) => v.dataSync().every(Number.isFinite)));
      opt.dispose();
      assert.equal(k.liveCount, countBefore, 'dispose() freed every allocation');
      assert.equal(k.liveBytes, bytesBefore);
    }
    tf.dispose([...vars, ...grads]);
  });

  it('setWeights replaces (and frees) the heap state; float32 state in, int8 out and back keeps working', async () => {
    const k = fusedKernelsForBackend()!.lowBitHeap!;
    const countBefore = k.liveCount;
    const rng = new Rng(3);
    const v = tf.variable(tf.tensor(rng.normals(600), [20, 30]));
    const i8 = adopt(0.01, { stateDtype: 'int8' });
    for (let i = 0; i < 3; i++) i8.applyGradients({ [v.name]: tf.tensor(rng.gradient(600), [20, 30]) });
    assert.equal(k.liveCount, countBefore + 1);
    const saved = await i8.getWeights();
    const copy = saved.map(({ name, tensor }) => ({ name, tensor: tensor.clone() }));
    await i8.setWeights(copy);
    assert.equal(k.liveCount, countBefore, 'the replaced heap state was freed (the new one waits in its own memory)');
    const g = rng.gradient(600);
    const before = v.dataSync().slice();
    i8.applyGradients({ [v.name]: tf.tensor(g, [20, 30]) });
    assert.equal(k.liveCount, countBefore + 1, 'moved to the heap at the next step');
    const after = v.dataSync().slice();
    // the same step by a fresh optimizer restored from the same weights, on the separate route
    v.assign(tf.tensor(before, [20, 30]));
    const other = adopt(0.01, { stateDtype: 'int8' });
    await other.setWeights(copy);
    storeOf(other).heapRoute = false;
    other.applyGradients({ [v.name]: tf.tensor(g, [20, 30]) });
    assert.deepEqual(bits(v.dataSync()), bits(after));
    // float32 state in (quantised), and back out (de-quantised) into a float32 optimizer
    const f32 = adopt(0.01);
    for (let i = 0; i < 4; i++) f32.applyGradients({ [v.name]: tf.tensor(rng.gradient(600), [20, 30]) });
    await i8.setWeights(await f32.getWeights());
    i8.applyGradients({ [v.name]: tf.tensor(rng.gradient(600), [20, 30]) });
    assert.equal(i8.stepOf(v.name), 5);
    const back = adopt(0.01);
    await back.setWeights(await i8.getWeights());
    back.applyGradients({ [v.name]: tf.tensor(rng.gradient(600), [20, 30]) });
    assert.equal(back.stepOf(v.name), 6);
    assert.ok(v.dataSync().every(Number.isFinite));
    for (const o of [i8, other, f32, back]) o.dispose();
    assert.equal(k.liveCount, countBefore);
    tf.dispose([v, ...copy.map((w) => w.tensor)]);
  });

  it('state restored for [4], then a variable of that name with shape [65536]: refused, nothing written', async () => {
    const opt = adopt(0.01, { stateDtype: 'int8' });
    const small = tf.variable(tf.fill([4], 1), true, 'heap_route_restored');
    opt.applyGradients({ [small.name]: tf.fill([4], 0.5) });
    opt.applyGradients({ [small.name]: tf.fill([4], 0.5) });
    const saved = (await opt.getWeights()).map(({ name, tensor }) => ({ name, tensor: tensor.clone() }));
    small.dispose();
    const restored = adopt(0.01, { stateDtype: 'int8' });
    await restored.setWeights(saved);
    const bystander = tf.fill([1024], 7);
    const big = tf.variable(tf.fill([65536], 1), true, 'heap_route_restored');
    assert.throws(
      () => restored.applyGradients({ [big.name]: tf.fill([65536], 0.5) }),
      /the 8-bit state of variable "heap_route_restored" was made for shape \[4\] but the variable has shape \[65536\].*Nothing was changed/,
    );
    assert.ok(big.dataSync().every((x) => x === 1));
    assert.ok(bystander.dataSync().every((x) => x === 7));
    const after = await restored.getWeights();
    for (const w of saved) {
      const now = after.find((x) => x.name === w.name)!.tensor.dataSync();
      assert.deepEqual(Array.from(now), Array.from(w.tensor.dataSync()), `${w.name} changed`);
    }
    opt.dispose();
    restored.dispose();
    tf.dispose([big, bystander, ...saved.map((w) => w.tensor)]);
  });

  describe('kernel entry: every buffer is checked against the length the step touches', () => {
    const h = { beta1: 0.9, beta2: 0.99, epsilon: 1e-6, weightDecay: 0, decoupled: false, maximize: false };

    it('codes made for [4] and p of [65536], g of another size, freed codes: refused before anything is written', () => {
      const k = fusedKernelsForBackend()!.lowBitHeap!;
      const s = k.allocate(4);
      const codes = () => {
        const v = s.views();
        return [Array.from(v.qm), Array.from(v.qv), Array.from(v.mScale), Array.from(v.vScale)];
      };
      const bystander = tf.fill([256], 7);
      const p = tf.variable(tf.fill([65536], 1), true, 'heap_entry_p');
      const g = tf.fill([65536], 0.5);
      const small = tf.variable(tf.fill([4], 1), true, 'heap_entry_small');
      const g5 = tf.fill([5], 0.5);
      const a = adoptKernelArgs(h, 0.1, 1);
      k.run(adoptCall(h, 'init', a), small, tf.fill([4], 0.5), s, stepSeed(0)); // codes to compare against
      const codesBefore = codes();
      assert.throws(
        () => k.run(adoptCall(h, 'step', a), p, g, s, stepSeed(1)),
        /adopt step: the 8-bit state holds 4 elements but the step touches 65536; nothing was written/,
      );
      assert.throws(
        () => k.run(adoptCall(h, 'step', a), small, g5, s, stepSeed(1)),
        /adopt step: buffer "g" holds 5 elements but the step touches 4; nothing was written/,
      );
      assert.throws(
        () => k.run(adoptCall(h, 'step', a), small, g, s, stepSeed(1)),
        /buffer "g" holds 65536 elements but the step touches 4/,
      );
      assert.deepEqual(codes(), codesBefore);
      assert.ok(p.dataSync().every((x) => x === 1));
      assert.ok(small.dataSync().every((x) => x === 1));
      assert.ok(bystander.dataSync().every((x) => x === 7));
      s.free();
      assert.throws(
        () => k.run(adamCall({}, a as never), small, tf.fill([4], 0.5), s, stepSeed(1)),
        /adam step: the 8-bit state was freed .*; nothing was written/,
      );
      assert.throws(
        () => k.run(adoptCall(h, 'step', a), small, tf.fill([4], 0.5), {} as never, stepSeed(1)),
        /the low-bit state was not allocated on this backend's heap/,
      );
      assert.ok(small.dataSync().every((x) => x === 1));
      tf.dispose([p, g, small, g5, bystander]);
    });
  });
});

for (const backend of ['cpu', 'wasm']) {
  describe(`8-bit state restored before its variable exists, on ${backend}`, () => {
    it('10 elements (codes padded to 12): the restored optimizer steps as the uninterrupted one, bit for bit', async () => {
      await useBackend(backend);
      const name = `heap_route_late_${backend}`;
      const rng = new Rng(9);
      const init = rng.normals(10);
      const gs = [0, 1, 2, 3].map(() => rng.gradient(10));
      let v = tf.variable(tf.tensor(init), true, name);
      const opt = adamw(0.01, { stateDtype: 'int8' });
      for (const g of gs.slice(0, 3)) opt.applyGradients({ [name]: tf.tensor(g) });
      const saved = (await opt.getWeights()).map(({ name: n, tensor }) => ({ name: n, tensor: tensor.clone() }));
      const p3 = v.dataSync().slice();
      opt.applyGradients({ [name]: tf.tensor(gs[3]!) });
      const uninterrupted = v.dataSync().slice();
      v.dispose();
      const restored = adamw(0.01, { stateDtype: 'int8' });
      await restored.setWeights(saved); // no variable of that name: the codes do not know its length
      v = tf.variable(tf.tensor(p3), true, name);
      restored.applyGradients({ [name]: tf.tensor(gs[3]!) });
      assert.deepEqual(bits(v.dataSync()), bits(uninterrupted));
      opt.dispose();
      restored.dispose();
      tf.dispose([v, ...saved.map((w) => w.tensor)]);
    });
  });
}
