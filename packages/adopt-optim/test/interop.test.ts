/**
 * Optimizer state that PyTorch can load (src/interop): the safetensors reader and writer against
 * hand-made files and every kind of damage; then, where Debian's python3-torch is installed, a model's
 * ADOPT, Adam, AdamW and AMSGrad state exported after 3 steps, loaded by PyTorch (torch.optim.Adam/AdamW
 * themselves, ADOPT written there from the spec), 5 more steps taken on both sides with the same
 * gradients and compared; and PyTorch's state imported back, continuing as ours does. A PyTorch ADOPT with
 * a known porting bug is rejected by the same comparison.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { adam, adamw, adopt, amsgrad, OptimizerArgumentError, type NamedStateOptimizer } from '../src/index.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  exportState,
  importState,
  SafetensorsError,
  type NamedArray,
} from '../src/interop/index.js';
import { useBackend } from './backends.js';
import { maxRelativeError, Rng } from './reference.js';

const scratch = mkdtempSync(join(tmpdir(), 'adopt-interop-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('safetensors', () => {
  const sample = () =>
    new Map<string, NamedArray>([
      ['a', { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
      ['b', { dtype: 'I64', shape: [1], data: BigInt64Array.from([7n]) }],
      ['empty', { dtype: 'F32', shape: [0], data: new Float32Array(0) }],
    ]);

  it("round-trips tensors and metadata; the layout is the format's (little-endian length, JSON, aligned data)", () => {
    const bytes = encodeSafetensors(sample(), { note: 'x' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    assert.deepEqual(header, {
      __metadata__: { note: 'x' },
      a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
      b: { dtype: 'I64', shape: [1], data_offsets: [24, 32] },
      empty: { dtype: 'F32', shape: [0], data_offsets: [32, 32] },
    });
    assert.deepEqual(Array.from(new Float32Array(bytes.slice(8 + n, 8 + n + 24).buffer)), [1, 2, 3, 4, 5, 6]);
    const back = decodeSafetensors(bytes);
    assert.deepEqual(back.metadata, { note: 'x' });
    assert.deepEqual([...back.tensors.keys()], ['a', 'b', 'empty']);
    assert.deepEqual(Array.from(back.tensors.get('a')!.data as Float32Array), [1, 2, 3, 4, 5, 6]);
    assert.equal((back.tensors.get('b')!.data as BigInt64Array)[0], 7n);
  });

  it('refuses a damaged file, naming what is wrong', () => {
    const good = encodeSafetensors(sample());
    const n = Number(new DataView(good.buffer).getBigUint64(0, true));
    const withHeader = (h: object) => {
      const json = new TextEncoder().encode(JSON.stringify(h));
      const out = new Uint8Array(8 + json.length + 32);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
      out.set(json, 8);
      return out;
    };
    const cases: [Uint8Array, RegExp][] = [
      [good.subarray(0, 5), /too short/],
      [good.subarray(0, 8 + n - 1), /the header claims/],
      [good.subarray(0, good.length - 4), /do not lie within|cover/],
      [withHeader({ a: { dtype: 'F16', shape: [1], data_offsets: [0, 2] } }), /dtype "F16"/],
      [withHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }), /4 bytes for shape \[2\] F32/],
      [
        withHeader({
          a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
          b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
        }),
        /a gap or an overlap/,
      ],
      [withHeader({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }), /cover 16 of 32/],
      [withHeader({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }), /not a list of sizes/],
    ];
    for (const [bytes, message] of cases)
      assert.throws(
        () => decodeSafetensors(bytes),
        (e: unknown) => e instanceof SafetensorsError && message.test(e.message),
        String(message),
      );
  });

  it('the encoder refuses what the decoder would refuse, and a container that is no Map', () => {
    const one = (t: object) => new Map([['a', t as never]]);
    const f32 = new Float32Array(1);
    const cases: [() => unknown, RegExp][] = [
      [() => encodeSafetensors(new Map(), { a: 1 } as never), /"__metadata__" must map strings to strings; "a" is 1/],
      [() => encodeSafetensors(new Map(), [] as never), /metadata must be an object of strings/],
      [
        () => encodeSafetensors(one({ dtype: 'F32', shape: [-1, -1], data: f32 })),
        /shape \[-1,-1\] is not a list of sizes/,
      ],
      [() => encodeSafetensors(one({ dtype: 'F32', shape: [1.5], data: f32 })), /shape \[1.5\] is not a list of sizes/],
      [
        () => encodeSafetensors(one({ dtype: 'BF16', shape: [1], data: new Uint16Array(1) })),
        /dtype "BF16"; expected one of F32, F64, I32, I64/,
      ],
      [() => encodeSafetensors(one({ dtype: 'toString', shape: [1], data: f32 })), /dtype "toString"; expected one of/],
      [
        () => encodeSafetensors(one({ dtype: 'F64', shape: [1], data: new Float32Array(2) })),
        /data is a Float32Array; expected a Float64Array for F64/,
      ],
      [
        () => encodeSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: f32 }] as never),
        /tensors must be a Map of name to \{dtype, shape, data\}; got an array/,
      ],
      [
        () => encodeSafetensors({ a: { dtype: 'F32', shape: [1], data: f32 } } as never),
        /tensors must be a Map .*got an Object/,
      ],
    ];
    for (const [run, message] of cases)
      assert.throws(run, (e: unknown) => e instanceof SafetensorsError && message.test(e.message), String(message));
  });
});

/** Debian's Python with torch, or null (the PyTorch tests are then skipped, saying why). */
function python(): string | null {
  for (const exe of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(exe, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return exe;
  }
  return null;
}
const PY = python();
const SCRIPT = fileURLToPath(new URL('./interop/torch_steps.py', import.meta.url));

function model(seed: number): tf.Sequential {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [5, 5, 2],
        filters: 3,
        kernelSize: 3,
        kernelInitializer: init(seed),
        biasInitializer: 'ones',
      }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2, kernelInitializer: init(seed + 1) }),
    ],
  });
}

