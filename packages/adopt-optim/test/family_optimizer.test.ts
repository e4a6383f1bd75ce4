/**
 * The one tfjs optimizer built from a rule (src/tfjs/family_optimizer.ts) takes its slots from the rule:
 * every built-in optimizer saves exactly the slots its rule declares for its options, and a rule with a slot
 * added (ADOPT with an AMSGrad-style running maximum of v) runs, saves and loads it with no other change.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { adam, adamw, adopt, amsgrad, type NamedStateOptimizer } from '../src/index.js';
import { ADOPT } from '../src/rules/adopt.js';
import { ADAM } from '../src/rules/adam.js';
import { flagsOf, type Rule } from '../src/rules/rule.js';
import { add, array, clamp, div, max, mul, neg, scalar, sqrt, sub } from '../src/rules/expr.js';
import { adoptKernelArgs } from '../src/rules/scalars.js';
import { FamilyOptimizer } from '../src/tfjs/family_optimizer.js';
import { BACKENDS, useBackend } from './backends.js';

/** ADOPT normalised by the running maximum of v (a slot the rule adds; the math is the test's own). */
const s = (name: string) => scalar(name);
const [p, g, m, v, vmax] = [array('p'), array('g'), array('m'), array('v'), array('vmax')];
const ADOPT_VMAX: Rule = {
  ...ADOPT,
  name: 'adoptvmaxtest',
  capabilities: [],
  slots: () => ['m', 'v', 'vmax'],
  phases() {
    const gp = add(mul(g, s('sign')), mul(p, s('coupledDecay')));
    const n = clamp(div(gp, max(sqrt(vmax), s('epsilon'))), neg(s('clip')), s('clip'));
    const mNew = add(mul(m, s('beta1')), mul(n, s('oneMinusBeta1')));
    const vNew = add(mul(v, s('beta2')), mul(mul(gp, gp), s('oneMinusBeta2')));
    return {
      init: {
        writes: [
          ['v', mul(gp, gp)],
          ['vmax', mul(gp, gp)],
        ],
      },
      step: {
        writes: [
          ['m', mNew],
          ['v', vNew],
          ['vmax', max(vmax, vNew)],
          ['p', sub(mul(p, s('decay')), mul(mNew, s('lr')))],
        ],
      },
    };
  },
};

const H = {
  beta1: 0.9,
  beta2: 0.99,
  epsilon: 1e-6,
  weightDecay: 0,
  decoupled: false,
  maximize: false,
  stateDtype: 'float32',
};

class AdoptVmax extends FamilyOptimizer {
  static get className(): string {
    return 'test/AdoptVmax';
  }
  constructor(lr: number) {
    super(
      {
        displayName: 'AdoptVmax',
        rule: ADOPT_VMAX,
        options: H,
        foldsGradientScale: true,
        safeEpsilon: true,
        scalars: (o, { lr: rate, step }) =>
          adoptKernelArgs(o as typeof H, rate, step > 0 ? step ** 0.25 : Infinity) as unknown as Record<string, number>,
      },
      lr,
      'throw',
      false,
    );
  }
  override getConfig(): tf.serialization.ConfigDict {
    return this.savedOptions({});
  }
}

/** The same update in float64, written out. */
function reference(p0: number[], grads: number[][], lr: number): number[] {
  const pr = [...p0];
  const st = pr.map(() => ({ m: 0, v: 0, vmax: 0 }));
  grads.forEach((gs, t) => {
    gs.forEach((gi, i) => {
      const x = st[i]!;
      if (t === 0) {
        x.v = x.vmax = gi * gi;
        return;
      }
      const c = t ** 0.25;
      const n = Math.min(c, Math.max(-c, gi / Math.max(Math.sqrt(x.vmax), H.epsilon)));
      x.m = H.beta1 * x.m + (1 - H.beta1) * n;
      x.v = H.beta2 * x.v + (1 - H.beta2) * gi * gi;
      x.vmax = Math.max(x.vmax, x.v);
      pr[i] = pr[i]! - lr * x.m;
    });
  });
  return pr;
}

