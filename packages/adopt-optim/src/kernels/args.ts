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
  /** Factor on p before the update: 1 - lr' * weightDecay when decoupled, else 1 (lr' of §10.3). */
  decay: number;
  /** Update with b1 * m + (1 - b1) * n instead of m (§10.1). */
  nesterov: boolean;
  /** Mask the update where m * g <= 0 and rescale (§10.2): needs a counting pass first. */
  caution: boolean;
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
  caution: boolean;
}

export interface AdoptHyper {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  decoupled: boolean;
  maximize: boolean;
  caution?: boolean;
  correctedWeightDecay?: boolean;
}

/**
 * The learning rate that multiplies decoupled weight decay (docs/ALGORITHM.md §3.2, §10.3):
 * `lr`, or with corrected weight decay `lr² / lrMax` (lrMax > 0, checked when the optimizer is built).
 */
export function decayRate(lr: number, correctedWeightDecay: boolean | undefined, lrMax: number): number {
  return correctedWeightDecay ? (lr * lr) / lrMax : lr;
}

/**
 * Caution's factors (docs/ALGORITHM.md §10.2), in float64: `hi` where m · g > 0, `lo` elsewhere.
 * Without caution both are 1 (the kernels' multiplication is then exact); with it,
 * hi = 1 / max(count / n, 1e-3) and lo = 0.
 */
export function cautionFactors(caution: boolean, count: number, n: number): [number, number] {
  if (!caution || n === 0) return [1, 1];
  return [1 / Math.max(count / n, 1e-3), 0];
}

export function adoptKernelArgs(
  h: AdoptHyper & { nesterov?: boolean }, lr: number, clip: number, lrMax = lr,
): AdoptKernelArgs {
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
    decay: h.decoupled ? 1 - decayRate(lr, h.correctedWeightDecay, lrMax) * h.weightDecay : 1,
    nesterov: h.nesterov === true,
    caution: h.caution === true,
  };
}

export function adamKernelArgs(h: AdoptHyper & { amsgrad: boolean }, lr: number, t: number, lrMax = lr): AdamKernelArgs {
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
    decay: h.decoupled ? 1 - decayRate(lr, h.correctedWeightDecay, lrMax) * h.weightDecay : 1,
    amsgrad: h.amsgrad,
    caution: h.caution === true,
  };
}
