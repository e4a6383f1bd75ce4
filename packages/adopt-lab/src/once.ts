/**
 * Work every unit of an experiment would repeat identically (the shared pretraining of charlm-ft), done once
 * per key and kept in the experiment's cache folder, so that a sweep over finetuning rates does not pretrain the
 * same model again for every rate and optimizer. Safe with --jobs: each process builds under a name of its own,
 * marks it complete, and renames it into place; a process that loses the race drops its copy (the work is
 * deterministic, so the content is the same). Whatever was built is read back through `load`, the same path a
 * later run takes, and `load` verifies what it reads: a cache it cannot read is moved aside and built again.
 * Folders left by a process that died mid-build or mid-delete (`<key>.tmp-…`, `<key>.del-…`) are swept at the
 * next call, once their owner is known to be gone: same process space (machine, boot and pid namespace), process
 * no longer running.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { makeDirectoriesSync } from 'adopt-optim/train'; // Node's recursive mkdir never returns under /proc

const DONE = 'done';
/**
 * The process space a folder was made in, where a pid means one process: the machine, and on Linux its boot and
 * pid namespace (a container may share the host's name but not its pids). A cache on a shared disk, or shared by
 * containers, may hold live builds of another space: those are never swept.
 */
export function processSpace(): string {
  const parts = [hostname()];
  for (const read of [
    () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
    () => readlinkSync('/proc/self/ns/pid'),
  ]) {
    try {
      parts.push(read());
    } catch {
      // not Linux: the machine's name alone
    }
  }
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 8);
}
const SPACE = processSpace();
const suffix = () => `${SPACE}-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
const LEFTOVER = /\.(?:tmp|del)-([0-9a-f]{8})-(\d+)-[0-9a-f]+$/;

function running(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: a check, nothing is sent
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Removes the temporary folders of builds and deletes whose process is gone; another process space's are kept. */
export function sweepLeftovers(
  cacheDir: string,
  remove = (path: string) => rmSync(path, { recursive: true, force: true }),
): string[] {
  let names: string[];
  try {
    names = readdirSync(cacheDir);
  } catch {
    return []; // no cache yet
  }
  const swept: string[] = [];
  for (const name of names) {
    const m = LEFTOVER.exec(name);
    if (m === null || m[1] !== SPACE || running(Number(m[2]))) continue;
    try {
      remove(join(cacheDir, name));
      swept.push(name);
    } catch {
      // not ours to remove (another user's), or busy: harmless where it is, left for a later sweep
    }
  }
  return swept;
}

/** Moves a folder aside, then removes it: a crash mid-delete leaves a leftover, never a half cache under its key. */
function discard(dir: string): void {
  const grave = `${dir}.del-${suffix()}`;
  try {
    renameSync(dir, grave);
  } catch {
    return; // gone already (another process discarded it)
  }
  rmSync(grave, { recursive: true, force: true });
}

export async function once<T>(
  cacheDir: string,
  key: string,
  make: (dir: string) => Promise<void>,
  load: (dir: string) => Promise<T>,
): Promise<T> {
  if (!/^[\w.-]+$/.test(key) || /\.(?:tmp|del)-/.test(key) || key === '.' || key === '..') {
    throw new Error(
      `once: key ${JSON.stringify(key)} must be a plain folder name (letters, digits, _ . -) without ".tmp-" or ` +
        '".del-", which mark temporary folders',
    );
  }
  const dir = join(cacheDir, key);
  sweepLeftovers(cacheDir);
  if (existsSync(join(dir, DONE))) {
    try {
      return await load(dir);
    } catch {
      discard(dir); // unreadable: built again below
    }
  }
  makeDirectoriesSync(cacheDir);
  const building = `${dir}.tmp-${suffix()}`;
  mkdirSync(building);
  try {
    await make(building);
    writeFileSync(join(building, DONE), ''); // only complete builds are ever renamed into place
    try {
      renameSync(building, dir);
    } catch {
      // the key is taken: by another process's complete build (kept), or by a folder without DONE (left by a crash)
      if (!existsSync(join(dir, DONE))) {
        discard(dir);
        try {
          renameSync(building, dir);
        } catch {
          // taken again meanwhile by a complete build
        }
      }
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return load(dir);
}
