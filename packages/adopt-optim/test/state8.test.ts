/**
 * Block-wise 8-bit state (docs/ALGORITHM.md §11) in the framework-free core: the fused kernels
 * against a float64 reference of the encoding and of the step, the zero-point problem, training
 * that tracks float32, conversion from and to float32 state, the bytes it takes, and what is refused.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adamw, adopt, amsgrad, core, OptimizerArgumentError, type NamedStateOptimizer } from '../src/index.js';
import { BACKENDS, useBackend } from './backends.js';
import { restoredStepsTheSame } from './tfjs_roundtrip.js';
import {
  maxRelativeError,
  refAdam8Step,
  refAdopt8Step,
  refDecode8,
  refEncode8,
  refSeed,
  Rng,
  REF_BLOCK,
  type Ref8State,
  codeDiff,
} from './reference.js';
import { trainRegression } from './regression.js';
import { LOWBIT_CASES } from './lowbit_cases.js';

// 0..16384+5: SIMD tails (not multiples of 4), partial blocks, the chunk edge of 16384
const LENGTHS = [1, 3, 5, 255, 256, 257, 1000, 16384 + 5];

function copy8(s: core.Int8State): Ref8State {
  return { qm: s.qm.slice(), qv: s.qv.slice(), mScale: s.mScale.slice(), vScale: s.vScale.slice(), t: s.t };
}

describe('8-bit state: the fused kernels against the float64 reference, one step at a time', () => {
  const cases: [
    string,
    () => core.CoreOptimizer<any, any>,
    (p: Float64Array, g: ArrayLike<number>, s: Ref8State) => void,
  ][] = LOWBIT_CASES.map(([name, make, ref]) => [
    name,
    () => make('int8'),
    'adopt' in ref ? (p, g, s) => refAdopt8Step(p, g, s, ref.adopt) : (p, g, s) => refAdam8Step(p, g, s, ref.adam),
  ]);
  for (const [name, make, reference] of cases) {
    it(name, (t) => {
      let worstP = 0;
      let worstCode = 0;
      let worstShare = 0;
      let worstScale = 0;
      for (const n of LENGTHS) {
        const rng = new Rng(n);
        const opt = make();
        const p = rng.normals(n);
        const state = opt.init(p);
        const s = (state.adopt ?? state.adam) as core.Int8State;
        for (let step = 0; step < 6; step++) {
          const g = rng.gradient(n, step === 0 ? 0.1 : 0.02);
          // the reference starts from the kernel's state and parameters: errors do not compound
          const ref = copy8(s);
          const refP = Float64Array.from(p);
          opt.step(p, g, state);
          reference(refP, g, ref);
          worstP = Math.max(worstP, maxRelativeError(p, refP, 1e-3));
          const dm = codeDiff(s.qm, ref.qm);
          const dv = codeDiff(s.qv, ref.qv);
          worstCode = Math.max(worstCode, dm.max, dv.max);
          worstShare = Math.max(worstShare, dm.share, dv.share);
          worstScale = Math.max(
            worstScale,
            maxRelativeError(s.mScale, ref.mScale, 1e-30),
            maxRelativeError(s.vScale, ref.vScale, 1e-30),
          );
          assert.equal(s.t, ref.t);
        }
      }
      t.diagnostic(
        `p: ${worstP.toExponential(2)} relative; codes: at most ${worstCode} apart, ` +
          `${(100 * worstShare).toFixed(2)}% differ; scales: ${worstScale.toExponential(2)} relative`,
      );
      // float32 vs float64 arithmetic moves a value across a rounding boundary now and then: one code
      assert.ok(worstCode <= 1, `codes differ by ${worstCode}`);
      assert.ok(worstShare < 0.01, `${worstShare} of the codes differ`);
      assert.ok(worstScale < 1e-5, `scales differ by ${worstScale}`);
      // p: float32 rounding, amplified where coupled decay cancels (g + λp ≈ 0): measured ≤ 2e-6, coupled 1.4e-5
      assert.ok(worstP < 1e-4, `p differs by ${worstP}`);
    });
  }
});

describe('8-bit state: encoding', () => {
  it('round trip: codes and scales of the kernel equal a float64 encoder, decoding within one code step', () => {
    // ADOPT's first step quantises u = |g| (v = g²) and leaves m at 0
    const n = 3 * REF_BLOCK + 17;
    const rng = new Rng(4);
    const g = rng.gradient(n, 0.05);
    const opt = core.adopt(0.01, { stateDtype: 'int8' });
    const p = new Float32Array(n);
    const state = opt.init(p);
    opt.step(p, g, state);
    const s = state.adopt as unknown as core.Int8State;
    const ref: Ref8State = {
      qm: new Int8Array(s.qm.length),
      qv: new Uint8Array(s.qv.length),
      mScale: new Float32Array(s.mScale.length),
      vScale: new Float32Array(s.vScale.length),
      t: 1,
    };
    refEncode8(new Float64Array(n), Float64Array.from(g, Math.abs), ref, refSeed(0));
    const d = codeDiff(s.qv, ref.qv);
    assert.ok(d.max <= 1 && d.share < 0.01, `codes: ${JSON.stringify(d)}`);
    assert.deepEqual(Array.from(s.qm), Array.from(ref.qm));
    assert.ok(maxRelativeError(s.vScale, ref.vScale, 1e-30) < 1e-6);
    const { u } = refDecode8(ref, n);
    for (let i = 0; i < n; i++) {
      const step = ref.vScale[Math.floor(i / REF_BLOCK)]!;
      assert.ok(
        Math.abs(u[i]! - Math.abs(g[i]!)) <= step * (1 + 1e-6),
        `element ${i}: ${u[i]} for |g| ${Math.abs(g[i]!)}`,
      );
    }
  });

  it('stochastic rounding of sqrt(v) is unbiased: the mean of many encodings is the value', () => {
    // one block: u = 1 at element 0 (the scale), and 2.3 codes' worth at the others, re-encoded at 400 steps
    const u = new Float64Array(REF_BLOCK);
    const s: Ref8State = {
      qm: new Int8Array(REF_BLOCK),
      qv: new Uint8Array(REF_BLOCK),
      mScale: new Float32Array(1),
      vScale: new Float32Array(1),
      t: 0,
    };
    let sum = 0;
    let count = 0;
    const u2 = Float64Array.from(u, (_x, i) => (i === 0 ? 1 : 2.3 / 255));
    for (let t = 0; t < 400; t++) {
      refEncode8(new Float64Array(REF_BLOCK), u2, s, refSeed(t));
      for (let i = 1; i < REF_BLOCK; i++) sum += s.qv[i]!;
      count += REF_BLOCK - 1;
    }
    assert.ok(Math.abs(sum / count - 2.3) < 0.02, `mean code ${sum / count}, expected 2.3`);
  });

  it('the zero-point problem: a tiny v beside a large one in the same block does not make a huge step', (t) => {
    // Block: sqrt(v) = 1 at element 0, 1e-3 at element 1 (below half a code step, 1/510). The gradient
    // of element 1 is 1e-3: float32 ADOPT normalises it to n = 1. A code 0 for element 1 would divide by
    // eps = 1e-6 (n = 1000; unclipped, a step of lr·(1-β1)·1000). Codes >= 1 for v > 0 keep n <= 1.
    const n = 8;
    const m = new Float32Array(n);
    const v = new Float32Array(n).fill(0);
    v[0] = 1;
    v[1] = 1e-6;
    const lr = 0.01;
    const opt = core.adopt(lr, { stateDtype: 'int8', clip: null });
    const p = new Float32Array(n);
    const state = opt.init(p);
    const s = state.adopt as unknown as core.Int8State;
    core.quantizeState({ m, v, t: 1 }, s);
    state.learningRate.count = 1;
    assert.equal(s.qv[1], 1, 'a non-zero v keeps code 1');
    const g = new Float32Array(n);
    g[1] = 1e-3;
    opt.step(p, g, state);
    const step = Math.abs(p[1]!);
    const float32Step = lr * 0.1 * 1; // n = g / sqrt(v) = 1
    const zeroPointStep = lr * 0.1 * (1e-3 / 1e-6);
    t.diagnostic(
      `step of the tiny-v element: ${step.toExponential(2)} (float32 state ${float32Step.toExponential(2)}, a zero ` +
        `code would give ${zeroPointStep.toExponential(2)})`,
    );
    assert.ok(step > 0 && step <= float32Step * (1 + 1e-6), `step ${step}`);
  });
});

describe('8-bit state: training', () => {
  // linear regression y = x·w*, minibatches of 32, 256 weights (one block), then 1000 (a partial block)
  for (const [name, make] of [
    ['ADOPT', core.adopt],
    ['AdamW', core.adamw],
  ] as const) {
    it(`${name}: int8 tracks float32 (final loss within 5%, weights within 2% of their spread)`, (t) => {
      for (const dim of [256, 1000]) {
        const f = trainRegression(() => make(0.02), dim, 400);
        const q = trainRegression(() => make(0.02, { stateDtype: 'int8' }), dim, 400);
        let diff = 0;
        let norm = 0;
        for (let i = 0; i < dim; i++) {
          diff += (f.w[i]! - q.w[i]!) ** 2;
          norm += f.w[i]! ** 2;
        }
        const rel = Math.sqrt(diff / norm);
        t.diagnostic(
          `dim ${dim}: loss float32 ${f.loss.toExponential(3)}, int8 ${q.loss.toExponential(3)}; ||w8 - w32|| / ` +
            `||w32|| = ${rel.toExponential(2)}`,
        );
        assert.ok(Math.abs(q.loss - f.loss) <= 0.05 * f.loss + 1e-3, `loss ${q.loss} vs ${f.loss}`);
        assert.ok(rel < 0.02, `weights differ by ${rel}`);
      }
    });
  }
});

describe('8-bit state: the state itself', () => {
  it('takes at most 2.1 bytes per parameter at 1e7 parameters (measured from the memory allocated)', (t) => {
    const n = 1e7;
    const params = new Float32Array(n);
    const s8 = core.adopt(1e-3, { stateDtype: 'int8' }).init(params).adopt as unknown as core.Int8State;
    const arrays = s8.qm.byteLength + s8.qv.byteLength + s8.mScale.byteLength + s8.vScale.byteLength;
    const memory = core.lowBitMomentsBytes(s8);
    const s32 = core.adopt(1e-3).init(params).adopt;
    const float32Bytes = s32.m.byteLength + s32.v.byteLength;
    t.diagnostic(
      `int8: ${(arrays / n).toFixed(4)} B/param in codes and scales, ${(memory / n).toFixed(4)} B/param of memory ` +
        `with the chunk scratch; float32: ${(float32Bytes / n).toFixed(2)} B/param`,
    );
    assert.ok(memory / n <= 2.1, `${memory / n} bytes per parameter`);
    assert.equal(float32Bytes / n, 8);
  });

  it('float32 state converts to int8 and back, within half a code step, and training continues', () => {
    const n = 600;
    const rng = new Rng(12);
    const f32 = core.adopt(0.01);
    const p = rng.normals(n);
    const sf = f32.init(p);
    for (let i = 0; i < 20; i++) f32.step(p, rng.gradient(n), sf);
    const i8 = core.adopt(0.01, { stateDtype: 'int8' });
    const s8 = i8.init(p);
    const q = s8.adopt as unknown as core.Int8State;
    core.quantizeState(sf.adopt, q);
    s8.learningRate.count = sf.learningRate.count;
    const back = f32.init(new Float32Array(n));
    core.dequantizeState(q, back.adopt);
    assert.equal(back.adopt.t, sf.adopt.t);
    for (let i = 0; i < n; i++) {
      const block = Math.floor(i / REF_BLOCK);
      assert.ok(Math.abs(back.adopt.m[i]! - sf.adopt.m[i]!) <= q.mScale[block]! * 0.5 * (1 + 1e-5) + 1e-12, `m[${i}]`);
      const u = Math.sqrt(sf.adopt.v[i]!);
      const uBack = Math.sqrt(back.adopt.v[i]!);
      assert.ok(Math.abs(uBack - u) <= q.vScale[block]! * (1 + 1e-5) + 1e-12, `sqrt(v)[${i}]`);
    }
    const before = Float32Array.from(p);
    i8.step(p, rng.gradient(n), s8);
    assert.ok(maxRelativeError(p, before, 1) < 0.05 && p.some((x, i) => x !== before[i]));
    assert.throws(() => core.quantizeState(sf.adopt, i8.init(new Float32Array(n + 8)).adopt as never), /does not fit/);
  });
});

describe('8-bit state: what is refused', () => {
  it('options it does not support yet, at construction, saying what to change', () => {
    assert.throws(
      () => core.adopt(1e-3, { stateDtype: 'int8', caution: true }),
      (e: unknown) =>
        e instanceof OptimizerArgumentError &&
        e.message ===
          "adopt: stateDtype 'int8' is not supported yet with caution: true; use stateDtype 'float32' for it.",
    );
    assert.throws(
      () => core.adam(1e-3, { stateDtype: 'int8', fused: false }),
      /adam: stateDtype 'int8' is not supported yet with fused: false/,
    );
    assert.throws(
      () => core.amsgrad(1e-3, { stateDtype: 'int8' }),
      /amsgrad: stateDtype 'int8' is not supported yet with AMSGrad/,
    );
    assert.throws(
      () => core.adopt(1e-3, { stateDtype: 'int2' as never }),
      /adopt: invalid stateDtype "int2"; expected one of "float32", "int8", "int4", "bfloat16"/,
    );
    assert.throws(
      () => adopt(1e-3, { stateDtype: 'int8', fused: false }),
      /ADOPT: stateDtype 'int8' is not supported yet with fused: false/,
    );
    assert.throws(
      () => amsgrad(1e-3, { stateDtype: 'int8' }),
      /AMSGrad: stateDtype 'int8' is not supported yet with AMSGrad/,
    );
  });

  it("epsilonMode 'add' runs on 8-bit state too (its kernels are generated from the rule): a step that differs from 'floor'", () => {
    const rng = new Rng(9);
    const p0 = rng.normals(300);
    const grads = [rng.gradient(300, 0.2), rng.gradient(300), rng.gradient(300)];
    const run = (epsilonMode: 'floor' | 'add') => {
      const opt = core.adopt(1e-2, { stateDtype: 'int8', epsilonMode, epsilon: 1e-2 });
      const p = Float32Array.from(p0);
      const s = opt.init(p);
      for (const g of grads) opt.step(p, g, s);
      return p;
    };
    const add = run('add');
    const floor = run('floor');
    assert.ok(add.every(Number.isFinite));
    assert.ok(
      add.some((x, i) => x !== floor[i]),
      "'add' and 'floor' take the same steps",
    );
    assert.ok(maxRelativeError(add, floor, 1) < 0.05);
  });

  it('the chain (update) and a state made for other params', () => {
    const opt = core.adopt(1e-3, { stateDtype: 'int8' });
    const s = opt.init(new Float32Array(10));
    assert.throws(
      () => opt.update(new Float32Array(10), s, new Float32Array(10), { noUpdate: false }),
      /with stateDtype 'int8' call step/,
    );
    assert.throws(
      () => opt.step(new Float32Array(20), new Float32Array(20), s),
      /the gradient has length 20 but the 8-bit state was made for 10 elements/,
    );
    assert.throws(
      () => opt.step(new Float32Array(10), new Float32Array(10), core.adopt(1e-3).init(new Float32Array(10)) as never),
      /invalid state\.adopt .*expected the 8-bit state that init made/,
    );
  });
});

for (const backend of BACKENDS) {
  describe(`8-bit state in the TensorFlow.js optimizers on ${backend}`, () => {
    const shapes = [[7, 9], [300], [5], []]; // partial blocks, a scalar
    const makers: [string, () => NamedStateOptimizer, () => core.CoreOptimizer<any, any>][] = [
      [
        'ADOPT',
        () => adopt(0.01, { stateDtype: 'int8', nesterov: true }),
        () => core.adopt(0.01, { stateDtype: 'int8', nesterov: true }),
      ],
      ['AdamW', () => adamw(0.01, { stateDtype: 'int8' }), () => core.adamw(0.01, { stateDtype: 'int8' })],
    ];
    for (const [name, make, makeCore] of makers) {
      it(`${name}: the same kernels as the core, bit for bit; no state tensors; saved and restored exactly`, async () => {
        await useBackend(backend);
        const rng = new Rng(21);
        const inits = shapes.map((shape) => rng.normals(shape.reduce((a, b) => a * b, 1)));
        const vars = shapes.map((shape, i) => tf.variable(tf.tensor(inits[i]!, shape)));
        const opt = make();
        const coreOpt = makeCore();
        const coreP = inits.map((x) => Float32Array.from(x));
        const coreS = coreP.map((x) => coreOpt.init(x));
        const tensorsBefore = tf.memory().numTensors;
        const grads = () => vars.map((v) => rng.gradient(v.size, 0.02));
        for (let step = 0; step < 8; step++) {
          const g = grads();
          const gt = vars.map((v, i) => tf.tensor(g[i]!, v.shape));
          opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: gt[i]! })));
          tf.dispose(gt);
          coreP.forEach((p, i) => coreOpt.step(p, g[i]!, coreS[i]));
        }
        vars.forEach((v, i) => assert.deepEqual(v.dataSync(), coreP[i], `variable ${i}`));
        assert.equal(tf.memory().numTensors, tensorsBefore, 'the 8-bit state holds no tensors');
        // save (through tfjs's weight encoding, as model.save does), restore into a new optimizer, continue
        const saved = await opt.getWeights();
        await restoredStepsTheSame(opt, saved, make, vars, grads);
      });
    }

    it('float32 state loads into an int8 optimizer (quantised) and back (de-quantised)', async () => {
      await useBackend(backend);
      const rng = new Rng(5);
      const v = tf.variable(tf.tensor(rng.normals(600), [20, 30]));
      const f32 = adopt(0.01);
      for (let i = 0; i < 10; i++) f32.applyGradients({ [v.name]: tf.tensor(rng.gradient(600), [20, 30]) });
      const w32 = await f32.getWeights();
      const m32 = w32
        .find((w) => w.name === `${v.name}/m`)!
        .tensor.dataSync()
        .slice();
      const i8 = adopt(0.01, { stateDtype: 'int8' });
      await i8.setWeights(w32);
      assert.equal(i8.stepOf(v.name), 10);
      const w8 = await i8.getWeights();
      const qm = w8.find((w) => w.name === `${v.name}/qm`)!;
      assert.equal(qm.tensor.dtype, 'int32');
      assert.equal(
        w8.find((w) => w.name === `${v.name}/m`),
        undefined,
      );
      const back = adopt(0.01);
      await back.setWeights(w8);
      const mBack = (await back.getWeights()).find((w) => w.name === `${v.name}/m`)!.tensor.dataSync();
      const mScale = w8.find((w) => w.name === `${v.name}/mScale`)!.tensor.dataSync();
      for (let i = 0; i < 600; i++) {
        assert.ok(Math.abs(mBack[i]! - m32[i]!) <= 0.5 * mScale[Math.floor(i / 256)]! * (1 + 1e-5) + 1e-12, `m[${i}]`);
      }
      i8.applyGradients({ [v.name]: tf.tensor(rng.gradient(600), [20, 30]) });
      assert.equal(i8.stepOf(v.name), 11);
      for (const o of [f32, i8, back]) o.dispose();
      v.dispose();
    });

    it("never writes into a buffer another tensor (or a caller's array) shares", async () => {
      await useBackend(backend);
      const source = new Float32Array([1, 2, 3, 4, 5]);
      const original = tf.tensor(source);
      const p = tf.variable(original);
      const view = p.reshape([5, 1]);
      const held = p.dataSync();
      const opt = adamw(0.1, { stateDtype: 'int8' });
      for (let i = 0; i < 3; i++) opt.applyGradients({ [p.name]: tf.tensor([1, -1, 1, -1, 1]) });
      assert.deepEqual(Array.from(source), [1, 2, 3, 4, 5]);
      assert.deepEqual(Array.from(original.dataSync()), [1, 2, 3, 4, 5]);
      assert.deepEqual(Array.from(view.dataSync()), [1, 2, 3, 4, 5]);
      assert.deepEqual(Array.from(held), [1, 2, 3, 4, 5]);
      assert.notDeepEqual(Array.from(p.dataSync()), [1, 2, 3, 4, 5]);
      opt.dispose();
      tf.dispose([original, p, view]);
    });

    it("8-bit state is bound to its variable's shape: a variable re-created as [4, 4] or [13] where [16] was stepped is refused, nothing changes", async () => {
      await useBackend(backend);
      const opt = adopt(0.01, { stateDtype: 'int8' });
      const other = tf.variable(tf.ones([8]), true, `bound_other_${backend}`);
      let v = tf.variable(tf.ones([16]), true, `bound_v_${backend}`);
      for (let i = 0; i < 2; i++) opt.applyGradients({ [other.name]: tf.ones([8]), [v.name]: tf.ones([16]) });
      for (const shape of [[4, 4], [13]]) {
        v.dispose();
        v = tf.variable(tf.ones(shape), true, `bound_v_${backend}`);
        const before = other.dataSync().slice();
        // the other variable comes first: a refusal after it was updated would leave its counter ahead
        assert.throws(
          () => opt.applyGradients({ [other.name]: tf.ones([8]), [v.name]: tf.ones(shape) }),
          new RegExp(
            `8-bit state of variable "bound_v_${backend}" was made for shape \\[16\\] but the variable has shape ` +
              `\\[${shape}\\].*Nothing was changed`,
          ),
        );
        assert.deepEqual(other.dataSync(), before);
        assert.equal(opt.stepOf(other.name), 2);
        assert.equal(opt.stepOf(v.name), 2);
      }
      opt.dispose();
      tf.dispose([other, v]);
    });

    it('bad 8-bit weights are refused before anything changes', async () => {
      await useBackend(backend);
      const v = tf.variable(tf.ones([10]));
      const opt = adopt(0.01, { stateDtype: 'int8' });
      opt.applyGradients({ [v.name]: tf.ones([10]) });
      const good = await opt.getWeights();
      const copy = good.map(({ name, tensor }) => ({ name, tensor: tensor.clone() }));
      const other = adopt(0.01, { stateDtype: 'int8' });
      const without = copy.filter((w) => !w.name.endsWith('/qv'));
      await assert.rejects(other.setWeights(without), /incomplete 8-bit state for ".*": no ".*\/qv"/);
      const tooBig = copy.map((w) =>
        w.name.endsWith('/qm') ? { name: w.name, tensor: tf.fill([10], 300, 'int32') } : w,
      );
      await assert.rejects(other.setWeights(tooBig), /holds 300 \/ .* at index 0; expected codes -127\.\.127/);
      const noCodes = copy.filter((w) => !/\/(qm|qv|mScale|vScale)$/.test(w.name));
      await assert.rejects(other.setWeights(noCodes), /a step counter but no 8-bit state/);
      // no step counter: the variable would silently restart at step 0 (issue 21)
      const noStep = copy.filter((w) => !w.name.endsWith('/step'));
      await assert.rejects(
        other.setWeights(noStep),
        /8-bit state but no step counter ".*\/step" \(without it the variable would restart at step 0\)/,
      );
      // a finite scale whose codes decode beyond float32: the next step would write Infinity into p (issue 21)
      for (const [suffix, value] of [
        ['mScale', 3e38],
        ['vScale', 1e17],
      ] as const) {
        const absurd = copy.map((w) =>
          w.name.endsWith(`/${suffix}`) ? { name: w.name, tensor: tf.fill([1], value) } : w,
        );
        await assert.rejects(
          other.setWeights(absurd),
          /such a scale decodes beyond float32 .* the next step would write Infinity/,
        );
      }
      assert.deepEqual(other.stateNames, []);
      await other.setWeights(copy);
      assert.deepEqual(other.stateNames, [v.name]);
      // format 2 binds the codes to the shape: state of 10 elements is not state of 12, nor of [2, 5] (issue 21;
      // format 1's padded codes, 12 for both 10 and 12 elements, could not tell)
      assert.deepEqual(copy.find((w) => w.name.endsWith('/qm'))!.tensor.shape, [10]);
      for (const shape of [[12], [2, 5]]) {
        const w = tf.variable(tf.ones(shape));
        const moved = copy.map((x) => ({ name: x.name.replace(v.name, w.name), tensor: x.tensor }));
        const fresh = adopt(0.01, { stateDtype: 'int8' });
        await assert.rejects(
          fresh.setWeights(moved),
          new RegExp(`codes of shape \\[10\\] / \\[10\\] but the variable has shape \\[${shape}\\]`),
        );
        assert.deepEqual(fresh.stateNames, []);
        fresh.dispose();
        w.dispose();
      }
      // format 1 (adopt-optim 0.2: 1-D codes padded to 4, the marker holding 1) is still read
      const v1 = copy.map((x) =>
        /\/(qm|qv)$/.test(x.name)
          ? { name: x.name, tensor: tf.concat([x.tensor, tf.zeros([2], 'int32')]) }
          : x.name.startsWith('optimizer:')
            ? { name: x.name, tensor: tf.scalar(1, 'int32') }
            : x,
      );
      const legacy = adopt(0.01, { stateDtype: 'int8' });
      await legacy.setWeights(v1);
      const back = await legacy.getWeights();
      for (const w of back) {
        const original = copy.find((x) => x.name === w.name)!;
        assert.deepEqual(
          Array.from(w.tensor.dataSync()),
          w.name.startsWith('optimizer:') ? [2] : Array.from(original.tensor.dataSync()),
          w.name,
        );
      }
      // a newer format is refused, naming it
      const newer = copy.map((x) =>
        x.name.startsWith('optimizer:') ? { name: x.name, tensor: tf.scalar(3, 'int32') } : x,
      );
      await assert.rejects(legacy.setWeights(newer), /holds format 3; this adopt-optim reads formats 1 and 2/);
      legacy.dispose();
      tf.dispose([
        ...v1.filter((x) => !copy.includes(x)).map((x) => x.tensor),
        ...newer.filter((x) => !copy.includes(x)).map((x) => x.tensor),
      ]);
      tf.dispose(copy.map((w) => w.tensor));
      opt.dispose();
      other.dispose();
      v.dispose();
    });
  });
}