const vars = (m: tf.Sequential) => m.trainableWeights.map((w) => w.read() as tf.Variable);
// conv HWIO -> OIHW, dense [in, out] -> [out, in]
const PERM: Record<number, number[]> = { 4: [3, 2, 0, 1], 2: [1, 0] };
const torchLayout = (t: tf.Tensor) => tf.tidy(() => (PERM[t.rank] ? tf.transpose(t, PERM[t.rank]) : t.clone()));

function gradients(m: tf.Sequential, steps: number, seed: number): Float32Array[][] {
  const rng = new Rng(seed);
  return Array.from({ length: steps }, () =>
    vars(m).map((v) => Float32Array.from(rng.normals(v.size), (x) => x * 0.1)),
  );
}

function step(opt: NamedStateOptimizer, m: tf.Sequential, gs: Float32Array[]): void {
  const named = vars(m).map((v, i) => ({ name: v.name, tensor: tf.tensor(gs[i]!, v.shape) }));
  opt.applyGradients(named);
  tf.dispose(named.map((n) => n.tensor));
}

const CONFIGS: [string, () => NamedStateOptimizer][] = [
  ['ADOPT', () => adopt(0.01)],
  [
    'ADOPT, decoupled decay, maximize, unclipped',
    () => adopt(0.01, { weightDecay: 0.1, decoupled: true, maximize: true, clip: null }),
  ],
  ['ADOPT, 8-bit state', () => adopt(0.01, { stateDtype: 'int8' })],
  ['AdamW, 4-bit state', () => adamw(0.01, { stateDtype: 'int4' })],
  ['Adam, coupled decay', () => adam(0.01, { weightDecay: 0.01 })],
  ['AdamW', () => adamw(0.01)],
  ['AMSGrad', () => amsgrad(0.01)],
];

