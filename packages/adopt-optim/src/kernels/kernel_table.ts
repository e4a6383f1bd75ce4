/**
 * The rows of a table kernel (src/codegen/wat_table.ts) written into a WebAssembly memory: for each
 * variable of a step, the byte offsets of its arrays, its length and its phase's uniforms. Used by the
 * tfjs wasm backend (the table on tfjs's heap, src/backends/tfjs_fused.ts) and by the array kernels
 * (./array_kernels.ts, the table in their own memory).
 */
import { uniformArgs, type Signature } from '../codegen/signature.js';
import { tableRowWords } from '../codegen/wat_table.js';
import type { Node } from '../rules/expr.js';

/** One row: the arrays' byte offsets (p, g, the slots in the signature's order), n, the call's scalars. */
export interface TableRow {
  offsets: readonly number[];
  n: number;
  scalars: Readonly<Record<string, number>>;
  means?: Map<Node, number>;
}

/** Bytes a table of `rows` rows of this signature takes. */
export function tableBytes(sig: Signature, rows: number): number {
  return 4 * tableRowWords(sig) * rows;
}

/**
 * Writes the rows at byte offset `at` of `memory` (which must hold tableBytes(sig, rows.length) there).
 * Offsets and n go in as i32, the uniforms as f32: the same rounding as a call's f32 parameters.
 */
export function writeTable(memory: WebAssembly.Memory, at: number, sig: Signature, rows: readonly TableRow[]): void {
  const words = tableRowWords(sig);
  const ints = new Int32Array(memory.buffer, at, words * rows.length);
  const floats = new Float32Array(memory.buffer, at, words * rows.length);
  const arrays = sig.arrays.length;
  let last: TableRow | undefined;
  let u: number[] = [];
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const base = r * words;
    if (row.offsets.length !== arrays) {
      throw new TypeError(`adopt-optim: a table row holds ${row.offsets.length} arrays; the kernel takes ${arrays}`);
    }
    for (let i = 0; i < arrays; i++) ints[base + i] = row.offsets[i]!;
    ints[base + arrays] = row.n;
    // rows of one step mostly share their scalars object (FamilyOptimizer): evaluated once for all of them
    if (last === undefined || row.scalars !== last.scalars || row.means !== undefined || last.means !== undefined)
      u = uniformArgs(sig, row.scalars, row.means);
    last = row;
    for (let i = 0; i < u.length; i++) floats[base + arrays + 1 + i] = u[i]!;
  }
}
