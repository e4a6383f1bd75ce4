/**
 * Scalar arguments of the fused kernels, computed in float64 from the hyperparameters
 * (1 - beta is exact in float64; in float32, 1 - 0.9999 is off by 1.7e-4 relative).
 */

export interface AdoptKernelArgs {
  lr: number;
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  epsilon: number;
  /** Clip bound c(t); Infinity when unclipped. */
  clip: number;
  /** -1 to maximize. */
  sign: number;
  /** Coupled (L2) weight decay added to the gradient, or 0. */
  coupledDecay: number;
  /** Factor on p before the update: 1 - lr * weightDecay when decoupled, else 1. */
  decay: number;
}

export interface AdamKernelArgs {
  /** lr / (1 - beta1^t). */
  stepSize: number;
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  epsilon: number;
  /** 1 / sqrt(1 - beta2^t). */
  invSqrtBiasCorrection2: number;
  sign: number;
  coupledDecay: number;
  decay: number;
  amsgrad: boolean;
}

export interface AdoptHyper {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  decoupled: boolean;
  maximize: boolean;
}

export function adoptKernelArgs(h: AdoptHyper, lr: number, clip: number): AdoptKernelArgs {
  return {
    lr,
    beta1: h.beta1,
    oneMinusBeta1: 1 - h.beta1,
    beta2: h.beta2,
    oneMinusBeta2: 1 - h.beta2,
    epsilon: h.epsilon,
    clip,
    sign: h.maximize ? -1 : 1,
    coupledDecay: h.decoupled ? 0 : h.weightDecay,
    decay: h.decoupled ? 1 - lr * h.weightDecay : 1,
  };
}

export function adamKernelArgs(h: AdoptHyper & { amsgrad: boolean }, lr: number, t: number): AdamKernelArgs {
  return {
    stepSize: lr / (1 - h.beta1 ** t),
    beta1: h.beta1,
    oneMinusBeta1: 1 - h.beta1,
    beta2: h.beta2,
    oneMinusBeta2: 1 - h.beta2,
    epsilon: h.epsilon,
    invSqrtBiasCorrection2: 1 / Math.sqrt(1 - h.beta2 ** t),
    sign: h.maximize ? -1 : 1,
    coupledDecay: h.decoupled ? 0 : h.weightDecay,
    decay: h.decoupled ? 1 - lr * h.weightDecay : 1,
    amsgrad: h.amsgrad,
  };
}
