/**
 * Kernel throughput on plain memory: the fused ADOPT and Adam wasm kernels on one 1e7-element
 * WebAssembly memory, the Float32Array entry point (arrays copied in and out), and a
 * memory-bandwidth probe moving the same 28 bytes per parameter. 15 interleaved repetitions;
 * median, min and max in M params/s. Run: npx tsx bench/kernel_throughput.ts (after npm run build).
 */
import { instantiateKernels } from '../src/kernels/wasm_kernels.js';
import { ArrayKernels } from '../src/kernels/array_kernels.js';
import { adoptKernelArgs } from '../src/kernels/args.js';
const N = 1e7; const mem = new WebAssembly.Memory({ initial: Math.ceil(20 * N / 65536) + 1 });
const k = instantiateKernels(mem)!;
const f = new Float32Array(mem.buffer); f.fill(0.5);
const ak = ArrayKernels.get()!;
const p = new Float32Array(N).fill(1), g = new Float32Array(N).fill(0.5), m = new Float32Array(N), v = new Float32Array(N).fill(1);
const a = adoptKernelArgs({ beta1: 0.9, beta2: 0.9999, epsilon: 1e-6, weightDecay: 0, decoupled: false, maximize: false }, 1e-3, 2);
const src = new Float32Array(3.5 * N), dst = new Float32Array(3.5 * N);
const res: Record<string, number[]> = { adopt: [], adam: [], arrays: [], probe: [] };
const time = (name: string, fn: () => void) => { const t0 = performance.now(); fn(); res[name]!.push(N / (performance.now() - t0) / 1e3); };
for (let r = 0; r < 15; r++) {
  time('adopt', () => k.adopt_step(0, 4 * N, 8 * N, 12 * N, N, 1e-3, 0.9, 0.1, 0.9999, 1e-4, 1e-6, 1.2, 1, 0, 1, 0, 1, 1));
  time('adam', () => k.adam_step(0, 4 * N, 8 * N, 12 * N, 16 * N, N, 1e-3, 0.9, 0.1, 0.9999, 1e-4, 1e-6, 1.2, 1, 0, 1, 0, 1, 1));
  time('arrays', () => ak.adoptStep(p, g, m, v, a));
  time('probe', () => dst.set(src));
}
for (const [name, xs] of Object.entries(res)) { xs.sort((x, y) => x - y); console.log(name, 'median M/s', xs[7]!.toFixed(0), 'min', xs[0]!.toFixed(0), 'max', xs[14]!.toFixed(0)); }
