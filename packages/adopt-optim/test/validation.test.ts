import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adam, adamw, adopt, amsgrad, core, OptimizerArgumentError, powerClip } from '../src/index.js';

type Factory = (lr?: number, options?: any) => unknown;
const FACTORIES: [string, string, Factory][] = [
  ['adopt', 'ADOPT', adopt],
  ['adamw', 'AdamW', adamw],
  ['amsgrad', 'AMSGrad', amsgrad],
  ['adam', 'Adam', adam],
  ['core.adopt', 'adopt', core.adopt],
  ['core.adamw', 'adamw', core.adamw],
  ['core.amsgrad', 'amsgrad', core.amsgrad],
  ['core.adam', 'adam', core.adam],
];

/** Each bad input with the message it must produce: argument, value and the valid range. */
const BAD: [string, number | undefined, object, RegExp][] = [
  ['negative learning rate', -1e-3, {}, /invalid learningRate -0.001; expected a finite number >= 0/],
  ['NaN learning rate', NaN, {}, /invalid learningRate NaN; expected a finite number >= 0/],
  ['beta1 = 1', undefined, { beta1: 1 }, /invalid beta1 1; expected a number in \[0, 1\)/],
  ['negative beta1', undefined, { beta1: -0.1 }, /invalid beta1 -0.1; expected a number in \[0, 1\)/],
  ['beta2 above 1', undefined, { beta2: 1.5 }, /invalid beta2 1.5; expected a number in \[0, 1\)/],
  ['beta2 NaN', undefined, { beta2: NaN }, /invalid beta2 NaN; expected a number in \[0, 1\)/],
  ['negative epsilon', undefined, { epsilon: -1e-8 }, /invalid epsilon -1e-8; expected a finite number > 0/],
  // epsilon 0: a zero gradient with v = 0 gives 0 / 0 = NaN parameters, past every gradient check
  ['epsilon 0', undefined, { epsilon: 0 }, /invalid epsilon 0; expected a finite number > 0/],
  ['infinite epsilon', undefined, { epsilon: Infinity }, /invalid epsilon Infinity; expected a finite number > 0/],
  [
    'negative weight decay',
    undefined,
    { weightDecay: -0.01 },
    /invalid weightDecay -0.01; expected a finite number >= 0/,
  ],
  ['decoupled not a boolean', undefined, { decoupled: 'yes' }, /invalid decoupled "yes"; expected true or false/],
  [
    'unknown nonFinite policy',
    undefined,
    { nonFinite: 'ignore' },
    /invalid nonFinite "ignore"; expected one of "throw", "skip", "off"/,
  ],
  [
    'misspelled option',
    undefined,
    { weight_decay: 0.1 },
    /unknown option "weight_decay"; did you mean "weightDecay"\? expected one of/,
  ],
  [
    "PyTorch's name",
    undefined,
    { betas: [0.9, 0.99] },
    /unknown option "betas"; did you mean "beta1" and "beta2"\? expected one of/,
  ],
  ['nothing close', undefined, { momentum: 0.9 }, /unknown option "momentum"; expected one of/],
];

describe('invalid hyperparameters throw at construction, naming argument, value and range', () => {
  for (const [label, owner, make] of FACTORIES) {
    for (const [what, lr, options, message] of BAD) {
      it(`${label}: ${what}`, () => {
        assert.throws(
          () => make(lr, options),
          (e: unknown) => {
            assert.ok(e instanceof OptimizerArgumentError, String(e));
            assert.match(e.message, new RegExp(`^${owner}: `));
            assert.match(e.message, message);
            return true;
          },
        );
      });
    }
  }
});

