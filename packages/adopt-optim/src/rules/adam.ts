/**
 * The Adam family's rule (PyTorch's Adam / AdamW / AMSGrad, docs/ALGORITHM.md §4, with §3 and
 * §10.2's caution), written once; every Adam-family kernel is generated from it.
 *
 *   g' = sign · g + wd · p
 *   m  = β1 · m + (1 − β1) · g'
 *   v  = β2 · v + (1 − β2) · g'²
 *   v̂  = amsgrad ? (vmax = max(vmax, v)) : v                        (§4.3)
 *   u  = caution ? m · (m · g' > 0 ? 1 / max(mean(m · g' > 0), 1e-3) : 0) : m
 *   p  = decay · p − u · (lr / (1 − β1^t)) / (√v̂ · (1 / √(1 − β2^t)) + ε)
 *
 * (One division per element: the reciprocal of √(1 − β2^t) is a per-step scalar. 0.2's WebAssembly
 * kernels computed in this order; its ops and GPU paths divided by √(1 − β2^t) and multiplied by the
 * step size last, within a few ulp of this.)
 */
import { add, array, div, max, mul, scalar, sqrt, sub, type Value } from './expr.js';
import { cautious, preparedGradient } from './adopt.js';
import type { Flags, Rule } from './rule.js';
import { checkBeta, checkEpsilon } from '../validate.js';
import {
  GRADIENT_CLIP_OPTIONS,
  kernelOption,
  PATH_OPTIONS,
  STATE_OPTIONS,
  WEIGHT_DECAY_OPTIONS,
  type NonFinitePolicy,
  type OptionSpecs,
  type StateDtype,
} from './options.js';
import type { GradientClipping } from '../gradient_clipping.js';

/** The Adam family's options (PyTorch's defaults; ADAM_DEFAULTS, ADAMW_DEFAULTS, AMSGRAD_DEFAULTS). */
export interface AdamOptions extends GradientClipping {
  beta1?: number;
  beta2?: number;
  /** Added to sqrt(v̂). */
  epsilon?: number;
  weightDecay?: number;
  decoupled?: boolean;
  maximize?: boolean;
  nonFinite?: NonFinitePolicy;
  fused?: boolean;
  /** timm's cautious update (docs/ALGORITHM.md §10.2). Default false. */
  caution?: boolean;
  /** timm's corrected decoupled decay, lr² / lrMax (§10.3); needs `decoupled: true`. Default false. */
  correctedWeightDecay?: boolean;
  /**
   * 'int8' / 'int4': block-wise 8-bit (§11) or 4-bit (§12) m and sqrt(v); 'bfloat16': m and v as bfloat16 (§13).
   * Adam and AdamW, not AMSGrad. Default 'float32'.
   */
  stateDtype?: StateDtype;
}

/**
 * The Adam family's options (PyTorch's defaults) in their documented order. `amsgrad` selects a
 * kernel but is not an option: AMSGrad is its own optimizer (internal).
 */
export const ADAM_OPTIONS = {
  beta1: { default: 0.9, check: checkBeta, role: 'scaling' },
  beta2: { default: 0.999, check: checkBeta, role: 'scaling' },
  epsilon: { default: 1e-8, check: checkEpsilon, role: 'scaling' },
  ...WEIGHT_DECAY_OPTIONS,
  ...PATH_OPTIONS,
  amsgrad: { ...kernelOption([false, true]), internal: true },
  caution: kernelOption([false, true]),
  ...STATE_OPTIONS,
  ...GRADIENT_CLIP_OPTIONS,
} as const satisfies OptionSpecs;

const p = array('p');
const m = array('m');
const v = array('v');
const vmax = array('vmax');
const s = (name: keyof AdamScalars): Value => scalar(name);

/** The per-step scalars the Adam-family kernels read, computed in float64 (./scalars.ts). */
export interface AdamScalars {
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
}

export const ADAM: Rule = {
  name: 'adam',
  options: ADAM_OPTIONS,
  capabilities: [
    // 8-bit state (src/codegen/wat8.ts) has fused kernels only, stores m and v only, and has no counting pass yet
    {
      option: 'fused',
      value: false,
      path: 'lowbit',
      what: 'fused: false (low-bit state is implemented in the fused WebAssembly kernels only)',
      instead: "use stateDtype 'float32' for it",
    },
    { option: 'caution', value: true, path: 'lowbit', instead: "use stateDtype 'float32' for it" },
    {
      option: 'amsgrad',
      value: true,
      path: 'lowbit',
      what: 'AMSGrad (its running maximum vmax)',
      instead: "use stateDtype 'float32' for it",
    },
  ],
  slots: (flags) => (flags.amsgrad ? ['m', 'v', 'vmax'] : ['m', 'v']),
  // the step size stays a scalar: the scaling passes -1 / (1 - beta1^t), so u = (m / bc1) / (√v̂ / √bc2 + ε)
  scaling: { sign: 1, coupledDecay: 0, decay: 1 },
  phases(flags: Flags) {
    const gp = preparedGradient;
    const mNew = add(mul(m, s('beta1')), mul(gp, s('oneMinusBeta1')));
    const vNew = add(mul(v, s('beta2')), mul(mul(gp, gp), s('oneMinusBeta2')));
    const second = flags.amsgrad ? max(vmax, vNew) : vNew;
    const u = flags.caution ? cautious(mNew, mNew, gp) : mNew;
    const denom = add(mul(sqrt(second), s('invSqrtBiasCorrection2')), s('epsilon'));
    return {
      step: {
        writes: [
          ['m', mNew],
          ['v', vNew],
          ...(flags.amsgrad ? [['vmax', second] as const] : []),
          ['p', sub(mul(p, s('decay')), div(mul(u, s('stepSize')), denom))],
        ],
      },
    };
  },
};