describe('PyTorch loads the exported state and continues as we do', {
  skip: PY === null ? 'no python3 with torch (apt-get install python3-torch)' : false,
}, () => {
  for (const [name, make] of CONFIGS) {
    it(name, async (t) => {
      await useBackend('wasm');
      const m = model(3);
      const opt = make();
      for (const gs of gradients(m, 3, 1)) step(opt, m, gs);
      const { file, stateDict } = await exportState(opt, m);
      assert.deepEqual(
        stateDict.param_groups[0]!.param_names.map((n) => n.replace(/^.*\./, '')),
        ['weight', 'bias', 'weight', 'bias'],
      );
      const dir = mkdtempSync(join(scratch, 'run-'));
      writeFileSync(join(dir, 'state.safetensors'), file);
      const next = gradients(m, 5, 2);
      const gradFile = new Map<string, NamedArray>();
      next.forEach((gs, k) =>
        vars(m).forEach((v, i) => {
          const g = torchLayout(tf.tensor(gs[i]!, v.shape));
          gradFile.set(`grad.${k}.${i}`, {
            dtype: 'F32',
            shape: [...g.shape],
            data: g.dataSync().slice() as Float32Array,
          });
          g.dispose();
        }),
      );
      writeFileSync(join(dir, 'grads.safetensors'), encodeSafetensors(gradFile));
      // ours: the next 5 steps, parameters in torch layout. 8-bit state is exported de-quantised, and PyTorch
      // continues it in float32: so does a float32 ADOPT that imported our file
      const int8 = name.includes('-bit');
      const mF = int8 ? model(11) : m;
      const optF = int8 ? (name.startsWith('AdamW') ? adamw(0.01) : adopt(0.01)) : opt;
      if (int8) await importState(optF, mF, file);
      const ours: Float32Array[][] = next.map((gs) => {
        step(optF, mF, gs);
        return vars(mF).map((v) => {
          const x = torchLayout(v);
          const d = x.dataSync().slice() as Float32Array;
          x.dispose();
          return d;
        });
      });
      const torchRun = (bug: boolean) => {
        const r = spawnSync(
          PY!,
          [
            SCRIPT,
            join(dir, 'state.safetensors'),
            join(dir, 'grads.safetensors'),
            join(dir, 'out.safetensors'),
            ...(bug ? ['--bug'] : []),
          ],
          { encoding: 'utf8' },
        );
        assert.equal(r.status, 0, r.stderr);
        return decodeSafetensors(readFileSync(join(dir, 'out.safetensors')));
      };
      const names = stateDict.param_groups[0]!.param_names;
      const worst = (out: ReturnType<typeof torchRun>) =>
        Math.max(
          ...ours.flatMap((ps, k) =>
            ps.map((p, i) => maxRelativeError(out.tensors.get(`step.${k}.${names[i]}`)!.data as Float32Array, p, 1e-3)),
          ),
        );
      const out = torchRun(false);
      const e = worst(out);
      t.diagnostic(`largest relative difference over 5 steps: ${e.toExponential(2)}`);
      // float32 on both sides (ADOPT measured bit for bit; Adam within 1.2e-6 of torch.optim's own)
      assert.ok(e < 1e-5, `PyTorch differs by ${e}`);
      if (name === 'ADOPT') {
        const eb = worst(torchRun(true));
        t.diagnostic(`PyTorch ADOPT normalising by the updated v: ${eb.toExponential(2)}`);
        assert.ok(eb > 1e-5, `a PyTorch ADOPT normalising by the updated v passes (${eb})`);
        torchRun(false);
      }
      if (int8) {
        optF.dispose();
        mF.dispose();
      } else {
        // the reverse: PyTorch's state imported into a fresh model and optimizer continues as ours does
        const m2 = model(9);
        const opt2 = make();
        await importState(opt2, m2, readFileSync(join(dir, 'out.safetensors')));
        const more = gradients(m, 2, 3);
        for (const gs of more) {
          step(opt, m, gs);
          step(opt2, m2, gs);
        }
        const diff = Math.max(...vars(m).map((v, i) => maxRelativeError(vars(m2)[i]!.dataSync(), v.dataSync(), 1e-3)));
        assert.ok(diff < 1e-5, `imported from PyTorch, 2 more steps differ by ${diff}`);
        opt2.dispose();
        m2.dispose();
      }
      opt.dispose();
      m.dispose();
    });
  }
});

describe('importState checks before it changes anything', () => {
  it("another optimizer's state, another model, a damaged file: refused, parameters and state untouched", async () => {
    await useBackend('cpu');
    const m = model(3);
    const opt = adopt(0.01);
    for (const gs of gradients(m, 2, 1)) step(opt, m, gs);
    const { file } = await exportState(opt, m);
    const target = model(5);
    const before = target.getWeights().map((w) => Array.from(w.dataSync()));
    const other = adam(0.01);
    await assert.rejects(
      importState(other, target, file),
      (e: unknown) => e instanceof OptimizerArgumentError && /saved by adopt-optim\/ADOPT/.test(e.message),
    );
    assert.deepEqual(other.stateNames, []);
    const wide = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [5, 5, 2], filters: 4, kernelSize: 3 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2 }),
      ],
    });
    await assert.rejects(
      importState(adopt(0.01), wide, file),
      /has shape \[3,2,3,3\]; expected \[4,2,3,3\] \(the variable .* \[3,3,2,4\] in the file's axes\); nothing was changed/,
    );
    await assert.rejects(importState(adopt(0.01), target, file.subarray(0, 100)), /not a safetensors file/);
    assert.deepEqual(
      target.getWeights().map((w) => Array.from(w.dataSync())),
      before,
    );
    // and the real thing: identical state and parameters
    const again = adopt(0.01);
    await importState(again, target, file);
    assert.deepEqual(
      target.getWeights().map((w) => Array.from(w.dataSync())),
      m.getWeights().map((w) => Array.from(w.dataSync())),
    );
    const a = (await opt.getWeights()).filter((w) => w.name.includes('/')).map((w) => Array.from(w.tensor.dataSync()));
    const b = (await again.getWeights())
      .filter((w) => w.name.includes('/'))
      .map((w) => Array.from(w.tensor.dataSync()));
    assert.deepEqual(b, a);
    tf.dispose([m, target, wide] as never);
  });
});
