/**
 * The checkpoint format on disk: its names, the manifest's fields, and the verification of a
 * manifest read back (its own checksum, every entry's range). Writing is in checkpoint_write.ts,
 * reading in checkpoint_read.ts; checkpoint.ts describes the layout and the safety rules.
 */
import { join } from 'node:path';
import { CheckpointError, describe, sha256, type CheckpointFs } from './checkpoint_fs.js';

/** The format name written in every checkpoint's manifest. */
export const CHECKPOINT_FORMAT = 'adopt-optim-checkpoint';
/** Version written. Version 1 (no manifest checksum, no run id) is still read, with a warning. */
export const CHECKPOINT_VERSION = 2;
export const LATEST = 'latest.json';
export const MANIFEST = 'checkpoint.json';
export const TENSORS = 'tensors.bin';
export const STEP_FOLDER = /^step-(\d{8,16})(?:-[0-9a-f]{8})?$/;
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

/** The folder name of a step's first checkpoint (a second of the same step gets a suffix). */
export const stepFolder = (step: number) => `step-${String(step).padStart(8, '0')}`;

/** A value as an error message shows it. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export function parseJson(bytes: Uint8Array, path: string, what: string): unknown {
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

export const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
export const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Reads and verifies a folder's checkpoint.json (its checksum and every entry's range). */
export async function readManifest(fs: CheckpointFs, folder: string): Promise<CheckpointManifest> {
  const path = join(folder, MANIFEST);
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (e) {
    throw new CheckpointError(`readCheckpoint: cannot read ${path} (${describe(e)}).`);
  }
  const m = parseJson(bytes, path, 'readCheckpoint');
  if (!isObject(m) || m['format'] !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      `readCheckpoint: ${folder} is not an adopt-optim checkpoint (format ` +
        `${JSON.stringify(isObject(m) ? m['format'] : undefined)}).`,
    );
  }
  if (m['version'] !== 1 && m['version'] !== CHECKPOINT_VERSION) {
    throw new CheckpointError(
      `readCheckpoint: ${folder} has version ${describeValue(m['version'])}; this package reads versions 1 and ` +
        `${CHECKPOINT_VERSION}.`,
    );
  }
  const corrupt = (what: string) => new CheckpointError(`readCheckpoint: ${path} is corrupt: ${what}.`);
  if (m['version'] !== 1) {
    const { manifestSha256, ...rest } = m;
    if (typeof manifestSha256 !== 'string' || sha256(JSON.stringify(rest)) !== manifestSha256) {
      throw corrupt('its checksum (manifestSha256) does not match its content');
    }
    if (typeof m['runId'] !== 'string' || m['runId'] === '') throw corrupt('no run id');
  }
  if (!isCount(m['step']) || m['step'] >= 1e16)
    throw corrupt(`step ${describeValue(m['step'])} is not an integer >= 0`);
  if (typeof m['savedAt'] !== 'string') throw corrupt('savedAt is not a string');
  if (!isObject(m['state'])) throw corrupt('state is not an object');
  if (typeof m['sha256'] !== 'string' || !HEX64.test(m['sha256']))
    throw corrupt('the checksum of tensors.bin is missing');
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
      if (e['dtype'] !== 'float32' && e['dtype'] !== 'int32')
        throw corrupt(`${where} has dtype ${describeValue(e['dtype'])}`);
      if (!Array.isArray(e['shape']) || !e['shape'].every(isCount))
        throw corrupt(`${where} has shape ${describeValue(e['shape'])}`);
      const size = (e['shape'] as number[]).reduce((n, d) => n * d, 1);
      if (
        !isCount(e['offset']) ||
        !isCount(e['byteLength']) ||
        e['byteLength'] !== size * 4 ||
        e['offset'] + e['byteLength'] > bytesTotal
      ) {
        throw corrupt(
          `${where} (offset ${describeValue(e['offset'])}, ${describeValue(e['byteLength'])} bytes, shape ` +
            `[${e['shape']}]) does not fit tensors.bin of ${bytesTotal} bytes`,
        );
      }
    }
  }
  return m as unknown as CheckpointManifest;
}
