/**
 * A model of the tfjs optimizers' lifecycle for fast-check's model-based testing (used by
 * test/lifecycle_fuzz.test.ts): random sequences of steps (gradients with NaN, ±Infinity and values
 * around ±2^63 now and then), getWeights/setWeights round trips, corrupted setWeights, variables
 * disposed and re-created, backend switches, and checkpoints written and restored into a new
 * optimizer, for ADOPT and Adam with float32, 8-bit, 4-bit or bfloat16 state, on cpu and wasm.
 *
 * What must happen is decided by the model alone: which calls are refused (a non-finite or
 * out-of-range gradient under the policy, state bound to another shape, corrupted weights), that a
 * refused call changes nothing (parameters and every weight, bit for bit), the step counters and
 * `iterations`. A step that goes ahead is checked against the float64 references of test/reference.ts
 * (no code shared with src/), started from the state the optimizer held before the step, so that
 * float32 rounding does not compound: parameters within 1e-4 relative, float32 moments within 1e-4,
 * 8-bit and 4-bit codes at most one apart (4-bit: test/reference4.ts), bfloat16 moments within one bfloat16
 * spacing of the float64 ones (stochastic rounding moves a value to one of its two neighbours).
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import {
  adam,
  adopt,
  GRADIENT_LIMIT,
  NonFiniteGradientError,
  OptimizerArgumentError,
  type NamedStateOptimizer,
} from '../src/index.js';
import { readCheckpoint, writeCheckpoint } from '../src/train/index.js';
import { useBackend } from './backends.js';
import {
  maxRelativeError,
  refAdam8Step,
  refAdamStep,
  refAdopt8Step,
  refAdoptStep,
  REF_BLOCK,
  Rng,
  type Ref8State,
  type RefState,
  refAdamDefaults,
  refAdoptDefaults,
} from './reference.js';
import { refAdam4Step, refAdopt4Step, REF4_BLOCK, type Ref4State } from './reference4.js';

export interface Config {
  family: 'adopt' | 'adam';
  stateDtype: 'float32' | 'int8' | 'int4' | 'bfloat16';
  nonFinite: 'throw' | 'skip';
  fused: boolean;
  backend: 'cpu' | 'wasm';
}

const LR = 0.01;
const ADOPT_REF = refAdoptDefaults(LR);
const ADAM_REF = refAdamDefaults(LR);

export function makeOptimizer(c: Config): NamedStateOptimizer {
  // low-bit state runs fused only
  const options = { nonFinite: c.nonFinite, stateDtype: c.stateDtype, fused: c.stateDtype !== 'float32' || c.fused };
  return c.family === 'adopt' ? adopt(LR, options) : adam(LR, options);
}

interface VarModel {
  shape: number[];
  state: number[] | null;
  t: number;
}
export interface Model {
  c: Config;
  vars: Map<string, VarModel>;
  iterations: number;
  skipped: number;
  backend: 'cpu' | 'wasm';
}
export interface Real {
  opt: NamedStateOptimizer;
  vars: Map<string, tf.Variable>;
  dir: string;
  checkpoints: number;
}

type Values = { shape: number[]; dtype: string; values: number[] };
interface Snapshot {
  p: Map<string, Values>;
  w: Map<string, Values>;
  iterations: number;
  skipped: number;
}

/** What the runs did, by command and outcome (the test reports it). */
export const stats = new Map<string, number>();
const count = (key: string) => stats.set(key, (stats.get(key) ?? 0) + 1);

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const sameShape = (a: number[] | null, b: number[]) =>
  a !== null && a.length === b.length && a.every((x, i) => x === b[i]);
const mismatched = (m: Model) =>
  [...m.vars.entries()].filter(([, v]) => v.state !== null && !sameShape(v.state, v.shape)).map(([n]) => n);

const valuesOf = (t: tf.Tensor): Values => ({ shape: [...t.shape], dtype: t.dtype, values: Array.from(t.dataSync()) });

