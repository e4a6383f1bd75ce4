/**
 * A model of the Trainer's lifecycle for fast-check's model-based testing (used by
 * test/lifecycle_fuzz.test.ts): a Trainer over three variables in several parameter groups (learning-rate
 * multipliers, weight decay per group, optimizer options, global clipping), random sequences of steps (NaN
 * or Infinity in some variable's gradient now and then, often in a later group), checkpoints, crashes
 * between checkpoints followed by a resume into re-created variables, and an exportState/importState round
 * trip of every group's optimizer state (plain variables, float32 or bfloat16 state).
 *
 * The model alone decides what must happen: a step with a bad gradient anywhere is refused before any group
 * steps (parameters, every group's state, the step count and the log unchanged, bit for bit); a step that goes
 * ahead is checked per group against the float64 references of test/reference.ts (its rate times the group's
 * multiplier, its weight decay), started from the state each optimizer held before, within 1e-4 relative; a
 * resume restores exactly the last checkpoint and the log then holds each step once, with this run's losses;
 * an exported state imported into a fresh optimizer equals the original, and imported back changes nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { NonFiniteGradientError, type NamedStateOptimizer } from '../src/index.js';
import { exportState, importState } from '../src/interop/state_dict.js';
import { createOptimizer, Trainer, type ParamGroup, type TrainerConfig } from '../src/train/index.js';
import { useBackend } from './backends.js';
import { maxRelativeError, refAdamStep, refAdoptStep, Rng, type RefState } from './reference.js';
import { bfloat16, withinBfloat16 } from './lifecycle.js';

const LR = 0.01;
const SUFFIXES = ['ta', 'tb', 'tc'];

export interface TrainerFuzzConfig {
  optimizer: 'adopt' | 'adam';
  stateDtype: 'float32' | 'bfloat16';
  groups: { pattern: string; learningRateMultiplier?: number; weightDecay?: number }[];
  weightDecay: number;
  clipGradNorm: number | undefined;
  shapes: number[][];
}

type Kind = 'ok' | 'nan' | 'inf';
type GroupSpec = TrainerFuzzConfig['groups'][0];
type Coef = { c: tf.Tensor[] };
type Values = number[];
interface Snapshot {
  params: Map<string, Values>;
  state: Map<string, Values>[];
  step: number;
}

interface Saved {
  snap: Snapshot;
  losses: { step: number; loss: number }[];
  nextEpoch: number;
}
export interface TModel {
  c: TrainerFuzzConfig;
  /** Group index (config order, the last for variables matching none) of each variable suffix. */
  groupOf: number[];
  step: number;
  nextEpoch: number;
  saved: Saved | null;
}
export interface TReal {
  trainer: Trainer<Coef>;
  vars: tf.Variable[];
  names: string[];
  /** The coefficients (gradients) of each epoch's one batch, by epoch. */
  table: Float32Array[][];
  dir: string;
  config: () => TrainerConfig<Coef>;
}

/** What the runs did, by command and outcome (the test reports it). */
export const trainerStats = new Map<string, number>();
const count = (key: string) => trainerStats.set(key, (trainerStats.get(key) ?? 0) + 1);
const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

async function snapshot(r: TReal): Promise<Snapshot> {
  return {
    params: new Map(r.vars.map((v) => [v.name, Array.from(v.dataSync())])),
    state: await Promise.all(
      r.trainer.optimizers.map(
        async (o) => new Map((await o.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())])),
      ),
    ),
    step: r.trainer.step,
  };
}

/** Bit for bit (Object.is: NaN and -0 count). */
function assertSame(a: Snapshot, b: Snapshot, what: string): void {
  const same = (x: Map<string, Values>, y: Map<string, Values>, kind: string) => {
    assert.deepEqual([...y.keys()].sort(), [...x.keys()].sort(), `${what}: ${kind} names`);
    for (const [name, v] of x) {
      assert.ok(
        v.every((e, i) => Object.is(e, y.get(name)![i])),
        `${what}: ${kind} ${name} changed`,
      );
    }
  };
  same(a.params, b.params, 'parameter');
  assert.equal(b.state.length, a.state.length);
  a.state.forEach((s, i) => same(s, b.state[i]!, `group ${i} state`));
  assert.equal(b.step, a.step, `${what}: step`);
}

/** The log's step lines equal the trainer's losses: each step once, in order, this run's values. */
function assertLog(r: TReal, m: TModel, what: string): void {
  const file = join(r.dir, 'log.jsonl');
  const lines = (existsSync(file) ? readFileSync(file, 'utf8') : '')
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { type: string; step: number; loss: number | null })
    .filter((x) => x.type === 'step');
  assert.deepEqual(
    lines.map((x) => x.step),
    Array.from({ length: m.step }, (_, i) => i),
    `${what}: log steps`,
  );
  const losses = r.trainer.losses;
  lines.forEach((x, i) => {
    assert.ok(Object.is(x.loss, losses[i]!.loss), `${what}: log loss of step ${i}: ${x.loss} vs ${losses[i]!.loss}`);
  });
}

