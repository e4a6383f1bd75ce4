/**
 * The core's threaded step (useThreads, src/core/threads.ts): bit-identical to one thread for every state format and
 * rule, on odd and tiny lengths, with params and grads copied in or stepped where they lie; a refused step changes
 * nothing; bad thread counts are refused; workers end with dispose and never keep a process alive.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as core from '../src/core/index.js';
import { NonFiniteGradientError, OptimizerArgumentError } from '../src/validate.js';
import { defineRule } from '../src/rules/index.js';
import { adoptCall, callPart } from '../src/codegen/modules.js';
import { adoptKernelArgs } from '../src/rules/scalars.js';
import { uniformArgs } from '../src/codegen/signature.js';
import { ruleKernels } from '../src/kernels/wasm_kernels.js';
import { INT8 } from '../src/formats/state_formats.js';

/** Small enough that the tests' arrays split: two threads from 2 · MIN elements. */
const MIN = 1000;
const DTYPES = ['float32', 'int8', 'int4', 'bfloat16'] as const;
type Dtype = (typeof DTYPES)[number];

function filled(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return a;
}

/** Every typed array of a state, copied, by path (m, v / qm, qv, mScale, vScale; the counts). */
function snapshot(state: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (x: unknown, path: string) => {
    if (ArrayBuffer.isView(x)) out[path] = Array.from(x as Float32Array);
    else if (typeof x === 'number') out[path] = x;
    else if (x !== null && typeof x === 'object') for (const [k, v] of Object.entries(x)) walk(v, `${path}.${k}`);
  };
  walk(state, 'state');
  return out;
}

type Make = () => { init(p: Float32Array): unknown; step(p: Float32Array, g: Float32Array, s: never): boolean };

/** Steps `make()` on n elements with `threads` threads; `own`: step the state's threadBuffers (no copies). */
function run(make: Make, n: number, threads: number, own: boolean | 'params', steps = 4) {
  const setup = core.useThreads(threads, { minPerThread: MIN });
  try {
    const opt = make();
    let p: Float32Array = filled(n, 1);
    const state = opt.init(p);
    let g: Float32Array = new Float32Array(n);
    const buffers = core.threadBuffers(state);
    if (own && buffers !== null) {
      buffers.params.set(p);
      p = buffers.params;
      if (own === true) g = buffers.grads;
    }
    for (let k = 0; k < steps; k++) {
      g.set(filled(n, 100 + k, 0.2));
      assert.equal(opt.step(p, g, state as never), true);
    }
    return { p: Array.from(p), state: snapshot(state), threaded: buffers !== null };
  } finally {
    setup.dispose();
  }
}

const adoptOf =
  (stateDtype: Dtype, extra: object = {}) =>
  () =>
    core.adopt(1e-2, { stateDtype, ...extra });
const adamwOf = (stateDtype: Dtype) => () => core.adamw(1e-2, { stateDtype, weightDecay: 0.1 });

after(() => core.useThreads(1));