async function snapshot(r: Real): Promise<Snapshot> {
  const w = await r.opt.getWeights();
  return {
    p: new Map([...r.vars].map(([n, v]) => [n, valuesOf(v)])),
    w: new Map(w.map((x) => [x.name, valuesOf(x.tensor)])),
    iterations: r.opt.iterations,
    skipped: (r.opt as unknown as { skippedSteps: number }).skippedSteps,
  };
}

/** Nothing changed: parameters and every weight bit for bit (Object.is: NaN and -0 count), counters too. */
function assertUnchanged(before: Snapshot, after: Snapshot, what: string): void {
  const same = (a: Map<string, Values>, b: Map<string, Values>, kind: string) => {
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), `${what}: ${kind} names`);
    for (const [name, x] of a) {
      const y = b.get(name)!;
      assert.deepEqual(y.shape, x.shape, `${what}: ${kind} ${name} shape`);
      assert.ok(
        x.values.every((v, i) => Object.is(v, y.values[i])),
        `${what}: ${kind} ${name} changed`,
      );
    }
  };
  same(before.p, after.p, 'parameter');
  same(before.w, after.w, 'weight');
  assert.equal(after.iterations, before.iterations, `${what}: iterations`);
}

/** The counters the model knows: iterations, skipped steps, each variable's step. */
function assertCounters(m: Model, s: Snapshot, what: string): void {
  assert.equal(s.iterations, m.iterations, `${what}: iterations`);
  assert.equal(s.skipped, m.skipped, `${what}: skippedSteps`);
  for (const [name, v] of m.vars) {
    const step = s.w.get(`${name}/step`);
    assert.equal(step?.values[0] ?? 0, v.state === null ? 0 : v.t, `${what}: ${name}/step`);
  }
}

export type GradKind = 'ok' | 'nan' | 'inf' | '-inf' | 'huge' | '-huge' | 'below';
const BAD: readonly GradKind[] = ['nan', 'inf', '-inf', 'huge', '-huge'];
const SPECIAL: Record<Exclude<GradKind, 'ok'>, number> = {
  nan: NaN,
  inf: Infinity,
  '-inf': -Infinity,
  huge: GRADIENT_LIMIT,
  '-huge': -GRADIENT_LIMIT,
  below: Math.fround(GRADIENT_LIMIT * (1 - 2 ** -24)),
};

function gradient(shape: number[], kind: GradKind, seed: number): Float32Array {
  const n = sizeOf(shape);
  const g = Float32Array.from(new Rng(seed).normals(n), (x) => x * 0.1);
  if (kind !== 'ok') g[seed % 3 === 0 ? 0 : seed % 3 === 1 ? n - 1 : n >> 1] = SPECIAL[kind];
  return g;
}

const pad4 = (n: number) => Math.ceil(n / 4) * 4;
const pad16 = (n: number) => Math.ceil(n / 16) * 16;
/** Codes saved one per element (the variable's shape), padded with zeros to `length` (the padding's codes are 0). */
const padded = (values: number[] | undefined, length: number) => {
  const out = new Array<number>(length).fill(0);
  values?.forEach((x, i) => {
    out[i] = x;
  });
  return out;
};

/** The float a bfloat16 code holds: the upper half of a float32 (read through a DataView, not the library). */
export function bfloat16(code: number): number {
  const d = new DataView(new ArrayBuffer(4));
  d.setUint32(0, (code & 0xffff) << 16);
  return d.getFloat32(0);
}

