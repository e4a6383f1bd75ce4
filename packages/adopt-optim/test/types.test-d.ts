/**
 * Type-level tests, checked by `tsc -p tsconfig.test.json` (never run: the file name does not
 * match test/*.test.ts). Each `@ts-expect-error` line must be a compile error, or tsc fails
 * with "Unused '@ts-expect-error' directive"; every other line must compile.
 */
import * as tf from '@tensorflow/tfjs-core';
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
  type AdoptOptimizer,
} from '../src/index.js';
import {
  createOptimizer,
  Trainer,
  type OptimizerName,
  type OptimizerOptions,
  type OptimizerOptionsByName,
} from '../src/train/index.js';
// names that left the root in 0.3 still import from it, as markers that name their new home (src/moved.ts)
import {
  createOptimizer as movedCreate,
  defineRule as movedDefine,
  type StateDict as MovedStateDict,
} from '../src/index.js';

/** Compiles only if A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_ok?: T): void {}

export function createOptimizerTypes(name: OptimizerName, schedule: (step: number) => number): void {
  // each name with its own options
  createOptimizer('adopt', { beta1: 0.9 });
  createOptimizer('adopt', { learningRate: schedule, clip: null, nonFinite: 'skip' });
  createOptimizer('adam', { learningRate: 3e-4, weightDecay: 0.1, decoupled: true });
  createOptimizer('adamw');
  createOptimizer('amsgrad', {});
  createOptimizer('sgd', { learningRate: 0.1 });
  createOptimizer('momentum', { momentum: 0.5, useNesterov: true });
  createOptimizer('rmsprop', { decay: 0.95, epsilon: 1e-7, centered: true, momentum: 0 });
  // @ts-expect-error createOptimizer moved to 'adopt-optim/registry': the root's is not callable
  movedCreate('adopt', { beta2: 0.999 });
  // @ts-expect-error defineRule moved to 'adopt-optim/rules'
  movedDefine({});
  // @ts-expect-error StateDict moved to 'adopt-optim/interop': no value has the marker's type
  const movedDict: MovedStateDict = { state: {} };
  void movedDict;
  expectType<Equal<MovedStateDict, { readonly movedTo: 'adopt-optim/interop' }>>(true);
  // a name known only at run time takes the options of any optimizer (the Trainer does this)
  createOptimizer(name, { learningRate: 0.01 });

  // @ts-expect-error momentum is not an option of ADOPT
  createOptimizer('adopt', { momentum: 0.9 });
  // @ts-expect-error not an optimizer name
  createOptimizer('nadam');
  // @ts-expect-error sgd has no beta1
  createOptimizer('sgd', { beta1: 0.9 });
  // @ts-expect-error clip is ADOPT's, not Adam's
  createOptimizer('adam', { clip: null });
  // @ts-expect-error the learning rate goes in the options
  createOptimizer('adopt', 0.01);
  // @ts-expect-error beta1 is a number
  createOptimizer('adopt', { beta1: '0.9' });
  // @ts-expect-error useNesterov is a boolean
  createOptimizer('momentum', { useNesterov: 1 });
  // @ts-expect-error a plain string is not a name
  createOptimizer('adopt' as string);

  // the result has the class of the name
  expectType<Equal<ReturnType<typeof createOptimizer<'adopt'>>, AdoptOptimizer>>(true);
  expectType<Equal<ReturnType<typeof createOptimizer<'sgd'>>, tf.SGDOptimizer>>(true);
  expectType<Equal<OptimizerOptions<'momentum'>, OptimizerOptionsByName['momentum']>>(true);
  const a: AdoptOptimizer = createOptimizer('adopt');
  void a.beta2;
}

export function publishedDefaultsSpread(): void {
  // the published defaults are valid options of their optimizer (task C)
  adopt(1e-3, { ...ADOPT_DEFAULTS, beta2: 0.99 });
  adam(1e-3, { ...ADAM_DEFAULTS, beta2: 0.99 });
  adamw(1e-3, { ...ADAMW_DEFAULTS, beta2: 0.99 });
  amsgrad(1e-3, { ...AMSGRAD_DEFAULTS, beta2: 0.99 });
  core.adopt(1e-3, { ...ADOPT_DEFAULTS, beta2: 0.99 });
  createOptimizer('adopt', { ...ADOPT_DEFAULTS, learningRate: 1e-3 });
  // @ts-expect-error the learning rate is the first argument, not an option
  adopt(1e-3, { learningRate: 1e-3 });
}

export function coreTypes(): void {
  // scaleByAdopt and scaleByAdam take any subset of their options (task B)
  core.scaleByAdopt({ beta1: 0.9 });
  core.scaleByAdopt();
  core.scaleByAdam({ amsgrad: true });
  // @ts-expect-error weightDecay is not an option of the scaling alone
  core.scaleByAdopt({ weightDecay: 0.1 });
}

export function coreTreeTypes(): void {
  const opt = core.adopt(1e-3);
  // one array: its state
  const one = opt.init(new Float32Array(3));
  expectType<Equal<typeof one, core.AdoptCoreState>>();
  opt.step(new Float32Array(3), new Float32Array(3), one);
  // a record of arrays (nested with a list): a state per leaf, in the same structure
  const params = { w: new Float32Array(6), b: new Float32Array(2), heads: [new Float32Array(4), new Float32Array(4)] };
  const state = opt.init(params);
  expectType<Equal<typeof state.w, core.AdoptCoreState>>();
  expectType<Equal<(typeof state.heads)[number], core.AdoptCoreState>>();
  opt.step(params, params, state);
  // a list
  const list = [new Float32Array(2), new Float32Array(3)];
  const listState = opt.init(list);
  expectType<Equal<(typeof listState)[number], core.AdoptCoreState>>();
  opt.step(list, list, listState);
  // grads and state of another structure are refused when the step runs, naming the key (core.test.ts)
  // @ts-expect-error a state is an optimizer's state, not an array
  opt.step(params, params, { w: new Float32Array(6) });
  // @ts-expect-error a leaf must be a Float32Array
  opt.init({ w: new Float64Array(2) });
}

export function trainerTypes(model: tf.Variable[]): void {
  const base = { model, loss: () => tf.scalar(0), data: () => [], learningRate: 1e-3, steps: 1 };
  // optimizerOptions are typed by the optimizer named (clipping included)
  new Trainer({ ...base, optimizer: 'adopt', optimizerOptions: { weightDecay: 0.1, clipnorm: 1 } });
  new Trainer({ ...base, optimizer: 'momentum', optimizerOptions: { momentum: 0.9 } });
  // @ts-expect-error weight_decay is PyTorch's name: weightDecay
  new Trainer({ ...base, optimizer: 'adopt', optimizerOptions: { weight_decay: 0.1 } });
  // @ts-expect-error momentum's options are not ADOPT's
  new Trainer({ ...base, optimizer: 'adopt', optimizerOptions: { momentum: 0.9 } });
  // @ts-expect-error the learning rate is its own field
  new Trainer({ ...base, optimizer: 'adopt', optimizerOptions: { learningRate: 0.1 } });
  // @ts-expect-error clipnorm is an optimizer option (or clipGradNorm), not a Trainer field
  new Trainer({ ...base, optimizer: 'adopt', clipnorm: 1 });
  // @ts-expect-error learningRate is required
  new Trainer({ model, loss: () => tf.scalar(0), data: () => [], steps: 1, optimizer: 'adopt' });
}
