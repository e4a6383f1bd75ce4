/**
 * The core on trees of arrays (issue 34 item 3): init/step take a list or record of Float32Arrays (nested), keep
 * a state per leaf, step them with one table-kernel call per pack, bit-identical to one step per array; a tree
 * whose structure differs is refused, naming the key or index, and nothing changes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { core, NonFiniteGradientError, OptimizerArgumentError } from '../src/index.js';
import { ArrayKernels } from '../src/kernels/array_kernels.js';
import { Rng } from './reference.js';

/** A gradient element moved enough to change v (a one-ulp move can round away in β2·v + (1−β2)·g²). */
const moved = (x: number): number => Math.fround(x + 0.25);
import { VARIANTS } from './variants.js';

/** Lengths with every SIMD tail, a few thousand, one past the pack (16 384) and one with resident state (65 536). */
const SIZES = [1, 3, 4, 7, 33, 1000, 4099, 9000, 20_000, 70_000];
const STEPS = 4;

/** Counts ArrayKernels.runMany calls while `f` runs. */
function countingRunMany<T>(f: () => T): [T, number] {
  const proto = ArrayKernels.prototype;
  const original = proto.runMany;
  let calls = 0;
  proto.runMany = function (this: ArrayKernels, entries) {
    calls++;
    return original.call(this, entries);
  };
  try {
    return [f(), calls];
  } finally {
    proto.runMany = original;
  }
}

const bitsOf = (a: Float32Array): Uint32Array => new Uint32Array(a.slice().buffer);

/** Every Float32Array of a state, by path. */
function stateArrays(state: unknown, path = ''): [string, Float32Array][] {
  if (state instanceof Float32Array) return [[path, state]];
  if (state === null || typeof state !== 'object') return [];
  return Object.entries(state).flatMap(([k, v]) => stateArrays(v, `${path}.${k}`));
}

function firstDifference(a: Float32Array[], b: Float32Array[]): string | null {
  for (let l = 0; l < a.length; l++) {
    const x = bitsOf(a[l]!);
    const y = bitsOf(b[l]!);
    const i = x.findIndex((bits, j) => bits !== y[j]);
    if (i >= 0 || x.length !== y.length) return `array ${l}[${i}]`;
  }
  return null;
}

/** STEPS steps on a record {w: [..], b: ..} of SIZES, as one tree, or one step per array (`perArray`). */
function run(make: () => core.CoreOptimizer<unknown, unknown>, perArray: boolean, nudge = false) {
  const rng = new Rng(3);
  const arrays = SIZES.map((n) => rng.normals(n));
  const grads = Array.from({ length: STEPS }, () => SIZES.map((n) => rng.gradient(n, 0.1)));
  if (nudge) grads[STEPS - 1]![5]![7] = moved(grads[STEPS - 1]![5]![7]!);
  const tree = { w: arrays.slice(0, 4), b: { x: arrays[4]!, y: arrays.slice(5) } };
  const gTree = (s: number) => ({ w: grads[s]!.slice(0, 4), b: { x: grads[s]![4]!, y: grads[s]!.slice(5) } });
  const opt = make();
  let calls = 0;
  let states: unknown[];
  if (perArray) {
    states = arrays.map((p) => opt.init(p));
    for (let s = 0; s < STEPS; s++) arrays.forEach((p, l) => opt.step(p, grads[s]![l]!, states[l] as never));
  } else {
    const state = opt.init(tree);
    [, calls] = countingRunMany(() => {
      for (let s = 0; s < STEPS; s++) assert.equal(opt.step(tree, gTree(s), state as never), true);
    });
    states = [...state.w, state.b.x, ...state.b.y];
  }
  const out = [...arrays, ...states.flatMap((s) => stateArrays(s).map(([, a]) => a))];
  const counts = states.map((s) => JSON.stringify(s, (_k, v) => (v instanceof Float32Array ? undefined : v)));
  return { out, calls, counts };
}

