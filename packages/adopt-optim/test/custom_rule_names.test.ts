/**
 * User-chosen names in custom rules: a slot named like a generated local or a keyword of any
 * generated language (`end`, `o`, `i`, `w0`, `Math`, `function`, `x0`, `main`, `let`, `G`, ...)
 * runs on every CPU path against a float64 reference and writes nothing outside its tensors; the
 * run-time assembler refuses a duplicate declaration; a rule or hyperparameter whose name has `_`
 * round-trips through model.save({includeOptimizer}) and tf.loadLayersModel, and names that
 * tfjs-layers' camel-casing would confuse are refused at defineRule.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { core, OptimizerArgumentError } from '../src/index.js';
import { defineRule, RuleOptimizer, ruleOptimizer, type CustomRule, type RuleBuilder } from '../src/rules/index.js';
import { assembleWat } from '../src/codegen/wasm_binary.js';
import { foreignShaderIdentifiers } from '../src/codegen/identifier_check.js';
import { kernelPlan } from '../src/codegen/modules.js';
import { ADOPT } from '../src/rules/adopt.js';
import { BACKENDS, useBackend } from './backends.js';
import { Rng } from './reference.js';

/** Locals and labels of the generators (WAT, JS, GLSL, WGSL), tfjs's shader names, keywords of the four languages. */
export const HOSTILE_NAMES = [
  'end',
  'o',
  'i',
  'w0',
  'w1',
  'x0',
  'x1',
  's0',
  'u0',
  'u0x4',
  'u',
  'acc',
  'count',
  'Math',
  'function',
  'done',
  'loop',
  'tail',
  'tail_done',
  'local',
  'param',
  'module',
  'i32',
  'f32',
  'v128',
  'main',
  'fn',
  'let',
  'var',
  'const',
  'type',
  'target',
  'filter',
  'array',
  'ok',
  'Ok',
  'G',
  'P',
  'nAN',
  'NAN',
  'T',
  'id',
  'size',
  'stride',
  'Uniforms',
  'struct',
  'p_old',
  'g_old',
  'gl_x',
  'a__b',
  'setOutput',
  'result',
  'coords',
  'getPAtOutCoords',
  'return',
  'new',
  'this',
  'arguments',
  'eval',
  'undefined',
  'NaN',
  'Infinity',
  'float',
  'int',
  'vec4',
  'bool',
  'true',
  'false',
  'select',
  'clamp',
  'mix',
  'sign',
  'constructor',
  'toString',
  'hasOwnProperty',
  'init',
  'step',
  'count_init',
  'n_',
] as const;

const N = 37; // 9 SIMD blocks and a tail of 1
const STEPS = 3;
const LR = 0.05;

/** Slot k: m_k ← c_k·m_k + (k+1)·g; p ← p − lr·Σ m_k (new values). c_k = 0.5 + k/10. */
function slotRule(name: string, slots: readonly string[]): CustomRule {
  return defineRule({
    name,
    slots,
    scalars: (lr) => ({ lr }),
    step: ({ p, g, slot, scalar, add, sub, mul, constant }) => {
      const writes: Record<string, ReturnType<typeof add>> = {};
      let sum = constant(0);
      slots.forEach((s, k) => {
        writes[s] = add(mul(slot(s), constant(0.5 + k / 10)), mul(g, constant(k + 1)));
        sum = add(sum, writes[s]!);
      });
      return { ...writes, p: sub(p, mul(sum, scalar('lr'))) };
    },
  });
}

function reference(p0: Float32Array, grads: Float32Array[], slots: number): Float64Array[] {
  const p = Float64Array.from(p0);
  const m = Array.from({ length: slots }, () => new Float64Array(N));
  return grads.map((g) => {
    for (let i = 0; i < N; i++) {
      let sum = 0;
      for (let k = 0; k < slots; k++) {
        m[k]![i] = m[k]![i]! * (0.5 + k / 10) + g[i]! * (k + 1);
        sum += m[k]![i]!;
      }
      p[i] = p[i]! - sum * LR;
    }
    return Float64Array.from(p);
  });
}

