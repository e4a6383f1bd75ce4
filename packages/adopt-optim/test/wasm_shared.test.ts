/**
 * The kernel variants for a shared memory (tfjs's threaded wasm build, src/kernels/wasm_kernels.ts,
 * and bindLowBitKernels in src/kernels/lowbit_arrays.ts for the 8-bit state kernels): chosen for a shared
 * WebAssembly.Memory, and bit-identical to the plain modules on the same data.
 * The browser side (a cross-origin-isolated page, tfjs's threaded build) is
 * apps/playground/test/wasm_threaded.test.mjs.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { finiteKernel, isSharedMemory, ruleKernels } from '../src/kernels/wasm_kernels.js';
import { adoptCall } from '../src/codegen/modules.js';
import { uniformArgs } from '../src/codegen/signature.js';
import { callLowBit, bindLowBitKernels, stepSeed } from '../src/kernels/lowbit_arrays.js';
import { INT8 } from '../src/formats/state_formats.js';
import { adoptKernelArgs } from '../src/rules/scalars.js';

function run(shared: boolean): Float32Array {
  const memory = new WebAssembly.Memory(shared ? { initial: 2, maximum: 64, shared: true } : { initial: 2 });
  assert.equal(isSharedMemory(memory), shared);
  const call = adoptCall(
    { nesterov: true, caution: false },
    'step',
    adoptKernelArgs(
      { beta1: 0.9, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.01, decoupled: false, maximize: true },
      0.01,
      2,
    ),
  );
  const k = ruleKernels(memory, call.plan.key);
  const allFinite = finiteKernel(memory);
  assert.ok(k !== null && allFinite !== null, `no kernels for a ${shared ? 'shared' : 'plain'} memory`);
  const n = 1003; // odd: the SIMD loop's scalar tail runs too
  const f = new Float32Array(memory.buffer);
  let s = 7;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296) * 2 - 1;
  for (let i = 0; i < 4 * n; i++) f[i] = rand();
  for (let i = 3 * n; i < 4 * n; i++) f[i] = Math.abs(f[i]!); // v >= 0
  const [p, g, m, v] = [0, 4 * n, 8 * n, 12 * n];
  k.step(p, g, m, v, n, ...uniformArgs(call.plan.step.sig, call.scalars));
  assert.equal(allFinite(v, n), 1);
  f[m / 4 + 500] = NaN;
  assert.equal(allFinite(m, n), 0);
  return Float32Array.from(f.subarray(0, 4 * n));
}

describe('kernels over a shared memory (threaded tfjs wasm build)', () => {
  it('instantiate over a shared memory and compute exactly what the plain module computes', () => {
    const plain = run(false);
    const shared = run(true);
    assert.ok(plain.subarray(3 * 1003).some((x) => x > 0));
    assert.deepEqual(shared, plain);
  });
});

/** The 8-bit state kernels (the generated adopt_int8 module) over a plain or shared memory: a step's p and codes. */
function run8(shared: boolean): Uint8Array {
  const memory = new WebAssembly.Memory(shared ? { initial: 2, maximum: 64, shared: true } : { initial: 2 });
  const k = bindLowBitKernels(memory);
  assert.ok(k !== null, `no 8-bit kernels for a ${shared ? 'shared' : 'plain'} memory`);
  const n = 1000; // a partial last block
  const f = new Float32Array(memory.buffer);
  let s = 11;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296) * 2 - 1;
  for (let i = 0; i < 2 * n; i++) f[i] = rand();
  const at = { p: 0, g: 4 * n, qm: 8 * n, qv: 9 * n, sm: 10 * n, sv: 10 * n + 64, scr: 11 * n };
  const h = {
    beta1: 0.9,
    beta2: 0.99,
    epsilon: 1e-6,
    weightDecay: 0.1,
    decoupled: true,
    maximize: false,
    nesterov: true,
  };
  callLowBit(k, adoptCall(h, 'init', adoptKernelArgs(h, 0.01, Infinity)), at, n, 0, stepSeed(0), INT8);
  for (let t = 1; t < 4; t++)
    callLowBit(k, adoptCall(h, 'step', adoptKernelArgs(h, 0.01, t ** 0.25)), at, n, 0, stepSeed(t), INT8);
  return Uint8Array.from(new Uint8Array(memory.buffer, 0, 11 * n + 2048));
}

describe('8-bit state kernels over a shared memory (threaded tfjs wasm build)', () => {
  it('instantiate over a shared memory and compute exactly what the plain module computes', () => {
    const plain = run8(false);
    const shared = run8(true);
    assert.ok(
      plain.subarray(9000, 10000).some((x) => x > 0),
      'codes of sqrt(v) written',
    );
    assert.deepEqual(shared, plain);
  });
});
