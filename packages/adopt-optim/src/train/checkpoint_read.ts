/**
 * Reading a checkpoint: latest.json and the folder it names verified end to end, or else the
 * newest checkpoint that verifies, with a warning. The rules are in checkpoint.ts.
 */
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  CheckpointError,
  describe,
  errorCode,
  nodeCheckpointFs,
  sha256,
  warnDefault,
  type CheckpointFs,
  type CheckpointIoOptions,
} from './checkpoint_fs.js';
import {
  isCount,
  isObject,
  LATEST,
  MANIFEST,
  parseJson,
  readManifest,
  STEP_FOLDER,
  TENSORS,
  type CheckpointManifest,
} from './checkpoint_manifest.js';

/** A tensor's values as read from a verified checkpoint (a copy the caller owns). */
export interface TensorValues {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

/** A checkpoint read and verified by readCheckpoint: its folder, manifest and tensors. */
export interface LoadedCheckpoint {
  folder: string;
  manifest: CheckpointManifest;
  /** The groups of tensors it holds ("model", "optimizer/0", ...). */
  groups: string[];
  /** Whether this is not the checkpoint latest.json names (that one failed verification). */
  fellBack: boolean;
  /** Checkpoints tried first and refused, newest first, with the reason. */
  skipped: { folder: string; reason: string }[];
  /** Warnings given while reading (also passed to onWarning). */
  warnings: string[];
  /** Values of a group of entries, without creating tensors. */
  values(group: string): TensorValues[];
  /** New tensors for a group of entries (the caller disposes them). */
  tensors(group: string): { name: string; tensor: tf.Tensor }[];
}

/** Reads a folder's checkpoint and verifies everything; `expectSha` is the manifest hash latest.json gives. */
async function readFolder(
  fs: CheckpointFs,
  folder: string,
  expectSha?: string,
): Promise<{ manifest: CheckpointManifest; blob: Uint8Array }> {
  const manifest = await readManifest(fs, folder);
  if (expectSha !== undefined && manifest.manifestSha256 !== expectSha) {
    throw new CheckpointError(
      `readCheckpoint: ${join(folder, MANIFEST)} is not the manifest latest.json names (checksums differ).`,
    );
  }
  const path = join(folder, TENSORS);
  let blob: Uint8Array;
  try {
    blob = await fs.readFile(path);
  } catch (e) {
    throw new CheckpointError(`readCheckpoint: cannot read ${path} (${describe(e)}).`);
  }
  if (blob.byteLength !== manifest.bytes || sha256(blob) !== manifest.sha256) {
    throw new CheckpointError(
      `readCheckpoint: ${path} is corrupt: ${blob.byteLength} bytes (the manifest says ${manifest.bytes}), checksum ` +
        "differs from the manifest's.",
    );
  }
  return { manifest, blob };
}

interface LatestPointer {
  step: number;
  folder: string;
  runId?: string;
  manifestSha256?: string;
  /** Written by version 1: no checksum. */
  legacy: boolean;
}

async function readLatest(
  fs: CheckpointFs,
  dir: string,
): Promise<LatestPointer | { missing: boolean; reason: string }> {
  const path = join(dir, LATEST);
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (e) {
    return { missing: errorCode(e) === 'ENOENT', reason: `cannot read ${path} (${describe(e)})` };
  }
  let v: unknown;
  try {
    v = parseJson(bytes, path, 'readCheckpoint');
  } catch (e) {
    return { missing: false, reason: describe(e) };
  }
  if (!isObject(v) || typeof v['folder'] !== 'string' || !STEP_FOLDER.test(v['folder']) || !isCount(v['step'])) {
    return { missing: false, reason: `${path} does not name a step folder` };
  }
  const keys = Object.keys(v);
  if (keys.length === 2 && keys.includes('step') && keys.includes('folder')) {
    return { step: v['step'], folder: v['folder'], legacy: true };
  }
  const { sha256: stored, ...rest } = v;
  if (
    typeof stored !== 'string' ||
    sha256(JSON.stringify(rest)) !== stored ||
    typeof v['runId'] !== 'string' ||
    typeof v['manifestSha256'] !== 'string'
  ) {
    return { missing: false, reason: `${path} is corrupt (its checksum does not match its content)` };
  }
  return {
    step: v['step'],
    folder: v['folder'],
    runId: v['runId'],
    manifestSha256: v['manifestSha256'],
    legacy: false,
  };
}

/**
 * Reads the checkpoint `latest.json` names in `dir` (or `dir` itself if it is a step folder) and
 * verifies all of it: the manifest's own checksum, every entry's range, the checksum of
 * tensors.bin. If the checkpoint latest.json names fails (or latest.json itself does), the newest
 * checkpoint that verifies is read instead (of the same run, when latest.json can tell the run),
 * with a warning; a step folder given directly is never substituted.
 */
export async function readCheckpoint(dir: string, options: CheckpointIoOptions = {}): Promise<LoadedCheckpoint> {
  const fs = options.fs ?? nodeCheckpointFs;
  const warn = options.onWarning ?? warnDefault;
  const warnings: string[] = [];
  const say = (message: string) => {
    warnings.push(message);
    warn(message);
  };
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    throw new CheckpointError(`readCheckpoint: no checkpoint folder at ${dir}.`);
  }
  const legacyNote = (folder: string, m: CheckpointManifest) => {
    if (m.version === 1)
      say(
        `readCheckpoint: ${folder} is a version 1 checkpoint; its manifest has no checksum of its own, so only its ` +
          'structure and tensors.bin are verified.',
      );
  };
  if (names.includes(MANIFEST)) {
    const { manifest, blob } = await readFolder(fs, dir);
    legacyNote(dir, manifest);
    return loaded(dir, manifest, blob, false, [], warnings);
  }

