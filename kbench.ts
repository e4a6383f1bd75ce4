import { ArrayKernels } from './src/kernels/array_kernels.js';
import { adoptKernelArgs } from './src/kernels/args.js';
const N = 1e7; const k = ArrayKernels.get()!;
const p = new Float32Array(N).fill(1), g = new Float32Array(N).fill(0.5), m = new Float32Array(N), v = new Float32Array(N).fill(1);
const a = adoptKernelArgs({ beta1: 0.9, beta2: 0.9999, epsilon: 1e-6, weightDecay: 0, decoupled: false, maximize: false }, 1e-3, 2);
const src = new Float32Array(3.5 * N), dst = new Float32Array(3.5 * N);
for (let r = 0; r < 5; r++) {
  let t0 = performance.now(); k.adoptStep(p, g, m, v, a); const t1 = performance.now() - t0;
  t0 = performance.now(); dst.set(src); const t2 = performance.now() - t0;
  t0 = performance.now(); k.allFinite(g); const t3 = performance.now() - t0;
  console.log(`kernel ${(N / t1 / 1e3).toFixed(0)} M/s; probe floor ${(N / t2 / 1e3).toFixed(0)} M/s (${(28 * N / t2 / 1e6).toFixed(1)} GB/s); allFinite ${(N / t3 / 1e3).toFixed(0)} M/s`);
}
