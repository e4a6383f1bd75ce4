/**
 * The framework-free core: gradient transformations on Float32Arrays, composed like optax.
 *
 * A transformation turns the gradient into an update, in place, keeping its own state as plain
 * data (typed arrays and numbers). `chain` composes them; `applyUpdates` adds the result to the
 * parameters. ADOPT, Adam, AdamW and AMSGrad (./optimizers.ts) are short chains of these pieces.
 */
import { checkClipValue, OptimizerArgumentError } from '../validate.js';
import type { ClipSchedule } from '../clip.js';

/** Information shared by the transformations of one chain during one step. */
export interface StepContext {
  /**
   * Set by a transformation whose step makes no parameter update at all (ADOPT's first step,
   * which only initialises v). Later transformations then leave the zero update alone, so,
   * as in the official code, decoupled weight decay is not applied on that step either.
   */
  noUpdate: boolean;
}

export interface GradientTransformation<S> {
  /** Fresh state for a parameter array of this length. */
  init(params: Float32Array): S;
  /**
   * Transforms `updates` in place (on entry: the gradient, or the previous transformation's
   * output), updating `state`. `params` is read only.
   */
  update(updates: Float32Array, state: S, params: Float32Array, ctx: StepContext): void;
  /**
   * Optional: throws if the next update would be invalid (a schedule returning a bad value),
   * so that a step is refused before any transformation of the chain changes its state.
   * Schedules may therefore be evaluated twice per step: they should be pure functions.
   */
  check?(state: S, params: Float32Array): void;
}

/** Composes transformations left to right; the state is the tuple of their states. */
export function chain(...transforms: GradientTransformation<any>[]): GradientTransformation<unknown[]> {
  return {
    init: (params) => transforms.map((t) => t.init(params)),
    update(updates, state, params, ctx) {
      for (let i = 0; i < transforms.length; i++) transforms[i]!.update(updates, state[i], params, ctx);
    },
    check(state, params) {
      for (let i = 0; i < transforms.length; i++) transforms[i]!.check?.(state[i], params);
    },
  };
}

type StateOf<T> = T extends GradientTransformation<infer S> ? S : never;

/**
 * Composes transformations left to right, like optax's `named_chain`: the state is an object
 * with one field per transformation, so `state.adopt.v` reads ADOPT's second moment.
 */
export function namedChain<T extends Record<string, GradientTransformation<any>>>(
  transforms: T,
): GradientTransformation<{ [K in keyof T]: StateOf<T[K]> }> {
  const entries = Object.entries(transforms);
  return {
    init(params) {
      return Object.fromEntries(entries.map(([name, t]) => [name, t.init(params)])) as { [K in keyof T]: StateOf<T[K]> };
    },
    update(updates, state, params, ctx) {
      const named = state as Record<string, unknown>;
      for (const [name, t] of entries) t.update(updates, named[name], params, ctx);
    },
    check(state, params) {
      const named = state as Record<string, unknown>;
      for (const [name, t] of entries) t.check?.(named[name], params);
    },
  };
}

/** p += u, in place. */
export function applyUpdates(params: Float32Array, updates: Float32Array): void {
  for (let i = 0; i < params.length; i++) params[i]! += updates[i]!;
}

/** u = factor * u (stateless). `scale(-1)` turns a maximisation into a minimisation. */
export function scale(factor: number): GradientTransformation<null> {
  return {
    init: () => null,
    update(u) {
      for (let i = 0; i < u.length; i++) u[i]! *= factor;
    },
  };
}

/**
 * u = u + weightDecay * p. Placed before the adaptive scaling it is L2 regularisation (coupled);
 * placed after it, it is AdamW's decoupled decay.
 */
export function addDecayedWeights(weightDecay: number): GradientTransformation<null> {
  return {
    init: () => null,
    update(u, _state, p, ctx) {
      if (weightDecay === 0 || ctx.noUpdate) return;
      for (let i = 0; i < u.length; i++) u[i]! += weightDecay * p[i]!;
    },
  };
}

