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
import { basename, join, resolve } from 'node:path';
import {
  CheckpointError, describe, errorCode, hex, nodeCheckpointFs, PROCESS_RUN_ID, sha256, warnDefault,
  type CheckpointFs, type CheckpointIoOptions,
} from './checkpoint_fs.js';
import { acquireCheckpointLock, type CheckpointLock } from './writer_lock.js';

export { CheckpointError, nodeCheckpointFs, PROCESS_RUN_ID, type CheckpointFs, type CheckpointIoOptions } from './checkpoint_fs.js';
export { acquireCheckpointLock, type CheckpointLock } from './writer_lock.js';
import * as tf from '@tensorflow/tfjs-core';

/** The format name written in every checkpoint's manifest. */
export const CHECKPOINT_FORMAT = 'adopt-optim-checkpoint';
/** Version written. Version 1 (no manifest checksum, no run id) is still read, with a warning. */
export const CHECKPOINT_VERSION = 2;
const LATEST = 'latest.json';
const MANIFEST = 'checkpoint.json';
const TENSORS = 'tensors.bin';
const STEP_FOLDER = /^step-(\d{8,16})(?:-[0-9a-f]{8})?$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** Where a tensor lies in a checkpoint's tensors.bin: name, shape, dtype, offset and length. */
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
  /** The run that wrote it (absent in version 1). Pruning removes only this run's checkpoints. */
  runId?: string;
  /** Free-form run state (data position, RNG, optimizer names, history, ...). */
  state: Record<string, unknown>;
  tensors: Record<string, TensorEntry[]>;
  /** SHA-256 and length of tensors.bin. */
  sha256: string;
  bytes: number;
  /** SHA-256 of JSON.stringify of every other field, in order (absent in version 1). */
  manifestSha256?: string;
}

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

const stepFolder = (step: number) => `step-${String(step).padStart(8, '0')}`;