/** One step of the reference from the state in `w` (the optimizer's own, before the step). */
function reference(c: Config, name: string, p0: number[], g: Float32Array, w: Map<string, Values>, t: number) {
  const p = Float64Array.from(p0);
  const n = p.length;
  if (c.stateDtype === 'bfloat16') {
    // the codes decode exactly: the step is float64 from the decoded m and v; only the write back rounds
    const s: RefState = {
      m: Float64Array.from(w.get(`${name}/mbf16`)?.values ?? new Array(n).fill(0), bfloat16),
      v: Float64Array.from(w.get(`${name}/vbf16`)?.values ?? new Array(n).fill(0), bfloat16),
      vmax: new Float64Array(n),
      t,
    };
    if (c.family === 'adopt') refAdoptStep(p, g, s, ADOPT_REF);
    else refAdamStep(p, g, s, ADAM_REF);
    return { p, bfloat16: s };
  }
  if (c.stateDtype === 'int8') {
    const blocks = Math.ceil(pad4(n) / REF_BLOCK);
    const s: Ref8State = {
      qm: Int8Array.from(w.get(`${name}/qm`)?.values ?? new Array(pad4(n)).fill(0)),
      qv: Uint8Array.from(w.get(`${name}/qv`)?.values ?? new Array(pad4(n)).fill(0)),
      mScale: Float32Array.from(w.get(`${name}/mScale`)?.values ?? new Array(blocks).fill(0)),
      vScale: Float32Array.from(w.get(`${name}/vScale`)?.values ?? new Array(blocks).fill(0)),
      t,
    };
    if (c.family === 'adopt') refAdopt8Step(p, g, s, ADOPT_REF);
    else refAdam8Step(p, g, s, ADAM_REF);
    return { p, int8: s };
  }
  if (c.stateDtype === 'int4') {
    const blocks = Math.ceil(pad16(n) / REF4_BLOCK);
    const s: Ref4State = {
      qm: Int8Array.from(padded(w.get(`${name}/qm4`)?.values, pad16(n))),
      qv: Uint8Array.from(padded(w.get(`${name}/qv4`)?.values, pad16(n))),
      mScale: Float32Array.from(w.get(`${name}/mScale4`)?.values ?? new Array(blocks).fill(0)),
      vScale: Float32Array.from(w.get(`${name}/vScale4`)?.values ?? new Array(blocks).fill(0)),
      t,
    };
    if (c.family === 'adopt') refAdopt4Step(p, g, s, ADOPT_REF);
    else refAdam4Step(p, g, s, ADAM_REF);
    return { p, int4: s };
  }
  const s: RefState = {
    m: Float64Array.from(w.get(`${name}/m`)?.values ?? new Array(n).fill(0)),
    v: Float64Array.from(w.get(`${name}/v`)?.values ?? new Array(n).fill(0)),
    vmax: new Float64Array(n),
    t,
  };
  if (c.family === 'adopt') refAdoptStep(p, g, s, ADOPT_REF);
  else refAdamStep(p, g, s, ADAM_REF);
  return { p, float: s };
}

/** The bfloat16 spacing at |y|: 2^(e - 7) in the binade [2^e, 2^(e+1)), 2^-133 below 2^-126. */
function spacing(y: number): number {
  const a = Math.abs(y);
  if (a < 2 ** -126) return 2 ** -133;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  return 2 ** (e - 7);
}

/**
 * Each decoded bfloat16 code less than one bfloat16 spacing from the float64 value b (stochastic rounding gives one
 * of its two neighbours), plus float32's own error in computing the value (1e-6 relative, and 1e-5 of the array's
 * largest |b| for values that cancel).
 */
export function withinBfloat16(codes: number[], b: ArrayLike<number>, what: string): void {
  const floor = 1e-5 * Math.max(1e-30, ...Array.from(b, Math.abs));
  codes.forEach((code, i) => {
    const [x, y] = [bfloat16(code), b[i]!];
    assert.ok(Math.abs(x - y) < spacing(y) + 1e-6 * Math.abs(y) + floor, `${what}[${i}]: ${x} for ${y}`);
  });
}

/** |a - b| within 1e-4 of the larger of |b| and a floor of 1e-3 · max |b|. */
function close(a: number[], b: ArrayLike<number>, what: string): void {
  const scale = Math.max(1e-30, ...Array.from(b, Math.abs));
  const e = maxRelativeError(a, b, 1e-3 * scale);
  assert.ok(e < 1e-4, `${what}: relative error ${e}`);
}

