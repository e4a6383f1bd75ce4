/**
 * What the checkpoint modules share: the error they throw, the file operations they use (Node's
 * by default; tests inject crashes through them), and small helpers.
 */
import { makeDirectories } from './make_dir.js';
import { createHash, randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';

/** Thrown for a checkpoint that cannot be used: missing, corrupt, for another run or model, or locked. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/**
 * The file operations checkpoints use (Node's by default). Passing another lets tests inject
 * crashes and lets a caller add durability or logging.
 */
export interface CheckpointFs {
  /** Creates a folder (recursive: with its parents). */
  mkdir(path: string, options?: { recursive?: boolean }): Promise<unknown>;
  /** Writes the whole file and flushes it to disk. */
  writeFile(path: string, data: string | Uint8Array): Promise<void>;
  /** Reads a whole file. */
  readFile(path: string): Promise<Uint8Array>;
  /** A folder's entries. */
  readdir(path: string): Promise<string[]>;
  /** Renames atomically (replacing `to`). */
  rename(from: string, to: string): Promise<void>;
  /** Fails with EEXIST when `to` exists (used for the lock). */
  link(from: string, to: string): Promise<void>;
  /** Removes a file. */
  unlink(path: string): Promise<void>;
  /** Removes a folder and what it holds. */
  rm(path: string, options: { recursive: true; force: true }): Promise<void>;
  /** Flushes a folder's entries (renames) to disk; may do nothing. */
  syncDir(path: string): Promise<void>;
}

/** The file operations of Node's fs/promises, with fsync on write and on folders. */
export const nodeCheckpointFs: CheckpointFs = {
  // recursive: our own walk (./make_dir.ts), as Node's never returns under /proc
  mkdir: (path, options) => (options?.recursive === true ? makeDirectories(path) : nodeFs.mkdir(path, options)),
  async writeFile(path, data) {
    const handle = await nodeFs.open(path, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  readFile: (path) => nodeFs.readFile(path),
  readdir: (path) => nodeFs.readdir(path),
  rename: (from, to) => nodeFs.rename(from, to),
  link: (from, to) => nodeFs.link(from, to),
  unlink: (path) => nodeFs.unlink(path),
  rm: (path, options) => nodeFs.rm(path, options),
  async syncDir(path) {
    let handle: nodeFs.FileHandle | undefined;
    try {
      handle = await nodeFs.open(path, 'r');
      await handle.sync();
    } catch {
      // some platforms cannot open or flush a folder; the renames are still atomic
    } finally {
      await handle?.close().catch(() => undefined);
    }
  },
};

/** Options of checkpoint reads and writes: the file operations, and where warnings go. */
export interface CheckpointIoOptions {
  fs?: CheckpointFs;
  /** Called with each warning (a fallback, a stale lock taken over, a version 1 checkpoint). Default console.warn. */
  onWarning?: (message: string) => void;
}

export const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
export const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
export const warnDefault = (message: string): void => console.warn(message);
export const errorCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;
export const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A run id for writers that do not give one: checkpoints of one process prune each other. */
export const PROCESS_RUN_ID = hex(8);
