/**
 * The structure-aware import fuzzer: valid exports of several models and optimizers, mutated (names,
 * shapes, layouts, dtypes, values, state keys, steps, metadata, truncation), then imported. Each case
 * must be refused with an OptimizerArgumentError and nothing changed (parameters, optimizer weights bit
 * for bit, tensor count), or accepted and equal to what the independent reference
 * (./import_fuzz_reference.ts) says the file means; and no case leaks a tensor.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { adam, adamw, adopt, amsgrad, OptimizerArgumentError, type NamedStateOptimizer } from '../src/index.js';
import { exportState, importState, type NamedArray } from '../src/interop/index.js';
import { dequantizeLowBitWeights } from '../src/tfjs/lowbit_weights.js';
import {
  bidirectionalModel,
  nestedModel,
  rewrite,
  snapshot,
  squareModel,
  train,
  variablesOf,
} from './interop_helpers.js';
import { meaning, type Meaning } from './import_fuzz_reference.js';

export type ImportFn = typeof importState;

interface Setup {
  opt: NamedStateOptimizer;
  source: tf.LayersModel | tf.Variable[];
  targets: tf.Variable[];
  extra: tf.Variable;
  file: Uint8Array;
  className: string;
  slots: string[];
  lowBit: boolean;
  dispose(): void;
}

/** The fuzzed set-ups: [what, model, optimizer, export layout, import into the model's variable list]. */
const CONFIGS: [string, () => tf.LayersModel, () => NamedStateOptimizer, 'torch' | 'tfjs', boolean][] = [
  ['square Dense, ADOPT, torch', () => squareModel(1), () => adopt(0.01), 'torch', false],
  ['square Dense, AMSGrad, tfjs', () => squareModel(2), () => amsgrad(0.01), 'tfjs', false],
  ['Bidirectional LSTM, Adam, torch', () => bidirectionalModel(3), () => adam(0.01), 'torch', false],
  [
    'nested model, AdamW 8-bit, torch',
    () => nestedModel(4, 'fz'),
    () => adamw(0.01, { stateDtype: 'int8' }),
    'torch',
    false,
  ],
  [
    'square Dense into a variable list, AdamW 4-bit, torch',
    () => squareModel(5),
    () => adamw(0.01, { stateDtype: 'int4' }),
    'torch',
    true,
  ],
  ['square Dense into a variable list, ADOPT, torch', () => squareModel(6), () => adopt(0.01), 'torch', true],
];
export const CONFIG_COUNT = CONFIGS.length;

/**
 * A fresh model and optimizer trained 2 steps (and an extra variable the source does not hold), exported, then
 * 1 more step (the live state differs from the file's).
 */
async function setup(k: number): Promise<Setup> {
  const [, makeModel, makeOpt, layout, toList] = CONFIGS[k]!;
  const m = makeModel();
  const opt = makeOpt();
  const extra = tf.tidy(() => tf.variable(tf.fill([5], 0.5), true, 'fuzz_extra'));
  const vars = variablesOf(m);
  train(opt, [...vars, extra], 2, k + 1);
  const { file } = await exportState(opt, m, { layout });
  train(opt, [...vars, extra], 1, k + 11);
  const className = opt.getClassName();
  return {
    opt,
    source: toList ? vars : m,
    targets: vars,
    extra,
    file,
    className,
    slots: className === 'adopt-optim/AMSGrad' ? ['m', 'v', 'vmax'] : ['m', 'v'],
    lowBit: k === 3 || k === 4,
    dispose() {
      opt.dispose();
      m.dispose();
      extra.dispose();
    },
  };
}

