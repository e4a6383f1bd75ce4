/**
 * `npm run bench:versus -- --against <built package entry>`: this source tree against another build
 * of adopt-optim (the release before a refactor), side by side in one process. For each method,
 * both versions take one step per repetition, interleaved with a copy of 28 B/param (the memory
 * floor of a float32 ADOPT step), so machine noise hits them alike. Reports per method the median
 * and spread (min-max) of params/s, of new/old per repetition, and of each version over the floor.
 *
 * `--tensors N` splits the parameters into N tensors: one applyGradients for all; the core steps them as one tree
 * (a list) in this tree, one array at a time in the other build.
 *
 * Methods: fused ADOPT and Adam (and AMSGrad, nesterov, caution) on tfjs wasm and cpu, with float32
 * and int8 and int4 state, and the core's fused step on plain Float32Arrays (float32, int8, int4 state).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import '../src/lowbit/index.js'; // int8 / int4 state (the optional entry point)
import * as current from '../src/index.js';
import { cpuTime, stat, time as wallTime, type Stat } from './stats.js';

const args = process.argv.slice(2);
const value = (flag: string, fallback: string): string =>
  args.includes(flag) ? args[args.indexOf(flag) + 1]! : fallback;
const AGAINST = value('--against', '');
if (AGAINST === '')
  throw new Error(
    "usage: bench/versus.ts --against <path to the other build's dist/esm/index.js> [--size N] [--tensors T] [--reps R] [--cpu-time] [--only NAME] [--backends wasm,cpu,core] [--out FILE]",
  );
const SIZE = Number(value('--size', '1e7'));
const REPS = Number(value('--reps', '9'));
const OUT = value('--out', 'out/bench/versus.json');
const ONLY = value('--only', '');
const BACKENDS = value('--backends', 'wasm,cpu,core').split(',');
/** `--tensors N`: the SIZE parameters in N tensors of SIZE / N, stepped by one applyGradients (the core: N steps). */
const TENSORS = Number(value('--tensors', '1'));
/** `--cpu-time`: time each step by this process's CPU time (process.cpuUsage), not wall time: on a loaded machine. */
const CPU_TIME = args.includes('--cpu-time');
const time = CPU_TIME ? cpuTime : wallTime;
if (!Number.isInteger(SIZE / TENSORS) || TENSORS < 1)
  throw new Error(`--tensors ${TENSORS} must divide --size ${SIZE}`);

const other = (await import(pathToFileURL(resolve(AGAINST)).href)) as typeof current;
// a build with optional entry points (0.3): its low-bit state comes with its 'adopt-optim/lowbit'
const otherLowBit = resolve(dirname(resolve(AGAINST)), 'lowbit', 'index.js');
if (existsSync(otherLowBit)) await import(pathToFileURL(otherLowBit).href);

type Lib = typeof current;
interface Method {
  name: string;
  backend: 'wasm' | 'cpu' | 'core';
  make(lib: Lib): () => void;
  dispose?(): void;
}