describe('ADOPT clip schedules', () => {
  const bad: [string, unknown, RegExp][] = [
    [
      'negative bound',
      () => -1,
      /invalid clip -1 returned by the clip schedule at step 1; expected a finite number >= 0/,
    ],
    ['NaN bound', (t: number) => (t > 50 ? NaN : 1), /invalid clip NaN returned by the clip schedule at step 100/],
    ['infinite bound', () => Infinity, /invalid clip Infinity returned by the clip schedule at step 1/],
    ['not a function', 0.25, /invalid clip 0.25; expected a function of the step t/],
  ];
  for (const make of [adopt, core.adopt]) {
    for (const [what, clip, message] of bad) {
      it(`${make === adopt ? 'adopt' : 'core.adopt'}: ${what} throws at construction`, () => {
        assert.throws(() => make(1e-3, { clip: clip as never }), message);
      });
    }
  }

  it('powerClip rejects a negative exponent', () => {
    assert.throws(() => powerClip(-1), /powerClip: invalid exponent -1; expected a finite number >= 0/);
  });

  it('a schedule that goes bad later is refused at that step, before anything changes', async () => {
    await tf.setBackend('cpu');
    const clip = (t: number) => (t === 4 ? -1 : 1); // step 4 is not among the construction probes
    const a = tf.variable(tf.tensor([1, 2]), true, 'clip_later_a');
    const b = tf.variable(tf.tensor([3]), true, 'clip_later_b');
    const opt = adopt(0.1, { clip });
    // a starts one step before b, so at the failing call a is at step 4 and b at step 3: the
    // check must refuse the whole call, even though b (updated first) would have been fine.
    opt.applyGradients({ [a.name]: tf.ones([2]) });
    for (let i = 0; i < 3; i++) opt.applyGradients({ [b.name]: tf.ones([1]), [a.name]: tf.ones([2]) });
    const before = [Array.from(a.dataSync()), Array.from(b.dataSync()), opt.stepOf(a.name), opt.stepOf(b.name)];
    assert.throws(
      () => opt.applyGradients({ [b.name]: tf.ones([1]), [a.name]: tf.ones([2]) }),
      /invalid clip -1 returned by the clip schedule at step 4/,
    );
    assert.deepEqual(
      [Array.from(a.dataSync()), Array.from(b.dataSync()), opt.stepOf(a.name), opt.stepOf(b.name)],
      before,
    );
    opt.dispose();
    tf.dispose([a, b]);

    const c = core.adopt(0.1, { clip });
    const p = new Float32Array([1, 2]);
    const s = c.init(p);
    for (let i = 0; i < 4; i++) c.step(p, new Float32Array([1, 1]), s);
    const saved = [Array.from(p), Array.from(s.adopt.m), Array.from(s.adopt.v), s.adopt.t];
    assert.throws(() => c.step(p, new Float32Array([1, 1]), s), /at step 4/);
    assert.deepEqual([Array.from(p), Array.from(s.adopt.m), Array.from(s.adopt.v), s.adopt.t], saved);
  });
});

describe('learning rate can be changed between steps, and is checked', () => {
  it('setter validates', () => {
    const opt = adopt(1e-3);
    opt.learningRate = 0.5;
    assert.equal(opt.learningRate, 0.5);
    assert.throws(() => {
      opt.learningRate = -2;
    }, /ADOPT: invalid learningRate -2; expected a finite number >= 0/);
    assert.equal(opt.learningRate, 0.5);
  });
});

describe('defaults follow the official code and PyTorch', () => {
  it('ADOPT: beta2 0.9999, epsilon 1e-6, clip t^0.25', () => {
    const o = adopt();
    assert.deepEqual(
      [o.learningRate, o.beta1, o.beta2, o.epsilon, o.weightDecay, o.decoupled, o.maximize],
      [1e-3, 0.9, 0.9999, 1e-6, 0, false, false],
    );
    assert.equal(o.clip!(16), 2);
  });
  it('AdamW: decoupled weight decay 1e-2, beta2 0.999, epsilon 1e-8', () => {
    const o = adamw();
    assert.deepEqual([o.beta2, o.epsilon, o.weightDecay, o.decoupled, o.amsgrad], [0.999, 1e-8, 1e-2, true, false]);
  });
  it('AMSGrad: no weight decay, running maximum of v', () => {
    const o = amsgrad();
    assert.deepEqual([o.beta2, o.epsilon, o.weightDecay, o.decoupled, o.amsgrad], [0.999, 1e-8, 0, false, true]);
  });
});

describe('options in a Map or Set are refused, not silently dropped', () => {
  const collections: [string, object][] = [
    ['a Map', new Map([['beta1', 0.5]])],
    ['a Set', new Set(['beta1'])],
  ];
  for (const [label, owner, factory] of FACTORIES) {
    for (const [kind, options] of collections) {
      it(`${label}(1e-3, ${kind})`, () => {
        assert.throws(
          () => factory(1e-3, options),
          (e: unknown) =>
            e instanceof OptimizerArgumentError &&
            e.message.startsWith(`${owner}: invalid options ${kind};`) &&
            /expected a plain object of options/.test(e.message),
        );
      });
    }
  }
});
