/**
 * adopt-optim: ADOPT (Taniguchi et al., NeurIPS 2024) and the Adam, AdamW and AMSGrad baselines,
 * for TensorFlow.js (`adopt(1e-3)` in place of `tf.train.adam(1e-3)`) and, under `core`, for
 * plain Float32Arrays. Import from 'adopt-optim'; browser-safe (the Node-only training loop is
 * 'adopt-optim/train').
 *
 * @module adopt-optim
 */
export * from './tfjs/index.js';
export * as core from './core/index.js';
export { powerClip, defaultClip, clipExponent, type ClipSchedule } from './clip_schedule.js';
export {
  ADOPT_DEFAULTS, ADAM_DEFAULTS, ADAMW_DEFAULTS, AMSGRAD_DEFAULTS, DEFAULT_LEARNING_RATE,
  type AdoptOptions, type AdamOptions, type NonFinitePolicy, type LearningRate, type StateDtype,
} from './hyperparams.js';
export {
  constant, linearWarmup, cosineDecay, stepDecay, scheduleConfig, scheduleFromConfig,
  type Schedule, type ScheduleConfig,
} from './schedules.js';
export { Rng } from './random.js';
export {
  defineRule, MAX_RULE_DEPTH, type RuleDefinition, type RuleBuilder, type RuleWrites, type CustomRule,
} from './compiler/define_rule.js';
export { GRADIENT_LIMIT, OptimizerArgumentError, NonFiniteGradientError } from './validate.js';
export {
  createOptimizer, setLearningRate, isOptimizerName, OPTIMIZER_NAMES, type OptimizerName, type OptimizerOptions,
  type OptimizerOptionsByName, type OptimizerByName, type SgdOptions, type MomentumOptions, type RmspropOptions,
} from './train/registry.js';
export { exportState, importState, STATE_DICT_KEY, type StateDict, type ExportOptions, type ImportOptions } from './interop/state_dict.js';
export type { StateEntry } from './interop/format.js';
export { encodeSafetensors, decodeSafetensors, SafetensorsError, type NamedArray, type SafetensorsDtype } from './interop/safetensors.js';
export type { ParamSource } from './interop/layout.js';
export type { Value as RuleValue, Cond as RuleCond, BinaryOp, UnaryOp } from './rules/expr.js';
export type { AdoptHyperparams, AdamHyperparams } from './hyperparams.js';
export type { NamedTensor } from './tfjs/slot_store.js';
export type { TensorData } from './interop/safetensors.js';
export type { WithLearningRate } from './train/registry.js';
export type { StepPath } from './dispatch.js';
