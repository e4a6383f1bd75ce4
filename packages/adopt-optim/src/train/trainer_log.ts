/**
 * The Trainer's JSON-lines log: one line appended per record, and on restore (or, without one, before
 * a Trainer's first line) the log cut back to the restored (current) step, so that the steps redone after a
 * crash are not logged twice. The cut is crash-safe: the kept lines go to a temporary file (written and
 * synced) that is renamed over the log, so the log is at any moment either the old one or the cut one.
 */
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { makeDirectoriesSync } from './make_dir.js';

/** Appends `record` (with the time) as one line. */
export function appendLogRecord(file: string, record: Record<string, unknown>): void {
  makeDirectoriesSync(dirname(file));
  appendFileSync(file, `${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
}

/**
 * Whether a log line belongs to a run restored at `step` (steps done): step lines of steps before it
 * (a step line's `step` is the 0-based step it did), other records (evaluation, checkpoint, restore) at
 * or before it. A line that does not parse (cut short by a crash) is dropped.
 */
export function keptAfterRestore(line: string, step: number): boolean {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return false;
  }
  if (record === null || typeof record !== 'object') return false;
  const r = record as { type?: unknown; step?: unknown };
  if (typeof r.step !== 'number') return true;
  return r.type === 'step' ? r.step < step : r.step <= step;
}

/** A prepared cut: the kept lines already written and synced to a temporary file. */
export interface LogCut {
  /** Renames the temporary file over the log. */
  commit(): void;
  /** Removes the temporary file; the log stays as it was. */
  abandon(): void;
}

/**
 * Prepares cutting `file` back to `step` (nothing to do, null, when there is no log or nothing to drop).
 * Throws, leaving the log as it was, when the temporary file cannot be written.
 */
export function prepareLogCut(file: string, step: number): LogCut | null {
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n').filter((l) => l !== '');
  const kept = lines.filter((l) => keptAfterRestore(l, step));
  if (kept.length === lines.length && (text === '' || text.endsWith('\n'))) return null;
  const temporary = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fd = openSync(temporary, 'w');
    try {
      writeSync(fd, kept.map((l) => `${l}\n`).join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    rmSync(temporary, { force: true });
    throw e;
  }
  return {
    commit: () => renameSync(temporary, file),
    abandon: () => rmSync(temporary, { force: true }),
  };
}

/**
 * Cuts `file` back to `step` now (crash-safely, as prepareLogCut): what a Trainer that has not restored does before
 * its first line, so that the lines of a run that crashed before its first checkpoint are not followed by the same
 * steps again (or a line cut short fused with the next record). Throws, leaving the log as it was, on a failure.
 */
export function cutLog(file: string, step: number): void {
  const cut = prepareLogCut(file, step);
  try {
    cut?.commit();
  } catch (e) {
    cut?.abandon();
    throw e;
  }
}