function tfjsMethod(name: string, backend: 'wasm' | 'cpu', make: (lib: Lib) => tf.Optimizer): Method {
  const made: { opt: tf.Optimizer; vs: tf.Variable[]; gs: tf.Tensor[] }[] = [];
  return {
    name,
    backend,
    make(lib) {
      const each = SIZE / TENSORS;
      const vs = Array.from({ length: TENSORS }, (_, i) =>
        tf.variable(tf.randomNormal([each], 0, 1, 'float32', 1 + i)),
      );
      const gs = vs.map((_, i) => tf.randomNormal([each], 0, 1, 'float32', 7 + i));
      const opt = make(lib);
      made.push({ opt, vs, gs });
      const grads = Object.fromEntries(vs.map((v, i) => [v.name, gs[i]!]));
      const step = () => opt.applyGradients(grads);
      step(); // ADOPT's first step only initialises v
      step();
      return step;
    },
    dispose() {
      for (const { opt, vs, gs } of made.splice(0)) {
        opt.dispose();
        tf.dispose([...vs, ...gs]);
      }
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: each optimizer has its own state type
function coreMethod(name: string, make: (lib: Lib) => current.core.CoreOptimizer<unknown, any>): Method {
  return {
    name,
    backend: 'core',
    make(lib) {
      const opt = make(lib);
      const each = SIZE / TENSORS;
      const ps = Array.from({ length: TENSORS }, () => new Float32Array(each).fill(0.5));
      const gs = ps.map(() => new Float32Array(each).map((_, i) => Math.sin(i)));
      // this tree takes the list in one step (one kernel call per pack); a build without trees steps each array
      const tree = TENSORS > 1 && lib === current;
      const states = tree ? [opt.init(ps)] : ps.map((p) => opt.init(p));
      const step = tree
        ? () => opt.step(ps, gs, states[0])
        : () => {
            for (let i = 0; i < TENSORS; i++) opt.step(ps[i]!, gs[i]!, states[i]);
          };
      step();
      step();
      return step;
    },
  };
}

const METHODS: Method[] = [
  ...(['wasm', 'cpu'] as const).flatMap((b) => [
    tfjsMethod('ADOPT fused', b, (l) => l.adopt(1e-3)),
    tfjsMethod('Adam fused', b, (l) => l.adam(1e-3)),
    ...(b === 'wasm'
      ? [
          tfjsMethod('AMSGrad fused', b, (l) => l.amsgrad(1e-3)),
          tfjsMethod('ADOPT nesterov fused', b, (l) => l.adopt(1e-3, { nesterov: true })),
          tfjsMethod('ADOPT caution fused', b, (l) => l.adopt(1e-3, { caution: true })),
        ]
      : []),
    tfjsMethod('ADOPT fused int8', b, (l) => l.adopt(1e-3, { stateDtype: 'int8' })),
    tfjsMethod('ADOPT fused int4', b, (l) => l.adopt(1e-3, { stateDtype: 'int4' })),
    ...(b === 'wasm'
      ? [
          tfjsMethod('ADOPT nesterov int8', b, (l) => l.adopt(1e-3, { stateDtype: 'int8', nesterov: true })),
          tfjsMethod('AdamW fused int8', b, (l) => l.adamw(1e-3, { stateDtype: 'int8' })),
        ]
      : []),
  ]),
  coreMethod('core ADOPT fused', (l) => l.core.adopt(1e-3) as never),
  coreMethod('core Adam fused', (l) => l.core.adam(1e-3) as never),
  coreMethod('core ADOPT int8', (l) => l.core.adopt(1e-3, { stateDtype: 'int8' }) as never),
  coreMethod('core ADOPT int4', (l) => l.core.adopt(1e-3, { stateDtype: 'int4' }) as never),
].filter((m) => (ONLY === '' || m.name.includes(ONLY)) && BACKENDS.includes(m.backend));

const src = new Float32Array(Math.round(3.5 * SIZE)).fill(1);
const dst = new Float32Array(src.length);
const probe = () => dst.set(src);
probe();

const rows = [];
for (const method of METHODS) {
  if (method.backend !== 'core') {
    await tf.setBackend(method.backend);
    await tf.ready();
  }
  const stepNew = method.make(current);
  const stepOld = method.make(other);
  const t = { new: [] as number[], old: [] as number[], floor: [] as number[] };
  for (let r = 0; r < REPS; r++) {
    // alternate which goes first, so neither always runs on a warmer cache
    if (r % 2 === 0) {
      t.new.push(time(stepNew));
      t.old.push(time(stepOld));
    } else {
      t.old.push(time(stepOld));
      t.new.push(time(stepNew));
    }
    t.floor.push(time(probe));
  }
  method.dispose?.();
  const row = {
    method: method.name,
    backend: method.backend,
    params: SIZE,
    tensors: TENSORS,
    repetitions: REPS,
    newParamsPerSecond: stat(t.new.map((x) => SIZE / x)),
    oldParamsPerSecond: stat(t.old.map((x) => SIZE / x)),
    newOverOld: stat(t.new.map((x, i) => t.old[i]! / x)),
    newOverFloor: stat(t.new.map((x, i) => t.floor[i]! / x)),
    oldOverFloor: stat(t.old.map((x, i) => t.floor[i]! / x)),
  };
  rows.push(row);
  const f = (s: Stat, d = 2) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}-${s.max.toFixed(d)})`;
  console.log(
    `${method.backend.padEnd(4)} ${method.name.padEnd(22)} new/old ${f(row.newOverOld)}  new/floor ${f(row.newOverFloor)}  old/floor ${f(row.oldOverFloor)}`,
  );
}
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(
  OUT,
  `${JSON.stringify(
    {
      against: AGAINST.replace(/^.*node_modules\//, 'node_modules/'),
      size: SIZE,
      tensors: TENSORS,
      clock: CPU_TIME ? 'cpu' : 'wall',
      rows,
    },
    null,
    2,
  )}\n`,
);
