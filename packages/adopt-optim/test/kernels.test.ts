/**
 * The fused kernels (src/kernels) against the op-by-op reference paths: the core's chain of
 * transformations and the tfjs-ops update, on random data with v = 0, tiny and huge gradients,
 * zero-size and odd lengths (SIMD tails, chunk boundaries) and every option. Agreement is
 * within float32 rounding: the kernels compute in float32, the chain in float64 per element.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adopt, core, type NamedStateOptimizer } from '../src/index.js';
import { BACKENDS, useBackend } from './backends.js';
import { Rng } from './reference.js';
import { VARIANTS } from './variants.js';

// 16384 is the chunk of the cpu/core path; from 65536 on, the core keeps m and v resident in wasm memory
const LENGTHS = [0, 1, 3, 4, 7, 33, 16384 + 5, 65536 + 7];
const STEPS = 12;

/**
 * Largest elementwise |a - b| / max(|a|, |b|, |before|), where `before` is the value before the
 * step: one step's float32 rounding is a few ulps of the largest quantity it combined (p and its
 * update), ~1e-7. Pairs within 1e-37 (subnormal noise) and identical values count as agreeing.
 */
function stepDisagreement(a: ArrayLike<number>, b: ArrayLike<number>, before: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Object.is(x, y) || Math.abs(x - y) <= 1e-37) continue;
    const scale = Math.max(Math.abs(x), Math.abs(y), Math.abs(before[i]!));
    const e = Number.isFinite(x) && Number.isFinite(y) ? Math.abs(x - y) / scale : Infinity;
    worst = Math.max(worst, e);
  }
  return worst;
}

/** Gradients for step `step`: zeros first (v = 0), then a mix of normal, tiny and huge values. */
function gradient(rng: Rng, n: number, step: number): Float32Array {
  const g = rng.gradient(n, step === 0 ? 0.3 : 0.02);
  for (let i = 0; i < n; i++) {
    const r = rng.uniform();
    if (r < 0.03)
      g[i] = 1e-20 * (rng.normal() || 1); // squares into subnormals
    else if (r < 0.05) g[i] = 1e18 * (rng.normal() || 1); // squares overflow float32
  }
  return g;
}

// One step from identical state. tfjs ops compute in float32 like the kernels: within ~8 ulps.
const TOLERANCE = 1e-6;
// The core's chain computes each element in float64, the kernel in float32: where the step
// cancels (m ≈ 0 after b1 m + (1 - b1) n, or g + λp ≈ 0 with coupled decay) float32 rounding of the
// operands shows up amplified relative to the result. Measured: ≤ 3e-6, coupled decay ≤ 1.5e-4.
const CORE_TOLERANCE = 1e-5;
const CORE_TOLERANCE_COUPLED = 1e-3;

describe('core: fused kernel against the chain of transformations, step by step', () => {
  it('keeps the moments of large arrays resident in a WebAssembly memory, as plain Float32Arrays', () => {
    const big = core.adopt(1e-3).init(new Float32Array(65536));
    assert.ok(big.adopt.m instanceof Float32Array && big.adopt.m.length === 65536);
    assert.ok(big.adopt.m.buffer === big.adopt.v.buffer, 'm and v share their resident memory');
    const small = core.adopt(1e-3).init(new Float32Array(100));
    assert.notEqual(small.adopt.m.buffer, small.adopt.v.buffer);
    const unfused = core.adopt(1e-3, { fused: false }).init(new Float32Array(65536));
    assert.notEqual(unfused.adopt.m.buffer, unfused.adopt.v.buffer);
  });

  for (const variant of VARIANTS) {
    it(variant.name, (t) => {
      let worst = 0;
      for (const n of LENGTHS) {
        const rng = new Rng(n + 1);
        const fused = withFused(variant, true);
        const chain = withFused(variant, false);
        const pa = rng.normals(n);
        const pb = new Float32Array(n);
        const sa = fused.init(pa);
        const sb = chain.init(pb);
        for (let step = 0; step < STEPS; step++) {
          // the chain starts each step from the fused path's state: errors do not compound
          pb.set(pa);
          copyState(sa, sb);
          const before = { p: Float32Array.from(pa), state: structuredClone(sa) };
          const g = gradient(rng, n, step);
          const gCopy = Float32Array.from(g);
          fused.step(pa, g, sa);
          chain.step(pb, g, sb);
          assert.deepEqual(g, gCopy, 'the gradient was modified');
          worst = Math.max(worst, stepDisagreement(pa, pb, before.p));
          for (const [key, slot] of stateArrays(sa)) {
            const d = stepDisagreement(
              slot,
              (sb as any)[key][slotName(sa, key, slot)],
              (before.state as any)[key][slotName(sa, key, slot)],
            );
            worst = Math.max(worst, d);
          }
          assert.deepEqual(counters(sa), counters(sb));
        }
      }
      const tolerance = /\bcoupled weight decay/.test(variant.name) ? CORE_TOLERANCE_COUPLED : CORE_TOLERANCE;
      t.diagnostic(`largest relative disagreement in one step: ${worst.toExponential(2)} (tolerance ${tolerance})`);
      assert.ok(worst < tolerance, `fused and chain disagree by ${worst}`);
    });
  }
});

