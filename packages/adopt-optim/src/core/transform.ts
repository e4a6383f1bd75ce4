/**
 * The framework-free core: gradient transformations on Float32Arrays, composed like optax.
 *
 * A transformation turns the gradient into an update, in place, keeping its own state as plain
 * data (typed arrays and numbers). `chain` composes them; `applyUpdates` adds the result to the
 * parameters. ADOPT, Adam, AdamW and AMSGrad (./optimizers.ts) are short chains of these pieces and of
 * the rules' scalings (./scaling.ts).
 */
import { checkBoolean, checkKnownKeys, checkNonNegative, OptimizerArgumentError } from '../validate.js';
import { checkLearningRate, type LearningRate } from '../hyperparams.js';
import { maxLearningRate } from '../schedules.js';

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
export function checkArrayState(
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
