/**
 * ADOPT for TensorFlow.js, built from tfjs ops only, so it runs on every backend.
 * The update rule is the official one (docs/ALGORITHM.md §2); see `resolveAdopt` for the options.
 */
import * as tf from '@tensorflow/tfjs-core';
import { clipExponent, powerClip, type ClipSchedule } from '../clip.js';
import { resolveAdopt, type AdoptHyperparams, type AdoptOptions, type LearningRate } from '../hyperparams.js';
import { checkClipValue, OptimizerArgumentError } from '../validate.js';
import { adoptKernelArgs } from '../kernels/args.js';
import { NamedStateOptimizer, type VariableState } from './named_state_optimizer.js';

export class AdoptOptimizer extends NamedStateOptimizer {
  /** @nocollapse Namespaced so it never clashes with tfjs's built-in class names. */
  static get className(): string {
    return 'adopt-optim/ADOPT';
  }

  protected readonly slotNames = ['m', 'v'] as const;
  protected readonly displayName = 'ADOPT';
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  readonly clip: ClipSchedule | null;
  readonly maximize: boolean;

  constructor(learningRate?: LearningRate, options?: AdoptOptions) {
    const h: AdoptHyperparams = resolveAdopt('ADOPT', learningRate, options);
    super(h.learningRate, h.nonFinite, h.fused);
    this.beta1 = h.beta1;
    this.beta2 = h.beta2;
    this.epsilon = h.epsilon;
    this.weightDecay = h.weightDecay;
    this.decoupled = h.decoupled;
    this.clip = h.clip;
    this.maximize = h.maximize;
  }

  protected override checkStep(_variable: tf.Variable, step: number): void {
    if (step > 0 && this.clip !== null) checkClipValue('ADOPT', this.clip(step), step);
  }

  /** One ADOPT step: docs/ALGORITHM.md §2.2–§2.4 (first step §2.3; ε floor §7.1). */
  protected updateVariable(p: tf.Variable, gradient: tf.Tensor, state: VariableState): void {
    const m = state.slots.get('m')!;
    const v = state.slots.get('v')!;
    const lr = this.learningRate;
    const clip = this.clip !== null && state.step > 0 ? this.clip(state.step) : Infinity;
    const k = this.kernels;
    if (k !== null && k.accepts([p, gradient, m, v])) {
      const args = adoptKernelArgs(this, lr, clip);
      if (state.step === 0) k.adoptInit(p, gradient, v, args);
      else k.adoptStep(p, gradient, m, v, args);
      return;
    }
    let g = this.maximize ? tf.neg(gradient) : gradient;
    if (this.weightDecay !== 0 && !this.decoupled) g = tf.add(g, tf.mul(p, this.weightDecay));
    if (state.step === 0) {
      v.assign(tf.square(g)); // first step: initialise v only; p and m stay as they are
      return;
    }
    let base: tf.Tensor = p;
    if (this.weightDecay !== 0 && this.decoupled) base = tf.mul(p, 1 - lr * this.weightDecay);
    const eps = this.backendSafeEpsilon(this.epsilon);
    let n = tf.div(g, tf.maximum(tf.sqrt(v), eps)); // the previous v: it does not hold g yet
    if (this.clip !== null) n = tf.clipByValue(n, -clip, clip); // checked in checkStep
    const newM = tf.add(tf.mul(m, this.beta1), tf.mul(n, 1 - this.beta1));
    const newV = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
    p.assign(tf.sub(base, tf.mul(newM, lr)));
    m.assign(newM);
    v.assign(newV);
  }

  override getConfig(): tf.serialization.ConfigDict {
    let exponent: number | null = null;
    if (this.clip !== null) {
      const e = clipExponent(this.clip);
      if (e === undefined) {
        throw new OptimizerArgumentError(
          'ADOPT.getConfig: a custom clip function cannot be saved. Use powerClip(exponent) ' +
            '(the default is powerClip(0.25)) or clip: null to make the optimizer serializable.',
        );
      }
      exponent = e;
    }
    return {
      ...this.baseConfig(),
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      weightDecay: this.weightDecay,
      decoupled: this.decoupled,
      clipExponent: exponent,
      maximize: this.maximize,
    };
  }

  /** @nocollapse */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict,
  ): T {
    // tfjs-layers adds `customObjects` to the config it passes in; it is not an option of ours.
    const { learningRate, clipExponent: exponent, customObjects: _, ...rest } = config;
    if (exponent !== null && typeof exponent !== 'number') {
      throw new OptimizerArgumentError(`ADOPT.fromConfig: invalid clipExponent ${String(exponent)}; expected a number or null.`);
    }
    const options = { ...rest, clip: exponent === null ? null : powerClip(exponent) } as AdoptOptions;
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
