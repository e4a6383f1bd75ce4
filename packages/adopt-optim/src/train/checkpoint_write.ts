/**
 * Writing a checkpoint: everything read and checked before the folder is touched, the step folder
 * built under a temporary name and renamed into place, latest.json replaced by rename (the commit
 * point), then this run's older checkpoints pruned. The rules are in checkpoint.ts.
 */
import { join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import {
  CheckpointError,
  hex,
  nodeCheckpointFs,
  PROCESS_RUN_ID,
  sha256,
  type CheckpointFs,
  type CheckpointIoOptions,
} from './checkpoint_fs.js';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  describeValue,
  LATEST,
  MANIFEST,
  readManifest,
  STEP_FOLDER,
  stepFolder,
  TENSORS,
  type TensorEntry,
} from './checkpoint_manifest.js';
import { acquireCheckpointLock, type CheckpointLock } from './writer_lock.js';

/** Options of writeCheckpoint. */
export interface WriteCheckpointOptions extends CheckpointIoOptions {
  /** Checkpoints of this run to keep, the new one included: an integer >= 1. Default 3. */
  keep?: number;
  /** The run writing; pruning touches only its checkpoints. Default: one id per process. */
  runId?: string;
  /** A lock already held on `dir` (see acquireCheckpointLock); otherwise one is taken for this write. */
  lock?: CheckpointLock;
  /**
   * Refuse (CheckpointError, nothing written, nothing pruned) a float32 tensor holding NaN or ±Infinity.
   * The Trainer sets it: such optimizer state can never be restored, and writing it would prune the
   * good checkpoints it replaces. Default false.
   */
  requireFinite?: boolean;
}

/** Validates `keep` (an integer >= 1) and returns it. */
export function checkKeep(owner: string, keep: unknown): number {
  if (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 1) {
    throw new CheckpointError(
      `${owner}: invalid keep ${describeValue(keep)}; expected an integer >= 1 (the number of checkpoints of this ` +
        'run to keep).',
    );
  }
  return keep;
}

/**
 * Writes a checkpoint of `step`. `groups` maps a group name (e.g. "model", "optimizer/0") to
 * its named tensors, read here with one readback each. Then removes this run's checkpoints older
 * than the new one beyond the newest `keep` (the new one included). Returns the new folder.
 * The 5th argument is `keep` or the options.
 */
