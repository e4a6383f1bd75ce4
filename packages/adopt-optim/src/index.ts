/**
 * adopt-optim: ADOPT (Taniguchi et al., NeurIPS 2024) and the Adam, AdamW and AMSGrad baselines,
 * for TensorFlow.js (`adopt(1e-3)` in place of `tf.train.adam(1e-3)`) and, under `core`, for
 * plain Float32Arrays. Browser-safe. This root holds the optimizers, their options, learning-rate
 * and clip schedules, and the errors; the rest has its own entry point: 'adopt-optim/core' (the
 * framework-free core), 'adopt-optim/train' (Node: the Trainer, checkpoints, optimizers by name),
 * 'adopt-optim/interop' (PyTorch state_dict and safetensors), 'adopt-optim/rules' (custom rules,
 * experimental).
 *
 * @module adopt-optim
 */
// the optimizers: factories, classes, their base classes, and registration for tf.serialization
export {
  adopt,
  adam,
  adamw,
  amsgrad,
  AdoptOptimizer,
  AdamOptimizer,
  AdamWOptimizer,
  AMSGradOptimizer,
  AdamFamilyOptimizer,
  NamedStateOptimizer,
  registerOptimizers,
  type VariableState,
} from './tfjs/index.js';
// their options, defaults and read-outs
export {
  ADOPT_DEFAULTS,
  ADAM_DEFAULTS,
  ADAMW_DEFAULTS,
  AMSGRAD_DEFAULTS,
  DEFAULT_LEARNING_RATE,
  type AdoptOptions,
  type AdamOptions,
  type AdoptHyperparams,
  type AdamHyperparams,
  type NonFinitePolicy,
  type LearningRate,
  type StateDtype,
} from './hyperparams.js';
export type { StepPath } from './dispatch.js';
export type { NamedTensor } from './tfjs/slot_store.js';
// learning-rate schedules and ADOPT's clip schedules
export {
  constant,
  linearWarmup,
  cosineDecay,
  stepDecay,
  scheduleConfig,
  scheduleFromConfig,
  type Schedule,
  type ScheduleConfig,
} from './schedules.js';
export { powerClip, defaultClip, clipExponent, type ClipSchedule } from './clip_schedule.js';
// errors
export { GRADIENT_LIMIT, OptimizerArgumentError, NonFiniteGradientError } from './validate.js';
// the framework-free core, also 'adopt-optim/core'
export * as core from './core/index.js';
// names that left this root in 0.3: each a compile error that names its new import path
export * from './moved.js';
