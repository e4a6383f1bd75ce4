/** Every optimizer configuration the agreement tests cover, with its float64 reference. */
import {
  adopt,
  adam,
  adamw,
  amsgrad,
  core,
  cosineDecay,
  powerClip,
  type LearningRate,
  type NamedStateOptimizer,
} from '../src/index.js';
import { refAdamStep, refAdoptStep, type RefAdamParams, type RefAdoptParams, type RefState } from './reference.js';

export interface Variant {
  name: string;
  tfjs(): NamedStateOptimizer;
  core(): core.CoreOptimizer<unknown, any>;
  /** One float64 reference step; `k` is the optimizer step index (§5.3), by default the array's own count. */
  reference(p: Float64Array, g: ArrayLike<number>, s: RefState, k?: number): void;
  /** True for ADOPT: the first step must not move the parameters. */
  firstStepIsInit: boolean;
}

const LR = 0.01;
const adoptBase: RefAdoptParams = {
  lr: LR,
  beta1: 0.9,
  beta2: 0.9999,
  eps: 1e-6,
  weightDecay: 0,
  decoupled: false,
  clip: (t) => t ** 0.25,
  maximize: false,
};

/**
 * A schedule for corrected weight decay (§10.3): with a constant rate lr² / lrMax = lr, so the
 * variant would be indistinguishable from plain decoupled decay. lrMax = peak = 0.02.
 */
export const CORRECTED_SCHEDULE = cosineDecay({ peak: 0.02, warmupSteps: 10, totalSteps: 150, final: 0.001 });

function adoptVariant(
  name: string,
  options: Parameters<typeof adopt>[1],
  ref: Partial<RefAdoptParams>,
  lr: LearningRate = LR,
): Variant {
  const h = { ...adoptBase, ...ref, lr };
  return {
    name,
    tfjs: () => adopt(lr, options),
    core: () => core.adopt(lr, options),
    reference: (p, g, s, k) => refAdoptStep(p, g, s, h, k),
    firstStepIsInit: true,
  };
}

function adamVariant(
  name: string,
  make: typeof adam,
  makeCore: typeof core.adam,
  options: Parameters<typeof adam>[1],
  ref: RefAdamParams,
  lr: LearningRate = LR,
): Variant {
  const h = { ...ref, lr };
  return {
    name,
    tfjs: () => make(lr, options),
    core: () => makeCore(lr, options),
    reference: (p, g, s, k) => refAdamStep(p, g, s, h, k),
    firstStepIsInit: false,
  };
}

const adamBase: RefAdamParams = {
  lr: LR,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  decoupled: false,
  amsgrad: false,
  maximize: false,
};

export const VARIANTS: Variant[] = [
  adoptVariant('ADOPT default (clip t^0.25)', undefined, {}),
  adoptVariant('ADOPT unclipped', { clip: null }, { clip: null }),
  adoptVariant(
    'ADOPT clip t^0.5, beta2 0.5',
    { clip: powerClip(0.5), beta2: 0.5 },
    { clip: (t) => t ** 0.5, beta2: 0.5 },
  ),
  adoptVariant('ADOPT coupled weight decay', { weightDecay: 0.1 }, { weightDecay: 0.1 }),
  adoptVariant(
    'ADOPT decoupled weight decay',
    { weightDecay: 0.1, decoupled: true },
    { weightDecay: 0.1, decoupled: true },
  ),
  adoptVariant('ADOPT maximize', { maximize: true }, { maximize: true }),
  adamVariant('Adam', adam, core.adam, undefined, adamBase),
  adamVariant(
    'Adam coupled weight decay, maximize',
    adam,
    core.adam,
    { weightDecay: 0.1, maximize: true },
    { ...adamBase, weightDecay: 0.1, maximize: true },
  ),
  adamVariant('AdamW', adamw, core.adamw, undefined, { ...adamBase, weightDecay: 1e-2, decoupled: true }),
  adamVariant('AMSGrad', amsgrad, core.amsgrad, undefined, { ...adamBase, amsgrad: true }),
  // §10: the variants other ports offer
  adoptVariant('ADOPT nesterov', { nesterov: true }, { nesterov: true }),
  adoptVariant('ADOPT caution', { caution: true }, { caution: true }),
  adoptVariant(
    'ADOPT nesterov and caution, unclipped, maximize',
    { nesterov: true, caution: true, clip: null, maximize: true },
    { nesterov: true, caution: true, clip: null, maximize: true },
  ),
  adoptVariant(
    'ADOPT caution, coupled weight decay',
    { caution: true, weightDecay: 0.1 },
    { caution: true, weightDecay: 0.1 },
  ),
  adoptVariant(
    'ADOPT corrected weight decay (cosine schedule, lrMax 0.02)',
    { weightDecay: 0.1, decoupled: true, correctedWeightDecay: true },
    { weightDecay: 0.1, decoupled: true, correctedWeightDecay: true, lrMax: 0.02 },
    CORRECTED_SCHEDULE,
  ),
  adoptVariant(
    'ADOPT epsilonMode add, epsilon 1e-2',
    { epsilonMode: 'add', epsilon: 1e-2 },
    { epsilonMode: 'add', eps: 1e-2 },
  ),
  adamVariant('Adam caution', adam, core.adam, { caution: true }, { ...adamBase, caution: true }),
  adamVariant(
    'AMSGrad caution, maximize',
    amsgrad,
    core.amsgrad,
    { caution: true, maximize: true },
    { ...adamBase, amsgrad: true, caution: true, maximize: true },
  ),
  adamVariant(
    'AdamW corrected weight decay and caution (cosine schedule, lrMax 0.02)',
    adamw,
    core.adamw,
    { weightDecay: 0.1, correctedWeightDecay: true, caution: true },
    { ...adamBase, weightDecay: 0.1, decoupled: true, correctedWeightDecay: true, caution: true, lrMax: 0.02 },
    CORRECTED_SCHEDULE,
  ),
];
