/**
 * The kernel variant for a shared memory (tfjs's threaded wasm build, src/kernels/wasm_shared_kernels.ts):
 * chosen for a shared WebAssembly.Memory, and bit-identical to the plain module on the same data.
 * The browser side (a cross-origin-isolated page, tfjs's threaded build) is
 * apps/playground/test/wasm_threaded.test.mjs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { instantiateKernels } from '../src/kernels/wasm_kernels.js';
import { isSharedMemory } from '../src/kernels/wasm_shared_kernels.js';

function run(shared: boolean): Float32Array {
  const memory = new WebAssembly.Memory(shared ? { initial: 2, maximum: 64, shared: true } : { initial: 2 });
  assert.equal(isSharedMemory(memory), shared);
  const k = instantiateKernels(memory);
  assert.ok(k !== null, `no kernels for a ${shared ? 'shared' : 'plain'} memory`);
  const n = 1003; // odd: the SIMD loop's scalar tail runs too
  const f = new Float32Array(memory.buffer);
  let s = 7;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296) * 2 - 1;
  for (let i = 0; i < 4 * n; i++) f[i] = rand();
  for (let i = 3 * n; i < 4 * n; i++) f[i] = Math.abs(f[i]!); // v >= 0
  const [p, g, m, v] = [0, 4 * n, 8 * n, 12 * n];
  // adopt_init (v = (sign g + wd p)²) and all_finite: their signatures are the stable ones
  k.adopt_init(p, g, v, n, -1, 0.01);
  assert.equal(k.all_finite(v, n), 1);
  f[m / 4 + 500] = NaN;
  assert.equal(k.all_finite(m, n), 0);
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