type AnyState = Record<string, Record<string, unknown> | null>;

function stateArrays(state: AnyState): [string, Float32Array][] {
  const out: [string, Float32Array][] = [];
  for (const [key, part] of Object.entries(state)) {
    for (const value of Object.values(part ?? {})) if (value instanceof Float32Array) out.push([key, value]);
  }
  return out;
}

function slotName(state: AnyState, key: string, array: Float32Array): string {
  return Object.entries(state[key]!).find(([, v]) => v === array)![0];
}

function counters(state: AnyState): number[] {
  return Object.values(state).flatMap((part) =>
    Object.values(part ?? {}).filter((v): v is number => typeof v === 'number'),
  );
}

function copyState(from: AnyState, to: AnyState): void {
  for (const [key, part] of Object.entries(from)) {
    for (const [name, value] of Object.entries(part ?? {})) {
      if (value instanceof Float32Array) (to[key]![name] as Float32Array).set(value);
      else to[key]![name] = value;
    }
  }
}

/** The variant's core optimizer with `fused` forced. */
function withFused(variant: (typeof VARIANTS)[number], fused: boolean): core.CoreOptimizer<unknown, any> {
  const made = variant.core() as core.CoreOptimizer<any, any>;
  const h = made.hyperparams;
  const factory = variant.name.startsWith('ADOPT')
    ? core.adopt
    : variant.name.startsWith('AdamW')
      ? core.adamw
      : variant.name.startsWith('AMSGrad')
        ? core.amsgrad
        : core.adam;
  const { learningRate, amsgrad: _a, ...options } = h;
  return (factory as typeof core.adopt)(learningRate, { ...options, fused } as never);
}

/** A copy of an optimizer's weights that survives its next step. */
async function snapshot(opt: NamedStateOptimizer): Promise<{ name: string; tensor: tf.Tensor }[]> {
  return (await opt.getWeights()).map(({ name, tensor }) => ({ name, tensor: tf.clone(tensor) }));
}

