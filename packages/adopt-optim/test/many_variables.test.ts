/**
 * One kernel call for all variables (issue 34 item 3): an applyGradients of many variables on wasm and cpu
 * runs one table kernel per phase, and leaves every parameter and state slot bit-identical to the per-variable
 * calls; every variant of the agreement tables, variables at their first step beside others at later ones.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { NonFiniteGradientError, type NamedStateOptimizer } from '../src/index.js';
import { backendKernels } from '../src/dispatch.js';
import type { FusedKernels } from '../src/backends/tfjs_fused.js';
import { BACKENDS, useBackend } from './backends.js';
import { Rng } from './reference.js';

/** A gradient element moved enough to change v (a one-ulp move can round away in β2·v + (1−β2)·g²). */
const moved = (x: number): number => Math.fround(x + 0.25);
import { VARIANTS } from './variants.js';

/** Lengths with every SIMD tail (n mod 4), single elements and a few thousand. */
const SIZES = [1, 2, 3, 4, 5, 7, 16, 33, 1000, 4099];
const STEPS = 4;

/** Runs `f` with the backend's table kernel counted, or taken away (`off`: every variable its own call). */
function withTable<T>(off: boolean, f: (calls: () => number) => T): T {
  const k = backendKernels() as FusedKernels & { runMany?: FusedKernels['runMany'] };
  const own = Object.getOwnPropertyDescriptor(k, 'runMany');
  const original = k.runMany;
  let calls = 0;
  k.runMany = off
    ? undefined
    : (entries) => {
        calls++;
        return original!.call(k, entries);
      };
  try {
    return f(() => calls);
  } finally {
    if (own === undefined) delete k.runMany;
    else Object.defineProperty(k, 'runMany', own);
  }
}

/** The bits of every parameter and state slot, by name. */
async function snapshot(opt: NamedStateOptimizer, vars: tf.Variable[]): Promise<Map<string, Uint32Array>> {
  const out = new Map<string, Uint32Array>();
  for (const v of vars) out.set(v.name, new Uint32Array(v.dataSync().slice().buffer));
  for (const w of await opt.getWeights()) {
    if (w.tensor.dtype === 'float32') out.set(w.name, new Uint32Array(w.tensor.dataSync().slice().buffer));
  }
  return out;
}

/** The first name and element where two snapshots differ, or null. */
function firstDifference(a: Map<string, Uint32Array>, b: Map<string, Uint32Array>): string | null {
  if (a.size !== b.size) return `${a.size} arrays against ${b.size}`;
  for (const [name, x] of a) {
    const y = b.get(name);
    if (y === undefined) return `${name} missing`;
    if (y.length !== x.length) return `${name}: length ${x.length} against ${y.length}`;
    const i = x.findIndex((bits, j) => bits !== y[j]);
    if (i >= 0) return `${name}[${i}]: ${x[i]!.toString(16)} against ${y[i]!.toString(16)}`;
  }
  return null;
}

/**
 * STEPS steps of `variant` on SIZES, the last two variables joining at the second step (their init phase
 * beside the others' step). `off`: the table kernel taken away. `nudge`: one gradient element moved.
 */
async function run(make: () => NamedStateOptimizer, off: boolean, nudge = false) {
  const rng = new Rng(34);
  const vars = SIZES.map((n, i) => tf.variable(tf.tensor1d(rng.normals(n)), true, `mv${i}`));
  const grads = Array.from({ length: STEPS }, () => SIZES.map((n) => rng.gradient(n, 0.1)));
  if (nudge) grads[STEPS - 1]![8]![500] = moved(grads[STEPS - 1]![8]![500]!);
  const opt = make();
  let tableCalls = 0;
  let paths: readonly string[] = [];
  try {
    withTable(off, (calls) => {
      for (let s = 0; s < STEPS; s++) {
        const pairs = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor1d(grads[s]![i]!) }));
        const joined = s === 0 ? pairs.slice(0, -2) : pairs;
        const before = tf.memory().numTensors;
        opt.applyGradients(joined);
        // the first step of a variable makes its state; later steps make nothing
        if (s >= 2) assert.equal(tf.memory().numTensors, before, 'a step leaves tf.memory() as it was');
        tf.dispose(pairs.map((p) => p.tensor));
      }
      tableCalls = calls();
      paths = opt.lastStepPaths;
    });
    return { bits: await snapshot(opt, vars), tableCalls, paths };
  } finally {
    opt.dispose();
    tf.dispose(vars);
  }
}

for (const backend of BACKENDS) {
  describe(`one kernel call for all variables: ${backend}`, () => {
    for (const variant of VARIANTS) {
      it(`${variant.name}: bit-identical to one call per variable`, async () => {
        await useBackend(backend);
        const table = await run(variant.tfjs, false);
        const each = await run(variant.tfjs, true);
        assert.equal(each.tableCalls, 0);
        const caution = /caution/i.test(variant.name);
        if (backendKernels()?.runMany !== undefined && !caution) {
          assert.ok(table.tableCalls >= STEPS, `the table kernel ran (${table.tableCalls} calls)`);
        }
        // caution counts its mean per variable: its step phase has no table kernel (ADOPT's init phase has)
        if (caution) assert.ok(table.tableCalls <= 2, `the step phase ran per variable (${table.tableCalls} calls)`);
        assert.deepEqual(table.paths, each.paths);
        assert.equal(firstDifference(table.bits, each.bits), null);
      });
    }

    it('the comparison catches a difference: one gradient element moved changes the bits', async () => {
      await useBackend(backend);
      const variant = VARIANTS[0]!;
      const a = await run(variant.tfjs, false);
      const b = await run(variant.tfjs, false, true);
      assert.notEqual(firstDifference(a.bits, b.bits), null);
    });

    it('a bad gradient in variable 57 of 100 changes nothing', async () => {
      await useBackend(backend);
      const rng = new Rng(57);
      const vars = Array.from({ length: 100 }, (_, i) => tf.variable(tf.tensor1d(rng.normals(100)), true, `bad${i}`));
      const opt = VARIANTS[0]!.tfjs();
      const step = (bad: boolean) => {
        const pairs = vars.map((v, i) => {
          const g = rng.gradient(100);
          if (bad && i === 57) g[3] = Number.NaN;
          return { name: v.name, tensor: tf.tensor1d(g) };
        });
        try {
          opt.applyGradients(pairs);
        } finally {
          tf.dispose(pairs.map((p) => p.tensor));
        }
      };
      step(false);
      step(false);
      const before = await snapshot(opt, vars);
      assert.throws(() => step(true), NonFiniteGradientError);
      assert.equal(firstDifference(await snapshot(opt, vars), before), null);
      assert.ok(vars.every((v) => opt.stepOf(v.name) === 2));
      opt.dispose();
      tf.dispose(vars);
    });
  });
}