/** Runs `rule` on every CPU path; each path's trajectory, and whether an unrelated tensor / array was left alone. */
type Trajectories = [path: string, steps: Float32Array[]][];

async function everyPath(rule: CustomRule, p0: Float32Array, grads: Float32Array[]): Promise<Trajectories> {
  const out: Trajectories = [];
  for (const fused of [true, false]) {
    const opt = core.ruleOptimizer(rule, LR, { fused });
    const p = Float32Array.from(p0);
    const state = opt.init(p);
    const bystander = new Float32Array(70_000).fill(7);
    out.push([
      `core ${fused ? 'wasm' : 'js'}`,
      grads.map((g) => {
        opt.step(p, g, state);
        return Float32Array.from(p);
      }),
    ]);
    assert.ok(
      bystander.every((x) => x === 7),
      'an unrelated array is untouched',
    );
  }
  for (const backend of BACKENDS) {
    await useBackend(backend);
    for (const fused of [true, false]) {
      const opt = ruleOptimizer(rule, LR, { fused });
      const v = tf.variable(tf.tensor(p0));
      const bystander = tf.variable(tf.fill([70_000], 7)); // on the wasm heap next to the slots
      const traj = grads.map((g) => {
        const gt = tf.tensor(g);
        opt.applyGradients({ [v.name]: gt });
        gt.dispose();
        return v.dataSync().slice() as Float32Array;
      });
      assert.ok(
        bystander.dataSync().every((x) => x === 7),
        `${backend}: an unrelated tensor is untouched`,
      );
      out.push([`tfjs ${backend} ${fused ? 'fused' : 'ops'}`, traj]);
      opt.dispose();
      tf.dispose([v, bystander]);
    }
  }
  return out;
}

describe('slots named like generated locals or keywords run on every CPU path', () => {
  const groups: string[][] = [];
  for (let k = 0; k < HOSTILE_NAMES.length; k += 6) groups.push(HOSTILE_NAMES.slice(k, k + 6));
  groups.forEach((slots, k) => {
    it(`slots ${slots.join(', ')}`, async () => {
      const rule = slotRule(`hostile${k}`, slots);
      const rng = new Rng(11 + k);
      const p0 = rng.normals(N);
      const grads = Array.from({ length: STEPS }, () => rng.normals(N));
      const want = reference(p0, grads, slots.length);
      for (const [path, traj] of await everyPath(rule, p0, grads)) {
        traj.forEach((p, t) =>
          p.forEach((x, i) => {
            const r = want[t]![i]!;
            assert.ok(
              Math.abs(x - r) <= 1e-5 * Math.max(1, Math.abs(r)),
              `${path}, step ${t + 1}, [${i}]: ${x} vs ${r}`,
            );
          }),
        );
      }
    });
  });
});

describe('the run-time assembler refuses a duplicate declaration', () => {
  const func = (decls: string): string => `(module (import "env" "memory" (memory 1))
    (func (export "f") (param $a i32) ${decls} (local.set $b (local.get $a))))`;
  it('a local named like a param, or a local twice', () => {
    assert.doesNotThrow(() => assembleWat(func('(local $b i32)')));
    assert.throws(() => assembleWat(func('(local $a i32) (local $b i32)')), /\$a is declared twice in one func/);
    assert.throws(() => assembleWat(func('(local $b i32) (local $b i32)')), /\$b is declared twice in one func/);
  });
  it('two functions under one export name', () => {
    const f = '(func (export "f") (param $a i32))';
    assert.throws(() => assembleWat(`(module (import "env" "memory" (memory 1)) ${f} ${f})`), /two funcs export "f"/);
  });
});