describe('core on trees of arrays', () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}: a tree steps bit-identically to one step per array`, () => {
      const tree = run(variant.core as never, false);
      const each = run(variant.core as never, true);
      assert.equal(firstDifference(tree.out, each.out), null);
      assert.deepEqual(tree.counts, each.counts, 'every leaf counts its steps');
      assert.ok(tree.calls >= STEPS, `one runMany per step (${tree.calls})`);
    });
  }

  it('the comparison catches a difference: one gradient element moved', () => {
    const variant = VARIANTS[0]!;
    assert.notEqual(
      firstDifference(run(variant.core as never, false).out, run(variant.core as never, false, true).out),
      null,
    );
  });

  it('int8 state: a tree steps as one step per array', () => {
    const make = () => core.adopt(0.01, { stateDtype: 'int8' }) as never;
    const tree = run(make, false);
    const each = run(make, true);
    assert.equal(firstDifference(tree.out, each.out), null);
  });

  it('refuses trees of another structure, naming the place, and changes nothing', () => {
    const opt = core.adopt(0.01);
    const params = { w: [new Float32Array([1, 2]), new Float32Array([3])], b: new Float32Array([4]) };
    const state = opt.init(params);
    const before = JSON.stringify([params, state], (_k, v) => (v instanceof Float32Array ? [...v] : v));
    const g = (w0: number[] = [1, 1]) => ({
      w: [new Float32Array(w0), new Float32Array([1])],
      b: new Float32Array([1]),
    });
    const cases: [unknown, unknown, RegExp][] = [
      [{ w: g().w }, state, /adopt\.step: grads\["b"\] is missing; params\["b"\] is there\. Nothing was changed\./],
      [{ ...g(), c: new Float32Array(1) }, state, /grads\["c"\] has no counterpart in params \(its keys: w, b\)/],
      [{ ...g(), w: [new Float32Array(2)] }, state, /grads\["w"\] is a list of 1; params\["w"\] is a list of 2/],
      [g([1, 1, 1]), state, /grads\["w"\]\[0\] has length 3 but params\["w"\]\[0\] has length 2/],
      [{ ...g(), b: [1] }, state, /invalid grads\["b"\] an Array of length 1; expected a Float32Array/],
      [g(), { w: state.w }, /state\["b"\] is missing/],
      [g(), { ...state, b: state.w[0] }, /state\["b"\] is the same object as state\["w"\]\[0\]/],
      [g(), { ...state, b: null }, /state\["b"\] is null; expected the state init made for params\["b"\]/],
      [g([1, Number.NaN]), state, /the gradient grads\["w"\]\[0\] holds NaN at index 1/],
      // attack round 2 F8: the state check's refusal named neither the step nor the leaf ("namedChain: ...")
      [g(), { ...state, b: { adopt: state.b.adopt } }, /^adopt\.step: state\["b"\]: namedChain: the state has no key/],
      [g(), { ...state, b: core.adopt(0.01).init(new Float32Array(3)) }, /^adopt\.step: state\["b"\]: .*length 1 but/],
    ];
    for (const [grads, s, message] of cases) {
      assert.throws(
        () => opt.step(params, grads as never, s as never),
        (e: unknown) => {
          assert.ok(e instanceof OptimizerArgumentError || e instanceof NonFiniteGradientError, String(e));
          assert.match((e as Error).message, message);
          return true;
        },
      );
      assert.equal(
        JSON.stringify([params, state], (_k, v) => (v instanceof Float32Array ? [...v] : v)),
        before,
      );
    }
    assert.throws(
      () => opt.init({ w: [] } as unknown as Float32Array),
      /adopt\.init: params\["w"\] is an empty list; expected Float32Arrays in it\./,
    );
    assert.throws(
      () => opt.init({ w: new Float64Array(2) } as unknown as Float32Array),
      /invalid params\["w"\] a Float64Array of length 2/,
    );
    const shared = new Float32Array(2);
    assert.throws(
      () => opt.step([shared, shared], [shared, shared], opt.init([new Float32Array(2), new Float32Array(2)])),
      /params\[1\] is the same object as params\[0\]/,
    );
  });

  it('refuses params that share memory with other params or with grads of another leaf (attack round 2 F3)', () => {
    const opt = core.adopt(0.01);
    const buffer = new Float32Array(10).fill(1);
    const x = new Float32Array([1, 2, 3]);
    const y = new Float32Array([4, 5, 6]);
    const one = () => new Float32Array(6).fill(1);
    const cases: [Float32Array[], Float32Array[], RegExp][] = [
      // overlapping views: elements 4 and 5 were stepped by both leaves, the last write kept
      [[buffer.subarray(0, 6), buffer.subarray(4, 10)], [one(), one()], /params\[0\] and params\[1\] overlap/],
      // one leaf's grads are another's params: the result depended on the order the leaves step in
      [[x, y], [y, x], /params\[0\] and grads\[1\] overlap/],
      [[buffer.subarray(0, 6)], [buffer.subarray(1, 7)], /params\[0\] and grads\[0\] overlap/],
    ];
    for (const [params, grads, message] of cases) {
      const state = opt.init(params);
      const before = JSON.stringify([buffer, x, y, state], (_k, v) => (v instanceof Float32Array ? [...v] : v));
      assert.throws(() => opt.step(params, grads, state), message);
      assert.equal(
        JSON.stringify([buffer, x, y, state], (_k, v) => (v instanceof Float32Array ? [...v] : v)),
        before,
      );
    }
    // allowed: grads shared between leaves (only read), a leaf's grads its own params, views that do not overlap
    const a = buffer.subarray(0, 5);
    const b = buffer.subarray(5, 10);
    const g = new Float32Array(5).fill(0.5);
    const state = opt.init([a, b]);
    assert.equal(opt.step([a, b], [g, g], state), true);
    assert.equal(opt.step([a, b], [a, g], state), true);
  });

  it('a bad gradient in array 57 of 100 changes nothing (skip: skipped whole)', () => {
    for (const policy of ['throw', 'skip'] as const) {
      const opt = core.adopt(0.01, { nonFinite: policy });
      const rng = new Rng(57);
      const params = Array.from({ length: 100 }, () => rng.normals(100));
      const state = opt.init(params);
      opt.step(
        params,
        params.map(() => rng.gradient(100)),
        state,
      );
      const before = params.map((p) => p.slice());
      const grads = params.map(() => rng.gradient(100));
      grads[57]![3] = Number.POSITIVE_INFINITY;
      if (policy === 'throw') assert.throws(() => opt.step(params, grads, state), NonFiniteGradientError);
      else assert.equal(opt.step(params, grads, state), false);
      assert.equal(firstDifference(params, before), null);
      assert.ok(state.every((s) => s.adopt.t === 1));
    }
  });

  it('globalClipnorm clips by the norm over every array of the tree', () => {
    const a = new Float32Array([3, 0]);
    const b = new Float32Array([0, 4]); // global norm 5
    const opt = core.adam(1, { globalClipnorm: 1, fused: false });
    const one = core.adam(1, { fused: false });
    const params = [new Float32Array(2), new Float32Array(2)];
    const reference = [new Float32Array(2), new Float32Array(2)];
    opt.step(params, [a, b], opt.init(params));
    // the same step on gradients scaled by 1/5 by hand
    const rs = one.init(reference);
    one.step(reference, [a.map((x) => x / 5), b.map((x) => x / 5)], rs);
    assert.equal(firstDifference(params, reference), null);
  });
});