export class Step implements fc.AsyncCommand<Model, Real> {
  readonly kinds: GradKind[];
  constructor(
    readonly names: string[],
    kinds: GradKind[],
    readonly seed: number,
  ) {
    this.kinds = kinds.slice(0, names.length); // one per variable stepped
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const before = await snapshot(r);
    const gs = this.names.map((n, i) => gradient(m.vars.get(n)!.shape, this.kinds[i]!, this.seed + i));
    const tensors = this.names.map((n, i) => ({ name: n, tensor: tf.tensor(gs[i]!, m.vars.get(n)!.shape) }));
    let error: unknown;
    try {
      r.opt.applyGradients(tensors);
    } catch (e) {
      error = e;
    } finally {
      tf.dispose(tensors.map((t) => t.tensor));
    }
    const after = await snapshot(r);
    const what = this.toString();
    if (this.names.some((n) => mismatched(m).includes(n))) {
      assert.ok(
        error instanceof OptimizerArgumentError && /re-created|shape|codes/.test(error.message),
        `${what}: expected a binding refusal, got ${String(error)}`,
      );
      count('step refused: state of another shape');
      return assertUnchanged(before, after, what);
    }
    if (this.kinds.some((k) => BAD.includes(k))) {
      if (m.c.nonFinite === 'throw')
        assert.ok(
          error instanceof NonFiniteGradientError,
          `${what}: expected NonFiniteGradientError, got ${String(error)}`,
        );
      else {
        assert.equal(error, undefined, `${what}: skip policy threw`);
        m.skipped++;
      }
      count(`step refused: bad gradient (${m.c.nonFinite})`);
      assertUnchanged({ ...before, skipped: m.skipped }, after, what);
      return assertCounters(m, after, what);
    }
    if (error !== undefined) throw error;
    count(`step applied (${m.c.stateDtype})`);
    m.iterations++;
    this.names.forEach((name, i) => {
      const v = m.vars.get(name)!;
      const t = v.state === null ? 0 : v.t;
      const ref = reference(m.c, name, before.p.get(name)!.values, gs[i]!, before.w, t);
      close(after.p.get(name)!.values, ref.p, `${what}: ${name} parameters`);
      if (ref.float) {
        close(after.w.get(`${name}/m`)!.values, ref.float.m, `${what}: ${name}/m`);
        close(after.w.get(`${name}/v`)!.values, ref.float.v, `${what}: ${name}/v`);
      } else if (ref.bfloat16) {
        withinBfloat16(after.w.get(`${name}/mbf16`)!.values, ref.bfloat16.m, `${what}: ${name}/mbf16`);
        withinBfloat16(after.w.get(`${name}/vbf16`)!.values, ref.bfloat16.v, `${what}: ${name}/vbf16`);
      } else {
        const codes = ref.int8 ?? ref.int4!;
        const x = ref.int8 ? '' : '4'; // 4-bit entries are named qm4, qv4
        for (const [slot, want] of [
          [`qm${x}`, codes.qm],
          [`qv${x}`, codes.qv],
        ] as const) {
          const real = after.w.get(`${name}/${slot}`)!.values;
          assert.equal(real.length, sizeOf(m.vars.get(name)!.shape), `${what}: ${name}/${slot} one code per element`);
          assert.ok(
            real.every((q, j) => Math.abs(q - want[j]!) <= 1),
            `${what}: ${name}/${slot} codes more than one apart`,
          );
        }
      }
      v.state = [...v.shape];
      v.t = t + 1;
    });
    // variables not in this step are untouched
    for (const [name, x] of before.p)
      if (!this.names.includes(name)) assert.deepEqual(after.p.get(name), x, `${what}: ${name} untouched`);
    assertCounters(m, after, what);
  }
  toString = () => `step(${this.names.map((n, i) => `${n}:${this.kinds[i]}`).join(', ')}; seed ${this.seed})`;
}

/** getWeights → setWeights: accepted unless some state is bound to another shape; nothing changes. */
export class RoundTrip implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const before = await snapshot(r);
    const refused = mismatched(m).length > 0;
    count(refused ? 'roundTrip refused' : 'roundTrip');
    await (refused
      ? assert.rejects(r.opt.setWeights(await r.opt.getWeights()), OptimizerArgumentError)
      : r.opt.setWeights(await r.opt.getWeights()));
    assertUnchanged(before, await snapshot(r), this.toString());
  }
  toString = () => 'roundTrip';
}

