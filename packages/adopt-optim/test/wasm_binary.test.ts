/**
 * The run-time assembler (src/codegen/wasm_binary.ts) against wabt: for every built-in module
 * (float32 and low-bit state, src/codegen/module_text.ts), plain and shared memory, the same bytes;
 * and it refuses what it does not know rather than emit something else.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import initWabt from 'wabt';
import { builtinModules, moduleText, registerLowBitModuleText } from '../src/codegen/module_text.js';
import { lowBitModuleText } from '../src/codegen/module_text_lowbit.js';
import { assembleWat } from '../src/codegen/wasm_binary.js';
import { sharedMemoryVariant } from '../src/kernels/wasm_module.js';

registerLowBitModuleText(lowBitModuleText); // the low-bit modules, as the low-bit kernels register them

const wabt = await initWabt();

function texts(): [string, string][] {
  return [...builtinModules()].map(([key, { rule, flags, format }]) => [key, moduleText(rule, flags, format)]);
}

const lowBit = (): [string, string][] => texts().filter(([key]) => /_int[48]$/.test(key));

function wabtBytes(text: string, shared: boolean): Uint8Array {
  const source = shared ? text.replace('(memory 1))', '(memory 1 65536 shared))') : text;
  const m = wabt.parseWat('k.wat', source, { simd: true, threads: shared });
  const bytes = m.toBinary({}).buffer;
  m.destroy();
  return bytes;
}

describe('the shared-memory variant derived from a plain module (the package ships only plain ones)', () => {
  it("equals wabt's shared build for every generated module, and refuses a module it cannot rewrite", () => {
    for (const [key, text] of texts())
      assert.deepEqual(sharedMemoryVariant(wabtBytes(text, false)), wabtBytes(text, true), key);
    // a module that imports a function as well: refused, not rewritten into something else
    const withFunc = wabt.parseWat(
      'f.wat',
      '(module (import "env" "f" (func)) (import "env" "memory" (memory 1)))',
      {},
    );
    const bytes = withFunc.toBinary({}).buffer;
    withFunc.destroy();
    assert.throws(() => sharedMemoryVariant(bytes), /imports something other than its memory/);
    // the variant compiles and runs over a shared memory
    const [, text] = texts()[0]!;
    const shared = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
    assert.ok(
      new WebAssembly.Instance(new WebAssembly.Module(sharedMemoryVariant(wabtBytes(text, false))), {
        env: { memory: shared },
      }),
    );
  });
});

describe('the run-time WebAssembly assembler', () => {
  it("gives wabt's bytes for every generated module, plain and shared", () => {
    const all = texts();
    assert.ok(all.length >= 12 && lowBit().length >= 10, `${all.length} modules`);
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

describe('the run-time assembler on the low-bit modules (codec, call, lanes, shuffles, offsets)', () => {
  const [key, text] = lowBit().find(([k]) => k.endsWith('_int4'))!;
  const [key8, text8] = lowBit().find(([k]) => k.endsWith('_int8'))!;

  it('the texts use what the float32 modules do not, so the byte equality above covers it', () => {
    for (const needle of [
      '(call $requant',
      'i8x16.shuffle',
      'v128.store64_lane',
      'offset=',
      'f32x4.extract_lane',
      'v128.const i8x16',
      'v128.load64_zero',
      '(if ',
      '0x1.8p+23',
    ]) {
      assert.ok(text.includes(needle), `${key}: ${needle}`);
    }
    for (const needle of ['v128.load8x8_s', 'v128.load32_zero', 'v128.store32_lane', 'i8x16.narrow_i16x8_u']) {
      assert.ok(text8.includes(needle), `${key8}: ${needle}`);
    }
  });

  it('a one-instruction change is detected, and still assembled as wabt does', () => {
    for (const [from, to] of [
      ['i8x16.shr_s', 'i8x16.shr_u'],
      ['v128.store64_lane 0', 'v128.store64_lane 1'],
      ['offset=16', 'offset=32'],
      ['i32x4.extend_low_i16x8_s', 'i32x4.extend_high_i16x8_s'],
      ['(f32.const 0x1.8p+23)', '(f32.const 0x1.9p+23)'],
      ['i8x16.shuffle 0 1', 'i8x16.shuffle 1 0'],
    ] as const) {
      assert.ok(text.includes(from), from);
      const changed = text.replace(from, to);
      assert.notDeepEqual(assembleWat(changed), assembleWat(text), `${from} -> ${to}`);
      assert.deepEqual(assembleWat(changed), wabtBytes(changed, false), `${from} -> ${to}`);
    }
  });

  it('refuses what it does not know: instructions, funcs, lanes, duplicates, module fields', () => {
    const popcnt = text.replace('i8x16.shr_s', 'i8x16.popcnt');
    assert.throws(() => assembleWat(popcnt), /unsupported instruction i8x16.popcnt/);
    assert.throws(() => assembleWat(text.replace('(call $requant', '(call $nowhere')), /unknown func \$nowhere/);
    assert.throws(() => assembleWat(text.replace('v128.store64_lane 0', 'v128.store64_lane 2')), /lane 2 out of range/);
    const lane4 = text8.replace('v128.store32_lane 0', 'v128.store32_lane 4');
    assert.throws(() => assembleWat(lane4), /lane 4 out of range/);
    assert.throws(() => assembleWat(text.replace('i8x16.shuffle 0 1', 'i8x16.shuffle 32 1')), /lane 32 out of range/);
    assert.throws(() => assembleWat(text.replace('offset=16', 'offset=x')), /bad integer x/);
    assert.throws(() => assembleWat(text.replace('(i32.const 4)', '(i32.const 0x1FFFFFFFF)')), /does not fit 32 bits/);
    assert.throws(() => assembleWat(text.replace('(f32.const 0x1.8p+23)', '(f32.const 0x1.8q+23)')), /bad f32 literal/);
    const requant = text.slice(text.indexOf('(func $requant'), text.indexOf('(func (export'));
    assert.throws(() => assembleWat(text.replace(requant, requant + requant)), /two funcs are named \$requant/);
    assert.throws(
      () => assembleWat(text.replace('(module', '(module (global $g i32 (i32.const 0))')),
      /unsupported module field global/,
    );
    assert.throws(() => assembleWat(text.replace('(then', '(than')), /expected \(if cond \(then/);
    const memory = '(import "env" "memory" (memory 1))';
    assert.throws(() => assembleWat(text.replace(memory, '')), /expected one \(import "env" "memory"/);
    assert.throws(() => assembleWat(text.replace(memory, memory + memory)), /expected one \(import "env" "memory"/);
    assert.throws(
      () => assembleWat(text.replace(memory, '(import "env" "memory" (memory 2))')),
      /unsupported module field import/,
    );
  });
});
