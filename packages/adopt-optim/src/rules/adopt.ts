/**
 * The ADOPT rule (docs/ALGORITHM.md §2, with §3's weight decay and maximize and §10's nesterov
 * and caution), written once; every ADOPT kernel is generated from it.
 *
 *   g' = sign · g + wd · p                         (§2.2, §3.1, §3.3; wd is coupled decay or 0)
 *   n  = clamp(g' / max(√v, ε), −c, c)              (the previous v; c = +∞ unclipped)
 *   m  = β1 · m + (1 − β1) · n
 *   u  = nesterov ? β1 · m + (1 − β1) · n : m       (§10.1)
 *   u  = caution ? u · (m · g' > 0 ? 1 / max(mean(m · g' > 0), 1e-3) : 0) : u    (§10.2)
 *   p  = decay · p − lr · u                          (decay = 1 − lr' · wd when decoupled, else 1)
 *   v  = β2 · v + (1 − β2) · g'²
 *
 * The first step (§2.3) only sets v = g'².
 */
import {
  add, array, clamp, constant, div, max, mean, mul, neg, sameSign, scalar, select, sqrt, sub, type Value,
} from './expr.js';
import type { Flags, Rule } from './rule.js';

export type AdoptFlag = 'nesterov' | 'caution';

const p = array('p');
const g = array('g');
const m = array('m');
const v = array('v');
const s = (name: keyof AdoptScalars): Value => scalar(name);

/** The per-step scalars the ADOPT kernels read, computed in float64 (./scalars.ts). */
export interface AdoptScalars {
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
}

/** g' (§2.2): the gradient with maximize's sign and coupled weight decay. */
export const preparedGradient = add(mul(g, s('sign')), mul(p, s('coupledDecay')));

/** timm's caution (§10.2): u where m · g' > 0, else 0, rescaled by 1 / max(mean of that mask, 1e-3). */
export function cautious(u: Value, mNew: Value, gp: Value): Value {
  const agree = sameSign(mNew, gp);
  return mul(u, select(agree, div(constant(1), max(mean(agree), constant(1e-3))), constant(0)));
}

export const ADOPT: Rule<AdoptFlag> = {
  name: 'adopt',
  flags: ['nesterov', 'caution'],
  slots: () => ['m', 'v'],
  scaling: { sign: 1, coupledDecay: 0, decay: 1, lr: -1 },
  phases(flags: Flags<AdoptFlag>) {
    const gp = preparedGradient;
    const n = clamp(div(gp, max(sqrt(v), s('epsilon'))), neg(s('clip')), s('clip'));
    const mNew = add(mul(m, s('beta1')), mul(n, s('oneMinusBeta1')));
    let u = flags.nesterov ? add(mul(mNew, s('beta1')), mul(n, s('oneMinusBeta1'))) : mNew;
    if (flags.caution) u = cautious(u, mNew, gp);
    return {
      init: { writes: [['v', mul(gp, gp)]] },
      step: {
        writes: [
          ['m', mNew],
          ['v', add(mul(v, s('beta2')), mul(mul(gp, gp), s('oneMinusBeta2')))],
          ['p', sub(mul(p, s('decay')), mul(u, s('lr')))],
        ],
      },
    };
  },
};
