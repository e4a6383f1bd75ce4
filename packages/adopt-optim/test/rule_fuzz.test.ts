/**
 * The rule fuzzer: random rule definitions (./rule_fuzz_model.ts) run for three steps on every CPU
 * path (the core's WebAssembly and JavaScript, tfjs cpu and wasm, fused and as ops); after each
 * step every array written is compared with the test's own float64 interpreter of the tree, run
 * from the arrays the path had before the step, to within the bound float32 rounding allows (the
 * interpreter carries it: one rounding per operation, comparisons too close to call as either
 * branch), and every array not written must be unchanged bit for bit.
 *
 * `npm test` runs ADOPT_RULE_FUZZ_RUNS (default 20) cases; `npm run fuzz:rules` runs 5,000
 * (ADOPT_RULE_FUZZ_SEED picks the seed). A seeded bug in the interpreter is caught within the
 * default budget: the comparison can fail.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { core } from '../src/index.js';
import { defineRule, ruleOptimizer, type CustomRule } from '../src/rules/index.js';
import { BACKENDS, useBackend } from './backends.js';
import { definition, interpret, OPS, ruleSpec, scalarsAt, type Ops, type RuleSpec } from './rule_fuzz_model.js';

const RUNS = Number(process.env.ADOPT_RULE_FUZZ_RUNS ?? 20);
const SEED = Number(process.env.ADOPT_RULE_FUZZ_SEED ?? 20251207);
const STEPS = 3;
const LR = 0.1;

/** One path: its arrays now (p and the slots, by the user's names) and a step. */
interface Stepper {
  name: string;
  arrays(): Promise<Record<string, Float32Array>>;
  step(g: Float32Array): void;
  dispose(): void;
}

function corePath(rule: CustomRule, p0: Float32Array, fused: boolean): Stepper {
  const opt = core.ruleOptimizer(rule, LR, { fused });
  const p = Float32Array.from(p0);
  const state = opt.init(p);
  return {
    name: `core ${fused ? 'wasm' : 'js'}`,
    arrays: async () => ({
      p: p.slice(),
      ...Object.fromEntries(Object.entries(state.slots).map(([k, v]) => [k, v.slice()])),
    }),
    step: (g) => void opt.step(p, g, state),
    dispose: () => {},
  };
}

function tfjsPath(rule: CustomRule, p0: Float32Array, backend: string, fused: boolean): Stepper {
  const opt = ruleOptimizer(rule, LR, { fused });
  const v = tf.variable(tf.tensor(p0));
  const slots = rule.definition.slots;
  return {
    name: `tfjs ${backend} ${fused ? 'fused' : 'ops'}`,
    async arrays() {
      const out: Record<string, Float32Array> = { p: v.dataSync().slice() as Float32Array };
      const weights = opt.stepOf(v.name) === 0 ? [] : await opt.getWeights();
      for (const s of slots) {
        const w = weights.find((x) => x.name === `${v.name}/${s === 'step' ? '_step' : s}`);
        out[s] = w === undefined ? new Float32Array(p0.length) : (w.tensor.dataSync().slice() as Float32Array);
      }
      return out;
    },
    step: (g) => tf.tidy(() => opt.applyGradients({ [v.name]: tf.tensor(g) })),
    dispose: () => {
      opt.dispose();
      v.dispose();
    },
  };
}

let serial = 0;
const values = (n: number): fc.Arbitrary<Float32Array> =>
  fc
    .array(fc.oneof(fc.constantFrom(0, 1, -1, 0.5, -0.5, 2, 3), fc.float({ min: -4, max: 4, noNaN: true })), {
      minLength: n,
      maxLength: n,
    })
    .map((xs) => Float32Array.from(xs));
const cases = ruleSpec.chain((spec) =>
  fc.record({
    spec: fc.constant(spec),
    p0: values(spec.n),
    grads: fc.tuple(...Array.from({ length: STEPS }, () => values(spec.n))),
  }),
);

/** Runs one case on every path; throws (an assertion) where a path is outside the float32 bound of the interpreter. */
async function check(spec: RuleSpec, p0: Float32Array, grads: Float32Array[], ops: Ops): Promise<void> {
  const rule = defineRule(definition(`fuzz${++serial}`, spec));
  const makers: (() => Promise<Stepper>)[] = [
    async () => corePath(rule, p0, true),
    async () => corePath(rule, p0, false),
    ...BACKENDS.flatMap((b) =>
      [true, false].map((fused) => async () => {
        await useBackend(b);
        return tfjsPath(rule, p0, b, fused);
      }),
    ),
  ];
  for (const make of makers) {
    const path = await make();
    try {
      for (let t = 1; t <= STEPS; t++) {
        const g = grads[t - 1]!;
        const before = await path.arrays();
        const phase = t === 1 && spec.init !== undefined ? spec.init : spec.step;
        const want = interpret(phase, { ...before, g }, scalarsAt(spec, t), ops);
        path.step(g);
        const after = await path.arrays();
        for (const [name, now] of Object.entries(after)) {
          const w = Object.hasOwn(want, name) ? want[name] : undefined; // a slot may be named valueOf
          if (w === undefined) {
            assert.deepEqual(now, before[name], `${path.name}, step ${t}: "${name}" is not written but changed`);
            continue;
          }
          now.forEach((x, i) => {
            const { v, e } = w[i]!;
            if (!Number.isFinite(v) || !Number.isFinite(e)) return; // no float32 bound (overflow, NaN, a division by 0)
            // float32 rounding, as the interpreter bounds it; and a subnormal result may be flushed to zero
            assert.ok(
              Math.abs(x - v) <= e * (1 + 1e-9) + 2 ** -126,
              `${path.name}, step ${t}: ${name}[${i}] = ${x}; float64 ${v} ± ${e}`,
            );
          });
        }
      }
    } finally {
      path.dispose();
    }
  }
}

/** The fuzzer's property with the interpreter's operations `ops`. */
const property = (ops: Ops) => fc.asyncProperty(cases, ({ spec, p0, grads }) => check(spec, p0, grads, ops));

describe('rule fuzzer: random rules on every CPU path against a float64 interpreter', () => {
  it(`${RUNS} random rules (seed ${SEED})`, async () => {
    await fc.assert(property(OPS), { numRuns: RUNS, seed: SEED, includeErrorInReport: true });
  });

  const bugs: [string, Ops][] = [
    ['max computed as min', { ...OPS, bin: (op, a, b) => OPS.bin(op === 'max' ? 'min' : op, a, b) }],
    ['a - b computed as b - a', { ...OPS, bin: (op, a, b) => (op === 'sub' ? b - a : OPS.bin(op, a, b)) }],
    [
      'a >= b computed as a > b (only ties differ)',
      { ...OPS, cmp: (op, a, b) => OPS.cmp(op === 'ge' ? 'gt' : op, a, b) },
    ],
  ];
  for (const [what, ops] of bugs) {
    it(`a seeded bug (${what}) is caught within the default budget`, async () => {
      const result = await fc.check(property(ops), { numRuns: 20, seed: SEED, endOnFailure: true });
      assert.ok(result.failed, `the fuzzer missed the seeded bug ${what} in 20 runs`);
      // and it is the bug that fails: the same case passes with the interpreter's own operations
      const [{ spec, p0, grads }] = result.counterexample!;
      await check(spec, p0, grads, OPS);
    });
  }
});