const KINDS = [
  'swapParamNames',
  'swapTfjsNames',
  'renameParam',
  'renameTfjs',
  'swapTensors',
  'tensorShape',
  'tensorValue',
  'tensorDtype',
  'dropTensor',
  'addTensor',
  'layout',
  'axes',
  'dropState',
  'rekeyState',
  'step',
  'nullEntry',
  'slotRef',
  'meta',
  'renumber',
  'optimizerClass',
  'truncate',
  'flipByte',
  'offsets',
] as const;
export interface Mutation {
  kind: (typeof KINDS)[number];
  i: number;
  j: number;
  x: unknown;
}
const VALUES = [
  0,
  1,
  -1,
  3,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 1,
  1.5,
  1e30,
  -1e-3,
  NaN,
  Infinity,
  -Infinity,
  '3',
  null,
  'TFJS',
  'torch',
  'tfjs',
  'x',
  [1, 0],
  [0, 1],
  [],
  {},
];
export const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom(...KINDS),
  i: fc.nat(1000),
  j: fc.nat(1000),
  x: fc.constantFrom(...VALUES),
});
const CLASSES = ['ADOPT', 'Adam', 'AdamW', 'AMSGrad', 'SGD'].map((c) => `adopt-optim/${c}`);

/** The file with one mutation applied. */
function mutate(file: Uint8Array, { kind, i, j, x }: Mutation): Uint8Array {
  if (kind === 'truncate') return file.slice(0, i % file.length);
  if (kind === 'offsets') return moveOffsets(file, i, j);
  if (kind === 'flipByte') {
    const out = file.slice();
    out[(i * 7919 + j) % out.length]! ^= 1 << (j % 8);
    return out;
  }
  const edit = editFor({ kind, i, j, x });
  try {
    return rewrite(file, edit);
  } catch {
    return file; // an earlier mutation broke the file or its JSON shape: this one does nothing
  }
}

/** The file with a tensor's data_offsets swapped with another's, shifted or shortened by 4 (the data unmoved). */
function moveOffsets(file: Uint8Array, i: number, j: number): Uint8Array {
  if (file.length < 8) return file;
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  let header: Record<string, { data_offsets: number[] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n)));
  } catch {
    return file;
  }
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  if (names.length === 0) return file;
  const a = header[names[i % names.length]!]!;
  const b = header[names[j % names.length]!]!;
  if (j % 3 === 0) [a.data_offsets, b.data_offsets] = [b.data_offsets, a.data_offsets];
  else if (j % 3 === 1) a.data_offsets = a.data_offsets.map((o) => o + 4);
  else a.data_offsets = [a.data_offsets[0]!, a.data_offsets[1]! - 4];
  const json = JSON.stringify(header);
  const bytes = new TextEncoder().encode(json + ' '.repeat((8 - (json.length % 8)) % 8));
  const out = new Uint8Array(8 + bytes.length + file.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(bytes.length), true);
  out.set(bytes, 8);
  out.set(file.subarray(8 + n), 8 + bytes.length);
  return out;
}

