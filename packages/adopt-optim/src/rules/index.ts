/**
 * Custom update rules (experimental: names and behaviour may change in any release): `defineRule` writes an
 * element-wise update as an expression, and `ruleOptimizer` runs it as a tf.Optimizer on every backend, with kernels
 * generated from it as for the built-in rules (`core.ruleOptimizer` runs it on Float32Arrays). Browser-safe.
 * Import from 'adopt-optim/rules'.
 *
 * @module adopt-optim/rules
 */
export {
  defineRule,
  MAX_RULE_DEPTH,
  type RuleDefinition,
  type RuleBuilder,
  type RuleWrites,
  type CustomRule,
} from '../compiler/define_rule.js';
export type { Value as RuleValue, Cond as RuleCond, BinaryOp, UnaryOp } from './expr.js';
export { RuleOptimizer, ruleOptimizer, type RuleOptimizerOptions } from '../tfjs/rule_optimizer.js';