async function slotsSaved(opt: NamedStateOptimizer, variable: tf.Variable): Promise<string[]> {
  const names = (await opt.getWeights()).map((w) => w.name).filter((n) => n.startsWith(`${variable.name}/`));
  return names.map((n) => n.slice(variable.name.length + 1)).filter((n) => n !== 'step');
}

for (const backend of BACKENDS) {
  describe(`slots come from the rule on ${backend}`, () => {
    before(() => useBackend(backend));

    const cases: [string, () => NamedStateOptimizer, Rule][] = [
      ['adopt', () => adopt(1e-3), ADOPT],
      ['adopt nesterov caution', () => adopt(1e-3, { nesterov: true, caution: true }), ADOPT],
      ['adam', () => adam(1e-3), ADAM],
      ['adamw', () => adamw(1e-3), ADAM],
      ['amsgrad', () => amsgrad(1e-3), ADAM],
    ];
    for (const [name, make, rule] of cases) {
      it(`${name} saves exactly its rule's slots`, async () => {
        const opt = make();
        const w = tf.variable(tf.tensor([0.5, -1, 2]));
        opt.applyGradients({ [w.name]: tf.tensor([0.1, 0.2, -0.3]) });
        const declared = rule.slots(flagsOf(rule, opt as unknown as Record<string, unknown>));
        assert.deepEqual(await slotsSaved(opt, w), [...declared]);
        opt.dispose();
        w.dispose();
      });
    }

    it('a rule with a slot added runs it, saves it, and matches its float64 reference', async () => {
      const p0 = [0.5, -1, 2, 0.25, -3];
      // a large gradient at step 3 raises v above its later values: vmax then differs from v
      const grads = Array.from({ length: 6 }, (_, t) =>
        p0.map((_, i) => Math.sin(1 + t * 1.7 + i * 0.9) * (t === 3 ? 4 : 1)),
      );
      const w = tf.variable(tf.tensor(p0));
      const opt = new AdoptVmax(0.05);
      const before = tf.memory().numTensors;
      for (const gs of grads) tf.tidy(() => opt.applyGradients({ [w.name]: tf.tensor(gs) }));
      assert.equal(tf.memory().numTensors, before + 3, 'three slots made at the first step, nothing else kept');
      assert.deepEqual(await slotsSaved(opt, w), ['m', 'v', 'vmax']);
      const want = reference(p0, grads, 0.05);
      const got = Array.from(w.dataSync());
      got.forEach((x, i) => {
        assert.ok(Math.abs(x - want[i]!) <= 1e-5 * Math.max(1, Math.abs(want[i]!)), `p[${i}] ${x} vs ${want[i]}`);
      });
      opt.dispose();
      w.dispose();
    });
  });
}

/** The optimizers' own files, tfjs and core (low-bit state, whose format stores m and v, is another layer). */
const OPTIMIZER_SOURCES = [
  'tfjs/family_optimizer.ts',
  'tfjs/named_state_optimizer.ts',
  'tfjs/adopt.ts',
  'tfjs/adam_family.ts',
  'tfjs/adam.ts',
  'tfjs/adamw.ts',
  'tfjs/amsgrad.ts',
  'tfjs/rule_optimizer.ts',
  'core/optimizers.ts',
  'core/transform.ts',
];

it('no optimizer source lists slots by hand (they come from the rule)', () => {
  for (const file of OPTIMIZER_SOURCES) {
    const code = readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\/\/.*$/gm, ''); // comments may name slots
    assert.doesNotMatch(code, /\[\s*['"]m['"]\s*,\s*['"]v['"]/, `src/${file} lists slots by hand`);
    assert.doesNotMatch(code, /allocateResidentState\([^)]*,\s*\d/, `src/${file} counts slots by hand`);
  }
});
