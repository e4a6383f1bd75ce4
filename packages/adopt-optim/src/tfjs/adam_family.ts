/**
 * Adam, AdamW and AMSGrad for TensorFlow.js, in PyTorch's form (torch.optim.Adam / AdamW),
 * with state kept per variable by name. The three classes differ only in their defaults.
 */
import * as tf from '@tensorflow/tfjs-core';
import { resolveAdam, type AdamHyperparams, type AdamOptions, type LearningRate } from '../hyperparams.js';
import { adamKernelArgs } from '../rules/scalars.js';
import { adamCall } from '../codegen/modules.js';
import { runPhase } from '../dispatch.js';
import { ADAM_OPTIONS } from '../rules/adam.js';
import { optionsConfig } from '../rules/options.js';
import { maxLearningRate } from '../schedules.js';
import { stepSeed } from '../kernels/state8.js';
import { LowBitStore } from './state8.js';
import { lowBitFormat } from '../kernels/lowbit.js';
import { NamedStateOptimizer, type VariableState } from './named_state_optimizer.js';

/** Every option, resolved, as a read-only field (`opt.beta2`, `opt.amsgrad`, `opt.stateDtype`; src/rules/adam.ts). */
export interface AdamFamilyOptimizer extends Readonly<Omit<AdamHyperparams, 'learningRate' | 'nonFinite' | 'fused'>> {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export abstract class AdamFamilyOptimizer extends NamedStateOptimizer {
  protected readonly slotNames: readonly string[];
  protected readonly displayName: string;

  protected constructor(
    displayName: string, defaults: AdamHyperparams, learningRate?: LearningRate, options?: AdamOptions,
  ) {
    const h = resolveAdam(displayName, learningRate, options, defaults);
    super(h.learningRate, h.nonFinite, h.fused);
    this.displayName = displayName;
    this.slotNames = h.stateDtype !== 'float32' ? [] : h.amsgrad ? ['m', 'v', 'vmax'] : ['m', 'v'];
    this.int8 = h.stateDtype !== 'float32' ? new LowBitStore(displayName, lowBitFormat(h.stateDtype)) : null;
    const { learningRate: _lr, nonFinite: _nf, fused: _f, ...rest } = h;
    Object.assign(this, rest);
  }

  protected override checkStep(_variable: tf.Variable, _step: number): void {
    this.maxLearningRate(); // a custom schedule set later has no known maximum: refused before any change
  }

  /** Clipping by norm scales the gradient through the rule's sign (src/gradient_clipping.ts): no pass of its own. */
  protected override foldsGradientScale(): boolean {
    return true;
  }

  /** lrMax of corrected weight decay (§10.3): the current learning rate's declared maximum. */
  private maxLearningRate(): number {
    if (!this.correctedWeightDecay) return 1;
    return maxLearningRate(this.displayName, this.schedule ?? this.learningRate);
  }

  protected updateVariable(p: tf.Variable, gradient: tf.Tensor, state: VariableState): void {
    const lr = this.learningRate;
    const t = state.step + 1;
    if (this.int8 !== null) {
      // §11, §12: the low-bit kernel; 8-bit on wasm in place on the heap (src/tfjs/state8.ts)
      this.int8.step('adam8Step', p, gradient, adamKernelArgs(this, lr, t, this.maxLearningRate(), this.gradScale), stepSeed(state.step),
        this.kernels, (next) => this.commit(p, tf.tensor(next, p.shape, 'float32')));
      this.ranOn(this.int8.format.dtype);
      return;
    }
    const args = adamKernelArgs(this, lr, t, this.maxLearningRate(), this.gradScale);
    this.ranOn(runPhase(this.kernels, adamCall(this, args), p, gradient, this.slotNames.map((n) => [n, state.slots.get(n)!] as [string, tf.Variable]),
      () => ({ ...args, epsilon: this.backendSafeEpsilon(this.epsilon) }), (target, value) => this.commit(target, value)));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...this.baseConfig(), ...optionsConfig(`${this.displayName}.getConfig`, ADAM_OPTIONS, this) as tf.serialization.ConfigDict };
  }

  /**
   * Rebuilds the optimizer from getConfig (called by tfjs when a model is loaded).
   * @nocollapse
   */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict,
  ): T {
    // tfjs-layers adds `customObjects` to the config it passes in; it is not an option of ours.
    const { learningRate, customObjects: _, ...options } = config;
    return new (cls as unknown as new (lr: unknown, o: AdamOptions) => T)(NamedStateOptimizer.learningRateFromConfig(learningRate), options as AdamOptions);
  }
}