describe('names with _ survive tfjs-layers camel-casing a saved model', () => {
  it('model.save with includeOptimizer, then tf.loadLayersModel: the rule, hyperparameters and state', async () => {
    await useBackend('cpu');
    const rule = defineRule({
      name: 'sgd_momentum',
      slots: ['momentum_buf'],
      hyperparameters: { weight_decay: 0.1, mu_: 0.9 },
      scalars: (lr, _t, h) => ({ lr, wd: h.weight_decay!, mu: h.mu_! }),
      step: ({ p, g, slot, scalar: s, add, sub, mul }) => {
        const buf = add(mul(slot('momentum_buf'), s('mu')), add(g, mul(p, s('wd'))));
        return { momentum_buf: buf, p: sub(p, mul(buf, s('lr'))) };
      },
    });
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
    const optimizer = ruleOptimizer(rule, 0.01, { hyperparameters: { weight_decay: 0.2 } });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    await model.fit(tf.ones([4, 2]), tf.zeros([4, 1]), { epochs: 2, verbose: 0 });
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        saved = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
      { includeOptimizer: true },
    );
    assert.ok(saved?.trainingConfig !== undefined, 'the training config was saved');
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    const opt = loaded.optimizer as RuleOptimizer;
    assert.ok(opt instanceof RuleOptimizer);
    assert.equal(opt.custom, rule);
    assert.deepEqual(opt.hyperparameters, { weight_decay: 0.2, mu_: 0.9 });
    const [original, restored] = await Promise.all([(model.optimizer as RuleOptimizer).getWeights(), opt.getWeights()]);
    assert.deepEqual(
      restored.map((w) => w.name),
      original.map((w) => w.name),
    );
    restored.forEach((w, k) => assert.deepEqual(w.tensor.dataSync(), original[k]!.tensor.dataSync(), w.name));
    model.optimizer.dispose();
    opt.dispose();
    model.dispose();
    loaded.dispose();
  });

  it('names that camel-case alike are refused at defineRule, saying why', () => {
    const base = { slots: [], scalars: (lr: number) => ({ lr }), step: ({ p }: RuleBuilder) => ({ p }) };
    defineRule({ ...base, name: 'two_words' });
    defineRule({ ...base, name: 'two_words' }); // the same name again: the latest wins, as before
    const refused = (def: object, message: RegExp): void =>
      assert.throws(
        () => defineRule(def as never),
        (e: unknown) => e instanceof OptimizerArgumentError && message.test((e as Error).message),
      );
    refused({ ...base, name: 'twoWords' }, /the name "twoWords" camel-cases like the rule "two_words" defined before/);
    refused({ ...base, name: 'two__words' }, /camel-cases like the rule "two_words"/);
    refused(
      { ...base, name: 'other', hyperparameters: { weight_decay: 1, weightDecay: 2 } },
      /hyperparameters "weight_decay" and "weightDecay" camel-case alike/,
    );
  });
});

describe('a slot named like a saved weight of the state', () => {
  it('"step" and "iter" slots save and restore through getWeights / setWeights', async () => {
    await useBackend('cpu');
    const rule = slotRule('weights_named', ['step', 'iter', 'optimizer']);
    const v = tf.variable(tf.tensor([1, 2, 3]));
    const g = tf.tensor([1, -1, 2]);
    const opt = ruleOptimizer(rule, LR);
    opt.applyGradients({ [v.name]: g });
    const saved = await opt.getWeights();
    const copy = ruleOptimizer(rule, LR);
    await copy.setWeights(saved);
    const p = v.dataSync().slice();
    opt.applyGradients({ [v.name]: g });
    const want = v.dataSync().slice();
    v.assign(tf.tensor(p));
    copy.applyGradients({ [v.name]: g });
    assert.deepEqual(v.dataSync(), want);
    assert.equal(copy.stepOf(v.name), 2);
    tf.dispose([v, g]);
    opt.dispose();
    copy.dispose();
  });
});

describe('the generated shaders name user identifiers only in their namespace', () => {
  it('hostile slot names pass the text check; the built-in rules, whose slots are not namespaced, do not', () => {
    const rule = slotRule('shader_names', ['main', 'u', 'ok', 'let', 'T', 'G']);
    assert.deepEqual(foreignShaderIdentifiers(rule.plan), { glsl: [], wgsl: [] });
    // the check can fail: ADOPT's slots m and v appear as they are
    const adopt = foreignShaderIdentifiers(kernelPlan(ADOPT, {}));
    assert.ok(adopt.wgsl.includes('m') && adopt.wgsl.includes('v_old'), JSON.stringify(adopt));
    assert.ok(adopt.glsl.includes('getMAtOutCoords'), JSON.stringify(adopt));
  });
});
