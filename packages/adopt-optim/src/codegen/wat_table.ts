/**
 * WebAssembly text for the table kernels (`init_all`, `step_all`): one call steps many variables. The
 * caller writes a table into the kernel's memory, one row per variable, and the kernel walks it,
 * calling the phase's own function (src/codegen/wat.ts) once per row, so each variable is stepped by
 * exactly the code of a per-variable call: results are bit-identical, and the JS→wasm crossing is paid
 * once per step instead of once per variable (issue 34 item 3).
 *
 * A row is `tableRowWords(sig)` 4-byte words: the byte offset of each array (p, g, the rule's slots, in
 * the signature's order, i32), the element count n (i32), then the phase's uniforms (f32, in the
 * signature's order: a Float32Array store rounds them as a call's f32 parameters do).
 */
import type { Signature } from './signature.js';

/** Words (4 bytes each) in one row of a phase's table: the array offsets, n, the uniforms. */
export function tableRowWords(sig: Signature): number {
  return sig.arrays.length + 1 + sig.uniforms.length;
}

/**
 * `(func (export "<phase>_all") (param $table i32) (param $rows i32))`: calls `$<phase>` (the phase's
 * function, which must be in the same module) on each of the `rows` rows of the table at byte offset
 * `$table`, in order.
 */
export function watTablePhase(phase: 'init' | 'step', sig: Signature): string {
  const words = tableRowWords(sig);
  const load = (i: number, type: 'i32' | 'f32'): string =>
    `(${type}.load${i === 0 ? '' : ` offset=${4 * i}`} (local.get $row))`;
  const args = [
    ...sig.arrays.map((_, i) => load(i, 'i32')),
    load(sig.arrays.length, 'i32'),
    ...sig.uniforms.map((_, i) => load(sig.arrays.length + 1 + i, 'f32')),
  ];
  return `  (func (export "${phase}_all") (param $table i32) (param $rows i32)
    (local $row i32) (local $end i32)
    (local.set $row (local.get $table))
    (local.set $end (i32.add (local.get $table) (i32.mul (local.get $rows) (i32.const ${4 * words}))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $row) (local.get $end)))
        (call $${phase}
          ${args.join('\n          ')})
        (local.set $row (i32.add (local.get $row) (i32.const ${4 * words})))
        (br $next))))`;
}
