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