type Corruption = 'drop' | 'nan' | 'range' | 'shape' | 'marker' | 'counter';

/** A value just outside the range of weight `name` (-1 for float32 v; for codes, one past either end). */
function outOfRange(dtype: Config['stateDtype'], name: string, pick: number): number {
  if (dtype === 'float32') return -1;
  if (dtype === 'bfloat16') return (pick >> 1) % 2 === 0 ? -1 : 0x10000; // codes are 0..65535
  const top = dtype === 'int8' ? { m: 127, v: 255 } : { m: 7, v: 15 };
  const low = (pick >> 1) % 2 === 0; // the low end or the high end
  return /\/qm4?$/.test(name) ? (low ? -top.m - 1 : top.m + 1) : low ? -1 : top.v + 1;
}

/** setWeights with one entry corrupted: always refused, and nothing changes. */
export class Corrupt implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly kind: Corruption,
    readonly pick: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const before = await snapshot(r);
    const entries = [...before.w.entries()];
    const own = entries.filter(([n]) => n.includes('/') && !n.startsWith('optimizer:')); // a variable's entries
    const bf16 = m.c.stateDtype === 'bfloat16'; // codes mbf16, vbf16, no scales
    const lowBit = m.c.stateDtype !== 'float32' && !bf16;
    const x = m.c.stateDtype === 'int4' ? '4' : ''; // 4-bit entries are named qm4, qv4, mScale4, vScale4
    const codeNames = bf16 ? ['mbf16', 'vbf16'] : [`qm${x}`, `qv${x}`];
    const kind: Corruption = own.length === 0 ? 'marker' : this.kind;
    const pickOf = (suffixes: string[]) => {
      const from = own.filter(([n]) => suffixes.some((s) => n.endsWith(`/${s}`)));
      return from[this.pick % from.length]![0];
    };
    const target =
      kind === 'drop'
        ? own[this.pick % own.length]![0]
        : kind === 'nan'
          ? pickOf(bf16 ? codeNames : lowBit ? [`mScale${x}`, `vScale${x}`] : ['m', 'v'])
          : kind === 'range'
            ? pickOf(lowBit || bf16 ? codeNames : ['v'])
            : kind === 'shape'
              ? pickOf(lowBit || bf16 ? codeNames : ['m'])
              : kind === 'counter'
                ? pickOf(['step'])
                : entries.find(([n]) => n.startsWith('optimizer:'))![0];
    count(`corrupt setWeights refused: ${kind}`);
    const made: { name: string; tensor: tf.Tensor }[] = [];
    for (const [name, x] of entries) {
      if (kind === 'drop' && name === target) continue;
      let { shape, values } = x;
      let dtype = x.dtype as 'float32' | 'int32';
      let outName = name;
      if (name === target) {
        values = [...values];
        // bfloat16: the pattern of a NaN or an Infinity
        if (kind === 'nan')
          values[this.pick % values.length] = bf16 ? [0x7fc0, 0xffc0, 0x7f80, 0xff80][this.pick % 4]! : NaN;
        // just outside the range: codes of m -127..127 (8-bit) or -7..7 (4-bit), of sqrt(v) 0..255 or 0..15; v >= 0
        if (kind === 'range') values[this.pick % values.length] = outOfRange(m.c.stateDtype, name, this.pick);
        if (kind === 'counter') {
          values[0] = this.pick % 2 === 0 ? -1 : 1.5;
          if (values[0] === 1.5) dtype = 'float32'; // an int32 tensor would hold 1
        }
        if (kind === 'shape') {
          values = [...values, 0, 0, 0, 0];
          shape = [values.length];
        }
        if (kind === 'marker')
          outName = m.c.family === 'adopt' ? 'optimizer:adopt-optim/Adam' : 'optimizer:adopt-optim/ADOPT';
      }
      made.push({ name: outName, tensor: tf.tensor(values, shape, dtype) });
    }
    try {
      await assert.rejects(
        r.opt.setWeights(made),
        OptimizerArgumentError,
        `${this.toString()} (${target}) was accepted`,
      );
    } finally {
      tf.dispose(made.map((x) => x.tensor));
    }
    assertUnchanged(before, await snapshot(r), this.toString());
  }
  toString = () => `corrupt(${this.kind}, ${this.pick})`;
}

