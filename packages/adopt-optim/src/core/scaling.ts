/**
 * The rules' scalings as pieces of a chain (./transform.ts): scaleByAdopt and scaleByAdam, each running its
 * rule's generated JavaScript (src/kernels/generated/js_kernels.ts), with its state made from the rule's slots.
 */
import { checkClipValue } from '../validate.js';
import { resolveOptions } from '../hyperparams.js';
import { ADOPT, ADOPT_OPTIONS, type AdoptOptions } from '../rules/adopt.js';
import { ADAM, ADAM_OPTIONS, type AdamOptions } from '../rules/adam.js';
import { scalingOptions, type CommonOptionKey } from '../rules/options.js';
import { meansFromCount, scalingPlan, type KernelPlan } from '../codegen/modules.js';
import { flagsOf } from '../rules/rule.js';
import { uniformArgs } from '../codegen/signature.js';
import { adamKernelArgs, adoptKernelArgs } from '../rules/scalars.js';
import * as JS_KERNELS from '../kernels/generated/js_kernels.js';
import { checkArrayState, checkFloat32Array, type GradientTransformation } from './transform.js';

/** Zeroed state of a rule's scaling: one Float32Array per slot of the rule (its options' slots), and t = 0. */
function slotState<S>(slots: readonly string[], length: number): S {
  return { ...Object.fromEntries(slots.map((slot) => [slot, new Float32Array(length)])), t: 0 } as S;
}

/** The state of scaleByAdopt: the moments m and v and the step count t. */
export interface AdoptState {
  /** First moment of the normalised gradient. */
  m: Float32Array;
  /** Second moment of the gradient. */
  v: Float32Array;
  /** Steps taken; 0 means v is not yet initialised. */
  t: number;
}

/** Any subset; the rest take ADOPT's defaults (beta1 0.9, beta2 0.9999, epsilon 1e-6, clip t ** 0.25). */
export type ScaleByAdoptOptions = Omit<AdoptOptions, CommonOptionKey>;

/** The options of ADOPT's rule that its scaling takes (role 'scaling' or 'kernel'), with their defaults and checks. */
const SCALE_BY_ADOPT = scalingOptions(ADOPT_OPTIONS);

/**
 * Runs a phase of a rule's scaling (src/codegen/modules.ts scalingPlan, generated as JavaScript
 * into src/kernels/generated/js_kernels.ts): u is read as the gradient and written as the update;
 * a per-tensor mean (caution) is counted first.
 */
function runScaling(
  plan: KernelPlan,
  phase: 'init' | 'step',
  u: Float32Array,
  slots: Float32Array[],
  scalars: Record<string, number>,
): void {
  const part = phase === 'init' ? plan.init! : plan.step;
  const kernel = (JS_KERNELS as unknown as Record<string, (...a: unknown[]) => number>)[`${plan.key}_${phase}`]!;
  let means: Map<object, number> | undefined;
  if (phase === 'step' && plan.count !== undefined) {
    const count = (JS_KERNELS as unknown as Record<string, (...a: unknown[]) => number>)[`${plan.key}_count`]!(
      u,
      u,
      ...slots,
      u.length,
      ...uniformArgs(plan.count.sig, scalars),
    );
    means = meansFromCount(plan, count, u.length);
  }
  kernel(u, u, ...slots, u.length, ...uniformArgs(part.sig, scalars, means as Map<never, number> | undefined));
}

/**
 * The ADOPT scaling (docs/ALGORITHM.md §2.3–§2.5): normalise g by the previous second moment, clip, then
 * average. The first step only sets v = g^2 and outputs a zero update.
 */
