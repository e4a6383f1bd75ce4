/**
 * ADOPT for TensorFlow.js, declared: the rule of src/rules/adopt.ts (docs/ALGORITHM.md §2; options:
 * `resolveAdopt`) run by the one optimizer built from a rule (./family_optimizer.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { resolveAdopt, type AdoptHyperparams, type AdoptOptions, type LearningRate } from '../hyperparams.js';
import { checkClipValue, warnOnce } from '../validate.js';
import { clipExponent, type ClipSchedule } from '../clip_schedule.js';
import { ADOPT, ADOPT_OPTIONS } from '../rules/adopt.js';
import { adoptKernelArgs, type AdoptHyper } from '../rules/scalars.js';
import { FamilyOptimizer, type Family } from './family_optimizer.js';

/** Every ADOPT option, resolved, as a read-only field (`opt.beta2`, `opt.nesterov`; src/rules/adopt.ts). */
export interface AdoptOptimizer extends Readonly<Omit<AdoptHyperparams, 'learningRate' | 'nonFinite' | 'fused'>> {}

/** ADOPT as a declaration: its rule, options, and the step's scalars with the clip bound c(t) checked (§2.2). */
function adoptFamily(options: Readonly<Record<string, unknown>>): Family {
  return {
    displayName: 'ADOPT',
    rule: ADOPT,
    options,
    foldsGradientScale: true,
    sharedScalars: true,
    safeEpsilon: true,
    scalars(o, { lr, step, lrMax }) {
      const clip = o.clip as ClipSchedule | null;
      const c = clip !== null && step > 0 ? checkClipValue('ADOPT', clip(step), step) : Infinity;
      return adoptKernelArgs(o as unknown as AdoptHyper, lr, c, lrMax()) as unknown as Record<string, number>;
    },
  };
}

/** ADOPT as a tf.Optimizer (made by `adopt`): the rule of src/rules/adopt.ts, state kept per variable by name. */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface adds the resolved options as read-only fields (Object.assign in the constructor)
export class AdoptOptimizer extends FamilyOptimizer {
  /** @nocollapse Namespaced so it never clashes with tfjs's built-in class names. */
  static get className(): string {
    return 'adopt-optim/ADOPT';
  }

  constructor(learningRate?: LearningRate, options?: AdoptOptions) {
    const h: AdoptHyperparams = resolveAdopt('ADOPT', learningRate, options);
    const { learningRate: rate, nonFinite, fused, ...rest } = h;
    super(adoptFamily(rest), rate, nonFinite, fused);
    if (h.clip !== null && clipExponent(h.clip) === undefined) {
      warnOnce(
        'clip function',
        'adopt-optim: ADOPT with a custom clip function cannot be saved (getConfig, ' +
          'model.save with includeOptimizer). To make it saveable use powerClip(exponent) (the default is ' +
          'powerClip(0.25)) or clip: null. (Shown once.)',
      );
    }
  }

  override getConfig(): tf.serialization.ConfigDict {
    return this.savedOptions(ADOPT_OPTIONS);
  }

  /**
   * Rebuilds the optimizer from getConfig (called by tfjs when a model is loaded).
   * @nocollapse
   */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return FamilyOptimizer.fromSavedOptions(cls, config, { displayName: 'ADOPT', specs: ADOPT_OPTIONS });
  }
}

/**
 * ADOPT, the drop-in for `tf.train.adam`: `adopt(1e-3)`.
 * Defaults: beta1 0.9, beta2 0.9999, epsilon 1e-6, clip t => t ** 0.25, no weight decay.
 */
export function adopt(learningRate: LearningRate = 1e-3, options?: AdoptOptions): AdoptOptimizer {
  return new AdoptOptimizer(learningRate, options);
}

tf.serialization.registerClass(AdoptOptimizer);
