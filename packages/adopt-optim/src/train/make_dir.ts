/**
 * `mkdir -p` that fails instead of hanging. Node 20's own recursive mkdir (fs.mkdirSync and
 * fs.promises.mkdir with {recursive: true}) never returns for a path under /proc: mkdir there
 * answers ENOENT although the parent exists, and Node retries the parent and the child without end
 * (measured: `--out /proc/x` hung adopt-lab until killed; issue 21). Here each missing folder is
 * made once, from the nearest existing one down, and the first error is thrown as it is.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** The folders from the nearest existing ancestor of `dir` (excluded) down to `dir`. */
function missing(dir: string, exists: (d: string) => boolean): string[] {
  const out: string[] = [];
  for (let d = resolve(dir); !exists(d); d = dirname(d)) {
    out.unshift(d);
    if (dirname(d) === d) break;
  }
  return out;
}

const made = (e: unknown) => (e as NodeJS.ErrnoException).code === 'EEXIST';

/** What `mkdir -p` says of a path that exists and is not a folder: EEXIST. */
function notAFolder(dir: string): Error {
  return Object.assign(new Error(`EEXIST: file already exists and is not a folder, mkdir '${dir}'`), {
    code: 'EEXIST',
    path: dir,
  });
}

/** Creates `dir` and its missing parents; throws the first error (not EEXIST: another writer made it). */
export function makeDirectoriesSync(dir: string): void {
  for (const d of missing(dir, existsSync)) {
    try {
      mkdirSync(d);
    } catch (e) {
      if (!made(e)) throw e;
    }
  }
  if (!statSync(dir).isDirectory()) throw notAFolder(dir);
}

/** makeDirectoriesSync without blocking. */
export async function makeDirectories(dir: string): Promise<void> {
  const known = new Set<string>();
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (
      await stat(d).then(
        () => true,
        () => false,
      )
    ) {
      known.add(d);
      break;
    }
    if (dirname(d) === d) break;
  }
  for (const d of missing(dir, (x) => known.has(x))) {
    try {
      await mkdir(d);
    } catch (e) {
      if (!made(e)) throw e;
    }
  }
  if (!(await stat(dir)).isDirectory()) throw notAFolder(dir);
}
