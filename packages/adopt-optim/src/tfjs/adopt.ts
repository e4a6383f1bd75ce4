/**
 * ADOPT for TensorFlow.js, built from tfjs ops only, so it runs on every backend.
 * The update rule is the official one (docs/ALGORITHM.md §2); see `resolveAdopt` for the options.
 */
import * as tf from '@tensorflow/tfjs-core';
import { clipExponent, powerClip, type ClipSchedule } from '../clip.js';
import { resolveAdopt, type AdoptHyperparams, type AdoptOptions, type LearningRate } from '../hyperparams.js';
import { checkClipValue, OptimizerArgumentError } from '../validate.js';
import { adoptKernelArgs, decayRate } from '../rules/scalars.js';
import { adoptCall } from '../codegen/modules.js';
import { maxLearningRate } from '../schedules.js';
import { NamedStateOptimizer, type VariableState } from './named_state_optimizer.js';
import { stepSeed } from '../kernels/state8.js';
import { Int8Store } from './state8.js';

export class AdoptOptimizer extends NamedStateOptimizer {
  /** @nocollapse Namespaced so it never clashes with tfjs's built-in class names. */
  static get className(): string {
    return 'adopt-optim/ADOPT';
  }

  protected readonly slotNames: readonly string[];
  protected readonly displayName = 'ADOPT';
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  readonly clip: ClipSchedule | null;
  readonly maximize: boolean;
  /** optax's Nesterov form (docs/ALGORITHM.md §10.1). */
  readonly nesterov: boolean;
  /** timm's cautious update (§10.2). */
  readonly caution: boolean;
  /** timm's corrected decoupled decay, lr² / lrMax (§10.3). */
  readonly correctedWeightDecay: boolean;
  /** How m and v are stored: float32 slots, or 8-bit codes outside the slots (on wasm, on its heap; docs/ALGORITHM.md §11, ./state8.ts). */
  readonly stateDtype: 'float32' | 'int8';

  constructor(learningRate?: LearningRate, options?: AdoptOptions) {
    const h: AdoptHyperparams = resolveAdopt('ADOPT', learningRate, options);
    super(h.learningRate, h.nonFinite, h.fused);
    this.slotNames = h.stateDtype === 'int8' ? [] : ['m', 'v'];
    this.int8 = h.stateDtype === 'int8' ? new Int8Store('ADOPT') : null;
    this.beta1 = h.beta1;
    this.beta2 = h.beta2;
    this.epsilon = h.epsilon;
    this.weightDecay = h.weightDecay;
    this.decoupled = h.decoupled;
    this.clip = h.clip;
    this.maximize = h.maximize;
    this.nesterov = h.nesterov;
    this.caution = h.caution;
    this.correctedWeightDecay = h.correctedWeightDecay;
    this.stateDtype = h.stateDtype;
  }

  protected override checkStep(variable: tf.Variable, step: number): void {
    if (step > 0 && this.clip !== null) checkClipValue('ADOPT', this.clip(step), step);
    this.maxLearningRate(); // a custom schedule set later has no known maximum: refused before any change
    this.int8?.check(variable, step);
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
      // §11: the 8-bit kernels; on wasm in place on the heap (src/tfjs/state8.ts)
      this.int8.step(state.step === 0 ? 'adopt8Init' : 'adopt8Step', p, gradient, adoptKernelArgs(this, lr, clip, this.maxLearningRate()),
        stepSeed(state.step), this.kernels, (next) => this.commit(p, tf.tensor(next, p.shape, 'float32')));
      return;
    }
    const m = state.slots.get('m')!;
    const v = state.slots.get('v')!;
    const k = this.kernels;
    const call = k !== null ? adoptCall(this, state.step === 0 ? 'init' : 'step', adoptKernelArgs(this, lr, clip, this.maxLearningRate())) : null;
    if (k !== null && call !== null && k.supports(call) && k.accepts([p, gradient, m, v])) {
      k.run(call, p, gradient, [m, v]);
      return;
    }
    let g = this.maximize ? tf.neg(gradient) : gradient;
    if (this.weightDecay !== 0 && !this.decoupled) g = tf.add(g, tf.mul(p, this.weightDecay));
    if (state.step === 0) {
      this.commit(v, tf.square(g)); // first step: initialise v only; p and m stay as they are
      return;
    }
    let base: tf.Tensor = p;
    if (this.weightDecay !== 0 && this.decoupled) {
      base = tf.mul(p, 1 - decayRate(lr, this.correctedWeightDecay, this.maxLearningRate()) * this.weightDecay);
    }
    const eps = this.backendSafeEpsilon(this.epsilon);
    let n = tf.div(g, tf.maximum(tf.sqrt(v), eps)); // the previous v: it does not hold g yet
    if (this.clip !== null) n = tf.clipByValue(n, -clip, clip); // checked in checkStep
    const newM = tf.add(tf.mul(m, this.beta1), tf.mul(n, 1 - this.beta1));
    const newV = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
    let u: tf.Tensor = newM;
    if (this.nesterov) u = tf.add(tf.mul(newM, this.beta1), tf.mul(n, 1 - this.beta1)); // §10.1
    if (this.caution) u = cautious(u, newM, g); // §10.2
    this.commit(p, tf.sub(base, tf.mul(u, lr)));
    this.commit(m, newM);
    this.commit(v, newV);
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
      nesterov: this.nesterov,
      caution: this.caution,
      correctedWeightDecay: this.correctedWeightDecay,
      stateDtype: this.stateDtype,
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
 * Caution (docs/ALGORITHM.md §10.2) in tfjs ops: `u` where m · g > 0, else 0, times
 * 1 / max(mean(mask), 1e-3) over the whole tensor. Stays on the device (no readback).
 */
export function cautious(u: tf.Tensor, m: tf.Tensor, g: tf.Tensor): tf.Tensor {
  if (u.size === 0) return u;
  // m · g > 0 as "both non-zero (and not NaN) with the same sign": the float32 product underflows
  // to 0 for tiny m and g, and tf.sign on wasm returns 0 for -1e-20 (measured, tfjs 4.22)
  const nonZero = tf.logicalAnd(tf.greater(tf.abs(m), 0), tf.greater(tf.abs(g), 0));
  const mask = tf.cast(tf.logicalAnd(nonZero, tf.equal(tf.greater(m, 0), tf.greater(g, 0))), 'float32');
  return tf.mul(u, tf.div(mask, tf.maximum(tf.mean(mask), 1e-3)));
}

/**
 * ADOPT, the drop-in for `tf.train.adam`: `adopt(1e-3)`.
 * Defaults: beta1 0.9, beta2 0.9999, epsilon 1e-6, clip t => t ** 0.25, no weight decay.
 */
export function adopt(learningRate: LearningRate = 1e-3, options?: AdoptOptions): AdoptOptimizer {
  return new AdoptOptimizer(learningRate, options);
}

tf.serialization.registerClass(AdoptOptimizer);
