/**
 * The framework-free core: gradient transformations on Float32Arrays, composed like optax.
 *
 * A transformation turns the gradient into an update, in place, keeping its own state as plain
 * data (typed arrays and numbers). `chain` composes them; `applyUpdates` adds the result to the
 * parameters. ADOPT, Adam, AdamW and AMSGrad (./optimizers.ts) are short chains of these pieces.
 */
import { checkBoolean, checkClipValue, checkKnownKeys, checkNonNegative, OptimizerArgumentError } from '../validate.js';
import { checkLearningRate, resolveOptions, type LearningRate } from '../hyperparams.js';
import { maxLearningRate } from '../schedules.js';
import { ADOPT, ADOPT_OPTIONS } from '../rules/adopt.js';
import { ADAM, ADAM_OPTIONS } from '../rules/adam.js';
import { scalingOptions, type CommonOptionKey } from '../rules/options.js';
import type { AdoptOptions } from '../rules/adopt.js';
import type { AdamOptions } from '../rules/adam.js';
import { meansFromCount, scalingPlan, type KernelPlan } from '../codegen/modules.js';
import { flagsOf } from '../rules/rule.js';
import { uniformArgs } from '../codegen/signature.js';
import { adamKernelArgs, adoptKernelArgs } from '../rules/scalars.js';
import * as JS_KERNELS from '../kernels/generated/js_kernels.js';

/** Information shared by the transformations of one chain during one step. */
export interface StepContext {
  /**
   * Set by a transformation whose step makes no parameter update at all (ADOPT's first step,
   * which only initialises v). Later transformations then leave the zero update alone, so,
   * as in the official code, decoupled weight decay is not applied on that step either.
   */
  noUpdate: boolean;
}

/** A piece of an optimizer, as in optax: `init` makes its state for some params, `update` turns gradients into updates in place (and advances the state). */
export interface GradientTransformation<S> {
  /** Fresh state for a parameter array of this length. */
  init(params: Float32Array): S;
  /**
   * Transforms `updates` in place (on entry: the gradient, or the previous transformation's
   * output), updating `state`. `params` is read only.
   */
  update(updates: Float32Array, state: S, params: Float32Array, ctx: StepContext): void;
  /**
   * Optional: throws if the next update would be invalid (a state that does not match the
   * updates, a schedule returning a bad value), so that a step is refused before any
   * transformation of the chain changes its state. `update` of a chain runs the checks of all
   * its members first. Schedules may therefore be evaluated more than once per step: they
   * should be pure functions.
   */
  check?(state: S, params: Float32Array, updates?: Float32Array): void;
}