/** A variable disposed and made again under its name: the same shape (its state continues) or another size. */
export class Recreate implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly name: string,
    readonly shape: number[],
    readonly seed: number,
  ) {}
  check = (m: Readonly<Model>) =>
    m.vars.has(this.name) &&
    (sizeOf(this.shape) !== sizeOf(m.vars.get(this.name)!.shape) ||
      sameShape(this.shape, m.vars.get(this.name)!.shape));
  async run(m: Model, r: Real): Promise<void> {
    r.vars.get(this.name)!.dispose();
    r.vars.set(
      this.name,
      tf.tidy(() =>
        tf.variable(tf.tensor(new Rng(this.seed).normals(sizeOf(this.shape)), this.shape), true, this.name),
      ),
    );
    count(sameShape(this.shape, m.vars.get(this.name)!.shape) ? 'recreate, same shape' : 'recreate, other size');
    m.vars.get(this.name)!.shape = [...this.shape];
    assertCounters(m, await snapshot(r), this.toString());
  }
  toString = () => `recreate(${this.name}, [${this.shape}])`;
}

/** setWeights without one variable's entries: that variable starts again (refused while another is mismatched). */
export class DropState implements fc.AsyncCommand<Model, Real> {
  constructor(readonly name: string) {}
  check = (m: Readonly<Model>) => m.vars.get(this.name)?.state !== null;
  async run(m: Model, r: Real): Promise<void> {
    const before = await snapshot(r);
    const kept = (await r.opt.getWeights()).filter((w) => !w.name.startsWith(`${this.name}/`));
    if (mismatched(m).some((n) => n !== this.name)) {
      await assert.rejects(r.opt.setWeights(kept), OptimizerArgumentError);
      return assertUnchanged(before, await snapshot(r), this.toString());
    }
    await r.opt.setWeights(kept);
    count('dropState');
    m.vars.get(this.name)!.state = null;
    m.vars.get(this.name)!.t = 0;
    const after = await snapshot(r);
    assert.deepEqual(after.p, before.p);
    assertCounters(m, after, this.toString());
  }
  toString = () => `dropState(${this.name})`;
}

export class SwitchBackend implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const before = await snapshot(r);
    m.backend = m.backend === 'cpu' ? 'wasm' : 'cpu';
    count('switchBackend');
    await useBackend(m.backend);
    assertUnchanged(before, await snapshot(r), this.toString());
  }
  toString = () => 'switchBackend';
}

/** A checkpoint written, read back and restored into a new optimizer; the old one is disposed. */
export class Checkpoint implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const before = await snapshot(r);
    const weights = await r.opt.getWeights();
    const step = ++r.checkpoints;
    await writeCheckpoint(
      r.dir,
      step,
      {},
      { model: [...r.vars].map(([name, tensor]) => ({ name, tensor })), optimizer: weights },
      { keep: 2 },
    );
    const loaded = await readCheckpoint(r.dir);
    assert.equal(loaded.manifest.step, step);
    const fresh = makeOptimizer(m.c);
    const named = loaded
      .values('optimizer')
      .map((v) => ({ name: v.name, tensor: tf.tensor(v.values, v.shape, v.dtype) }));
    try {
      if (mismatched(m).length > 0) {
        await assert.rejects(fresh.setWeights(named), OptimizerArgumentError);
        count('checkpoint restore refused');
        fresh.dispose();
        return assertUnchanged(before, await snapshot(r), this.toString());
      }
      await fresh.setWeights(named);
    } finally {
      tf.dispose(named.map((x) => x.tensor));
    }
    for (const v of loaded.values('model')) {
      const t = tf.tensor(v.values, v.shape, v.dtype);
      r.vars.get(v.name)!.assign(t);
      t.dispose();
    }
    count('checkpoint restored');
    const old = r.opt;
    r.opt = fresh;
    old.dispose();
    assert.throws(() => old.applyGradients([]), OptimizerArgumentError);
    const after = await snapshot(r);
    // a new optimizer has counted no skipped steps
    assertUnchanged({ ...before, skipped: 0 }, after, this.toString());
    m.skipped = 0;
    assertCounters(m, after, this.toString());
  }
  toString = () => 'checkpoint';
}

