import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { createOptimizer, setLearningRate } from '../src/train/index.js';
import { NamedStateOptimizer, OptimizerArgumentError } from '../src/index.js';
import { OPTIMIZER_NAMES } from '../src/train/index.js';
import { useBackend } from './backends.js';

/** Calls createOptimizer with arguments its types refuse, as JavaScript or a config file could. */
const untyped = createOptimizer as unknown as (name: unknown, options?: unknown) => tf.Optimizer;

/** Asserts an OptimizerArgumentError whose message is exactly `message` (a string) or matches it. */
function refuses(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OptimizerArgumentError, `expected an OptimizerArgumentError, got ${String(e)}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

/** The learning rate an optimizer will use next, read the way each kind exposes it. */
function rateOf(opt: tf.Optimizer): number {
  if (opt instanceof NamedStateOptimizer) return opt.learningRate;
  return opt.getConfig()['learningRate'] as number;
}

describe('createOptimizer: names and the options argument', () => {
  before(() => useBackend('cpu'));

  it('refuses an unknown name, listing the valid ones', () => {
    const valid = 'expected one of adopt, adam, adamw, amsgrad, sgd, momentum, rmsprop.';
    refuses(() => untyped('nadam'), `createOptimizer: unknown optimizer "nadam"; ${valid}`);
    refuses(() => untyped('ADOPT'), `createOptimizer: unknown optimizer "ADOPT"; ${valid}`);
    refuses(() => untyped(undefined), `createOptimizer: unknown optimizer undefined; ${valid}`);
    refuses(() => untyped(42, {}), `createOptimizer: unknown optimizer 42; ${valid}`);
  });

  it('refuses a learning rate (or anything else but an object) as the second argument, showing where it goes', () => {
    refuses(
      () => untyped('adopt', 0.01),
      'createOptimizer: invalid options 0.01 for "adopt"; options must be an object, and the learning rate goes in ' +
        'it: createOptimizer("adopt", {learningRate: 0.01}).',
    );
    refuses(
      () => untyped('sgd', 0.5),
      /invalid options 0\.5 for "sgd"; .*createOptimizer\("sgd", \{learningRate: 0\.5\}\)/,
    );
    refuses(
      () => untyped('adam', (step: number) => 1 / (step + 1)),
      /invalid options a function for "adam"; options must be an object/,
    );
    refuses(() => untyped('adamw', 'fast'), /invalid options "fast" for "adamw"; options must be an object/);
    refuses(
      () => untyped('rmsprop', [0.9]),
      /invalid options an array \[0\.9\] for "rmsprop"; options must be an object/,
    );
  });

  it('no options, undefined or {} give each optimizer its defaults', () => {
    // the defaults documented in the registry: 1e-3, except 0.01 for sgd and momentum
    const expected: Record<string, number> = {
      adopt: 1e-3,
      adam: 1e-3,
      adamw: 1e-3,
      amsgrad: 1e-3,
      sgd: 0.01,
      momentum: 0.01,
      rmsprop: 1e-3,
    };
    for (const name of OPTIMIZER_NAMES) {
      for (const opt of [createOptimizer(name), createOptimizer(name, undefined), createOptimizer(name, {})]) {
        assert.equal(rateOf(opt), expected[name], name);
        opt.dispose();
      }
    }
  });

  it('refuses an option the named optimizer does not have, naming those it accepts', () => {
    refuses(() => untyped('sgd', { beta1: 0.9 }), 'sgd: unknown option "beta1"; expected one of learningRate.');
    refuses(
      () => untyped('momentum', { decay: 0.9 }),
      'momentum: unknown option "decay"; expected one of learningRate, momentum, useNesterov.',
    );
    refuses(
      () => untyped('rmsprop', { nesterov: true }),
      'rmsprop: unknown option "nesterov"; expected one of learningRate, decay, momentum, epsilon, centered.',
    );
    refuses(
      () => untyped('adopt', { momentum: 0.9 }),
      'ADOPT: unknown option "momentum"; expected one of learningRate, beta1, beta2, epsilon, weightDecay, ' +
        'decoupled, clip, maximize, nonFinite, fused, nesterov, caution, correctedWeightDecay, stateDtype, ' +
        'epsilonMode, clipnorm, clipvalue, globalClipnorm.',
    );
    refuses(
      () => untyped('adamw', { clip: null }),
      'AdamW: unknown option "clip"; expected one of learningRate, beta1, beta2, epsilon, weightDecay, decoupled, ' +
        'maximize, nonFinite, fused, caution, correctedWeightDecay, stateDtype, clipnorm, clipvalue, globalClipnorm.',
    );
  });

  it('passes the options on to our optimizers, which check them', () => {
    const opt = createOptimizer('adopt', { learningRate: 0.02, beta1: 0.8, beta2: 0.99, clip: null });
    assert.deepEqual([opt.learningRate, opt.beta1, opt.beta2, opt.clip], [0.02, 0.8, 0.99, null]);
    opt.dispose();
    refuses(() => createOptimizer('adam', { beta2: 2 }), 'Adam: invalid beta2 2; expected a number in [0, 1).');
    refuses(
      () => createOptimizer('amsgrad', { learningRate: -1 }),
      'AMSGrad: invalid learningRate -1; expected a finite number >= 0.',
    );
  });
});

describe("createOptimizer: tfjs's own optimizers are checked like ours", () => {
  before(() => useBackend('cpu'));

  it('passes valid options through (read back from getConfig)', () => {
    const m = createOptimizer('momentum', { learningRate: 0.05, momentum: 0.5, useNesterov: true });
    assert.deepEqual(m.getConfig(), { learningRate: 0.05, momentum: 0.5, useNesterov: true });
    const r = createOptimizer('rmsprop', {
      learningRate: 0.002,
      decay: 0.95,
      momentum: 0.1,
      epsilon: 1e-6,
      centered: true,
    });
    assert.deepEqual(r.getConfig(), { learningRate: 0.002, decay: 0.95, momentum: 0.1, epsilon: 1e-6, centered: true });
    const s = createOptimizer('sgd', { learningRate: (step) => 0.3 / (step + 1) }); // a schedule: its value at step 0
    assert.equal(s.getConfig()['learningRate'], 0.3);
    for (const o of [m, r, s]) o.dispose();
  });

  const bad: [string, string, Record<string, unknown>, string][] = [
    ['momentum NaN', 'momentum', { momentum: NaN }, 'momentum: invalid momentum NaN; expected a finite number >= 0.'],
    [
      'negative momentum',
      'momentum',
      { momentum: -0.9 },
      'momentum: invalid momentum -0.9; expected a finite number >= 0.',
    ],
    [
      'useNesterov not a boolean',
      'momentum',
      { useNesterov: 'yes' },
      'momentum: invalid useNesterov "yes"; expected true or false.',
    ],
    [
      'sgd: negative learning rate',
      'sgd',
      { learningRate: -0.1 },
      'sgd: invalid learningRate -0.1; expected a finite number >= 0.',
    ],
    [
      'momentum: NaN learning rate',
      'momentum',
      { learningRate: NaN },
      'momentum: invalid learningRate NaN; expected a finite number >= 0.',
    ],
    [
      'rmsprop: infinite learning rate',
      'rmsprop',
      { learningRate: Infinity },
      'rmsprop: invalid learningRate Infinity; expected a finite number >= 0.',
    ],
    [
      'sgd: learning rate as a string',
      'sgd',
      { learningRate: '0.1' },
      'sgd: invalid learningRate "0.1"; expected a finite number >= 0.',
    ],
    [
      'sgd: schedule negative at step 0',
      'sgd',
      { learningRate: () => -1 },
      'sgd: the learning-rate schedule returned -1 at step 0; expected a finite number in [0, 1000000].',
    ],
    ['rmsprop decay 1', 'rmsprop', { decay: 1 }, 'rmsprop: invalid decay 1; expected a number in [0, 1).'],
    ['rmsprop negative decay', 'rmsprop', { decay: -0.1 }, 'rmsprop: invalid decay -0.1; expected a number in [0, 1).'],
    ['rmsprop decay NaN', 'rmsprop', { decay: NaN }, 'rmsprop: invalid decay NaN; expected a number in [0, 1).'],
    [
      'rmsprop negative epsilon',
      'rmsprop',
      { epsilon: -1e-7 },
      'rmsprop: invalid epsilon -1e-7; expected a finite number > 0 (with 0, an element whose gradient and second ' +
        'moment are both 0 computes 0 / 0 = NaN).',
    ],
    // epsilon 0: the mean square starts at 0, so a zero gradient gives 0 / sqrt(0) = NaN
    [
      'rmsprop epsilon 0',
      'rmsprop',
      { epsilon: 0 },
      'rmsprop: invalid epsilon 0; expected a finite number > 0 (with 0, an element whose gradient and second moment ' +
        'are both 0 computes 0 / 0 = NaN).',
    ],
    [
      'rmsprop infinite epsilon',
      'rmsprop',
      { epsilon: Infinity },
      'rmsprop: invalid epsilon Infinity; expected a finite number > 0 (with 0, an element whose gradient and second ' +
        'moment are both 0 computes 0 / 0 = NaN).',
    ],
    [
      'rmsprop negative momentum',
      'rmsprop',
      { momentum: -1 },
      'rmsprop: invalid momentum -1; expected a finite number >= 0.',
    ],
    [
      'rmsprop centered not a boolean',
      'rmsprop',
      { centered: 1 },
      'rmsprop: invalid centered 1; expected true or false.',
    ],
  ];
  for (const [what, name, options, message] of bad) {
    it(what, () => refuses(() => untyped(name, options), message));
  }
});

describe('setLearningRate', () => {
  before(() => useBackend('cpu'));

  it('sets the rate of every kind', () => {
    for (const name of OPTIMIZER_NAMES) {
      const opt = createOptimizer(name, { learningRate: 0.01 });
      setLearningRate(opt, 0.25);
      assert.equal(rateOf(opt), 0.25, name);
      opt.dispose();
    }
  });

  for (const bad of [NaN, -0.5, Infinity, '0.1' as unknown as number]) {
    it(`refuses ${typeof bad === 'string' ? JSON.stringify(bad) : bad} for every kind, leaving the rate as it was`, () => {
      const shown = typeof bad === 'string' ? JSON.stringify(bad) : String(bad);
      for (const name of OPTIMIZER_NAMES) {
        const opt = createOptimizer(name, { learningRate: 0.01 });
        refuses(
          () => setLearningRate(opt, bad),
          `setLearningRate: invalid learningRate ${shown}; expected a finite number >= 0.`,
        );
        assert.equal(rateOf(opt), 0.01, name);
        opt.dispose();
      }
    });
  }

  it('a step after a refused setLearningRate uses the old rate (sgd: p -= lr * g)', () => {
    const p = tf.variable(tf.tensor1d([1, 2]), true, 'registry_sgd_p');
    const opt = createOptimizer('sgd', { learningRate: 0.5 });
    refuses(() => setLearningRate(opt, NaN), /invalid learningRate NaN/);
    opt.applyGradients({ [p.name]: tf.tensor1d([1, 1]) });
    assert.deepEqual(Array.from(p.dataSync()), [0.5, 1.5]);
    p.dispose();
    opt.dispose();
  });

  it('refuses something that is not an optimizer', () => {
    refuses(
      () => setLearningRate(undefined as unknown as tf.Optimizer, 0.1),
      'setLearningRate: invalid optimizer undefined; expected an optimizer made by createOptimizer.',
    );
  });
});

describe('setLearningRate takes effect on every kind', () => {
  // One plain step of f(w) = w²/2 (gradient w = 1) at rate 0 must leave w where it is; at rate 0.5 the
  // first step of sgd/momentum/rmsprop moves it (the value itself is not checked, only that the rate is read).
  for (const name of ['sgd', 'momentum', 'rmsprop', 'adam', 'adamw', 'amsgrad'] as const) {
    it(`${name}: a rate of 0 set by setLearningRate stops the parameter`, () => {
      const w = tf.variable(tf.scalar(1), true, `lr-${name}`);
      const opt = createOptimizer(name, { learningRate: 0.5 });
      setLearningRate(opt, 0);
      opt.applyGradients([{ name: w.name, tensor: tf.scalar(1) }]);
      assert.equal(w.dataSync()[0], 1, `${name} moved the parameter at rate 0`);
      setLearningRate(opt, 0.5);
      opt.applyGradients([{ name: w.name, tensor: tf.scalar(1) }]);
      assert.notEqual(w.dataSync()[0], 1, `${name} ignored the new rate 0.5`);
      opt.dispose();
      w.dispose();
    });
  }
});

describe('createOptimizer and the rule optimizers refuse options in a Map', () => {
  it('createOptimizer("adopt", Map) and createOptimizer("sgd", Map)', () => {
    const map = new Map<string, unknown>([
      ['beta1', 0.5],
      ['stateDtype', 'bfloat16'],
    ]);
    refuses(() => untyped('adopt', map), /^ADOPT: invalid options a Map; expected a plain object of options/);
    refuses(() => untyped('sgd', new Map([['learningRate', 0.5]])), /^sgd: invalid options a Map;/);
  });
});

describe('setLearningRate: the bound every learning rate has, and non-optimizers', () => {
  before(() => useBackend('cpu'));
  it('refuses a rate above 1e6 for every kind (tfjs optimizers too), leaving the rate as it was', () => {
    for (const name of OPTIMIZER_NAMES) {
      const opt = createOptimizer(name, { learningRate: 0.01 });
      refuses(
        () => setLearningRate(opt, 1e300),
        /^setLearningRate: invalid learningRate 1e\+300; expected a finite number in \[0, 1000000\]/,
      );
      assert.equal(rateOf(opt), 0.01, name);
      setLearningRate(opt, 1e6);
      assert.equal(rateOf(opt), 1e6, name);
      opt.dispose();
    }
  });
  it('refuses an object that is not an optimizer, naming it', () => {
    refuses(
      () => setLearningRate({} as tf.Optimizer, 0.1),
      /^setLearningRate: invalid optimizer an object; expected an optimizer/,
    );
  });
});
