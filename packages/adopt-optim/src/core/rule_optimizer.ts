/**
 * Experimental: a rule defined with defineRule (src/compiler/define_rule.ts) on plain Float32Arrays: its
 * generated WebAssembly kernels (resident state, as core.adopt's), or its generated JavaScript
 * where WebAssembly SIMD is missing.
 */
import { checkLearningRate, DEFAULT_LEARNING_RATE, type LearningRate } from '../hyperparams.js';
import { learningRateAt } from '../schedules.js';
import { checkCustomRule, resolveHyperparameters, stepScalars, type CustomRule } from '../compiler/define_rule.js';
import { callCount, ruleCall, meansFromCount } from '../codegen/modules.js';
import { uniformArgs } from '../codegen/signature.js';
import { allocateResidentState, ArrayKernels } from '../kernels/array_kernels.js';
import {
  checkBoolean,
  checkKnownKeys,
  checkOneOf,
  gradientInRange,
  NonFiniteGradientError,
  OptimizerArgumentError,
} from '../validate.js';
import { checkFloat32Array } from './transform.js';
import { threadHooks } from '../kernels/thread_hooks.js'; // threads (core/threads.ts): the hooks marked "threads:"

/** A custom rule's state in the core: its slots and step count. */
export interface RuleState {
  /** The rule's slots by name. */
  slots: Record<string, Float32Array>;
  /** Steps taken. */
  t: number;
}

/** A custom rule as a core optimizer (core.ruleOptimizer). */
export interface CoreRuleOptimizer {
  readonly rule: CustomRule;
  readonly hyperparameters: Readonly<Record<string, number>>;
  /** Zeroed state for these params. */
  init(params: Float32Array): RuleState;
  /** One step in place on params (grads untouched); false when skipped (`nonFinite: 'skip'`). */
  step(params: Float32Array, grads: Float32Array, state: RuleState): boolean;
}

/** @experimental The core's optimizer for a rule defined with defineRule. */
export function ruleOptimizer(
  rule: CustomRule,
  learningRate: LearningRate = DEFAULT_LEARNING_RATE,
  options: {
    hyperparameters?: Readonly<Record<string, number>>;
    nonFinite?: 'throw' | 'skip' | 'off';
    fused?: boolean;
  } = {},
): CoreRuleOptimizer {
  checkCustomRule('core.ruleOptimizer', rule);
  const owner = `core.ruleOptimizer(${rule.definition.name})`;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OptimizerArgumentError(`${owner}: invalid options ${String(options)}; expected an object.`);
  }
  checkKnownKeys(owner, options, ['hyperparameters', 'nonFinite', 'fused']);
  const lr = checkLearningRate(owner, learningRate);
  const h = resolveHyperparameters(owner, rule, options.hyperparameters);
  const slots = rule.definition.slots;
  const fused = checkBoolean(owner, 'fused', options.fused ?? true);
  const nonFinite = checkOneOf(owner, 'nonFinite', options.nonFinite ?? 'throw', ['throw', 'skip', 'off'] as const);
  return {
    rule,
    hyperparameters: h,
    init(params) {
      checkFloat32Array(`${owner}.init`, 'params', params);
      const arrays =
        (fused ? threadHooks.current?.slots(params.length, slots.length) : null) ?? // threads: shared state
        (fused ? allocateResidentState(params.length, slots.length) : null) ??
        slots.map(() => new Float32Array(params.length));
      return { slots: Object.fromEntries(slots.map((s, i) => [s, arrays[i]!])), t: 0 };
    },
    step(params, grads, state) {
      checkFloat32Array(`${owner}.step`, 'params', params);
      checkFloat32Array(`${owner}.step`, 'grads', grads);
      const arrays = slots.map((s) => state?.slots?.[s]);
      if (
        grads.length !== params.length ||
        arrays.some((a) => !(a instanceof Float32Array) || a.length !== params.length)
      ) {
        throw new OptimizerArgumentError(
          `${owner}.step: params, grads and the state's slots must have one length (the state that init made). Nothing was changed.`,
        );
      }
      const t: unknown = state.t;
      if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) {
        throw new OptimizerArgumentError(
          `${owner}.step: invalid state.t ${typeof t === 'string' ? JSON.stringify(t) : String(t)}; expected an ` +
            'integer >= 0 (the steps taken, as init made it). Nothing was changed.',
        );
      }
      const unknown = Object.keys(state.slots).find((s) => !slots.includes(s));
      if (unknown !== undefined) {
        throw new OptimizerArgumentError(
          `${owner}.step: state.slots has ${JSON.stringify(unknown)}, no slot of the rule (${slots.join(', ')}). ` +
            'Nothing was changed.',
        );
      }
      if (nonFinite !== 'off' && threadHooks.current?.allFinite(grads) !== true) {
        // threads: checked across them where grads are a threaded state's
        const bad = grads.findIndex((x) => !gradientInRange(x));
        if (bad >= 0) {
          if (nonFinite === 'skip') return false;
          throw new NonFiniteGradientError(
            `${owner}.step: the gradient holds ${grads[bad]} at index ${bad}; nothing was changed.`,
            'params',
            state.t,
          );
        }
      }
      const phase = state.t === 0 && rule.plan.init !== undefined ? 'init' : 'step';
      const scalars = stepScalars(owner, rule, learningRateAt(owner, lr, state.t), state.t + 1, { ...h });
      const call = ruleCall(rule.rule, {}, phase, scalars);
      const k = fused ? ArrayKernels.get() : null;
      if (k !== null) {
        if (!threadHooks.current?.float32(call, params, grads, arrays as Float32Array[])) {
          k.run(call, params, grads, arrays as Float32Array[]); // threads: across them where the state is theirs
        }
      } else {
        // the generated JavaScript, in float64 (g is read, never written: p and g are separate arrays here)
        const part = phase === 'init' ? rule.plan.init! : rule.plan.step;
        let means: Map<object, number> | undefined;
        const counting = callCount(call);
        if (counting !== undefined) {
          const countArgs = uniformArgs(counting.sig, scalars);
          const count = rule.js[counting.fn]!(params, grads, ...arrays, params.length, ...countArgs);
          means = meansFromCount(rule.plan, count, params.length, phase);
        }
        const kernel = phase === 'init' ? rule.js.init! : rule.js.step;
        kernel(
          params,
          grads,
          ...arrays,
          params.length,
          ...uniformArgs(part.sig, scalars, means as Map<never, number> | undefined),
        );
      }
      state.t++;
      return true;
    },
  };
}