const NAMES = ['fa', 'fb', 'fc'];
/**
 * Sizes around SIMD tails (4), the groups of 16 and 128-element blocks of 4-bit state, the 256-element blocks of 8-bit
 * state, as 1-D or 2-D shapes.
 */
const shapes: fc.Arbitrary<number[]> = fc.constantFrom<number[]>(
  [1],
  [3],
  [5],
  [4, 2],
  [16],
  [17],
  [8, 16],
  [129],
  [255],
  [256],
  [257],
  [3, 86],
  [513],
);

export function commandsFor(names: string[] = NAMES) {
  const kind = fc.oneof(
    { weight: 10, arbitrary: fc.constant<GradKind>('ok') },
    { weight: 2, arbitrary: fc.constantFrom<GradKind>(...BAD, 'below') },
  );
  return fc.commands(
    [
      fc
        .tuple(fc.subarray(names, { minLength: 1 }), fc.array(kind, { minLength: 3, maxLength: 3 }), fc.nat(1e6))
        .map(([n, k, s]) => new Step(n, k, s)),
      // ordinary steps, three times as likely as the other commands
      ...[0, 1, 2].map(() =>
        fc.tuple(fc.subarray(names, { minLength: 1 }), fc.nat(1e6)).map(
          ([n, s]) =>
            new Step(
              n,
              n.map(() => 'ok' as GradKind),
              s,
            ),
        ),
      ),
      fc.constant(new RoundTrip()),
      fc
        .tuple(fc.constantFrom<Corruption>('drop', 'nan', 'range', 'shape', 'marker', 'counter'), fc.nat(1000))
        .map(([k, p]) => new Corrupt(k, p)),
      fc.tuple(fc.constantFrom(...names), shapes, fc.nat(1e6)).map(([n, s, seed]) => new Recreate(n, s, seed)),
      fc.constantFrom(...names).map((n) => new DropState(n)),
      fc.constant(new SwitchBackend()),
      fc.constant(new Checkpoint()),
    ],
    { maxCommands: 30, size: 'max' },
  );
}

/** Runs one sequence from fresh variables of `shapes`; checks that it leaks no tensor. */
export async function runSequence(
  c: Config,
  shapes: number[][],
  cmds: Iterable<fc.AsyncCommand<Model, Real>>,
  dir: string,
): Promise<void> {
  await useBackend(c.backend);
  const tensorsBefore = tf.memory().numTensors;
  const real: Real = { opt: makeOptimizer(c), vars: new Map(), dir, checkpoints: 0 };
  const model: Model = { c, vars: new Map(), iterations: 0, skipped: 0, backend: c.backend };
  NAMES.forEach((name, i) => {
    real.vars.set(
      name,
      tf.tidy(() => tf.variable(tf.tensor(new Rng(i + 1).normals(sizeOf(shapes[i]!)), shapes[i]!), true, name)),
    );
    model.vars.set(name, { shape: [...shapes[i]!], state: null, t: 0 });
  });
  try {
    await fc.asyncModelRun(() => ({ model, real }), cmds);
  } finally {
    real.opt.dispose();
    for (const v of real.vars.values()) v.dispose();
  }
  // a whole lifecycle leaks no tensor (getWeights' hand-outs are the optimizer's, released by dispose)
  assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors leaked');
}

export const configs = fc.record<Config>({
  family: fc.constantFrom('adopt', 'adam'),
  stateDtype: fc.constantFrom('float32', 'int8', 'int4', 'bfloat16'),
  nonFinite: fc.constantFrom('throw', 'skip'),
  fused: fc.boolean(),
  backend: fc.constantFrom('cpu', 'wasm'),
});

export const initialShapes = fc.array(shapes, { minLength: NAMES.length, maxLength: NAMES.length });
export { NAMES };
