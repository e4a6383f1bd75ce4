/**
 * Adam, AdamW and AMSGrad for TensorFlow.js, in PyTorch's form (torch.optim.Adam / AdamW), declared:
 * the rule of src/rules/adam.ts run by the one optimizer built from a rule (./family_optimizer.ts).
 * The three classes differ only in their defaults.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { resolveAdam, type AdamHyperparams, type AdamOptions, type LearningRate } from '../hyperparams.js';
import { adamKernelArgs, type AdoptHyper } from '../rules/scalars.js';
import { ADAM, ADAM_OPTIONS } from '../rules/adam.js';
import { FamilyOptimizer, type Family } from './family_optimizer.js';

/** Every option, resolved, as a read-only field (`opt.beta2`, `opt.amsgrad`, `opt.stateDtype`; src/rules/adam.ts). */
export interface AdamFamilyOptimizer extends Readonly<Omit<AdamHyperparams, 'learningRate' | 'nonFinite' | 'fused'>> {}

/** The Adam family as a declaration: its rule, options, and the step's scalars at t = count + 1 (§4.1). */
function adamFamily(displayName: string, options: Readonly<Record<string, unknown>>): Family {
  return {
    displayName,
    rule: ADAM,
    options,
    foldsGradientScale: true,
    sharedScalars: true,
    safeEpsilon: true,
    scalars: (o, { lr, step, lrMax }) => {
      const h = o as unknown as AdoptHyper & { amsgrad: boolean };
      return adamKernelArgs(h, lr, step + 1, lrMax()) as unknown as Record<string, number>;
    },
  };
}

/** The base of AdamOptimizer, AdamWOptimizer and AMSGradOptimizer: the Adam-family rule with their defaults. */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface adds the resolved options as read-only fields (Object.assign in the constructor)
export abstract class AdamFamilyOptimizer extends FamilyOptimizer {
  protected constructor(
    displayName: string,
    defaults: AdamHyperparams,
    learningRate?: LearningRate,
    options?: AdamOptions,
  ) {
    const { learningRate: rate, nonFinite, fused, ...rest } = resolveAdam(displayName, learningRate, options, defaults);
    super(adamFamily(displayName, rest), rate, nonFinite, fused);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return this.savedOptions(ADAM_OPTIONS);
  }

  /**
   * Rebuilds the optimizer from getConfig (called by tfjs when a model is loaded).
   * @nocollapse
   */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return FamilyOptimizer.fromSavedOptions(cls, config, { displayName: 'Adam', specs: ADAM_OPTIONS });
  }
}
