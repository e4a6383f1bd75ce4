/**
 * The training loop (Node): the Trainer, checkpoints, and file storage for tf.LayersModel, with the
 * optimizers by name of 'adopt-optim/registry' (browser-safe, their home) re-exported. Import from
 * 'adopt-optim/train'. It loads 'adopt-optim/lowbit' itself (Node has no bundle to keep small): optimizers made by
 * name, and checkpoints, take low-bit state without another import.
 *
 * @module adopt-optim/train
 */
import '../lowbit/index.js';
// optimizers by name: their home is 'adopt-optim/registry' (browser-safe); re-exported for Node scripts
export * from '../registry/index.js';
export {
  Trainer,
  type TrainerConfig,
  type DataSource,
  type ParamGroup,
  type StepInfo,
  type TrainResult,
  type Batch,
  type RestoreInfo,
} from './trainer.js';
export {
  writeCheckpoint,
  readCheckpoint,
  acquireCheckpointLock,
  nodeCheckpointFs,
  CheckpointError,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointManifest,
  type LoadedCheckpoint,
  type CheckpointFs,
  type CheckpointLock,
  type TensorEntry,
  type TensorValues,
  type WriteCheckpointOptions,
  type CheckpointIoOptions,
} from './checkpoint.js';
export { fileSystem, registerFileSystemRouter, weightByteSize } from './file_io.js';
export { makeDirectories, makeDirectoriesSync } from './make_dir.js';
export type { TrainerConfigBase } from './trainer_config.js';
export { clipByGlobalNorm, clipFactorOf, globalNorm } from '../tfjs/clip_ops.js';
export { PYTORCH_CLIP_EPSILON } from './trainer_step.js';