  const skipped: { folder: string; reason: string }[] = [];
  const latest = await readLatest(fs, dir);
  let primary = `${join(dir, LATEST)} is missing`;
  let sameRun: string | undefined;
  let upTo: number | undefined;
  let expected: string | undefined;
  if ('folder' in latest) {
    const folder = join(dir, latest.folder);
    try {
      const { manifest, blob } = await readFolder(fs, folder, latest.manifestSha256);
      if (manifest.step !== latest.step) {
        throw new CheckpointError(
          `readCheckpoint: ${folder} holds step ${manifest.step}; latest.json says ${latest.step}.`,
        );
      }
      if (!latest.legacy || manifest.version === 1) {
        legacyNote(folder, manifest);
        return loaded(folder, manifest, blob, false, [], warnings);
      }
      skipped.push({ folder, reason: 'latest.json has no checksum but names a version 2 checkpoint' });
    } catch (e) {
      skipped.push({ folder, reason: describe(e) });
    }
    primary = `${folder} could not be used (${skipped[0]!.reason})`;
    if (!latest.legacy) {
      sameRun = latest.runId;
      upTo = latest.step;
    }
    expected = folder;
  } else if (!latest.missing) {
    skipped.push({ folder: join(dir, LATEST), reason: latest.reason });
    primary = `${join(dir, LATEST)} could not be used (${latest.reason})`;
  }

  // fall back: the newest checkpoint that verifies (of latest.json's run, not after its step)
  const candidates: { folder: string; manifest: CheckpointManifest }[] = [];
  for (const name of names) {
    const folder = join(dir, name);
    if (!STEP_FOLDER.test(name) || folder === expected) continue;
    try {
      const manifest = await readManifest(fs, folder);
      if (sameRun !== undefined && (manifest.runId !== sameRun || manifest.step > upTo!)) continue;
      candidates.push({ folder, manifest });
    } catch (e) {
      skipped.push({ folder, reason: describe(e) });
    }
  }
  // newest first: of latest.json's run by step (then time written); otherwise by time written
  const later = (a: CheckpointManifest, b: CheckpointManifest) =>
    a.savedAt < b.savedAt ? 1 : a.savedAt > b.savedAt ? -1 : 0;
  const order = (
    { manifest: a }: { manifest: CheckpointManifest },
    { manifest: b }: { manifest: CheckpointManifest },
  ) => (sameRun !== undefined ? b.step - a.step || later(a, b) : later(a, b) || b.step - a.step);
  candidates.sort(order);
  for (const c of candidates) {
    try {
      const { manifest, blob } = await readFolder(fs, c.folder);
      say(
        `readCheckpoint: ${primary}; ` +
          `restoring ${c.folder} (step ${manifest.step}) instead, the newest checkpoint in ${dir} that verifies.`,
      );
      legacyNote(c.folder, manifest);
      return loaded(c.folder, manifest, blob, true, skipped, warnings);
    } catch (e) {
      skipped.push({ folder: c.folder, reason: describe(e) });
    }
  }
  if (skipped.length === 0)
    throw new CheckpointError(`readCheckpoint: no checkpoint in ${dir} (no latest.json and no step folder).`);
  throw new CheckpointError(
    `readCheckpoint: no usable checkpoint in ${dir}${sameRun !== undefined ? ` of run ${sameRun}` : ''}: ` +
      skipped.map((s) => `${basename(s.folder)}: ${s.reason}`).join('; '),
  );
}

function loaded(
  folder: string,
  manifest: CheckpointManifest,
  blob: Uint8Array,
  fellBack: boolean,
  skipped: { folder: string; reason: string }[],
  warnings: string[],
): LoadedCheckpoint {
  const values = (group: string): TensorValues[] => {
    const entries = manifest.tensors[group];
    if (entries === undefined) throw new CheckpointError(`readCheckpoint: ${folder} has no tensors for "${group}".`);
    return entries.map((e) => {
      const bytes = new Uint8Array(e.byteLength); // a copy: Node's Buffer.slice would share the file's pool
      bytes.set(blob.subarray(e.offset, e.offset + e.byteLength));
      return {
        name: e.name,
        shape: [...e.shape],
        dtype: e.dtype,
        values: e.dtype === 'int32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer),
      };
    });
  };
  return {
    folder,
    manifest,
    fellBack,
    skipped,
    warnings,
    groups: Object.keys(manifest.tensors),
    values,
    tensors: (group) => values(group).map((v) => ({ name: v.name, tensor: tf.tensor(v.values, v.shape, v.dtype) })),
  };
}