/**
 * Within 1e-4 of max(|b|, floor): the floor is 1e-3 of b's largest, or, given, the size of the history that
 * float32 rounds (1e-2 for parameters of O(1) and for m, an average of O(0.1) to O(1) terms that can cancel).
 */
function close(a: Values, b: ArrayLike<number>, what: string, floor?: number): void {
  const e = maxRelativeError(a, b, floor ?? 1e-3 * Math.max(1e-30, ...Array.from(b, Math.abs)));
  assert.ok(e < 1e-4, `${what}: relative error ${e}`);
}

export class TStep implements fc.AsyncCommand<TModel, TReal> {
  constructor(
    readonly kinds: Kind[],
    readonly seed: number,
  ) {}
  check = () => true;
  async run(m: TModel, r: TReal): Promise<void> {
    const rng = new Rng(this.seed);
    const coefs = m.c.shapes.map((s, i) => {
      const c = Float32Array.from(rng.normals(sizeOf(s)), (x) => x * 0.5);
      if (this.kinds[i] !== 'ok') c[this.seed % c.length] = this.kinds[i] === 'nan' ? NaN : -Infinity;
      return c;
    });
    r.table[m.nextEpoch] = coefs;
    m.nextEpoch++;
    const before = await snapshot(r);
    let error: unknown;
    try {
      await r.trainer.fit();
    } catch (e) {
      error = e;
    }
    const after = await snapshot(r);
    const what = this.toString();
    const bad = this.kinds.findIndex((k) => k !== 'ok');
    if (bad >= 0) {
      assert.ok(
        error instanceof NonFiniteGradientError && error.variableName === r.names[bad],
        `${what}: expected a refusal naming ${r.names[bad]}, got ${String(error)}`,
      );
      count(`step refused (bad gradient in group ${m.groupOf[bad]} of ${m.c.groups.length + 1})`);
      assertSame(before, after, what);
      return assertLog(r, m, what);
    }
    if (error !== undefined) throw error;
    // the reference: the clip scale in float64, then each variable's step with its group's rate and decay
    const norm = Math.sqrt(coefs.reduce((s, c) => s + c.reduce((t, x) => t + x * x, 0), 0));
    const scale = m.c.clipGradNorm === undefined ? 1 : Math.min(1, m.c.clipGradNorm / (norm + 1e-6));
    const sumOver = (f: (x: number) => number) =>
      r.names.reduce((s, n, i) => s + before.params.get(n)!.reduce((t, p, j) => t + f(p * coefs[i]![j]!), 0), 0);
    const loss = sumOver((x) => x);
    const magnitude = sumOver(Math.abs);
    const got = r.trainer.losses.at(-1)!.loss;
    assert.ok(Math.abs(got - loss) <= 1e-5 * magnitude + 1e-6, `${what}: loss ${got}, float64 ${loss}`);
    r.names.forEach((name, i) => {
      const g = m.groupOf[i]!;
      const spec = m.c.groups[g];
      const lr = LR * (spec?.learningRateMultiplier ?? 1);
      const weightDecay = spec?.weightDecay ?? m.c.weightDecay;
      const w = before.state[g]!;
      const n = sizeOf(m.c.shapes[i]!);
      // bfloat16: the codes decode exactly, the step is float64 from them, and only the write back rounds
      const bf16 = m.c.stateDtype === 'bfloat16';
      const moment = (slot: 'm' | 'v') =>
        bf16
          ? Float64Array.from(w.get(`${name}/${slot}bf16`) ?? new Array<number>(n).fill(0), bfloat16)
          : Float64Array.from(w.get(`${name}/${slot}`) ?? new Array<number>(n).fill(0));
      const s: RefState = {
        m: moment('m'),
        v: moment('v'),
        vmax: new Float64Array(n),
        t: w.get(`${name}/step`)?.[0] ?? 0,
      };
      const p = Float64Array.from(before.params.get(name)!);
      const grad = Array.from(coefs[i]!, (x) => x * scale);
      if (m.c.optimizer === 'adopt') {
        const clip = (t: number) => t ** 0.25;
        const h = { lr, beta1: 0.9, beta2: 0.9999, eps: 1e-6, weightDecay, decoupled: false, clip, maximize: false };
        refAdoptStep(p, grad, s, h);
      } else {
        const h = {
          lr,
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay,
          decoupled: false,
          amsgrad: false,
          maximize: false,
        };
        refAdamStep(p, grad, s, h);
      }
      close(after.params.get(name)!, p, `${what}: ${name} parameters (group ${g})`, 1e-2);
      if (bf16) {
        withinBfloat16(after.state[g]!.get(`${name}/mbf16`)!, s.m, `${what}: ${name}/mbf16`);
        withinBfloat16(after.state[g]!.get(`${name}/vbf16`)!, s.v, `${what}: ${name}/vbf16`);
      } else {
        close(after.state[g]!.get(`${name}/m`)!, s.m, `${what}: ${name}/m`, 1e-2);
        close(after.state[g]!.get(`${name}/v`)!, s.v, `${what}: ${name}/v`);
      }
    });
    m.step++;
    assert.equal(after.step, m.step, `${what}: step`);
    count('step applied');
    assertLog(r, m, what);
  }
  toString = () => `step(${this.kinds.join(', ')}; seed ${this.seed})`;
}