/** What a value is, for an error message: "a Float64Array of length 2", "an object with key \"w\" (...)". */
function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `an Array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) {
    const length = (value as { length?: unknown }).length;
    return `a ${value.constructor.name}${typeof length === 'number' ? ` of length ${length}` : ''}`;
  }
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) return 'an empty object';
    const shown = keys.slice(0, 3).map((k) => `"${k}" (${describeValue((value as Record<string, unknown>)[k])})`);
    return `an object with key${keys.length > 1 ? 's' : ''} ${shown.join(', ')}${keys.length > 3 ? `, ... (${keys.length} keys)` : ''}`;
  }
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

/**
 * Throws unless `value` is a Float32Array: the core works on Float32Arrays only (a Float64Array
 * or a plain array would be read but not updated the way the kernels and the state expect).
 */
export function checkFloat32Array(owner: string, what: string, value: unknown): Float32Array {
  if (value instanceof Float32Array) return value;
  let hint = '';
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    hint = ` (Float32Array.from(${what}) converts it)`;
  } else if (typeof value === 'object' && value !== null && Object.keys(value).length > 0) {
    const key = Object.keys(value)[0]!;
    const method = owner.slice(owner.lastIndexOf('.') + 1);
    const one = `${what}[${JSON.stringify(key)}]`;
    const example = (value as Record<string, unknown>)[key] instanceof Float32Array ? one : `Float32Array.from(${one})`;
    hint =
      `: the core keeps one state per parameter array, so call ${method} once per array` +
      (method === 'init' ? `, e.g. init(${example})` : '');
  }
  throw new OptimizerArgumentError(
    `${owner}: invalid ${what} ${describeValue(value)}; expected a Float32Array${hint}.`,
  );
}

function stateExpected(fields: readonly string[]): string {
  return `the state that init made (an object with ${fields.join(', ')} and t)`;
}

/** Throws unless `state` is an object with the given Float32Array fields, all of one length. */
function checkArrayState(
  owner: string,
  state: unknown,
  fields: readonly string[],
  updates: Float32Array | undefined,
): void {
  if (typeof state !== 'object' || state === null) {
    throw new OptimizerArgumentError(
      `${owner}: invalid state ${describeValue(state)}; expected ${stateExpected(fields)}.`,
    );
  }
  const s = state as Record<string, unknown>;
  let length = -1;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const a = s[f];
    if (!(a instanceof Float32Array)) {
      throw new OptimizerArgumentError(
        `${owner}: invalid state.${f} ${describeValue(a)}; expected a Float32Array, in ${stateExpected(fields)}.`,
      );
    }
    if (length >= 0 && a.length !== length) {
      throw new OptimizerArgumentError(
        `${owner}: state.${f} has length ${a.length} but state.${fields[0]} has length ${length}; expected ${stateExpected(fields)}.`,
      );
    }
    length = a.length;
  }
  const t = s['t'];
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) {
    throw new OptimizerArgumentError(`${owner}: invalid state.t ${describeValue(t)}; expected an integer >= 0.`);
  }
  if (updates !== undefined && updates.length !== length) {
    throw new OptimizerArgumentError(
      `${owner}: the gradient has length ${updates.length} but the state was made for length ${length}; ` +
        'pass the state that init made for these params. Nothing was changed.',
    );
  }
}

/** Composes transformations left to right; the state is the tuple of their states. */
// biome-ignore lint/suspicious/noExplicitAny: transformations of any state (the type is invariant in it)
export function chain(...transforms: GradientTransformation<any>[]): GradientTransformation<unknown[]> {
  const check = (state: unknown[], params: Float32Array, updates?: Float32Array): void => {
    if (!Array.isArray(state) || state.length !== transforms.length) {
      throw new OptimizerArgumentError(
        `chain: invalid state ${describeValue(state)}; expected the state that init made (an Array of length ${transforms.length}).`,
      );
    }
    for (let i = 0; i < transforms.length; i++) transforms[i]!.check?.(state[i], params, updates);
  };
  return {
    init(params) {
      checkFloat32Array('chain.init', 'params', params);
      return transforms.map((t) => t.init(params));
    },
    update(updates, state, params, ctx) {
      checkFloat32Array('chain.update', 'updates', updates);
      check(state, params, updates); // every member, before any changes its state
      for (let i = 0; i < transforms.length; i++) transforms[i]!.update(updates, state[i], params, ctx);
    },
    check,
  };
}

/** The state type of a GradientTransformation. */
export type StateOf<T> = T extends GradientTransformation<infer S> ? S : never;

/**
 * Composes transformations left to right, like optax's `named_chain`: the state is an object
 * with one field per transformation, so `state.adopt.v` reads ADOPT's second moment.
 */
// biome-ignore lint/suspicious/noExplicitAny: transformations of any state (the type is invariant in it)
export function namedChain<T extends Record<string, GradientTransformation<any>>>(
  transforms: T,
): GradientTransformation<{ [K in keyof T]: StateOf<T[K]> }> {
  const entries = Object.entries(transforms);
  const expected = `the state that init made (an object with keys ${entries.map(([name]) => name).join(', ')})`;
  const check = (state: unknown, params: Float32Array, updates?: Float32Array): void => {
    if (typeof state !== 'object' || state === null) {
      throw new OptimizerArgumentError(`namedChain: invalid state ${describeValue(state)}; expected ${expected}.`);
    }
    const named = state as Record<string, unknown>;
    for (let i = 0; i < entries.length; i++) {
      const name = entries[i]![0];
      if (!(name in named))
        throw new OptimizerArgumentError(`namedChain: the state has no key "${name}"; expected ${expected}.`);
    }
    for (let i = 0; i < entries.length; i++) {
      const [name, t] = entries[i]!;
      t.check?.(named[name], params, updates);
    }
  };
  return {
    init(params) {
      checkFloat32Array('namedChain.init', 'params', params);
      return Object.fromEntries(entries.map(([name, t]) => [name, t.init(params)])) as {
        [K in keyof T]: StateOf<T[K]>;
      };
    },
    update(updates, state, params, ctx) {
      checkFloat32Array('namedChain.update', 'updates', updates);
      check(state, params, updates); // every member, before any changes its state
      const named = state as Record<string, unknown>;
      for (const [name, t] of entries) t.update(updates, named[name], params, ctx);
    },
    check,
  };
}

/** p += u, in place. */
export function applyUpdates(params: Float32Array, updates: Float32Array): void {
  for (let i = 0; i < params.length; i++) params[i]! += updates[i]!;
}

/** u = factor * u (stateless). `scale(-1)` turns a maximisation into a minimisation. */
export function scale(factor: number): GradientTransformation<null> {
  if (typeof factor !== 'number' || !Number.isFinite(factor)) {
    throw new OptimizerArgumentError(`scale: invalid factor ${describeValue(factor)}; expected a finite number.`);
  }
  return {
    init: () => null,
    update(u) {
      for (let i = 0; i < u.length; i++) u[i]! *= factor;
    },
  };
}

/** Options of addDecayedWeights: corrected decay (lr² / lrMax, docs/ALGORITHM.md §10.3) needs the learning rate (a number or schedule). */
export interface AddDecayedWeightsOptions {
  /**
   * timm's corrected weight decay (docs/ALGORITHM.md §10.3): u += weightDecay * (lr / lrMax) * p,
   * so that after scaleByLearningRate(lr) the decay is lr² / lrMax. Needs `learningRate`, the same
   * number or schedule as scaleByLearningRate's; the state is then {count}. Default false.
   */
  correctedWeightDecay?: boolean;
  learningRate?: LearningRate;
}

/**
 * u = u + weightDecay * p. Placed before the adaptive scaling it is L2 regularisation (coupled);
 * placed after it, it is AdamW's decoupled decay. With `correctedWeightDecay` the term is scaled by
 * lr(count) / lrMax and the piece keeps a step count (as scaleByLearningRate does).
 */
export function addDecayedWeights(
  weightDecay: number,
  options: AddDecayedWeightsOptions = {},
): GradientTransformation<LearningRateState | null> {
  checkNonNegative('addDecayedWeights', 'weightDecay', weightDecay);
  if (typeof options !== 'object' || options === null) {
    throw new OptimizerArgumentError(
      `addDecayedWeights: invalid options ${describeValue(options)}; expected an object.`,
    );
  }
  checkKnownKeys('addDecayedWeights', options, ['correctedWeightDecay', 'learningRate']);
  const correctedWeightDecay = checkBoolean(
    'addDecayedWeights',
    'correctedWeightDecay',
    options.correctedWeightDecay ?? false,
  );
  const learningRate = options.learningRate;
  let rateAt: ((count: number) => number) | null = null;
  let lrMax = 1;
  if (correctedWeightDecay) {
    if (learningRate === undefined) {
      throw new OptimizerArgumentError(
        'addDecayedWeights: correctedWeightDecay needs learningRate (the number or schedule of scaleByLearningRate), for lr² / lrMax.',
      );
    }
    checkLearningRate('addDecayedWeights', learningRate);
    lrMax = maxLearningRate('addDecayedWeights', learningRate);
    rateAt = (count) => {
      const lr = typeof learningRate === 'number' ? learningRate : learningRate(count);
      if (typeof lr !== 'number' || !(lr >= 0) || !Number.isFinite(lr)) {
        throw new OptimizerArgumentError(
          `addDecayedWeights: the schedule returned ${String(lr)} at step ${count}; expected a finite number >= 0.`,
        );
      }
      return lr;
    };
  }
  const checkState = (state: unknown): void => {
    if (rateAt === null) return;
    const count = (state as Partial<LearningRateState> | null)?.count;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
      throw new OptimizerArgumentError(
        `addDecayedWeights: invalid state ${describeValue(state)}; expected the state that init made ({count: an integer >= 0}).`,
      );
    }
    rateAt(count);
  };
  const check = (params: Float32Array, updates?: Float32Array): void => {
    if (weightDecay === 0) return; // params are not read
    checkFloat32Array('addDecayedWeights', 'params', params);
    if (updates !== undefined && updates.length !== params.length) {
      throw new OptimizerArgumentError(
        `addDecayedWeights: the gradient has length ${updates.length} but params has length ${params.length}.`,
      );
    }
  };
  return {
    init: () => (rateAt === null ? null : { count: 0 }),
    check: (state, params, updates) => {
      checkState(state);
      check(params, updates);
    },
    update(u, state, p, ctx) {
      checkState(state);
      check(p, u);
      const factor = rateAt === null ? weightDecay : weightDecay * (rateAt(state!.count) / lrMax);
      if (rateAt !== null) state!.count++; // counted on every step, like the learning rate's
      if (weightDecay === 0 || ctx.noUpdate) return;
      for (let i = 0; i < u.length; i++) u[i]! += factor * p[i]!;
    },
  };
}

/** The state of a piece that reads a learning-rate schedule: how many updates it has applied. */
export interface LearningRateState {
  /** Number of steps taken so far; the schedule is evaluated at this count. */
  count: number;
}

/** u = -lr * u, where lr is a number or a function of the step count (0, 1, 2, ...). */
export function scaleByLearningRate(
  learningRate: number | ((count: number) => number),
): GradientTransformation<LearningRateState> {
  checkLearningRate('scaleByLearningRate', learningRate);
  const checkState = (state: unknown): void => {
    const count = (state as Partial<LearningRateState> | null)?.count;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
      throw new OptimizerArgumentError(
        `scaleByLearningRate: invalid state ${describeValue(state)}; expected the state that init made ({count: an integer >= 0}).`,
      );
    }
  };
  const current = (count: number): number => {
    const lr = typeof learningRate === 'number' ? learningRate : learningRate(count);
    if (typeof lr !== 'number' || !(lr >= 0) || !Number.isFinite(lr)) {
      throw new OptimizerArgumentError(
        `scaleByLearningRate: the schedule returned ${String(lr)} at step ${count}; expected a finite number >= 0.`,
      );
    }
    return lr;
  };
  return {
    init: () => ({ count: 0 }),
    update(u, state) {
      checkState(state);
      const lr = current(state.count);
      for (let i = 0; i < u.length; i++) u[i]! *= -lr;
      state.count++;
    },
    check(state) {
      checkState(state);
      current(state.count);
    },
  };
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
      return { m: new Float32Array(p.length), v: new Float32Array(p.length), t: 0 };
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
      return {
        m: new Float32Array(p.length),
        v: new Float32Array(p.length),
        ...(amsgrad ? { vmax: new Float32Array(p.length) } : {}),
        t: 0,
      };
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
