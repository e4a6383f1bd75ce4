/**
 * The training loop (Node): optimizers by name, the Trainer, checkpoints, and file storage for
 * tf.LayersModel. Import from 'adopt-optim/train'.
 */
export { createOptimizer, setLearningRate, isOptimizerName, OPTIMIZER_NAMES, type OptimizerName, type OptimizerOptions } from './registry.js';
export { Trainer, Rng, type TrainerConfig, type DataSource, type ParamGroup, type StepInfo, type TrainResult, type Batch } from './trainer.js';
export { writeCheckpoint, readCheckpoint, CheckpointError, type CheckpointManifest, type LoadedCheckpoint } from './checkpoint.js';
export { fileSystem, registerFileSystemRouter } from './file_io.js';
