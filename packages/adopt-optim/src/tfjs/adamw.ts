/** AdamW (PyTorch's torch.optim.AdamW): the Adam-family rule with decoupled weight decay 1e-2. */
import * as tf from '@tensorflow/tfjs-core';
import { ADAMW_HYPERPARAMS, type AdamOptions, type LearningRate } from '../hyperparams.js';
import { AdamFamilyOptimizer } from './adam_family.js';

/** AdamW (PyTorch's torch.optim.AdamW): Adam with decoupled weight decay. */
export class AdamWOptimizer extends AdamFamilyOptimizer {
  /** @nocollapse */
  static get className(): string {
    return 'adopt-optim/AdamW';
  }

  constructor(learningRate?: LearningRate, options?: AdamOptions) {
    super('AdamW', ADAMW_HYPERPARAMS, learningRate, options);
  }
}

/** AdamW with PyTorch's defaults: beta2 0.999, epsilon 1e-8, weightDecay 1e-2, decoupled. */
export function adamw(learningRate: LearningRate = 1e-3, options?: AdamOptions): AdamWOptimizer {
  return new AdamWOptimizer(learningRate, options);
}

tf.serialization.registerClass(AdamWOptimizer);
