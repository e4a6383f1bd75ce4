/**
 * Checkpoint folders: one sub-folder per saved step with a JSON manifest and one binary file of
 * tensors, plus `latest.json` naming the newest, and `writer.lock` while a writer is at work.
 *
 *   dir/latest.json                {"step":200,"folder":"step-00000200","runId":..,"manifestSha256":..,"sha256":..}
 *   dir/step-00000200/checkpoint.json
 *   dir/step-00000200/tensors.bin
 *   dir/writer.lock                {"pid":1234,"hostname":..,"runId":..,"token":..}
 *
 * Safety rules:
 * - A step folder is built under a temporary name (`.step-….tmp-…`) and renamed into place once
 *   complete; latest.json is replaced by rename after that. The rename of latest.json is the commit
 *   point: a crash anywhere leaves latest.json naming a complete checkpoint.
 * - A folder is never rewritten in place: a second checkpoint of the same step gets a new name
 *   (`step-00000200-<hex>`), so a folder once named by latest.json stays as it was.
 * - Everything read is verified: checkpoint.json carries the SHA-256 of its own canonical content
 *   (`manifestSha256`) and of tensors.bin (`sha256`); latest.json carries the SHA-256 of its
 *   content and the manifest's hash. Entries are checked for range and consistency.
 * - Pruning (`keep`) removes only checkpoints of this run (the manifest's `runId`) older than the
 *   one just written, never another run's and never the newest.
 * - One writer per folder: `writer.lock` holds the owner's pid, host and run id. A second writer
 *   is refused; a lock whose process is gone is taken over (with a warning).
 * - readCheckpoint falls back to the newest checkpoint that verifies when the one latest.json
 *   names does not, and says so (a warning and `fellBack`/`warnings` in what it returns).
 */
export {
  CheckpointError,
  nodeCheckpointFs,
  PROCESS_RUN_ID,
  type CheckpointFs,
  type CheckpointIoOptions,
} from './checkpoint_fs.js';
export { acquireCheckpointLock, type CheckpointLock } from './writer_lock.js';
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointManifest,
  type TensorEntry,
} from './checkpoint_manifest.js';
export { checkKeep, writeCheckpoint, type WriteCheckpointOptions } from './checkpoint_write.js';
export { readCheckpoint, type LoadedCheckpoint, type TensorValues } from './checkpoint_read.js';
