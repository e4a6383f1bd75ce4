/** Adam (PyTorch's torch.optim.Adam): the Adam-family rule with Adam's defaults. */
import * as tf from '@tensorflow/tfjs-core';
import { ADAM_HYPERPARAMS, type AdamOptions, type LearningRate } from '../hyperparams.js';
import { AdamFamilyOptimizer } from './adam_family.js';

/** Adam (PyTorch's torch.optim.Adam), with state kept by variable name unlike tf.train.adam. */
export class AdamOptimizer extends AdamFamilyOptimizer {
  /** @nocollapse */
  static get className(): string {
    return 'adopt-optim/Adam';
  }

  constructor(learningRate?: LearningRate, options?: AdamOptions) {
    super('Adam', ADAM_HYPERPARAMS, learningRate, options);
  }
}

/** Adam with PyTorch's defaults: beta1 0.9, beta2 0.999, epsilon 1e-8, weightDecay 0 (L2). */
export function adam(learningRate: LearningRate = 1e-3, options?: AdamOptions): AdamOptimizer {
  return new AdamOptimizer(learningRate, options);
}

tf.serialization.registerClass(AdamOptimizer);