for (const backend of BACKENDS) {
  describe(`tfjs on ${backend}: fused kernels against tfjs ops`, () => {
    before(() => useBackend(backend));

    for (const variant of VARIANTS) {
      it(variant.name, async (t) => {
        const rng = new Rng(77);
        const shapes = [[0], [1], [3, 3], [5, 7], [16384 + 5]];
        const vars = shapes.map((shape) =>
          tf.variable(tf.tensor(rng.normals(shape.reduce((a, b) => a * b, 1)), shape)),
        );
        const make = (fused: boolean) => {
          const base = variant.tfjs();
          const cls = Object.getPrototypeOf(base).constructor;
          const opt = cls.fromConfig(cls, { ...base.getConfig(), fused }) as NamedStateOptimizer;
          base.dispose();
          return opt;
        };
        const fused = make(true);
        const ops = make(false);
        assert.equal(fused.fused, true);
        assert.equal(ops.fused, false);
        let worst = 0;
        for (let step = 0; step < STEPS; step++) {
          // both start the step from the same parameters and state: errors do not compound
          const before = vars.map((v) => v.dataSync().slice());
          const stateBefore = await snapshot(fused);
          if (stateBefore.length > 1) await ops.setWeights(stateBefore);
          const grads = vars.map((v) => ({ name: v.name, tensor: tf.tensor(gradient(rng, v.size, step), v.shape) }));
          ops.applyGradients(grads);
          const viaOps = vars.map((v) => v.dataSync().slice());
          const opsState = await snapshot(ops);
          vars.forEach((v, i) => v.assign(tf.tensor(before[i]!, v.shape)));
          fused.applyGradients(grads);
          const fusedState = await snapshot(fused);
          tf.dispose(grads.map((g) => g.tensor));
          vars.forEach((v, i) => {
            worst = Math.max(worst, stepDisagreement(v.dataSync(), viaOps[i]!, before[i]!));
          });
          assert.deepEqual(
            fusedState.map((w) => w.name),
            opsState.map((w) => w.name),
          );
          fusedState.forEach((w, i) => {
            const prior =
              stateBefore.find((x) => x.name === w.name)?.tensor.dataSync() ?? new Float32Array(w.tensor.size);
            worst = Math.max(worst, stepDisagreement(w.tensor.dataSync(), opsState[i]!.tensor.dataSync(), prior));
          });
          tf.dispose([...stateBefore, ...opsState, ...fusedState].map((w) => w.tensor));
        }
        t.diagnostic(`largest relative disagreement in one step: ${worst.toExponential(2)}`);
        assert.ok(worst < TOLERANCE, `fused and ops disagree by ${worst}`);
        fused.dispose();
        ops.dispose();
        tf.dispose(vars);
      });
    }

    it('model.fit with fused kernels matches tfjs ops (weights reused by matMul after an in-place update)', async (t) => {
      const x = tf.randomNormal([64, 10], 0, 1, 'float32', 1);
      const y = tf.randomNormal([64, 4], 0, 1, 'float32', 2);
      const final: Float32Array[][] = [];
      for (const fused of [true, false]) {
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
        model.compile({ optimizer: adopt(0.01, { fused }), loss: 'meanSquaredError' });
        await model.fit(x, y, { epochs: 8, batchSize: 16, shuffle: false, verbose: 0 });
        final.push(model.getWeights().map((w) => w.dataSync().slice() as Float32Array));
        model.optimizer.dispose();
        model.dispose();
      }
      const worst = Math.max(...final[0]!.map((w, i) => stepDisagreement(w, final[1]![i]!, w)));
      t.diagnostic(`largest relative disagreement after 32 steps: ${worst.toExponential(2)}`);
      assert.ok(worst < 1e-4, `fused training diverged from tfjs ops: ${worst}`);
      tf.dispose([x, y]);
    });

    it("never writes into a buffer another tensor (or a caller's array) shares", () => {
      const source = new Float32Array([1, 2, 3, 4, 5]);
      const original = tf.tensor(source); // on cpu this wraps `source`
      const p = tf.variable(original); // shares original's buffer
      const view = p.reshape([5, 1]); // shares it too
      const opt = adopt(0.1);
      for (let i = 0; i < 3; i++) opt.applyGradients({ [p.name]: tf.tensor([1, -1, 1, -1, 1]) });
      assert.deepEqual(Array.from(source), [1, 2, 3, 4, 5]);
      assert.deepEqual(Array.from(original.dataSync()), [1, 2, 3, 4, 5]);
      assert.deepEqual(Array.from(view.dataSync()), [1, 2, 3, 4, 5]);
      assert.notDeepEqual(Array.from(p.dataSync()), [1, 2, 3, 4, 5]);
      opt.dispose();
      tf.dispose([original, p, view]);
    });

    it('a fused step allocates nothing: no new tensors, no new bytes, zero peak', async () => {
      const p = tf.variable(tf.randomNormal([1000], 0, 1, 'float32', 5));
      const g = tf.randomNormal([1000], 0, 1, 'float32', 6);
      const opt = adopt(0.01);
      opt.applyGradients({ [p.name]: g });
      opt.applyGradients({ [p.name]: g }); // first update: p gets its own buffer once
      const before = tf.memory();
      const profile = await tf.profile(() => opt.applyGradients({ [p.name]: g }));
      const after = tf.memory();
      assert.equal(after.numTensors, before.numTensors);
      assert.equal(after.numBytes, before.numBytes);
      assert.equal(profile.newBytes, 0);
      assert.equal(profile.newTensors, 0);
      assert.ok(!(profile.peakBytes > before.numBytes), `the step allocated temporaries: peak ${profile.peakBytes}`);
      assert.deepEqual(profile.kernels, [], 'the fused step ran tfjs kernels');
      opt.dispose();
      tf.dispose([p, g]);
    });
  });
}