describe('useThreads: the same step on every thread count', () => {
  for (const dtype of DTYPES) {
    for (const [name, make] of [
      ['adopt', adoptOf(dtype)],
      ['adamw', adamwOf(dtype)],
    ] as const) {
      it(`${name} ${dtype}: 2, 3 threads = one thread, bitwise (odd lengths; copied, in place, p in place)`, () => {
        for (const n of [2 * MIN + 13, 7777, 40_009]) {
          const one = run(make, n, 1, false);
          assert.equal(one.threaded, false, 'one thread: ordinary state');
          for (const [threads, own] of [
            [2, false],
            [2, true],
            [2, 'params'],
            [3, true],
          ] as const) {
            const many = run(make, n, threads, own);
            assert.equal(many.threaded, true, `${threads} threads at ${n}: shared state`);
            assert.deepEqual(many.p, one.p, `params, ${threads} threads, n = ${n}, own = ${own}`);
            assert.deepEqual(many.state, one.state, `state, ${threads} threads, n = ${n}, own = ${own}`);
          }
        }
      });
    }
  }

  it('adopt with caution (a per-tensor count across the threads) and nesterov, and amsgrad (3 slots)', () => {
    for (const make of [adoptOf('float32', { caution: true, nesterov: true }), () => core.amsgrad(1e-2)]) {
      const one = run(make, 5003, 1, false, 5);
      for (const own of [false, true]) {
        const many = run(make, 5003, 2, own, 5);
        assert.equal(many.threaded, true);
        assert.deepEqual(many.p, one.p);
        assert.deepEqual(many.state, one.state);
      }
    }
  });

  it('ruleOptimizer (a rule defined with defineRule) steps on the threads too', () => {
    const rule = defineRule({
      name: 'threads_momentum',
      slots: ['buf'],
      hyperparameters: { momentum: 0.9 },
      scalars: (lr, _t, h) => ({ lr, mu: h.momentum! }),
      step: ({ p, g, slot, scalar: s, add, sub, mul }) => {
        const buf = add(mul(slot('buf'), s('mu')), g);
        return { buf, p: sub(p, mul(buf, s('lr'))) };
      },
    });
    const make = () => core.ruleOptimizer(rule, 0.01);
    const one = run(make, 4099, 1, false);
    const many = run(make, 4099, 2, true);
    assert.equal(many.threaded, true);
    assert.deepEqual(many.p, one.p);
    assert.deepEqual(many.state, one.state);
  });

  it('tiny arrays keep ordinary state and step as before', () => {
    for (const n of [1, 5, 17, 2 * MIN - 1]) {
      for (const dtype of DTYPES) {
        const one = run(adoptOf(dtype), n, 1, false);
        const many = run(adoptOf(dtype), n, 2, true);
        assert.equal(many.threaded, false, `${dtype} n = ${n}: below 2 · minPerThread`);
        assert.deepEqual(many.p, one.p);
      }
    }
  });

  it('shared state of a few elements, forced onto the threads (minPerThread 1), still equals one thread', () => {
    for (const dtype of DTYPES) {
      for (const n of [2, 3, 31, 129]) {
        const one = run(adoptOf(dtype), n, 1, false);
        const setup = core.useThreads(3, { minPerThread: 1 });
        try {
          const opt = core.adopt(1e-2, { stateDtype: dtype });
          const p = filled(n, 1);
          const state = opt.init(p);
          assert.notEqual(core.threadBuffers(state), null);
          for (let k = 0; k < 4; k++) opt.step(p, filled(n, 100 + k, 0.2), state);
          assert.deepEqual(Array.from(p), one.p, `${dtype} n = ${n}`);
          assert.deepEqual(snapshot(state), one.state, `${dtype} n = ${n}`);
        } finally {
          setup.dispose();
        }
      }
    }
  });

  it('a mismatch is caught: one step more differs (the comparison can fail)', () => {
    const one = run(adoptOf('int8'), 3001, 1, false, 4);
    const more = run(adoptOf('int8'), 3001, 2, true, 5);
    assert.notDeepEqual(more.p, one.p);
    assert.notDeepEqual(more.state, one.state);
  });

  it('why low-bit ranges start on a block: a split inside a block of 256 changes the 8-bit codes', () => {
    // the 8-bit kernel over [0, n) at once, then as [0, 128) + [128, n): the block scales differ
    const n = 512;
    const pass = (split: number) => {
      const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
      const call = adoptCall(
        {},
        'step',
        adoptKernelArgs(
          { beta1: 0.9, beta2: 0.99, epsilon: 1e-6, weightDecay: 0, decoupled: false, maximize: false },
          0.01,
          2,
        ),
      );
      const k = ruleKernels(memory, `${call.plan.key}_int8`)!;
      const f = new Float32Array(memory.buffer);
      f.set(filled(n, 3), 0);
      f.set(filled(n, 4), n);
      const o = { p: 0, g: 4 * n, qm: 8 * n, qv: 9 * n, sm: 10 * n, sv: 10 * n + 64, scr: 11 * n };
      const args = uniformArgs(callPart(call).sig, call.scalars);
      const range = (a: number, b: number) =>
        k.step!(
          o.p + 4 * a,
          o.g + 4 * a,
          o.qm + a,
          o.qv + a,
          o.sm + 4 * Math.floor(a / INT8.block),
          o.sv + 4 * Math.floor(a / INT8.block),
          o.scr,
          b - a,
          a,
          7,
          ...args,
        );
      range(0, split);
      range(split, n);
      return Array.from(new Uint8Array(memory.buffer, 0, 11 * n));
    };
    assert.deepEqual(pass(256), pass(512), 'split on a block: identical');
    assert.notDeepEqual(pass(128), pass(512), 'split inside a block: different');
  });
});

