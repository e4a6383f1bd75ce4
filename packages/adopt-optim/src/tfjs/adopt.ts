/**
 * ADOPT for TensorFlow.js: the rule of src/rules/adopt.ts (docs/ALGORITHM.md §2; options: `resolveAdopt`),
 * run by the backend's generated kernels where it has them, else as tfjs ops on every backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { resolveAdopt, type AdoptHyperparams, type AdoptOptions, type LearningRate } from '../hyperparams.js';
import { checkClipValue, warnOnce } from '../validate.js';
import { clipExponent } from '../clip_schedule.js';
import { ADOPT_OPTIONS } from '../rules/adopt.js';
import { optionsConfig, optionsFromConfig } from '../rules/options.js';
import { adoptKernelArgs } from '../rules/scalars.js';
import { adoptCall } from '../codegen/modules.js';
import { runPhase } from '../dispatch.js';
import { maxLearningRate } from '../schedules.js';
import { NamedStateOptimizer, type VariableState } from './named_state_optimizer.js';
import { stepSeed } from '../kernels/state8.js';
import { LowBitStore } from './state8.js';
import { lowBitFormat } from '../kernels/lowbit.js';

/** Every ADOPT option, resolved, as a read-only field (`opt.beta2`, `opt.nesterov`, `opt.stateDtype`; src/rules/adopt.ts). */
export interface AdoptOptimizer extends Readonly<Omit<AdoptHyperparams, 'learningRate' | 'nonFinite' | 'fused'>> {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class AdoptOptimizer extends NamedStateOptimizer {
  /** @nocollapse Namespaced so it never clashes with tfjs's built-in class names. */
  static get className(): string {
    return 'adopt-optim/ADOPT';
  }

  protected readonly slotNames: readonly string[];
  protected readonly displayName = 'ADOPT';

  constructor(learningRate?: LearningRate, options?: AdoptOptions) {
    const h: AdoptHyperparams = resolveAdopt('ADOPT', learningRate, options);
    super(h.learningRate, h.nonFinite, h.fused);
    this.slotNames = h.stateDtype !== 'float32' ? [] : ['m', 'v'];
    this.int8 = h.stateDtype !== 'float32' ? new LowBitStore('ADOPT', lowBitFormat(h.stateDtype)) : null;
    const { learningRate: _lr, nonFinite: _nf, fused: _f, ...rest } = h;
    Object.assign(this, rest);
    if (h.clip !== null && clipExponent(h.clip) === undefined) {
      warnOnce('clip function', 'adopt-optim: ADOPT with a custom clip function cannot be saved (getConfig, model.save with ' +
        'includeOptimizer). To make it saveable use powerClip(exponent) (the default is powerClip(0.25)) or clip: null. (Shown once.)');
    }
  }

  protected override checkStep(_variable: tf.Variable, step: number): void {
    if (step > 0 && this.clip !== null) checkClipValue('ADOPT', this.clip(step), step);
    this.maxLearningRate(); // a custom schedule set later has no known maximum: refused before any change
  }

  /** Clipping by norm scales the gradient through the rule's sign (src/gradient_clipping.ts): no pass of its own. */
  protected override foldsGradientScale(): boolean {
    return true;
  }

  /** lrMax of corrected weight decay (§10.3): the current learning rate's declared maximum. */
  private maxLearningRate(): number {
    if (!this.correctedWeightDecay) return 1;
    return maxLearningRate('ADOPT', this.schedule ?? this.learningRate);
  }

  /** One ADOPT step: docs/ALGORITHM.md §2.2–§2.4 (first step §2.3; ε floor §7.1). */
  protected updateVariable(p: tf.Variable, gradient: tf.Tensor, state: VariableState): void {
    const lr = this.learningRate;
    const clip = this.clip !== null && state.step > 0 ? this.clip(state.step) : Infinity;
    if (this.int8 !== null) {
      // §11, §12: the low-bit kernels; 8-bit on wasm in place on the heap (src/tfjs/state8.ts)
      this.int8.step(state.step === 0 ? 'adopt8Init' : 'adopt8Step', p, gradient, adoptKernelArgs(this, lr, clip, this.maxLearningRate(), this.gradScale),
        stepSeed(state.step), this.kernels, (next) => this.commit(p, tf.tensor(next, p.shape, 'float32')));
      this.ranOn(this.int8.format.dtype);
      return;
    }
    const args = adoptKernelArgs(this, lr, clip, this.maxLearningRate(), this.gradScale);
    const call = adoptCall(this, state.step === 0 ? 'init' : 'step', args);
    this.ranOn(runPhase(this.kernels, call, p, gradient, [['m', state.slots.get('m')!], ['v', state.slots.get('v')!]],
      () => ({ ...args, epsilon: this.backendSafeEpsilon(this.epsilon) }), (target, value) => this.commit(target, value)));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...this.baseConfig(), ...optionsConfig('ADOPT.getConfig', ADOPT_OPTIONS, this) as tf.serialization.ConfigDict };
  }

  /**
   * Rebuilds the optimizer from getConfig (called by tfjs when a model is loaded).
   * @nocollapse
   */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict,
  ): T {
    // tfjs-layers adds `customObjects` to the config it passes in; it is not an option of ours.
    const { learningRate, customObjects: _, ...rest } = config;
    const options = optionsFromConfig('ADOPT.fromConfig', ADOPT_OPTIONS, rest) as AdoptOptions;
    return new (cls as unknown as new (lr: unknown, o: AdoptOptions) => T)(NamedStateOptimizer.learningRateFromConfig(learningRate), options);
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