export function scaleByAdopt(options: ScaleByAdoptOptions = {}): GradientTransformation<AdoptState> {
  const resolved = resolveOptions(
    'scaleByAdopt',
    options,
    SCALE_BY_ADOPT.defaults,
    SCALE_BY_ADOPT.specs,
  ) as Required<ScaleByAdoptOptions>;
  const { beta1, beta2, epsilon, clip } = resolved;
  const fields = ADOPT.slots(flagsOf(ADOPT, resolved)); // m, v: the rule's slots
  const plan = scalingPlan(ADOPT, flagsOf(ADOPT, resolved));
  const hyper = { beta1, beta2, epsilon, weightDecay: 0, decoupled: false, maximize: false };
  // the rule's own scalars (rules/scalars.ts); lr, sign and decay are the scaling's (rule.scaling)
  const scalars = (c: number): Record<string, number> =>
    adoptKernelArgs(hyper, 0, c) as unknown as Record<string, number>;
  return {
    init(p) {
      checkFloat32Array('scaleByAdopt.init', 'params', p);
      return slotState<AdoptState>(fields, p.length);
    },
    check(state, _p, updates) {
      checkArrayState('scaleByAdopt', state, fields, updates);
      if (state.t > 0 && clip !== null) checkClipValue('scaleByAdopt', clip(state.t), state.t);
    },
    update(u, state, _p, ctx) {
      checkArrayState('scaleByAdopt', state, fields, checkFloat32Array('scaleByAdopt', 'updates', u));
      if (state.t === 0) {
        runScaling(plan, 'init', u, [state.m, state.v], scalars(Infinity)); // §2.3: v = g², no update
        u.fill(0);
        state.t = 1;
        ctx.noUpdate = true;
        return;
      }
      const c = clip === null ? Infinity : checkClipValue('scaleByAdopt', clip(state.t), state.t);
      runScaling(plan, 'step', u, [state.m, state.v], scalars(c));
      state.t++;
    },
  };
}

/** The state of scaleByAdam: the moments m, v (and vmax for AMSGrad) and the step count t. */
export interface AdamState {
  m: Float32Array;
  v: Float32Array;
  /** Running maximum of v; present for AMSGrad only. */
  vmax?: Float32Array;
  t: number;
}

/** Any subset; the rest take PyTorch's Adam defaults (beta1 0.9, beta2 0.999, epsilon 1e-8, amsgrad false). */
export type ScaleByAdamOptions = Omit<AdamOptions, CommonOptionKey> & {
  /** Divide by the running maximum of v (PyTorch's `amsgrad=True`). */
  amsgrad?: boolean;
};

const SCALE_BY_ADAM = scalingOptions(ADAM_OPTIONS);

/** Adam's scaling with bias correction (Kingma & Ba), optionally AMSGrad's running maximum (docs/ALGORITHM.md §4). */
export function scaleByAdam(options: ScaleByAdamOptions = {}): GradientTransformation<AdamState> {
  const resolved = resolveOptions(
    'scaleByAdam',
    options,
    SCALE_BY_ADAM.defaults,
    SCALE_BY_ADAM.specs,
  ) as Required<ScaleByAdamOptions>;
  const { beta1, beta2, epsilon, amsgrad } = resolved;
  const fields = ADAM.slots(flagsOf(ADAM, resolved)); // m, v (and vmax for AMSGrad): the rule's slots
  const plan = scalingPlan(ADAM, flagsOf(ADAM, resolved));
  return {
    init(p) {
      checkFloat32Array('scaleByAdam.init', 'params', p);
      return slotState<AdamState>(fields, p.length);
    },
    check: (state, _p, updates) => checkArrayState('scaleByAdam', state, fields, updates),
    update(u, state) {
      checkArrayState('scaleByAdam', state, fields, checkFloat32Array('scaleByAdam', 'updates', u));
      const t = ++state.t;
      // the rule's step size is lr / (1 - beta1^t); the scaling leaves lr to scaleByLearningRate (rule.scaling)
      // the rule's scalars at lr = -1: stepSize = -1 / (1 - beta1^t), so u = (m / bc1) / (√v̂ / √bc2 + ε)
      const scalars = adamKernelArgs(
        { beta1, beta2, epsilon, weightDecay: 0, decoupled: false, maximize: false, amsgrad },
        -1,
        t,
      );
      runScaling(
        plan,
        'step',
        u,
        amsgrad ? [state.m, state.v, state.vmax!] : [state.m, state.v],
        scalars as unknown as Record<string, number>,
      );
    },
  };
}