describe('useThreads: refusals and failures change nothing', () => {
  it('a non-finite gradient throws (or skips) before anything changes, on the threads', () => {
    for (const dtype of DTYPES) {
      for (const own of [false, true]) {
        const setup = core.useThreads(2, { minPerThread: MIN });
        try {
          const n = 4001;
          const opt = core.adopt(1e-2, { stateDtype: dtype });
          const skipping = core.adopt(1e-2, { stateDtype: dtype, nonFinite: 'skip' });
          let p: Float32Array = filled(n, 1);
          const state = opt.init(p);
          const buffers = core.threadBuffers(state)!;
          let g: Float32Array = new Float32Array(n);
          if (own) {
            buffers.params.set(p);
            p = buffers.params;
            g = buffers.grads;
          }
          g.set(filled(n, 5, 0.2));
          opt.step(p, g, state);
          opt.step(p, g, state);
          const before = { p: Array.from(p), state: snapshot(state) };
          g[3999] = Number.NaN; // in the second thread's range
          assert.throws(() => opt.step(p, g, state), NonFiniteGradientError);
          assert.equal(skipping.step(p, g, state as never), false);
          assert.deepEqual({ p: Array.from(p), state: snapshot(state) }, before, `${dtype} own = ${own}`);
        } finally {
          setup.dispose();
        }
      }
    }
  });

  it('refuses bad thread counts and options, naming the value, and keeps the threads it had', () => {
    const setup = core.useThreads(2);
    try {
      for (const bad of [0, -1, 1.5, 65, Number.NaN, '2', null]) {
        assert.throws(
          () => core.useThreads(bad as never),
          (e: Error) =>
            e instanceof OptimizerArgumentError &&
            e.message.includes(`invalid threads ${String(bad)}`) &&
            e.message.includes('integer from 1 to 64'),
        );
      }
      assert.throws(() => core.useThreads(2, { minPerThread: 0 }), /invalid options.minPerThread 0/);
      // attack round 2 F2: a typo or a non-object used to be ignored (the default minPerThread, unseen)
      assert.throws(
        () => core.useThreads(2, { minPerThreads: 5 } as never),
        /unknown option "minPerThreads"; did you mean "minPerThread"\?/,
      );
      for (const bad of ['x', 5, null, [1]]) {
        assert.throws(() => core.useThreads(2, bad as never), /useThreads: invalid options/);
      }
      assert.equal(core.threadCount(), 2);
    } finally {
      setup.dispose();
    }
    assert.equal(core.threadCount(), 1);
  });

  it('params of another length, or the threadBuffers swapped, are refused before anything is written', () => {
    const setup = core.useThreads(2, { minPerThread: MIN });
    try {
      const opt = core.adopt(1e-2);
      const state = opt.init(new Float32Array(3000));
      const before = snapshot(state);
      assert.throws(() => opt.step(new Float32Array(2999), new Float32Array(2999), state), /length|elements/);
      assert.deepEqual(snapshot(state), before);
      const own = core.threadBuffers(state)!;
      own.grads.fill(0.5);
      assert.throws(() => opt.step(own.grads, own.params, state), /params as params, grads as grads/);
      assert.deepEqual(snapshot(state), before);
    } finally {
      setup.dispose();
    }
  });
});

describe('useThreads: a refused tree step changes no leaf', () => {
  it('swapped threadBuffers of one leaf are refused before the other leaves step (attack round 2 F1)', () => {
    const setup = core.useThreads(2, { minPerThread: MIN });
    try {
      for (const stateDtype of DTYPES) {
        const opt = core.adopt(1e-2, { stateDtype });
        const small = filled(8, 1);
        const state = opt.init({ small, big: new Float32Array(3000) });
        const own = core.threadBuffers(state.big)!;
        own.params.set(filled(3000, 2));
        own.grads.set(filled(3000, 3, 0.2));
        opt.step({ small, big: own.params }, { small: filled(8, 4, 0.2), big: own.grads }, state);
        const before = snapshot({ small, state, own });
        const grads = { small: filled(8, 5, 0.2), big: own.params };
        assert.throws(() => opt.step({ small, big: own.grads }, grads, state), /params as params, grads as grads/);
        assert.deepEqual(snapshot({ small, state, own }), before, stateDtype);
        const sliced = { small, big: own.params.subarray(1) };
        assert.throws(() => opt.step(sliced, { small: filled(8, 5), big: own.grads.subarray(1) }, state));
        assert.deepEqual(snapshot({ small, state, own }), before, stateDtype);
      }
    } finally {
      setup.dispose();
    }
  });
});

