/** AMSGrad (PyTorch's Adam with amsgrad=True): the Adam-family rule with its running maximum of v. */
import * as tf from '@tensorflow/tfjs-core';
import { AMSGRAD_HYPERPARAMS, type AdamOptions, type LearningRate } from '../hyperparams.js';
import { AdamFamilyOptimizer } from './adam_family.js';

/** AMSGrad (PyTorch's torch.optim.Adam with amsgrad=True): divides by the running maximum of v. */
export class AMSGradOptimizer extends AdamFamilyOptimizer {
  /** @nocollapse */
  static get className(): string {
    return 'adopt-optim/AMSGrad';
  }

  constructor(learningRate?: LearningRate, options?: AdamOptions) {
    super('AMSGrad', AMSGRAD_HYPERPARAMS, learningRate, options);
  }
}

/** AMSGrad with PyTorch's defaults: beta2 0.999, epsilon 1e-8, weightDecay 0 (L2). */
export function amsgrad(learningRate: LearningRate = 1e-3, options?: AdamOptions): AMSGradOptimizer {
  return new AMSGradOptimizer(learningRate, options);
}

tf.serialization.registerClass(AMSGradOptimizer);
