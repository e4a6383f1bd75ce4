/**
 * Checkpoint folders: one sub-folder per saved step with a JSON manifest and one binary file of
 * tensors, plus `latest.json` naming the newest. Every file is written under a temporary name and
 * renamed into place, so a crash mid-write never leaves a broken latest checkpoint; the manifest
 * records the SHA-256 of the binary, so a corrupt or truncated file is refused when read.
 *
 *   dir/latest.json                {"step": 200, "folder": "step-00000200"}
 *   dir/step-00000200/checkpoint.json
 *   dir/step-00000200/tensors.bin
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

export const CHECKPOINT_FORMAT = 'adopt-optim-checkpoint';
export const CHECKPOINT_VERSION = 1;

/** Thrown for a checkpoint that cannot be used: missing, corrupt, or for another run. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export interface TensorEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  offset: number;
  byteLength: number;
}

/** What a checkpoint holds besides tensors; `tensors` lists where each one sits in tensors.bin. */
export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  savedAt: string;
  step: number;
  /** Free-form run state (data position, RNG, optimizer names, history, ...). */
  state: Record<string, unknown>;
  tensors: Record<string, TensorEntry[]>;
  sha256: string;
  bytes: number;
}

export interface LoadedCheckpoint {
  folder: string;
  manifest: CheckpointManifest;
  /** New tensors for a group of entries (the caller disposes them). */
  tensors(group: string): { name: string; tensor: tf.Tensor }[];
}

const stepFolder = (step: number) => `step-${String(step).padStart(8, '0')}`;

async function writeAtomically(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}

/**
 * Writes a checkpoint of `step`. `groups` maps a group name (e.g. "model", "optimizer/0") to
 * its named tensors, read here with one readback each. Keeps the newest `keep` checkpoints.
 */
export async function writeCheckpoint(
  dir: string, step: number, state: Record<string, unknown>,
  groups: Record<string, { name: string; tensor: tf.Tensor }[]>, keep = 3,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const entries: Record<string, TensorEntry[]> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [group, named] of Object.entries(groups)) {
    entries[group] = [];
    for (const { name, tensor } of named) {
      if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32') {
        throw new CheckpointError(`writeCheckpoint: tensor "${name}" has dtype ${tensor.dtype}; only float32 and int32 are stored.`);
      }
      const values = await tensor.data();
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
      entries[group]!.push({ name, shape: [...tensor.shape], dtype: tensor.dtype, offset, byteLength: bytes.byteLength });
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
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, savedAt: new Date().toISOString(), step, state,
    tensors: entries, sha256: createHash('sha256').update(blob).digest('hex'), bytes: blob.byteLength,
  };
  const folder = stepFolder(step);
  const temporary = join(dir, `.${folder}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(temporary);
  await writeFile(join(temporary, 'tensors.bin'), blob);
  await writeFile(join(temporary, 'checkpoint.json'), JSON.stringify(manifest, null, 1));
  await rm(join(dir, folder), { recursive: true, force: true });
  await rename(temporary, join(dir, folder));
  await writeAtomically(join(dir, 'latest.json'), JSON.stringify({ step, folder }));
  const old = (await readdir(dir)).filter((f) => /^step-\d{8}$/.test(f)).sort().slice(0, -keep);
  await Promise.all(old.map((f) => rm(join(dir, f), { recursive: true, force: true })));
  return join(dir, folder);
}

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CheckpointError(`${what}: cannot read ${path} (${(e as Error).message}).`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError(`${what}: ${path} is not valid JSON; the checkpoint is corrupt.`);
  }
}

/**
 * Reads the checkpoint `latest.json` names in `dir` (or `dir` itself if it is a step folder),
 * verifying its format and the checksum of its tensors.
 */
export async function readCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  let folder = dir;
  const entriesInDir = await readdir(dir).catch(() => {
    throw new CheckpointError(`readCheckpoint: no checkpoint folder at ${dir}.`);
  });
  if (!entriesInDir.includes('checkpoint.json')) {
    const latest = await readJson(join(dir, 'latest.json'), 'readCheckpoint') as { folder?: unknown };
    if (typeof latest.folder !== 'string' || !/^step-\d{8}$/.test(latest.folder)) {
      throw new CheckpointError(`readCheckpoint: ${join(dir, 'latest.json')} does not name a step folder.`);
    }
    folder = join(dir, latest.folder);
  }
  const manifest = await readJson(join(folder, 'checkpoint.json'), 'readCheckpoint') as CheckpointManifest;
  if (manifest?.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`readCheckpoint: ${folder} is not an adopt-optim checkpoint (format ${JSON.stringify(manifest?.format)}).`);
  }
  if (manifest.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`readCheckpoint: ${folder} has version ${manifest.version}; this package reads version ${CHECKPOINT_VERSION}.`);
  }
  let blob: Uint8Array;
  try {
    blob = await readFile(join(folder, 'tensors.bin'));
  } catch (e) {
    throw new CheckpointError(`readCheckpoint: cannot read ${join(folder, 'tensors.bin')} (${(e as Error).message}).`);
  }
  if (blob.byteLength !== manifest.bytes || createHash('sha256').update(blob).digest('hex') !== manifest.sha256) {
    throw new CheckpointError(
      `readCheckpoint: ${join(folder, 'tensors.bin')} is corrupt: ${blob.byteLength} bytes, checksum differs from the manifest's.`,
    );
  }
  return {
    folder,
    manifest,
    tensors(group) {
      const entries = manifest.tensors[group];
      if (entries === undefined) throw new CheckpointError(`readCheckpoint: ${folder} has no tensors for "${group}".`);
      return entries.map((e) => {
        const bytes = new Uint8Array(e.byteLength); // a copy: Node's Buffer.slice would share the file's pool
        bytes.set(blob.subarray(e.offset, e.offset + e.byteLength));
        const values = e.dtype === 'int32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
        return { name: e.name, tensor: tf.tensor(values, e.shape, e.dtype) };
      });
    },
  };
}
