/**
 * Adam, AdamW and AMSGrad for TensorFlow.js, in PyTorch's form (torch.optim.Adam / AdamW),
 * with state kept per variable by name. The three classes differ only in their defaults.
 */
import * as tf from '@tensorflow/tfjs-core';
import { resolveAdam, type AdamHyperparams, type AdamOptions, type LearningRate } from '../hyperparams.js';
import { adamKernelArgs } from '../kernels/args.js';
import { NamedStateOptimizer, type VariableState } from './named_state_optimizer.js';

export abstract class AdamFamilyOptimizer extends NamedStateOptimizer {
  protected readonly slotNames: readonly string[];
  protected readonly displayName: string;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  readonly amsgrad: boolean;
  readonly maximize: boolean;

  protected constructor(
    displayName: string, defaults: AdamHyperparams, learningRate?: LearningRate, options?: AdamOptions,
  ) {
    const h = resolveAdam(displayName, learningRate, options, defaults);
    super(h.learningRate, h.nonFinite, h.fused);
    this.displayName = displayName;
    this.slotNames = h.amsgrad ? ['m', 'v', 'vmax'] : ['m', 'v'];
    this.beta1 = h.beta1;
    this.beta2 = h.beta2;
    this.epsilon = h.epsilon;
    this.weightDecay = h.weightDecay;
    this.decoupled = h.decoupled;
    this.amsgrad = h.amsgrad;
    this.maximize = h.maximize;
  }

  protected updateVariable(p: tf.Variable, gradient: tf.Tensor, state: VariableState): void {
    const m = state.slots.get('m')!;
    const v = state.slots.get('v')!;
    const lr = this.learningRate;
    const t = state.step + 1;
    const vmaxSlot = this.amsgrad ? state.slots.get('vmax')! : null;
    const k = this.kernels;
    if (k !== null && k.accepts([p, gradient, m, v, ...(vmaxSlot ? [vmaxSlot] : [])])) {
      k.adamStep(p, gradient, m, v, vmaxSlot, adamKernelArgs(this, lr, t));
      return;
    }
    let g = this.maximize ? tf.neg(gradient) : gradient;
    if (this.weightDecay !== 0 && !this.decoupled) g = tf.add(g, tf.mul(p, this.weightDecay));
    let base: tf.Tensor = p;
    if (this.weightDecay !== 0 && this.decoupled) base = tf.mul(p, 1 - lr * this.weightDecay);
    const newM = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
    const newV = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
    let second: tf.Tensor = newV;
    if (vmaxSlot !== null) {
      second = tf.maximum(vmaxSlot, newV);
      vmaxSlot.assign(second);
    }
    const bc1 = 1 - this.beta1 ** t;
    const sqrtBc2 = Math.sqrt(1 - this.beta2 ** t);
    const denom = tf.add(tf.div(tf.sqrt(second), sqrtBc2), this.backendSafeEpsilon(this.epsilon));
    p.assign(tf.sub(base, tf.mul(tf.div(newM, denom), lr / bc1)));
    m.assign(newM);
    v.assign(newV);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...this.baseConfig(),
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      weightDecay: this.weightDecay,
      decoupled: this.decoupled,
      maximize: this.maximize,
    };
  }

  /** @nocollapse */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict,
  ): T {
    // tfjs-layers adds `customObjects` to the config it passes in; it is not an option of ours.
    const { learningRate, customObjects: _, ...options } = config;
    return new (cls as unknown as new (lr: unknown, o: AdamOptions) => T)(NamedStateOptimizer.learningRateFromConfig(learningRate), options as AdamOptions);
  }
}
