/** Every optimizer configuration the agreement tests cover, with its float64 reference. */
import { adopt, adam, adamw, amsgrad, core, powerClip, type NamedStateOptimizer } from '../src/index.js';
import {
  refAdamStep, refAdoptStep, type RefAdamParams, type RefAdoptParams, type RefState,
} from './reference.js';

export interface Variant {
  name: string;
  tfjs(): NamedStateOptimizer;
  core(): core.CoreOptimizer<unknown, any>;
  /** One float64 reference step. */
  reference(p: Float64Array, g: ArrayLike<number>, s: RefState): void;
  /** True for ADOPT: the first step must not move the parameters. */
  firstStepIsInit: boolean;
}

const LR = 0.01;
const adoptBase: RefAdoptParams = {
  lr: LR, beta1: 0.9, beta2: 0.9999, eps: 1e-6, weightDecay: 0, decoupled: false,
  clip: (t) => t ** 0.25, maximize: false,
};

function adoptVariant(name: string, options: Parameters<typeof adopt>[1], ref: Partial<RefAdoptParams>): Variant {
  const h = { ...adoptBase, ...ref };
  return {
    name,
    tfjs: () => adopt(LR, options),
    core: () => core.adopt(LR, options),
    reference: (p, g, s) => refAdoptStep(p, g, s, h),
    firstStepIsInit: true,
  };
}

function adamVariant(
  name: string, make: typeof adam, makeCore: typeof core.adam, options: Parameters<typeof adam>[1],
  ref: RefAdamParams,
): Variant {
  return {
    name,
    tfjs: () => make(LR, options),
    core: () => makeCore(LR, options),
    reference: (p, g, s) => refAdamStep(p, g, s, ref),
    firstStepIsInit: false,
  };
}

const adamBase: RefAdamParams = {
  lr: LR, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, amsgrad: false, maximize: false,
};

export const VARIANTS: Variant[] = [
  adoptVariant('ADOPT default (clip t^0.25)', undefined, {}),
  adoptVariant('ADOPT unclipped', { clip: null }, { clip: null }),
  adoptVariant('ADOPT clip t^0.5, beta2 0.5', { clip: powerClip(0.5), beta2: 0.5 }, { clip: (t) => t ** 0.5, beta2: 0.5 }),
  adoptVariant('ADOPT coupled weight decay', { weightDecay: 0.1 }, { weightDecay: 0.1 }),
  adoptVariant('ADOPT decoupled weight decay', { weightDecay: 0.1, decoupled: true }, { weightDecay: 0.1, decoupled: true }),
  adoptVariant('ADOPT maximize', { maximize: true }, { maximize: true }),
  adamVariant('Adam', adam, core.adam, undefined, adamBase),
  adamVariant('Adam coupled weight decay, maximize', adam, core.adam, { weightDecay: 0.1, maximize: true },
    { ...adamBase, weightDecay: 0.1, maximize: true }),
  adamVariant('AdamW', adamw, core.adamw, undefined, { ...adamBase, weightDecay: 1e-2, decoupled: true }),
  adamVariant('AMSGrad', amsgrad, core.amsgrad, undefined, { ...adamBase, amsgrad: true }),
];