export interface LearningRateState {
  /** Number of steps taken so far; the schedule is evaluated at this count. */
  count: number;
}

/** u = -lr * u, where lr is a number or a function of the step count (0, 1, 2, ...). */
export function scaleByLearningRate(
  learningRate: number | ((count: number) => number),
): GradientTransformation<LearningRateState> {
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
      const lr = current(state.count);
      for (let i = 0; i < u.length; i++) u[i]! *= -lr;
      state.count++;
    },
    check: (state) => void current(state.count),
  };
}

export interface AdoptState {
  /** First moment of the normalised gradient. */
  m: Float32Array;
  /** Second moment of the gradient. */
  v: Float32Array;
  /** Steps taken; 0 means v is not yet initialised. */
  t: number;
}

export interface ScaleByAdoptOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  clip: ClipSchedule | null;
}

/**
 * The ADOPT scaling (ALGORITHM.md): normalise g by the previous second moment, clip, then
 * average. The first step only sets v = g^2 and outputs a zero update.
 */
export function scaleByAdopt(o: ScaleByAdoptOptions): GradientTransformation<AdoptState> {
  const { beta1, beta2, epsilon, clip } = o;
  const oneMinusBeta1 = 1 - beta1;
  const oneMinusBeta2 = 1 - beta2;
  return {
    init: (p) => ({ m: new Float32Array(p.length), v: new Float32Array(p.length), t: 0 }),
    check(state) {
      if (state.t > 0 && clip !== null) checkClipValue('scaleByAdopt', clip(state.t), state.t);
    },
    update(u, state, _p, ctx) {
      const { m, v } = state;
      if (state.t === 0) {
        for (let i = 0; i < u.length; i++) {
          v[i] = u[i]! * u[i]!;
          u[i] = 0;
        }
        state.t = 1;
        ctx.noUpdate = true;
        return;
      }
      const c = clip === null ? Infinity : checkClipValue('scaleByAdopt', clip(state.t), state.t);
      for (let i = 0; i < u.length; i++) {
        const g = u[i]!;
        let n = g / Math.max(Math.sqrt(v[i]!), epsilon);
        if (n > c) n = c;
        else if (n < -c) n = -c;
        const mi = beta1 * m[i]! + oneMinusBeta1 * n;
        m[i] = mi;
        v[i] = beta2 * v[i]! + oneMinusBeta2 * g * g;
        u[i] = mi;
      }
      state.t++;
    },
  };
}

export interface AdamState {
  m: Float32Array;
  v: Float32Array;
  /** Running maximum of v; present for AMSGrad only. */
  vmax?: Float32Array;
  t: number;
}

export interface ScaleByAdamOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Divide by the running maximum of v (PyTorch's `amsgrad=True`). */
  amsgrad: boolean;
}

/** Adam's scaling with bias correction (Kingma & Ba), optionally AMSGrad's running maximum. */
export function scaleByAdam(o: ScaleByAdamOptions): GradientTransformation<AdamState> {
  const { beta1, beta2, epsilon, amsgrad } = o;
  return {
    init: (p) => ({
      m: new Float32Array(p.length),
      v: new Float32Array(p.length),
      ...(amsgrad ? { vmax: new Float32Array(p.length) } : {}),
      t: 0,
    }),
    update(u, state) {
      const { m, v, vmax } = state;
      const t = ++state.t;
      const bc1 = 1 - beta1 ** t;
      const sqrtBc2 = Math.sqrt(1 - beta2 ** t);
      for (let i = 0; i < u.length; i++) {
        const g = u[i]!;
        const mi = beta1 * m[i]! + (1 - beta1) * g;
        let vi = beta2 * v[i]! + (1 - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        if (vmax) {
          vi = Math.max(vmax[i]!, Math.fround(vi));
          vmax[i] = vi;
        }
        u[i] = mi / bc1 / (Math.sqrt(vi) / sqrtBc2 + epsilon);
      }
    },
  };
}