/** trainer.save(): the model remembers what a resume must bring back. */
export class TCheckpoint implements fc.AsyncCommand<TModel, TReal> {
  check = () => true;
  async run(m: TModel, r: TReal): Promise<void> {
    await r.trainer.save(join(r.dir, 'ck'));
    m.saved = { snap: await snapshot(r), losses: r.trainer.losses.map((l) => ({ ...l })), nextEpoch: m.nextEpoch };
    count('checkpoint');
  }
  toString = () => 'checkpoint';
}

/** A crash (the trainer dropped, its variables re-created with other values), then a new Trainer restores. */
export class TCrashResume implements fc.AsyncCommand<TModel, TReal> {
  constructor(readonly seed: number) {}
  check = (m: Readonly<TModel>) => m.saved !== null;
  async run(m: TModel, r: TReal): Promise<void> {
    const lost = m.step - m.saved!.snap.step;
    r.trainer.optimizers.forEach((o) => o.dispose());
    r.vars.forEach((v, i) => {
      const shape = [...v.shape];
      v.dispose();
      const values = new Rng(this.seed + i).normals(sizeOf(shape));
      r.vars[i] = tf.tidy(() => tf.variable(tf.tensor(values, shape), true, r.names[i]));
    });
    r.trainer = new Trainer<Coef>(r.config());
    const info = await r.trainer.restore(join(r.dir, 'ck'));
    assert.equal(info.step, m.saved!.snap.step);
    m.step = m.saved!.snap.step;
    m.nextEpoch = m.saved!.nextEpoch;
    r.table.length = m.nextEpoch; // the epochs after the checkpoint are asked for again: the next steps give them
    assertSame(m.saved!.snap, await snapshot(r), this.toString());
    assert.deepEqual(r.trainer.losses, m.saved!.losses);
    count(lost > 0 ? 'crash and resume, steps redone' : 'crash and resume at the checkpoint');
    assertLog(r, m, this.toString());
  }
  toString = () => `crashResume(${this.seed})`;
}

/** Each group's state through exportState: imported into a fresh optimizer it equals the original; back, no change. */
export class TInterop implements fc.AsyncCommand<TModel, TReal> {
  check = () => true;
  async run(m: TModel, r: TReal): Promise<void> {
    const before = await snapshot(r);
    const members = m.c.groups.map(() => [] as tf.Variable[]).concat([[]]);
    r.vars.forEach((v, i) => members[m.groupOf[i]!]!.push(v));
    for (const [g, vars] of members.entries()) {
      if (vars.length === 0) continue;
      const opt = r.trainer.optimizers[g] as NamedStateOptimizer;
      // a list of variables says nothing of layers: exported in tfjs layout (the default), 'torch' refused
      if (g % 2 === 0) await assert.rejects(exportState(opt, vars, { layout: 'torch' }), /invalid layout "torch"/);
      const { file } = await exportState(opt, vars, g % 2 === 0 ? {} : { layout: 'tfjs' });
      const spec = m.c.groups[g];
      const fresh = createOptimizer(m.c.optimizer, {
        learningRate: LR,
        weightDecay: spec?.weightDecay ?? m.c.weightDecay,
        stateDtype: m.c.stateDtype,
      }) as NamedStateOptimizer;
      try {
        await importState(fresh, vars, file, { params: false });
        const got = new Map((await fresh.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())]));
        const want = before.state[g]!;
        assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `interop group ${g}: names`);
        for (const [name, x] of want) {
          assert.ok(
            x.every((e, i) => Object.is(e, got.get(name)![i])),
            `interop group ${g}: ${name} differs`,
          );
        }
      } finally {
        fresh.dispose();
      }
      await importState(opt, vars, file);
    }
    assertSame(before, await snapshot(r), this.toString());
    count('export/import round trip');
  }
  toString = () => 'interop';
}

