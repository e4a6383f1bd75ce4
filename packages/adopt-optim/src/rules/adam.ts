/**
 * The Adam family's rule (PyTorch's Adam / AdamW / AMSGrad, docs/ALGORITHM.md §4, with §3 and
 * §10.2's caution), written once; every Adam-family kernel is generated from it.
 *
 *   g' = sign · g + wd · p
 *   m  = β1 · m + (1 − β1) · g'
 *   v  = β2 · v + (1 − β2) · g'²
 *   v̂  = amsgrad ? (vmax = max(vmax, v)) : v                        (§4.3)
 *   u  = caution ? m · (m · g' > 0 ? 1 / max(mean(m · g' > 0), 1e-3) : 0) : m
 *   p  = decay · p − (u / (√v̂ / √(1 − β2^t) + ε)) · lr / (1 − β1^t)
 */
import { add, array, div, max, mul, scalar, sqrt, sub, type Value } from './expr.js';
import { cautious, preparedGradient } from './adopt.js';
import type { Flags, Rule } from './rule.js';

export type AdamFlag = 'amsgrad' | 'caution';

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
  /** sqrt(1 - beta2^t). */
  sqrtBiasCorrection2: number;
  sign: number;
  coupledDecay: number;
  decay: number;
}

export const ADAM: Rule<AdamFlag> = {
  name: 'adam',
  flags: ['amsgrad', 'caution'],
  slots: (flags) => (flags.amsgrad ? ['m', 'v', 'vmax'] : ['m', 'v']),
  // the step size stays a scalar: the scaling passes -1 / (1 - beta1^t), so u = (m / (√v̂ / √bc2 + ε)) / bc1
  scaling: { sign: 1, coupledDecay: 0, decay: 1 },
  phases(flags: Flags<AdamFlag>) {
    const gp = preparedGradient;
    const mNew = add(mul(m, s('beta1')), mul(gp, s('oneMinusBeta1')));
    const vNew = add(mul(v, s('beta2')), mul(mul(gp, gp), s('oneMinusBeta2')));
    const second = flags.amsgrad ? max(vmax, vNew) : vNew;
    const u = flags.caution ? cautious(mNew, mNew, gp) : mNew;
    const denom = add(div(sqrt(second), s('sqrtBiasCorrection2')), s('epsilon'));
    return {
      step: {
        writes: [
          ['m', mNew],
          ['v', vNew],
          ...(flags.amsgrad ? [['vmax', second] as const] : []),
          ['p', sub(mul(p, s('decay')), mul(div(u, denom), s('stepSize')))],
        ],
      },
    };
  },
};
