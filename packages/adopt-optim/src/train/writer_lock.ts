/**
 * One writer per checkpoint folder: `writer.lock` holds the owner's pid, host, run id and a token.
 * A second writer is refused; a lock whose process is gone is taken over (with a warning); once
 * held, leftovers of crashed writes are removed.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  CheckpointError,
  errorCode,
  hex,
  nodeCheckpointFs,
  PROCESS_RUN_ID,
  warnDefault,
  type CheckpointFs,
  type CheckpointIoOptions,
} from './checkpoint_fs.js';

export const LOCK = 'writer.lock';
const LEFTOVER =
  /^(?:\.step-\d{8,16}(?:-[0-9a-f]{8})?\.(?:tmp|del)-[\w-]+|latest\.json\.tmp-[\w-]+|writer\.lock\.(?:tmp|stale)-[\w-]+)$/;

/** Tokens of the locks this process holds now (a lock file with our pid and another token is stale). */
const liveTokens = new Set<string>();

interface LockContent {
  pid: number;
  hostname: string;
  runId: string;
  token: string;
  acquiredAt: string;
}

/** The writer lock of a checkpoint folder, held by acquireCheckpointLock until released. */
export interface CheckpointLock {
  readonly dir: string;
  readonly runId: string;
  readonly token: string;
  /** Whether this lock still holds `dir` (false after release). */
  readonly held: boolean;
  /** Throws a CheckpointError unless the lock file on disk is still this lock's. */
  verify(): Promise<void>;
  /** Gives the folder up (removes the lock file if it is still this lock). */
  release(): Promise<void>;
}

function processAlive(pid: number): boolean {
  // kill(0, 0) signals our own process group and kill(-1, 0) every process: both "succeed", so a
  // lock naming pid 0 or -1 was judged held forever (issue 21). No writer has such a pid.
  if (!Number.isSafeInteger(pid) || pid < 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errorCode(e) === 'EPERM'; // exists, owned by someone else
  }
}

async function readLock(fs: CheckpointFs, path: string): Promise<LockContent | 'missing' | 'unreadable'> {
  let text: string;
  try {
    text = new TextDecoder().decode(await fs.readFile(path));
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return 'missing';
    throw e;
  }
  try {
    const v = JSON.parse(text) as LockContent;
    if (
      Number.isInteger(v.pid) &&
      typeof v.hostname === 'string' &&
      typeof v.token === 'string' &&
      typeof v.runId === 'string'
    )
      return v;
  } catch {
    // fall through
  }
  return 'unreadable';
}

/**
 * Takes the writer lock of `dir` (creating the folder), or throws a CheckpointError naming the
 * writer that holds it. A lock left by a process that is gone is taken over, with a warning.
 * Leftovers of crashed writes (`.step-*.tmp-*`, `latest.json.tmp-*`) are removed once it is held.
 */
export async function acquireCheckpointLock(
  dir: string,
  options: CheckpointIoOptions & { runId?: string } = {},
): Promise<CheckpointLock> {
  const fs = options.fs ?? nodeCheckpointFs;
  const warn = options.onWarning ?? warnDefault;
  const runId = options.runId ?? PROCESS_RUN_ID;
  const path = join(dir, LOCK);
  const content: LockContent = {
    pid: process.pid,
    hostname: hostname(),
    runId,
    token: hex(16),
    acquiredAt: new Date().toISOString(),
  };
  await fs.mkdir(dir, { recursive: true });
  for (let attempt = 0; ; attempt++) {
    const temporary = join(dir, `${LOCK}.tmp-${process.pid}-${hex(4)}`);
    await fs.writeFile(temporary, JSON.stringify(content));
    let taken = false;
    let retry = false;
    try {
      await fs.link(temporary, path); // atomic: fails if a lock exists, and the lock is whole when it appears
      taken = true;
    } catch (e) {
      if (errorCode(e) === 'ENOENT')
        retry = true; // our temporary file was swept away meanwhile
      else if (errorCode(e) !== 'EEXIST') throw e;
    } finally {
      await fs.unlink(temporary).catch(() => undefined);
    }
    if (taken) break;
    if (attempt >= 4) {
      throw new CheckpointError(`acquireCheckpointLock: could not take ${path}; other writers keep taking it.`);
    }
    if (retry) continue;
    const other = await readLock(fs, path);
    if (other === 'missing') continue; // released meanwhile
    if (other === 'unreadable') {
      throw new CheckpointError(
        `acquireCheckpointLock: ${path} exists but cannot be read as a lock; if no other process writes checkpoints ` +
          `to ${dir}, delete it.`,
      );
    }
    const sameHost = other.hostname === content.hostname;
    const alive = other.pid === process.pid ? liveTokens.has(other.token) : processAlive(other.pid);
    if (!sameHost || alive) {
      const who = `process ${other.pid} on ${other.hostname} (run ${other.runId}, since ${other.acquiredAt})`;
      throw new CheckpointError(
        `acquireCheckpointLock: ${dir} is being written by ` +
          `${who}${other.pid === process.pid && sameHost ? ', another writer in this process' : ''}; two writers on ` +
          "one checkpoint folder would delete each other's checkpoints. Use another folder" +
          (sameHost
            ? other.pid === process.pid
              ? '.'
              : `, or, if process ${other.pid} is not writing checkpoints (its pid reused since that writer ` +
                `stopped), delete ${path}.`
            : `, or delete ${path} if that process is no longer running.`),
      );
    }
    // stale: move it aside, then make sure what was moved is the lock we judged stale
    const grave = join(dir, `${LOCK}.stale-${process.pid}-${hex(4)}`);
    try {
      await fs.rename(path, grave);
    } catch (e) {
      if (errorCode(e) === 'ENOENT') continue;
      throw e;
    }
    const moved = await readLock(fs, grave);
    if (typeof moved === 'object' && moved.token !== other.token) {
      await fs.link(grave, path).catch(() => undefined); // someone else's fresh lock: put it back
      await fs.unlink(grave).catch(() => undefined);
      continue;
    }
    await fs.unlink(grave).catch(() => undefined);
    warn(
      `acquireCheckpointLock: took over the lock of ${dir} left by process ${other.pid} (run ${other.runId}), which ` +
        'is no longer running.',
    );
  }
  liveTokens.add(content.token);
  let held = true;
  const lock: CheckpointLock = {
    dir,
    runId,
    token: content.token,
    get held() {
      return held;
    },
    async verify() {
      const now = held ? await readLock(fs, path) : 'missing';
      if (typeof now !== 'object' || now.token !== content.token) {
        throw new CheckpointError(
          `writeCheckpoint: this writer no longer holds the lock of ${dir} (${path} ` +
            `${typeof now === 'object' ? `belongs to process ${now.pid}, run ${now.runId}` : 'is gone'}); refusing to ` +
            'write.',
        );
      }
    },
    async release() {
      if (!held) return;
      held = false;
      liveTokens.delete(content.token); // first: should the unlink fail, the file is a stale lock
      const now = await readLock(fs, path);
      if (typeof now === 'object' && now.token === content.token) await fs.unlink(path).catch(() => undefined);
    },
  };
  try {
    await removeLeftovers(fs, dir);
  } catch (e) {
    await lock.release().catch(() => undefined); // not left "live": the next writer may take it over
    throw e;
  }
  return lock;
}

async function removeLeftovers(fs: CheckpointFs, dir: string): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (LEFTOVER.test(name)) await fs.rm(join(dir, name), { recursive: true, force: true });
  }
}
