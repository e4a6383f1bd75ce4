/**
 * The ADOPT rule (docs/ALGORITHM.md §2, with §3's weight decay and maximize and §10's nesterov
 * and caution), written once; every ADOPT kernel is generated from it.
 *
 *   g' = sign · g + wd · p                         (§2.2, §3.1, §3.3; wd is coupled decay or 0)
 *   n  = clamp(g' / max(√v, ε), −c, c)              (the previous v; c = +∞ unclipped; √v + ε with epsilonMode 'add', §10.4)
 *   m  = β1 · m + (1 − β1) · n
 *   u  = nesterov ? β1 · m + (1 − β1) · n : m       (§10.1)
 *   u  = caution ? u · (m · g' > 0 ? 1 / max(mean(m · g' > 0), 1e-3) : 0) : u    (§10.2)
 *   p  = decay · p − lr · u                          (decay = 1 − lr' · wd when decoupled, else 1)
 *   v  = β2 · v + (1 − β2) · g'²
 *
 * The first step (§2.3) only sets v = g'².
 */
import {
  add,
  array,
  clamp,
  constant,
  div,
  max,
  mean,
  mul,
  neg,
  sameSign,
  scalar,
  select,
  sqrt,
  sub,
  type Value,
} from './expr.js';
import type { Flags, Rule } from './rule.js';
import { clipExponent, defaultClip, powerClip, type ClipSchedule } from '../clip_schedule.js';
import { checkBeta, checkClipSchedule, checkEpsilon, OptimizerArgumentError } from '../validate.js';
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

/** ADOPT's options; every one is optional (ADOPT_DEFAULTS lists the defaults). */
export interface AdoptOptions extends GradientClipping {
  /** Momentum coefficient. Default 0.9. */
  beta1?: number;
  /** Second-moment coefficient. Default 0.9999 (not Adam's 0.999). */
  beta2?: number;
  /** Floor on sqrt(v), not an addend (see epsilonMode). Default 1e-6. */
  epsilon?: number;
  /** Weight decay. Default 0. */
  weightDecay?: number;
  /** true: AdamW-style decoupled decay; false: L2 added to the gradient. Default false. */
  decoupled?: boolean;
  /** Clip schedule c(t); null gives the unclipped ADOPT. Default t => t ** 0.25. */
  clip?: ClipSchedule | null;
  /** Maximize the objective instead of minimizing it. Default false. */
  maximize?: boolean;
  /** NaN or Infinity in a gradient: throw (default), skip the whole step, or do not check. */
  nonFinite?: NonFinitePolicy;
  /** Use the single-pass kernels where available (wasm and cpu backends, the core). Default true. */
  fused?: boolean;
  /** optax's Nesterov form: update with b1 * m + (1 - b1) * n instead of m (docs/ALGORITHM.md §10.1). Default false. */
  nesterov?: boolean;
  /** timm's cautious update: zero it where m * g <= 0, rescale by 1 / max(mean(mask), 1e-3) per tensor (§10.2). Default false. */
  caution?: boolean;
  /** timm's corrected decoupled decay: lr² / lrMax in place of lr (§10.3); needs `decoupled: true`. Default false. */
  correctedWeightDecay?: boolean;
  /**
   * 'int8': m and sqrt(v) in block-wise 8-bit codes, ~2 bytes per parameter instead of 8 (§11);
   * 'int4': 4-bit codes, ~1.06 bytes per parameter (§12); 'bfloat16': m and v as bfloat16 with
   * stochastic rounding, 4 bytes per parameter (§13). Default 'float32'.
   */
  stateDtype?: StateDtype;
  /** How epsilon enters the normalisation: 'floor', max(sqrt(v), eps) as the official code; 'add', sqrt(v) + eps as Adam (§10.4). Default 'floor'. */
  epsilonMode?: 'floor' | 'add';
}

/** ADOPT's options in their documented order: defaults, checks, and which select a kernel. */
export const ADOPT_OPTIONS = {
  beta1: { default: 0.9, check: checkBeta, role: 'scaling' },
  beta2: { default: 0.9999, check: checkBeta, role: 'scaling' },
  epsilon: { default: 1e-6, check: checkEpsilon, role: 'scaling' },
  ...WEIGHT_DECAY_OPTIONS,
  clip: {
    default: defaultClip,
    check: (owner: string, _n: string, v: unknown) => checkClipSchedule(owner, v),
    role: 'scaling',
    // saved as its exponent: powerClip(e) (the default is powerClip(0.25)), or null unclipped
    config: {
      key: 'clipExponent',
      save(owner: string, clip: unknown): number | null {
        if (clip === null) return null;
        const e = clipExponent(clip as ClipSchedule);
        if (e === undefined) {
          throw new OptimizerArgumentError(
            `${owner}: a custom clip function cannot be saved. Use powerClip(exponent) ` +
              '(the default is powerClip(0.25)) or clip: null to make the optimizer serializable.',
          );
        }
        return e;
      },
      load(owner: string, exponent: unknown): ClipSchedule | null {
        if (exponent !== null && typeof exponent !== 'number') {
          throw new OptimizerArgumentError(
            `${owner}: invalid clipExponent ${String(exponent)}; expected a number or null.`,
          );
        }
        return exponent === null ? null : powerClip(exponent);
      },
    },
  },
  ...PATH_OPTIONS,
  nesterov: kernelOption([false, true]),
  caution: kernelOption([false, true]),
  ...STATE_OPTIONS,
  epsilonMode: kernelOption(['floor', 'add']),
  ...GRADIENT_CLIP_OPTIONS,
} as const satisfies OptionSpecs;

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

export const ADOPT: Rule = {
  name: 'adopt',
  options: ADOPT_OPTIONS,
  capabilities: [
    // 8-bit state (src/codegen/wat8.ts) has fused kernels only, and no counting pass for caution's mean yet
    {
      option: 'fused',
      value: false,
      path: 'lowbit',
      what: 'fused: false (low-bit state is implemented in the fused WebAssembly kernels only)',
      instead: "use stateDtype 'float32' for it",
    },
    { option: 'caution', value: true, path: 'lowbit', instead: "use stateDtype 'float32' for it" },
  ],
  slots: () => ['m', 'v'],
  scaling: { sign: 1, coupledDecay: 0, decay: 1, lr: -1 },
  phases(flags: Flags) {
    const gp = preparedGradient;
    const scale = flags.epsilonMode === 'add' ? add(sqrt(v), s('epsilon')) : max(sqrt(v), s('epsilon')); // §10.4
    const n = clamp(div(gp, scale), neg(s('clip')), s('clip'));
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
