import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADAM_DEFAULTS,
  ADAMW_DEFAULTS,
  ADOPT_DEFAULTS,
  AMSGRAD_DEFAULTS,
  adam,
  adamw,
  adopt,
  amsgrad,
  core,
  DEFAULT_LEARNING_RATE,
  OptimizerArgumentError,
} from '../src/index.js';
import { createOptimizer } from '../src/train/index.js';

// The values are written out here (PyTorch's and the official ADOPT code's defaults), not read
// from the objects under test.
const ADOPT_VALUES = {
  beta1: 0.9,
  beta2: 0.9999,
  epsilon: 1e-6,
  weightDecay: 0,
  decoupled: false,
  maximize: false,
  nonFinite: 'throw',
  fused: true,
  nesterov: false,
  caution: false,
  correctedWeightDecay: false,
  stateDtype: 'float32',
  epsilonMode: 'floor',
  clipnorm: null,
  clipvalue: null,
  globalClipnorm: null,
};
const ADAM_VALUES = {
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  weightDecay: 0,
  decoupled: false,
  maximize: false,
  nonFinite: 'throw',
  fused: true,
  caution: false,
  correctedWeightDecay: false,
  stateDtype: 'float32',
  clipnorm: null,
  clipvalue: null,
  globalClipnorm: null,
};

describe('the published defaults spread into their optimizer', () => {
  it('DEFAULT_LEARNING_RATE is 1e-3 and the defaults objects hold no learningRate', () => {
    assert.equal(DEFAULT_LEARNING_RATE, 1e-3);
    for (const d of [ADOPT_DEFAULTS, ADAM_DEFAULTS, ADAMW_DEFAULTS, AMSGRAD_DEFAULTS])
      assert.ok(!('learningRate' in d));
  });

  it('adopt(1e-3, {...ADOPT_DEFAULTS, beta2: 0.99}), tfjs and core', () => {
    for (const o of [
      adopt(1e-3, { ...ADOPT_DEFAULTS, beta2: 0.99 }),
      adopt(2e-3, { ...ADOPT_DEFAULTS, beta2: 0.99 }),
    ]) {
      const {
        beta1,
        beta2,
        epsilon,
        weightDecay,
        decoupled,
        maximize,
        nonFinite,
        fused,
        nesterov,
        caution,
        correctedWeightDecay,
        stateDtype,
        epsilonMode,
        clipnorm,
        clipvalue,
        globalClipnorm,
      } = o;
      assert.deepEqual(
        {
          beta1,
          beta2,
          epsilon,
          weightDecay,
          decoupled,
          maximize,
          nonFinite,
          fused,
          nesterov,
          caution,
          correctedWeightDecay,
          stateDtype,
          epsilonMode,
          clipnorm,
          clipvalue,
          globalClipnorm,
        },
        { ...ADOPT_VALUES, beta2: 0.99 },
      );
      assert.equal(o.clip!(16), 2); // t ** 0.25
      o.dispose();
    }
    const c = core.adopt(1e-3, { ...ADOPT_DEFAULTS, beta2: 0.99 }).hyperparams;
    assert.deepEqual({ ...c, clip: c.clip!(16) }, { ...ADOPT_VALUES, beta2: 0.99, learningRate: 1e-3, clip: 2 });
  });

  const family: [string, (lr?: number, o?: object) => { beta2: number }, object, object][] = [
    ['adam', adam, ADAM_DEFAULTS, { ...ADAM_VALUES, amsgrad: false }],
    ['adamw', adamw, ADAMW_DEFAULTS, { ...ADAM_VALUES, weightDecay: 1e-2, decoupled: true, amsgrad: false }],
    ['amsgrad', amsgrad, AMSGRAD_DEFAULTS, { ...ADAM_VALUES, amsgrad: true }],
  ];
  for (const [name, make, defaults, values] of family) {
    it(`${name}(1e-3, {...${name.toUpperCase()}_DEFAULTS, beta2: 0.99}), tfjs and core`, () => {
      const o = make(1e-3, { ...defaults, beta2: 0.99 }) as unknown as Record<string, unknown> & { dispose(): void };
      const picked = Object.fromEntries(Object.keys(values).map((k) => [k, o[k]]));
      assert.deepEqual(picked, { ...values, beta2: 0.99 });
      o.dispose();
      const c = (core as unknown as Record<string, (lr: number, o: object) => { hyperparams: object }>)[name]!(1e-3, {
        ...defaults,
        beta2: 0.99,
      });
      assert.deepEqual(c.hyperparams, { ...values, beta2: 0.99, learningRate: 1e-3 });
    });
  }

  it('createOptimizer takes the defaults spread with a learning rate', () => {
    const o = createOptimizer('adamw', { ...ADAMW_DEFAULTS, learningRate: 5e-4 });
    assert.deepEqual([o.learningRate, o.weightDecay, o.decoupled, o.amsgrad], [5e-4, 1e-2, true, false]);
    o.dispose();
  });

  it('a learning rate among the options is refused, saying where it goes', () => {
    assert.throws(
      () => adopt(1e-3, { learningRate: 1e-3 } as object),
      (e: unknown) =>
        e instanceof OptimizerArgumentError &&
        e.message ===
          'ADOPT: unknown option "learningRate"; the learning rate is the first argument, not an option (options: ' +
            'beta1, beta2, epsilon, weightDecay, decoupled, clip, maximize, nonFinite, fused, nesterov, caution, ' +
            'correctedWeightDecay, stateDtype, epsilonMode, clipnorm, clipvalue, globalClipnorm).',
    );
    assert.throws(
      () => core.adam(1e-3, { learningRate: 1e-3 } as object),
      /^OptimizerArgumentError: adam: unknown option "learningRate"; the learning rate is the first argument/,
    );
  });
});