export async function writeCheckpoint(
  dir: string,
  step: number,
  state: Record<string, unknown>,
  groups: Record<string, { name: string; tensor: tf.Tensor }[]>,
  keepOrOptions: number | WriteCheckpointOptions = 3,
): Promise<string> {
  const options = typeof keepOrOptions === 'number' ? { keep: keepOrOptions } : keepOrOptions;
  const keep = options.keep === undefined ? 3 : checkKeep('writeCheckpoint', options.keep); // null etc. refused
  if (typeof dir !== 'string' || dir === '')
    throw new CheckpointError(`writeCheckpoint: invalid dir ${describeValue(dir)}; expected a folder path.`);
  if (!Number.isInteger(step) || step < 0 || step >= 1e16) {
    throw new CheckpointError(`writeCheckpoint: invalid step ${describeValue(step)}; expected an integer >= 0.`);
  }
  if (state === null || typeof state !== 'object' || Array.isArray(state)) {
    throw new CheckpointError('writeCheckpoint: state must be a plain object.');
  }
  const fs = options.fs ?? nodeCheckpointFs;
  const lock = options.lock;
  if (lock !== undefined && (!lock.held || resolve(lock.dir) !== resolve(dir))) {
    throw new CheckpointError(
      `writeCheckpoint: the lock given is ${lock.held ? `for ${lock.dir}, not ${dir}` : 'released'}.`,
    );
  }
  const runId = lock?.runId ?? options.runId ?? PROCESS_RUN_ID;

  // everything is read and serialised before the folder is touched
  const entries: Record<string, TensorEntry[]> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [group, named] of Object.entries(groups)) {
    entries[group] = [];
    const names = new Set<string>();
    for (const { name, tensor } of named) {
      if (typeof name !== 'string' || names.has(name)) {
        throw new CheckpointError(
          `writeCheckpoint: group "${group}" has ` +
            `${typeof name === 'string' ? `two tensors named "${name}"` : 'a tensor without a name'}; names must be ` +
            'unique strings.',
        );
      }
      names.add(name);
      if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32') {
        throw new CheckpointError(
          `writeCheckpoint: tensor "${name}" has dtype ${tensor.dtype}; only float32 and int32 are stored.`,
        );
      }
      const values = await tensor.data();
      if (options.requireFinite === true && tensor.dtype === 'float32') {
        const bad = (values as Float32Array).findIndex((x) => !Number.isFinite(x));
        if (bad >= 0) {
          throw new CheckpointError(
            `writeCheckpoint: "${group}/${name}" holds ${values[bad]} at index ${bad}; a checkpoint with NaN or ` +
              'Infinity could not be restored, so nothing was written and the older checkpoints were kept.',
          );
        }
      }
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
      entries[group]!.push({
        name,
        shape: [...tensor.shape],
        dtype: tensor.dtype,
        offset,
        byteLength: bytes.byteLength,
      });
      chunks.push(bytes);
      offset += bytes.byteLength;
    }
  }
  const blob = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    blob.set(c, at);
    at += c.byteLength;
  }
  const savedAt = new Date().toISOString();
  const body = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    savedAt,
    step,
    runId,
    state,
    tensors: entries,
    sha256: sha256(blob),
    bytes: blob.byteLength,
  };
  const canonical = JSON.stringify(body);
  const parsedBody = JSON.parse(canonical) as Record<string, unknown>;
  if (JSON.stringify(parsedBody) !== canonical) {
    throw new CheckpointError('writeCheckpoint: the state does not survive a JSON round trip; store only JSON values.');
  }
  const manifestSha256 = sha256(canonical);
  const manifestText = JSON.stringify({ ...parsedBody, manifestSha256 }, null, 1);

  const ownLock = lock ?? (await acquireCheckpointLock(dir, { fs, runId, onWarning: options.onWarning }));
  try {
    await ownLock.verify();
    const existing = await fs.readdir(dir);
    let folder = stepFolder(step);
    while (existing.includes(folder)) folder = `${stepFolder(step)}-${hex(4)}`; // never over an existing folder
    const temporary = join(dir, `.${folder}.tmp-${process.pid}-${hex(4)}`);
    await fs.mkdir(temporary);
    await fs.writeFile(join(temporary, TENSORS), blob);
    await fs.writeFile(join(temporary, MANIFEST), manifestText);
    await fs.syncDir(temporary);
    await fs.rename(temporary, join(dir, folder));
    await fs.syncDir(dir);
    const latestBody = { step, folder, runId, manifestSha256, savedAt };
    const latestText = JSON.stringify({ ...latestBody, sha256: sha256(JSON.stringify(latestBody)) });
    const latestTemporary = join(dir, `${LATEST}.tmp-${process.pid}-${hex(4)}`);
    await fs.writeFile(latestTemporary, latestText);
    await fs.rename(latestTemporary, join(dir, LATEST)); // the commit point
    await fs.syncDir(dir);
    await prune(fs, dir, folder, step, savedAt, runId, keep, existing);
    return join(dir, folder);
  } finally {
    // a lock that cannot be removed is left stale (its token is no longer live): the next writer takes it over
    if (lock === undefined) await ownLock.release().catch(() => undefined);
  }
}

/** Removes this run's checkpoints older than `folder` beyond the newest `keep` (`folder` included). */
async function prune(
  fs: CheckpointFs,
  dir: string,
  folder: string,
  step: number,
  savedAt: string,
  runId: string,
  keep: number,
  names: string[],
): Promise<void> {
  const older: { name: string; step: number; savedAt: string }[] = [];
  for (const name of names) {
    if (name === folder || !STEP_FOLDER.test(name)) continue;
    const manifest = await readManifest(fs, join(dir, name)).catch(() => undefined);
    // unreadable or unverifiable folders may be anyone's: left alone
    if (manifest === undefined || manifest.runId !== runId) continue;
    if (manifest.step < step || (manifest.step === step && manifest.savedAt <= savedAt)) {
      older.push({ name, step: manifest.step, savedAt: manifest.savedAt });
    }
  }
  older.sort((a, b) => b.step - a.step || (a.savedAt < b.savedAt ? 1 : a.savedAt > b.savedAt ? -1 : 0));
  for (const { name } of older.slice(keep - 1)) {
    // renamed away first, so a crash mid-delete leaves a leftover, not a half checkpoint
    const grave = join(dir, `.${name}.del-${process.pid}-${hex(4)}`);
    await fs.rename(join(dir, name), grave);
    await fs.rm(grave, { recursive: true, force: true });
  }
}