/** One mutation of the state dict or tensors (the switch of `mutate`). */
function editFor({ kind, i, j, x }: Mutation) {
  return (sd: Record<string, any>, tensors: Map<string, NamedArray>): void => {
    const g = sd.param_groups[0];
    const n = g.param_names.length;
    const keys = Object.keys(sd.state);
    const names = [...tensors.keys()];
    const pick = <T>(xs: T[], k: number) => xs[k % xs.length]!;
    const swap = (xs: unknown[]) => {
      const [a, b] = [i % xs.length, j % xs.length];
      [xs[a], xs[b]] = [xs[b], xs[a]];
    };
    switch (kind) {
      case 'swapParamNames':
        swap(g.param_names);
        break;
      case 'swapTfjsNames':
        swap(g.tfjs_names);
        break;
      case 'renameParam':
        g.param_names[i % n] = typeof x === 'string' ? x : pick(names, j);
        break;
      case 'renameTfjs':
        g.tfjs_names[i % n] = j % 2 === 0 ? `${g.tfjs_names[i % n]}_${j % 5}` : String(x);
        break;
      case 'swapTensors': {
        const [a, b] = [pick(names, i), pick(names, j)];
        const [ta, tb] = [tensors.get(a)!, tensors.get(b)!];
        tensors.set(a, tb);
        tensors.set(b, ta);
        break;
      }
      case 'tensorShape': {
        const t = tensors.get(pick(names, i))!;
        t.shape = j % 3 === 0 ? [...t.shape].reverse() : j % 3 === 1 ? [t.data.length] : [...t.shape, 1];
        break;
      }
      case 'tensorValue': {
        const t = tensors.get(pick(names, i))!;
        if (t.data.length > 0) (t.data as Float32Array)[j % t.data.length] = typeof x === 'number' ? x : -2;
        break;
      }
      case 'tensorDtype': {
        const name = pick(names, i);
        const t = tensors.get(name)!;
        const x32 = t.data as Float32Array;
        const data = j % 2 === 0 ? Float64Array.from(x32) : Int32Array.from(x32, Math.round);
        tensors.set(name, { dtype: j % 2 === 0 ? 'F64' : 'I32', shape: t.shape, data } as NamedArray);
        break;
      }
      case 'dropTensor':
        tensors.delete(pick(names, i));
        break;
      case 'addTensor':
        tensors.set(`extra.${i}`, { dtype: 'F32', shape: [2], data: Float32Array.from([1, 2]) });
        break;
      case 'layout':
        sd.layout = x;
        break;
      case 'axes':
        g.axes[i % n] = j % 3 === 0 ? null : j % 3 === 1 ? [...(g.axes[i % n] ?? [0, 1])].reverse() : x;
        break;
      case 'dropState':
        if (keys.length > 0) delete sd.state[pick(keys, i)];
        break;
      case 'rekeyState': {
        if (keys.length === 0) break;
        const key = pick(keys, i);
        const entry = sd.state[key];
        delete sd.state[key];
        sd.state[j % 2 === 0 ? (g.param_names[Number(key)] ?? 'p') : String(x)] = entry;
        break;
      }
      case 'step':
        if (keys.length > 0) sd.state[pick(keys, i)].step = x;
        break;
      case 'nullEntry':
        if (keys.length > 0) sd.state[pick(keys, i)] = j % 2 === 0 ? null : x;
        break;
      case 'slotRef':
        if (keys.length === 0) break;
        sd.state[pick(keys, i)][pick(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'], j)] = pick(names, i + j);
        break;
      case 'meta': {
        const fields = [
          [sd, 'format'],
          [sd, 'version'],
          [sd, 'state'],
          [sd, 'param_groups'],
          [g, 'lr'],
          [g, 'params'],
          [g, 'axes'],
          [g, 'param_names'],
        ] as const;
        const [obj, field] = pick([...fields], i);
        if (j % 2 === 0) (obj as Record<string, unknown>)[field] = x;
        else delete (obj as Record<string, unknown>)[field];
        break;
      }
      case 'renumber': {
        // every parameter id shifted, state keys and tensor names with them: the same meaning
        g.params = g.params.map((p: number) => p + 100 + (i % 50));
        const state: Record<string, any> = {};
        for (const [key, e] of Object.entries<any>(sd.state)) {
          const to = String(Number(key) + 100 + (i % 50));
          for (const slot of ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']) {
            if (typeof e?.[slot] !== 'string' || !tensors.has(e[slot])) continue;
            const t = tensors.get(e[slot])!;
            tensors.delete(e[slot]);
            e[slot] = `state.${to}.${slot}`;
            tensors.set(e[slot], t);
          }
          state[to] = e;
        }
        sd.state = state;
        break;
      }
      case 'optimizerClass':
        sd.optimizer = pick(CLASSES, i);
        break;
    }
  };
}

const bitsEqual = (a: number, b: number) => Object.is(Math.fround(a), Math.fround(b));

/** The accepted import's result against the reference's meaning. */
async function checkAccepted(s: Setup, ref: Meaning, before: any, assigned: boolean): Promise<void> {
  s.targets.forEach((v, k) => {
    const want = assigned ? ref.params.get(v.name)! : (before.params[k][1] as number[]);
    const got = v.dataSync();
    const same = want.every((x, e) => bitsEqual(x, got[e]!));
    assert.ok(same, `parameter ${v.name}: got ${Array.from(got)}, the file says ${want}`);
  });
  const raw = await s.opt.getWeights();
  const { weights, made } = s.lowBit ? await dequantizeLowBitWeights('fuzz', raw) : { weights: raw, made: [] };
  try {
    const got = new Map(weights.map((w) => [w.name, Array.from(w.tensor.dataSync())]));
    let iter = 0;
    for (const v of s.targets) {
      const st = ref.state.get(v.name);
      const has = [...got.keys()].filter((n) => n.startsWith(`${v.name}/`));
      if (st === undefined) {
        assert.deepEqual(has, [], `${v.name} has state the file does not give it`);
        continue;
      }
      iter = Math.max(iter, st.step);
      assert.deepEqual(got.get(`${v.name}/step`), [st.step], `${v.name}/step`);
      for (const [slot, want] of st.slots) {
        const x = got.get(`${v.name}/${slot}`);
        assert.ok(x !== undefined, `${v.name}/${slot} missing`);
        const scale = Math.max(...want.map(Math.abs), 1e-30);
        // low-bit state is re-quantised: within a fifth of the tensor's largest value (8-bit and 4-bit codes)
        const ok = s.lowBit
          ? want.every((w, e) => Math.abs(w - x[e]!) <= 0.2 * scale)
          : want.every((w, e) => bitsEqual(w, x[e]!));
        assert.ok(ok, `${v.name}/${slot}: got ${x}, the file says ${want}`);
      }
    }
    // the extra variable, which the file does not cover: its state exactly as it was
    const prefix = `${s.extra.name}/`;
    const kept = (before.state as [string, ...unknown[]][]).filter(([n]) => n.startsWith(prefix));
    const now = raw
      .filter((w) => w.name.startsWith(prefix))
      .map((w) => [w.name, w.tensor.dtype, w.tensor.shape, Array.from(w.tensor.dataSync())]);
    assert.deepEqual(now, kept, 'the state of a variable the file does not cover changed');
    for (const [n, , , d] of kept) if ((n as string).endsWith('/step')) iter = Math.max(iter, (d as number[])[0]!);
    assert.equal(s.opt.iterations, iter, 'iterations');
  } finally {
    tf.dispose(made);
  }
}

/** One fuzz case: config `k`, the mutations, imported with `importFn`. Throws (assert) when the property fails. */
export async function runCase(
  k: number,
  mutations: Mutation[],
  keepParams: boolean,
  importFn: ImportFn = importState,
): Promise<'accepted' | 'refused'> {
  const start = tf.memory().numTensors;
  const s = await setup(k);
  try {
    let file = s.file;
    for (const m of mutations) file = mutate(file, m);
    const all = [...s.targets, s.extra];
    const before = (await snapshot(s.opt, all)) as any;
    const tensors = tf.memory().numTensors;
    let error: unknown = null;
    try {
      await importFn(s.opt, s.source as never, file, keepParams ? { params: false } : {});
    } catch (e) {
      error = e;
    }
    const ref = meaning(
      file,
      s.targets.map((v) => ({ name: v.name, shape: v.shape })),
      s.className,
      s.slots,
    );
    if (error !== null) {
      assert.ok(error instanceof OptimizerArgumentError, `refused with ${String(error)}`);
      assert.equal(tf.memory().numTensors, tensors, 'a refusal leaked tensors');
      assert.deepEqual(await snapshot(s.opt, all), before, `a refusal changed something (${error.message})`);
      return 'refused';
    }
    assert.ok(typeof ref !== 'string', `accepted a file the reference refuses: ${ref as string}`);
    await checkAccepted(s, ref, before, !keepParams);
    return 'accepted';
  } finally {
    s.dispose();
    assert.equal(tf.memory().numTensors, start, 'a case leaked tensors');
  }
}

/** The property over configs, 0-3 mutations and the params option. */
export function property(importFn: ImportFn = importState, counts?: { accepted: number; refused: number }) {
  return fc.asyncProperty(
    fc.nat(CONFIG_COUNT - 1),
    fc.array(mutationArb, { maxLength: 3 }),
    fc.boolean(),
    async (k, mutations, keep) => {
      const r = await runCase(k, mutations, keep && mutations.length % 2 === 1, importFn);
      if (counts !== undefined) counts[r]++;
    },
  );
}
