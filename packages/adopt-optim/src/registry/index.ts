/**
 * Optimizers by name: `createOptimizer('adopt', { learningRate: 1e-3, beta2: 0.999 })`, the names it takes and
 * `setLearningRate`, for a training script, a command line or a saved config that names its optimizer.
 * Browser-safe (it imports no node:* module). Import from 'adopt-optim/registry'; 'adopt-optim/train' re-exports
 * the same names for Node scripts.
 *
 * @module adopt-optim/registry
 */
export {
  createOptimizer,
  setLearningRate,
  isOptimizerName,
  OPTIMIZER_NAMES,
  type OptimizerName,
  type OptimizerOptions,
  type OptimizerOptionsByName,
  type OptimizerByName,
  type SgdOptions,
  type MomentumOptions,
  type RmspropOptions,
  type WithLearningRate,
} from './optimizers_by_name.js';