describe('useThreads: workers end', () => {
  it('state made on threads steps on after dispose (on this thread), the same as before', () => {
    const make = adoptOf('int4');
    const reference = run(make, 5000, 1, false, 6);
    const setup = core.useThreads(2, { minPerThread: MIN });
    const opt = make();
    const p = filled(5000, 1);
    const state = opt.init(p);
    for (let k = 0; k < 3; k++) opt.step(p, filled(5000, 100 + k, 0.2), state);
    setup.dispose();
    assert.equal(core.threadCount(), 1);
    for (let k = 3; k < 6; k++) opt.step(p, filled(5000, 100 + k, 0.2), state);
    assert.deepEqual(Array.from(p), reference.p);
  });

  it('low-bit state on the threads as the first low-bit step of a process (attack round 2 F7)', () => {
    // a fresh process: here another test's one-thread low-bit step has already registered the kernels' text
    const here = dirname(fileURLToPath(import.meta.url));
    const script = [
      `import * as core from ${JSON.stringify(pathToFileURL(resolve(here, '../src/core/index.ts')).href)};`,
      'const steps = (stateDtype) => {',
      '  const opt = core.adopt(1e-3, { stateDtype }); const p = new Float32Array(10000).fill(1);',
      '  const s = opt.init(p); const g = new Float32Array(10000).fill(0.1);',
      '  opt.step(p, g, s); opt.step(p, g, s); return { p, threaded: core.threadBuffers(s) !== null };',
      '};',
      "for (const stateDtype of ['int8', 'int4', 'bfloat16']) {",
      '  const setup = core.useThreads(2, { minPerThread: 1000 }); const two = steps(stateDtype); setup.dispose();',
      '  const one = steps(stateDtype);',
      '  console.log(stateDtype, two.threaded, one.threaded, two.p.every((x, i) => x === one.p[i]));',
      '}',
    ].join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'adopt-threads-'));
    const file = join(dir, 'first_lowbit.mts');
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', timeout: 60_000 });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      r.stdout.trim().split('\n'),
      ['int8', 'int4', 'bfloat16'].map((d) => `${d} true false true`),
    );
  });

  it('a process that leaves its workers running still exits', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const script = [
      `import * as core from ${JSON.stringify(pathToFileURL(resolve(here, '../src/core/index.ts')).href)};`,
      'core.useThreads(3, { minPerThread: 1000 });',
      'const opt = core.adopt(1e-3); const p = new Float32Array(10000).fill(1); const s = opt.init(p);',
      'opt.step(p, new Float32Array(10000).fill(0.1), s); opt.step(p, new Float32Array(10000).fill(0.1), s);',
      'console.log(core.threadBuffers(s) !== null ? "threaded" : "plain");',
    ].join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'adopt-threads-'));
    const file = join(dir, 'leave_workers.mts');
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', timeout: 60_000 });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(r.signal, null, `killed by the timeout: the workers kept it alive (${r.stderr})`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'threaded');
  });
});

describe('threads in a tree step (the core takes lists and records)', () => {
  /** A record of one threaded leaf and two small ones, stepped 4 times with `threads` threads. */
  function treeRun(threads: number, stateDtype: Dtype) {
    const setup = core.useThreads(threads, { minPerThread: MIN });
    try {
      const opt = core.adopt(1e-2, { stateDtype });
      const params = { big: filled(3 * MIN + 7, 1), small: [filled(5, 2), filled(300, 3)] };
      const state = opt.init(params);
      for (let k = 0; k < 4; k++) {
        const grads = { big: filled(3 * MIN + 7, 10 + k, 0.2), small: [filled(5, 20 + k, 0.2), filled(300, 30 + k)] };
        assert.equal(opt.step(params, grads, state), true);
      }
      return { p: snapshot(params), state: snapshot(state), threaded: core.threadBuffers(state.big) !== null };
    } finally {
      setup.dispose();
    }
  }

  for (const dtype of DTYPES) {
    it(`${dtype}: a threaded leaf beside small leaves is bit-identical to one thread`, () => {
      const one = treeRun(1, dtype);
      const two = treeRun(2, dtype);
      assert.equal(one.threaded, false);
      assert.equal(two.threaded, true, 'the big leaf has threaded state');
      assert.deepEqual(two.p, one.p);
      assert.deepEqual(two.state, one.state);
    });
  }
});
