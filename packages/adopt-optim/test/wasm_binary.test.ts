/**
 * The run-time assembler (src/codegen/wasm_binary.ts) against wabt: for every module generated
 * from the shipped rules, plain and shared memory, the same bytes; and it refuses what it does
 * not know rather than emit something else.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import initWabt from 'wabt';
import { allPlans } from '../src/codegen/modules.js';
import { watCount, watModule, watPhase } from '../src/codegen/wat.js';
import { assembleWat } from '../src/codegen/wasm_binary.js';
import { sharedMemoryVariant } from '../src/kernels/wasm_module.js';

const wabt = await initWabt();

function texts(): [string, string][] {
  return allPlans().map(({ plan }) => [plan.key, watModule(plan.key, [
    ...(plan.init ? [watPhase('init', plan.init.sig, plan.init.phase)] : []),
    watPhase('step', plan.step.sig, plan.step.phase),
    ...(plan.count ? [watCount('count', plan.count.sig, plan.count.cond)] : []),
  ])]);
}

function wabtBytes(text: string, shared: boolean): Uint8Array {
  const source = shared ? text.replace('(memory 1))', '(memory 1 65536 shared))') : text;
  const m = wabt.parseWat('k.wat', source, { simd: true, threads: shared });
  const bytes = m.toBinary({}).buffer;
  m.destroy();
  return bytes;
}

describe('the shared-memory variant derived from a plain module (the package ships only plain ones)', () => {
  it('equals wabt\'s shared build for every generated module, and refuses a module it cannot rewrite', () => {
    for (const [key, text] of texts()) assert.deepEqual(sharedMemoryVariant(wabtBytes(text, false)), wabtBytes(text, true), key);
    // a module that imports a function as well: refused, not rewritten into something else
    const withFunc = wabt.parseWat('f.wat', '(module (import "env" "f" (func)) (import "env" "memory" (memory 1)))', {});
    const bytes = withFunc.toBinary({}).buffer;
    withFunc.destroy();
    assert.throws(() => sharedMemoryVariant(bytes), /imports something other than its memory/);
    // the variant compiles and runs over a shared memory
    const [, text] = texts()[0]!;
    const shared = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
    assert.ok(new WebAssembly.Instance(new WebAssembly.Module(sharedMemoryVariant(wabtBytes(text, false))), { env: { memory: shared } }));
  });
});

describe('the run-time WebAssembly assembler', () => {
  it('gives wabt\'s bytes for every generated module, plain and shared', () => {
    const all = texts();
    assert.ok(all.length >= 12);
    for (const [key, text] of all) {
      for (const shared of [false, true]) {
        assert.deepEqual(assembleWat(text, shared), wabtBytes(text, shared), `${key} (shared ${shared})`);
      }
    }
  });

  it('a one-instruction change gives other bytes; an unknown instruction is refused', () => {
    const [, text] = texts()[0]!;
    assert.ok(text.includes('f32x4.pmax') || text.includes('f32x4.mul'));
    const changed = text.replace('f32x4.mul', 'f32x4.add');
    assert.notDeepEqual(assembleWat(changed), assembleWat(text));
    assert.deepEqual(assembleWat(changed), wabtBytes(changed, false));
    assert.throws(() => assembleWat(text.replace('f32x4.mul', 'f32x4.fma')), /unsupported instruction f32x4.fma/);
    assert.throws(() => assembleWat(text.replace('(local.get $o)', '(local.get $nowhere)')), /unknown local \$nowhere/);
  });
});
