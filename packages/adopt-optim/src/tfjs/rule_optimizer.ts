/**
 * Experimental: a tf.Optimizer for a rule defined with defineRule (src/compiler/define_rule.ts). State is
 * kept per variable by name like the built-in optimizers' (getWeights / setWeights, the non-finite
 * policies, the GPU guard), and each step runs on the path the dispatcher chooses: the generated
 * kernels of the backend, or the rule as tfjs ops.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkLearningRate, DEFAULT_LEARNING_RATE, type LearningRate } from '../hyperparams.js';
import { NON_FINITE_POLICIES, type NonFinitePolicy } from '../rules/options.js';
import {
  checkCustomRule, definedRule, resolveHyperparameters, stepScalars, type CustomRule,
} from '../compiler/define_rule.js';
import { ruleCall } from '../codegen/modules.js';
import { restoreKeys } from '../rules/rule_names.js';
import { runPhase } from '../dispatch.js';
import { checkBoolean, checkKnownKeys, checkOneOf, OptimizerArgumentError } from '../validate.js';
import { NamedStateOptimizer, type NamedTensor, type VariableState } from './named_state_optimizer.js';

/** Options of ruleOptimizer: hyperparameter overrides, the non-finite policy, and whether to use the fused kernels. */
export interface RuleOptimizerOptions {
  /** Overrides of the rule's hyperparameter defaults. */
  hyperparameters?: Readonly<Record<string, number>>;
  nonFinite?: NonFinitePolicy;
  /** Use the generated kernels where the backend has them. Default true. */
  fused?: boolean;
}

export class RuleOptimizer extends NamedStateOptimizer {
  static get className(): string {
    return 'adopt-optim/Rule';
  }

  protected readonly slotNames: readonly string[];
  protected readonly displayName: string;
  readonly hyperparameters: Readonly<Record<string, number>>;

  readonly custom: CustomRule;

  constructor(rule: CustomRule, learningRate: LearningRate = DEFAULT_LEARNING_RATE, options: RuleOptimizerOptions = {}) {
    const custom = checkCustomRule('ruleOptimizer', rule);
    const owner = `ruleOptimizer(${custom.definition.name})`;
    if (typeof options !== 'object' || options === null) throw new OptimizerArgumentError(`${owner}: invalid options ${String(options)}; expected an object.`);
    checkKnownKeys(owner, options as Record<string, unknown>, ['hyperparameters', 'nonFinite', 'fused']);
    const rate = checkLearningRate(owner, learningRate);
    super(rate, checkOneOf(owner, 'nonFinite', options.nonFinite ?? 'throw', NON_FINITE_POLICIES),
      checkBoolean(owner, 'fused', options.fused ?? true));
    this.custom = custom;
    this.displayName = custom.definition.name;
    // saved as "<variable>/<slot>": a slot named "step" would be the step counter's "<variable>/step"
    this.slotNames = custom.definition.slots.map((s) => (s === 'step' ? '_step' : s));
    this.hyperparameters = resolveHyperparameters(owner, custom, options.hyperparameters);
  }

  /** Each variable's scalars for the step in progress: all computed and checked before any variable is written. */
  private readonly pending = new Map<tf.Variable, Record<string, number>>();

  /** Called for every variable of a step before any is updated: a refused scalars() leaves everything unchanged. */
  protected override checkStep(variable: tf.Variable, step: number): void {
    const h = { ...this.hyperparameters };
    this.pending.set(variable, stepScalars(this.displayName, this.custom, this.learningRate, step + 1, h,
      `the variable "${variable.name}"`));
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    this.pending.clear();
    try {
      super.applyGradients(variableGradients);
    } finally {
      this.pending.clear();
    }
  }

  protected updateVariable(p: tf.Variable, gradient: tf.Tensor, state: VariableState): void {
    const scalars = this.pending.get(p)
      ?? stepScalars(this.displayName, this.custom, this.learningRate, state.step + 1, { ...this.hyperparameters },
        `the variable "${p.name}"`);
    const phase = state.step === 0 && this.custom.plan.init !== undefined ? 'init' : 'step';
    this.ranOn(runPhase(this.kernels, ruleCall(this.custom.rule, {}, phase, scalars), p, gradient,
      this.slotNames.map((n, i): [string, tf.Variable] => [this.custom.arrays[i]!, state.slots.get(n)!]), () => scalars,
      (target, value) => this.commit(target, value)));
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
    cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict,
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
      custom, NamedStateOptimizer.learningRateFromConfig(learningRate),
      // tfjs-layers camel-cased the keys of a loaded model's config: weight_decay came back weightDecay
      {
        hyperparameters: restoreKeys(hyperparameters, Object.keys(custom.hyperparameters)), nonFinite, fused,
      } as RuleOptimizerOptions);
  }
}

tf.serialization.registerClass(RuleOptimizer);

/** @experimental A tf.Optimizer running a rule defined with defineRule: `ruleOptimizer(lion, 1e-4)`. */
export function ruleOptimizer(rule: CustomRule, learningRate?: LearningRate, options?: RuleOptimizerOptions): RuleOptimizer {
  return new RuleOptimizer(rule, learningRate, options);
}
