/**
 * The framework-free core: optimizers and their composable pieces on Float32Arrays, without
 * TensorFlow.js. Import from 'adopt-optim/core' (also exported as `core` from 'adopt-optim').
 *
 * @module adopt-optim/core
 */
export * from './transform.js';
export * from './scaling.js';
export * from './optimizers.js';
export type { ParamTree, StateTree, TreeState } from './tree.js';
export { Rng } from '../random.js';
export {
  BLOCK as INT8_BLOCK,
  int8MomentsBytes,
  lowBitMomentsBytes,
  type Int4Moments,
  type Int8Moments,
  type LowBitMoments,
} from '../kernels/lowbit_arrays.js';
export {
  INT4,
  INT8,
  readCode,
  type LowBitDtype,
  type LowBitFormat,
  type MomentCode,
} from '../formats/state_formats.js';
export { threadBuffers, threadCount, useThreads, type ThreadOptions, type ThreadSetup } from './threads.js';
export { ruleOptimizer, type CoreRuleOptimizer, type RuleState } from './rule_optimizer.js';
export type { CommonOptionKey } from '../rules/options.js';
