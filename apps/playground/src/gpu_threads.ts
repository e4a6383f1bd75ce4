// The core's threaded step in a browser (window.gpuChecks.coreThreads, test/wasm_threaded.test.mjs): on a
// cross-origin-isolated page useThreads starts Web Workers, and 2 threads step bit for bit as one does.
import { core } from 'adopt-optim';

function filled(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return a;
}

/**
 * Four steps of ADOPT with `stateDtype` on `threads` threads; params in place where the state is threaded.
 * `ready`: wait for the workers first (else the steps run before they start: every range on this thread).
 */
async function steps(stateDtype: 'float32' | 'int8', threads: number, ready: boolean) {
  const setup = core.useThreads(threads, { minPerThread: 1000 });
  try {
    if (ready) await setup.ready;
    const n = 5003;
    const opt = core.adopt(1e-2, { stateDtype });
    const start = filled(n, 1);
    const state = opt.init(start);
    const own = core.threadBuffers(state);
    const p = own?.params ?? start;
    const g = own?.grads ?? new Float32Array(n);
    p.set(start);
    for (let k = 0; k < 4; k++) {
      g.set(filled(n, 100 + k, 0.2));
      opt.step(p, g, state);
    }
    return { p: Array.from(p), threaded: own !== null };
  } finally {
    setup.dispose();
  }
}

/**
 * Whether 2 threads give one thread's params, for float32 and 8-bit state, with the workers started and before they
 * start; and whether the state was threaded.
 */
export async function coreThreads() {
  const out = [];
  for (const dtype of ['float32', 'int8'] as const) {
    const one = await steps(dtype, 1, true);
    for (const ready of [true, false]) {
      const two = await steps(dtype, 2, ready);
      out.push({
        dtype,
        ready,
        threaded: two.threaded,
        equal: one.p.length === two.p.length && one.p.every((x, i) => Object.is(x, two.p[i])),
        changed: one.p.some((x, i) => x !== filled(5003, 1)[i]),
      });
    }
  }
  return out;
}
