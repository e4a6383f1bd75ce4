/**
 * Experimental: a tf.Optimizer for a rule defined with defineRule (src/compiler/define_rule.ts), declared:
 * the one optimizer built from a rule (./family_optimizer.ts) with the rule's own scalars(). State is
 * kept per variable by name like the built-in optimizers' (getWeights / setWeights, the non-finite
 * policies, the GPU guard), and each step runs on the path the dispatcher chooses.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkLearningRate, DEFAULT_LEARNING_RATE, type LearningRate } from '../hyperparams.js';
import { NON_FINITE_POLICIES, type NonFinitePolicy } from '../rules/options.js';
import {
  checkCustomRule,
  definedRule,
  resolveHyperparameters,
  stepScalars,
  type CustomRule,
} from '../compiler/define_rule.js';
import { restoreKeys } from '../rules/rule_names.js';
import { checkBoolean, checkKnownKeys, checkOneOf, OptimizerArgumentError } from '../validate.js';
import { NamedStateOptimizer } from './named_state_optimizer.js';
import { FamilyOptimizer, type Family } from './family_optimizer.js';
import { addRegisteredClass } from './register.js';

/** Options of ruleOptimizer: hyperparameter overrides, the non-finite policy, and whether to use the fused kernels. */
export interface RuleOptimizerOptions {
  /** Overrides of the rule's hyperparameter defaults. */
  hyperparameters?: Readonly<Record<string, number>>;
  nonFinite?: NonFinitePolicy;
  /** Use the generated kernels where the backend has them. Default true. */
  fused?: boolean;
}

/** A defined rule as a declaration: its scalars from its own scalars(), checked, at t = count + 1. */
function definedFamily(custom: CustomRule, hyperparameters: Readonly<Record<string, number>>): Family {
  const name = custom.definition.name;
  return {
    displayName: name,
    rule: custom.rule,
    options: {},
    foldsGradientScale: false,
    safeEpsilon: false,
    // saved as "<variable>/<slot>": a slot named "step" would be the step counter's "<variable>/step"
    savedSlots: custom.definition.slots.map((s) => (s === 'step' ? '_step' : s)),
    scalars: (_o, { lr, step, variable }) =>
      stepScalars(name, custom, lr, step + 1, { ...hyperparameters }, `the variable "${variable}"`),
  };
}

/** @experimental A rule defined with defineRule as a tf.Optimizer (made by `ruleOptimizer`), saved by the rule's name. */
export class RuleOptimizer extends FamilyOptimizer {
  static get className(): string {
    return 'adopt-optim/Rule';
  }

  readonly hyperparameters: Readonly<Record<string, number>>;

  readonly custom: CustomRule;

  constructor(
    rule: CustomRule,
    learningRate: LearningRate = DEFAULT_LEARNING_RATE,
    options: RuleOptimizerOptions = {},
  ) {
    const custom = checkCustomRule('ruleOptimizer', rule);
    const owner = `ruleOptimizer(${custom.definition.name})`;
    if (typeof options !== 'object' || options === null) {
      throw new OptimizerArgumentError(`${owner}: invalid options ${String(options)}; expected an object.`);
    }
    checkKnownKeys(owner, options as Record<string, unknown>, ['hyperparameters', 'nonFinite', 'fused']);
    const rate = checkLearningRate(owner, learningRate);
    const nonFinite = checkOneOf(owner, 'nonFinite', options.nonFinite ?? 'throw', NON_FINITE_POLICIES);
    const fused = checkBoolean(owner, 'fused', options.fused ?? true);
    const hyperparameters = resolveHyperparameters(owner, custom, options.hyperparameters);
    super(definedFamily(custom, hyperparameters), rate, nonFinite, fused);
    this.custom = custom;
    this.hyperparameters = hyperparameters;
  }

  /** State is marked with the rule's name: another rule's state (same slots, other meaning) is refused. */
  protected override stateClassName(): string {
    return `${RuleOptimizer.className}:${this.custom.definition.name}`;
  }

  /** The rule is saved by name (its code cannot be): fromConfig takes the rule defined under that name in this process. */
  override getConfig(): tf.serialization.ConfigDict {
    return { ...this.baseConfig(), rule: this.custom.definition.name, hyperparameters: { ...this.hyperparameters } };
  }

  /**
   * Rebuilds the optimizer from getConfig (called by tfjs when a model is loaded).
   * @nocollapse
   */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const { learningRate, rule, hyperparameters, nonFinite, fused } = config as Record<string, unknown>;
    const custom = typeof rule === 'string' ? definedRule(rule) : undefined;
    if (custom === undefined) {
      throw new OptimizerArgumentError(
        `RuleOptimizer.fromConfig: the config names the rule ${JSON.stringify(rule)}, which is not defined in this process; ` +
          'call defineRule({...}) with that name before loading (a rule is code: only its name is saved).',
      );
    }
    return new (cls as unknown as new (r: CustomRule, lr: unknown, o: RuleOptimizerOptions) => T)(
      custom,
      NamedStateOptimizer.learningRateFromConfig(learningRate),
      // tfjs-layers camel-cased the keys of a loaded model's config: weight_decay came back weightDecay
      {
        hyperparameters: restoreKeys(hyperparameters, Object.keys(custom.hyperparameters)),
        nonFinite,
        fused,
      } as RuleOptimizerOptions,
    );
  }
}

tf.serialization.registerClass(RuleOptimizer);
addRegisteredClass(RuleOptimizer as unknown as Parameters<typeof addRegisteredClass>[0]);

/** @experimental A tf.Optimizer running a rule defined with defineRule: `ruleOptimizer(lion, 1e-4)`. */
export function ruleOptimizer(
  rule: CustomRule,
  learningRate?: LearningRate,
  options?: RuleOptimizerOptions,
): RuleOptimizer {
  return new RuleOptimizer(rule, learningRate, options);
}