export function trainerCommands() {
  const kind = fc.oneof(
    { weight: 5, arbitrary: fc.constant<Kind>('ok') },
    { weight: 1, arbitrary: fc.constantFrom<Kind>('nan', 'inf') },
  );
  return fc.commands(
    [
      ...[0, 1, 2].map(() => fc.nat(1e6).map((s) => new TStep(['ok', 'ok', 'ok'], s))),
      fc.tuple(fc.array(kind, { minLength: 3, maxLength: 3 }), fc.nat(1e6)).map(([k, s]) => new TStep(k, s)),
      fc.constant(new TCheckpoint()),
      fc.nat(1e6).map((s) => new TCrashResume(s)),
      fc.constant(new TInterop()),
    ],
    { maxCommands: 12, size: 'max' },
  );
}

const multiplier = fc.constantFrom<number | undefined>(undefined, 0, 0.5, 3);
const groupSpec = fc
  .record({
    pattern: fc.constantFrom('_ta$', '_tb$', '_tc$', '_t[ab]$', '_t[bc]$'),
    learningRateMultiplier: multiplier,
    weightDecay: fc.constantFrom<number | undefined>(undefined, 0, 0.05),
  })
  .map((g) => Object.fromEntries(Object.entries(g).filter(([, v]) => v !== undefined)) as GroupSpec);

export const trainerConfigs: fc.Arbitrary<TrainerFuzzConfig> = fc.record({
  optimizer: fc.constantFrom<'adopt' | 'adam'>('adopt', 'adam'),
  stateDtype: fc.constantFrom<'float32' | 'bfloat16'>('float32', 'float32', 'bfloat16'),
  groups: fc.array(groupSpec, { minLength: 1, maxLength: 3 }),
  weightDecay: fc.constantFrom(0, 0.01),
  clipGradNorm: fc.constantFrom<number | undefined>(undefined, undefined, 0.5),
  shapes: fc.array(fc.constantFrom<number[]>([1], [3], [2, 3], [17]), { minLength: 3, maxLength: 3 }),
});

let sequences = 0;

/** Runs one sequence from fresh variables; checks the final log and that nothing leaked. */
export async function runTrainerSequence(
  c: TrainerFuzzConfig,
  cmds: Iterable<fc.AsyncCommand<TModel, TReal>>,
  dir: string,
): Promise<void> {
  await useBackend('cpu');
  const tensorsBefore = tf.memory().numTensors;
  const prefix = `tl${sequences++}`;
  const names = SUFFIXES.map((s) => `${prefix}_${s}`);
  const vars = names.map((n, i) => {
    const values = new Rng(i + 1).normals(sizeOf(c.shapes[i]!));
    return tf.tidy(() => tf.variable(tf.tensor(values, c.shapes[i]!), true, n));
  });
  const table: Float32Array[][] = [];
  const real = { vars, names, table, dir } as TReal;
  real.config = () =>
    ({
      model: real.vars,
      optimizer: c.optimizer,
      learningRate: LR,
      steps: 1e6,
      progress: false,
      optimizerOptions: { weightDecay: c.weightDecay, stateDtype: c.stateDtype },
      paramGroups: c.groups as ParamGroup[],
      ...(c.clipGradNorm === undefined ? {} : { clipGradNorm: c.clipGradNorm }),
      loss: (b: Coef) =>
        tf.tidy(() => real.vars.map((v, i) => tf.sum(tf.mul(v, b.c[i]!))).reduce((a, x) => tf.add(a, x))),
      // each epoch is one batch, the same whenever it is asked for (a resume re-reads the epoch it stopped in)
      data: (epoch: number) => {
        const coefs = table[epoch];
        return coefs === undefined ? [] : [{ c: coefs.map((x, i) => tf.tensor(x, c.shapes[i])) }];
      },
      // checkpoints only by TCheckpoint (trainer.save(dir)): with checkpoint.dir every fit writes one at its end
      logFile: join(dir, 'log.jsonl'),
    }) as TrainerConfig<Coef>;
  real.trainer = new Trainer<Coef>(real.config());
  // the groups, computed here from the patterns (first match wins), agree with the trainer's
  const groupOf = names.map((n) => {
    const i = c.groups.findIndex((g) => new RegExp(g.pattern).test(n));
    return i < 0 ? c.groups.length : i;
  });
  const members = [...c.groups, null].map((_, g) => names.filter((_, i) => groupOf[i] === g));
  assert.deepEqual(real.trainer.groupMembers, members);
  const model: TModel = { c, groupOf, step: 0, nextEpoch: 0, saved: null };
  try {
    await fc.asyncModelRun(() => ({ model, real }), cmds);
  } finally {
    real.trainer.optimizers.forEach((o) => o.dispose());
    real.vars.forEach((v) => v.dispose());
  }
  assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors leaked');
}