/** Validates `keep` (an integer >= 1) and returns it. */
export function checkKeep(owner: string, keep: unknown): number {
  if (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 1) {
    throw new CheckpointError(`${owner}: invalid keep ${describeValue(keep)}; expected an integer >= 1 (the number of checkpoints of this run to keep).`);
  }
  return keep;
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Writes a checkpoint of `step`. `groups` maps a group name (e.g. "model", "optimizer/0") to
 * its named tensors, read here with one readback each. Then removes this run's checkpoints older
 * than the new one beyond the newest `keep` (the new one included). Returns the new folder.
 * The 5th argument is `keep` or the options.
 */
export async function writeCheckpoint(
  dir: string, step: number, state: Record<string, unknown>,
  groups: Record<string, { name: string; tensor: tf.Tensor }[]>, keepOrOptions: number | WriteCheckpointOptions = 3,
): Promise<string> {
  const options = typeof keepOrOptions === 'number' ? { keep: keepOrOptions } : keepOrOptions;
  const keep = options.keep === undefined ? 3 : checkKeep('writeCheckpoint', options.keep); // null etc. refused
  if (typeof dir !== 'string' || dir === '') throw new CheckpointError(`writeCheckpoint: invalid dir ${describeValue(dir)}; expected a folder path.`);
  if (!Number.isInteger(step) || step < 0 || step >= 1e16) {
    throw new CheckpointError(`writeCheckpoint: invalid step ${describeValue(step)}; expected an integer >= 0.`);
  }
  if (state === null || typeof state !== 'object' || Array.isArray(state)) {
    throw new CheckpointError('writeCheckpoint: state must be a plain object.');
  }
  const fs = options.fs ?? nodeCheckpointFs;
  const lock = options.lock;
  if (lock !== undefined && (!lock.held || resolve(lock.dir) !== resolve(dir))) {
    throw new CheckpointError(`writeCheckpoint: the lock given is ${lock.held ? `for ${lock.dir}, not ${dir}` : 'released'}.`);
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
        throw new CheckpointError(`writeCheckpoint: group "${group}" has ${typeof name === 'string' ? `two tensors named "${name}"` : 'a tensor without a name'}; names must be unique strings.`);
      }
      names.add(name);
      if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32') {
        throw new CheckpointError(`writeCheckpoint: tensor "${name}" has dtype ${tensor.dtype}; only float32 and int32 are stored.`);
      }
      const values = await tensor.data();
      if (options.requireFinite === true && tensor.dtype === 'float32') {
        const bad = (values as Float32Array).findIndex((x) => !Number.isFinite(x));
        if (bad >= 0) {
          throw new CheckpointError(
            `writeCheckpoint: "${group}/${name}" holds ${values[bad]} at index ${bad}; a checkpoint with NaN or Infinity ` +
              'could not be restored, so nothing was written and the older checkpoints were kept.',
          );
        }
      }
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
  const savedAt = new Date().toISOString();
  const body = {
    format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, savedAt, step, runId, state,
    tensors: entries, sha256: sha256(blob), bytes: blob.byteLength,
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
  fs: CheckpointFs, dir: string, folder: string, step: number, savedAt: string, runId: string, keep: number, names: string[],
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

// ---------------------------------------------------------------------------------------------
// Reading

function parseJson(bytes: Uint8Array, path: string, what: string): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CheckpointError(`${what}: ${path} is not valid UTF-8; the file is corrupt.`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError(`${what}: ${path} is not valid JSON; the checkpoint is corrupt.`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Reads and verifies a folder's checkpoint.json (its checksum and every entry's range). */
async function readManifest(fs: CheckpointFs, folder: string): Promise<CheckpointManifest> {
  const path = join(folder, MANIFEST);
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (e) {
    throw new CheckpointError(`readCheckpoint: cannot read ${path} (${describe(e)}).`);
  }
  const m = parseJson(bytes, path, 'readCheckpoint');
  if (!isObject(m) || m['format'] !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`readCheckpoint: ${folder} is not an adopt-optim checkpoint (format ${JSON.stringify(isObject(m) ? m['format'] : undefined)}).`);
  }
  if (m['version'] !== 1 && m['version'] !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`readCheckpoint: ${folder} has version ${describeValue(m['version'])}; this package reads versions 1 and ${CHECKPOINT_VERSION}.`);
  }
  const corrupt = (what: string) => new CheckpointError(`readCheckpoint: ${path} is corrupt: ${what}.`);
  if (m['version'] !== 1) {
    const { manifestSha256, ...rest } = m;
    if (typeof manifestSha256 !== 'string' || sha256(JSON.stringify(rest)) !== manifestSha256) {
      throw corrupt('its checksum (manifestSha256) does not match its content');
    }
    if (typeof m['runId'] !== 'string' || m['runId'] === '') throw corrupt('no run id');
  }
  if (!isCount(m['step']) || m['step'] >= 1e16) throw corrupt(`step ${describeValue(m['step'])} is not an integer >= 0`);
  if (typeof m['savedAt'] !== 'string') throw corrupt('savedAt is not a string');
  if (!isObject(m['state'])) throw corrupt('state is not an object');
  if (typeof m['sha256'] !== 'string' || !HEX64.test(m['sha256'])) throw corrupt('the checksum of tensors.bin is missing');
  const bytesTotal = m['bytes'];
  if (!isCount(bytesTotal)) throw corrupt(`bytes ${describeValue(bytesTotal)} is not an integer >= 0`);
  if (!isObject(m['tensors'])) throw corrupt('tensors is not an object');
  for (const [group, list] of Object.entries(m['tensors'])) {
    if (!Array.isArray(list)) throw corrupt(`tensors of "${group}" is not a list`);
    const names = new Set<string>();
    for (const e of list as unknown[]) {
      if (!isObject(e) || typeof e['name'] !== 'string') throw corrupt(`an entry of "${group}" has no name`);
      const where = `entry "${e['name']}" of "${group}"`;
      if (names.has(e['name'])) throw corrupt(`${where} appears twice`);
      names.add(e['name']);
      if (e['dtype'] !== 'float32' && e['dtype'] !== 'int32') throw corrupt(`${where} has dtype ${describeValue(e['dtype'])}`);
      if (!Array.isArray(e['shape']) || !e['shape'].every(isCount)) throw corrupt(`${where} has shape ${describeValue(e['shape'])}`);
      const size = (e['shape'] as number[]).reduce((n, d) => n * d, 1);
      if (!isCount(e['offset']) || !isCount(e['byteLength']) || e['byteLength'] !== size * 4 || e['offset'] + e['byteLength'] > bytesTotal) {
        throw corrupt(`${where} (offset ${describeValue(e['offset'])}, ${describeValue(e['byteLength'])} bytes, shape [${e['shape']}]) does not fit tensors.bin of ${bytesTotal} bytes`);
      }
    }
  }
  return m as unknown as CheckpointManifest;
}

/** Reads a folder's checkpoint and verifies everything; `expectSha` is the manifest hash latest.json gives. */
async function readFolder(fs: CheckpointFs, folder: string, expectSha?: string): Promise<{ manifest: CheckpointManifest; blob: Uint8Array }> {
  const manifest = await readManifest(fs, folder);
  if (expectSha !== undefined && manifest.manifestSha256 !== expectSha) {
    throw new CheckpointError(`readCheckpoint: ${join(folder, MANIFEST)} is not the manifest latest.json names (checksums differ).`);
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
      `readCheckpoint: ${path} is corrupt: ${blob.byteLength} bytes (the manifest says ${manifest.bytes}), checksum differs from the manifest's.`,
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

async function readLatest(fs: CheckpointFs, dir: string): Promise<LatestPointer | { missing: boolean; reason: string }> {
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
  if (typeof stored !== 'string' || sha256(JSON.stringify(rest)) !== stored || typeof v['runId'] !== 'string' || typeof v['manifestSha256'] !== 'string') {
    return { missing: false, reason: `${path} is corrupt (its checksum does not match its content)` };
  }
  return { step: v['step'], folder: v['folder'], runId: v['runId'], manifestSha256: v['manifestSha256'], legacy: false };
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
    if (m.version === 1) say(`readCheckpoint: ${folder} is a version 1 checkpoint; its manifest has no checksum of its own, so only its structure and tensors.bin are verified.`);
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
        throw new CheckpointError(`readCheckpoint: ${folder} holds step ${manifest.step}; latest.json says ${latest.step}.`);
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
  const later = (a: CheckpointManifest, b: CheckpointManifest) => (a.savedAt < b.savedAt ? 1 : a.savedAt > b.savedAt ? -1 : 0);
  const order = ({ manifest: a }: { manifest: CheckpointManifest }, { manifest: b }: { manifest: CheckpointManifest }) =>
    sameRun !== undefined ? b.step - a.step || later(a, b) : later(a, b) || b.step - a.step;
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
  if (skipped.length === 0) throw new CheckpointError(`readCheckpoint: no checkpoint in ${dir} (no latest.json and no step folder).`);
  throw new CheckpointError(
    `readCheckpoint: no usable checkpoint in ${dir}${sameRun !== undefined ? ` of run ${sameRun}` : ''}: ` +
      skipped.map((s) => `${basename(s.folder)}: ${s.reason}`).join('; '),
  );
}

function loaded(
  folder: string, manifest: CheckpointManifest, blob: Uint8Array, fellBack: boolean,
  skipped: { folder: string; reason: string }[], warnings: string[],
): LoadedCheckpoint {
  const values = (group: string): TensorValues[] => {
    const entries = manifest.tensors[group];
    if (entries === undefined) throw new CheckpointError(`readCheckpoint: ${folder} has no tensors for "${group}".`);
    return entries.map((e) => {
      const bytes = new Uint8Array(e.byteLength); // a copy: Node's Buffer.slice would share the file's pool
      bytes.set(blob.subarray(e.offset, e.offset + e.byteLength));
      return { name: e.name, shape: [...e.shape], dtype: e.dtype, values: e.dtype === 'int32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer) };
    });
  };
  return {
    folder, manifest, fellBack, skipped, warnings,
    groups: Object.keys(manifest.tensors),
    values,
    tensors: (group) => values(group).map((v) => ({ name: v.name, tensor: tf.tensor(v.values, v.shape, v.dtype) })),
  };
}
