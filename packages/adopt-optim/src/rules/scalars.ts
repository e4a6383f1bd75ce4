/**
 * The per-step scalars of the rules (./adopt.ts, ./adam.ts), computed once per step in float64
 * from the hyperparameters (1 - beta is exact in float64; in float32, 1 - 0.9999 is off by
 * 1.7e-4 relative) and rounded to float32 where a kernel takes them.
 */
import type { AdoptScalars } from './adopt.js';
import type { AdamScalars } from './adam.js';

export interface AdoptKernelArgs extends AdoptScalars {
  /** Update with b1 * m + (1 - b1) * n instead of m (§10.1). */
  nesterov: boolean;
  /** Mask the update where m * g <= 0 and rescale (§10.2): needs a counting pass first. */
  caution: boolean;
  /** max(√v, ε) or √v + ε (§10.4). */
  epsilonMode: 'floor' | 'add';
}

export interface AdamKernelArgs extends AdamScalars {
  /** sqrt(1 - beta2^t). */
  sqrtBiasCorrection2: number;
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
 * `gradScale`: gradient clipping by norm (src/gradient_clipping.ts), folded into `sign` (the rules read the
 * gradient only as sign · g), so that the fused kernels clip without a pass of their own.
 */
export function adoptKernelArgs(
  h: AdoptHyper & { nesterov?: boolean },
  lr: number,
  clip: number,
  lrMax = lr,
  gradScale = 1,
): AdoptKernelArgs {
  return {
    lr,
    beta1: h.beta1,
    oneMinusBeta1: 1 - h.beta1,
    beta2: h.beta2,
    oneMinusBeta2: 1 - h.beta2,
    epsilon: h.epsilon,
    clip,
    sign: (h.maximize ? -1 : 1) * gradScale,
    coupledDecay: h.decoupled ? 0 : h.weightDecay,
    decay: h.decoupled ? 1 - decayRate(lr, h.correctedWeightDecay, lrMax) * h.weightDecay : 1,
    nesterov: h.nesterov === true,
    epsilonMode: (h as { epsilonMode?: 'floor' | 'add' }).epsilonMode ?? 'floor',
    caution: h.caution === true,
  };
}

/** Adam's bias corrections at step t (1, 2, ...): 1 - β1^t and sqrt(1 - β2^t) (§4.1). */
export function biasCorrections(beta1: number, beta2: number, t: number): { bc1: number; sqrtBc2: number } {
  return { bc1: 1 - beta1 ** t, sqrtBc2: Math.sqrt(1 - beta2 ** t) };
}

export function adamKernelArgs(
  h: AdoptHyper & { amsgrad: boolean },
  lr: number,
  t: number,
  lrMax = lr,
  gradScale = 1,
): AdamKernelArgs {
  const { bc1, sqrtBc2 } = biasCorrections(h.beta1, h.beta2, t);
  return {
    stepSize: lr / bc1,
    beta1: h.beta1,
    oneMinusBeta1: 1 - h.beta1,
    beta2: h.beta2,
    oneMinusBeta2: 1 - h.beta2,
    epsilon: h.epsilon,
    sqrtBiasCorrection2: sqrtBc2,
    invSqrtBiasCorrection2: 1 / sqrtBc2,
    sign: (h.maximize ? -1 : 1) * gradScale,
    coupledDecay: h.decoupled ? 0 : h.weightDecay,
    decay: h.decoupled ? 1 - decayRate(lr, h.correctedWeightDecay, lrMax) * h.weightDecay : 1,
    amsgrad: h.amsgrad,
    caution: h.caution === true,
  };
}
