/**
 * Work every unit of an experiment would repeat identically (the shared pretraining of charlm-ft), done once
 * per key and kept in the experiment's cache folder, so that a sweep over finetuning rates does not pretrain the
 * same model again for every rate and optimizer. Safe with --jobs: each process builds under a name of its own
 * and renames into place; the loser of a race drops its copy (the content is the same, as the work is
 * deterministic). Whatever was built, the caller reads it back through `load`, the same path a later run takes.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const DONE = 'done';

export async function once<T>(cacheDir: string, key: string, make: (dir: string) => Promise<void>, load: (dir: string) => Promise<T>): Promise<T> {
  const dir = join(cacheDir, key);
  if (existsSync(join(dir, DONE))) {
    try {
      return await load(dir);
    } catch {
      rmSync(dir, { recursive: true, force: true }); // unreadable: built again below
    }
  }
  mkdirSync(cacheDir, { recursive: true });
  const building = `${dir}.tmp-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building);
  try {
    await make(building);
    writeFileSync(join(building, DONE), '');
    try {
      renameSync(building, dir);
    } catch {
      // another process renamed its copy first (or a broken one is in the way: replaced)
      if (!existsSync(join(dir, DONE))) {
        rmSync(dir, { recursive: true, force: true });
        renameSync(building, dir);
      }
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return load(dir);
}
