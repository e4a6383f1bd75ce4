/**
 * Kernel throughput on plain memory: the generated ADOPT and Adam wasm kernels on one 1e7-element
 * WebAssembly memory, the Float32Array entry point (arrays copied in and out), and a
 * memory-bandwidth probe moving the same 28 bytes per parameter. 15 interleaved repetitions;
 * median, min and max in M params/s. Run: npx tsx bench/kernel_throughput.ts (after npm run build).
 */
import { ruleKernels } from '../src/kernels/wasm_kernels.js';
import { ArrayKernels } from '../src/kernels/array_kernels.js';
import { adamKernelArgs, adoptKernelArgs } from '../src/rules/scalars.js';
import { adamCall, adoptCall } from '../src/codegen/modules.js';
import { uniformArgs } from '../src/codegen/signature.js';

const N = 1e7;
const mem = new WebAssembly.Memory({ initial: Math.ceil((20 * N) / 65536) + 1 });
const h = {
  beta1: 0.9,
  beta2: 0.9999,
  epsilon: 1e-6,
  weightDecay: 0,
  decoupled: false,
  maximize: false,
  amsgrad: false,
  nesterov: false,
  caution: false,
};
const adoptStep = adoptCall(h, 'step', adoptKernelArgs(h, 1e-3, 2));
const adamStep = adamCall(h, adamKernelArgs(h, 1e-3, 2));
const ka = ruleKernels(mem, adoptStep.plan.key)!;
const kb = ruleKernels(mem, adamStep.plan.key)!;
const ua = uniformArgs(adoptStep.plan.step.sig, adoptStep.scalars);
const ub = uniformArgs(adamStep.plan.step.sig, adamStep.scalars);
const f = new Float32Array(mem.buffer);
f.fill(0.5);
const ak = ArrayKernels.get()!;
const p = new Float32Array(N).fill(1),
  g = new Float32Array(N).fill(0.5),
  m = new Float32Array(N),
  v = new Float32Array(N).fill(1);
const src = new Float32Array(3.5 * N),
  dst = new Float32Array(3.5 * N);
const res: Record<string, number[]> = { adopt: [], adam: [], arrays: [], probe: [] };
const time = (name: string, fn: () => void) => {
  const t0 = performance.now();
  fn();
  res[name]!.push(N / (performance.now() - t0) / 1e3);
};
for (let r = 0; r < 15; r++) {
  time('adopt', () => ka.step(0, 4 * N, 8 * N, 12 * N, N, ...ua));
  time('adam', () => kb.step(0, 4 * N, 8 * N, 12 * N, N, ...ub));
  time('arrays', () => ak.run(adoptStep, p, g, [m, v]));
  time('probe', () => dst.set(src));
}
for (const [name, xs] of Object.entries(res)) {
  xs.sort((x, y) => x - y);
  console.log(name, 'median M/s', xs[7]!.toFixed(0), 'min', xs[0]!.toFixed(0), 'max', xs[14]!.toFixed(0));
}
