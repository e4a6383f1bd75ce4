/**
 * Runs that survive and resume. An experiment is a set of units, one per (optimizer, setting,
 * seed); each unit's outcome is saved as `<out>/<experiment>/runs/<optimizer>-<setting>-seed<k>.json`
 * as soon as it finishes, with a hash of everything that determines it. A unit whose file is there
 * with the same hash is skipped, so an interrupted sweep resumes where it stopped; the summary,
 * tables and figures are always built from the saved files. `jobs > 1` runs units in child
 * processes (one TensorFlow.js per process), `jobs` at a time.
 */
import { makeDirectoriesSync } from 'adopt-optim/train'; // Node's recursive mkdir never returns under /proc
import { createHash } from 'node:crypto';
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, constants, cpus, platform } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import {
  LABELS,
  makeOptimizer,
  packageVersion,
  runMeta,
  type ExperimentResult,
  type LabOptimizer,
  type RunContext,
} from './common.js';

export type Row = Record<string, number | string>;

/**
 * beta2 'own': each optimizer's own default (ADOPT 0.9999, the others 0.999); a number: that beta2 for every optimizer.
 */
export type Beta2Mode = 'own' | number;

/** What varies between the units of one experiment besides the optimizer and the seed. */
export interface UnitSetting {
  beta2: Beta2Mode;
  learningRate: number;
  [key: string]: number | string;
}

export interface Unit {
  optimizer: LabOptimizer;
  seed: number;
  setting: UnitSetting;
  /** File-name-safe name of the setting, e.g. "b2own-lr0.001". */
  settingId: string;
  /** `<optimizer>-<settingId>-seed<k>`. */
  id: string;
}

export interface Machine {
  cpuModel: string;
  cpus: number;
  node: string;
  platform: string;
  backend: string;
}

export interface UnitOutcome {
  curves: Row[];
  /** Final metrics, by name. */
  final: Record<string, number>;
  /** Anything else the summary needs (e.g. decoded samples). */
  extra?: unknown;
}

export interface RunRecord extends UnitOutcome {
  format: 1;
  experiment: string;
  optimizer: LabOptimizer;
  seed: number;
  setting: UnitSetting;
  settingId: string;
  /** The experiment's resolved settings (shared by its units). */
  base: Record<string, unknown>;
  hash: string;
  seconds: number;
  startedAt: string;
  machine: Machine;
  versions: { adoptLab: string; adoptOptim: string };
}

/** Where a unit runs: a folder of its own for scratch files (checkpoints). */
export interface UnitEnv {
  scratchDir: string;
  /** The experiment's folder for work its units share (kept between runs; see once.ts). */
  cacheDir: string;
}

export interface UnitExperiment<B extends Record<string, unknown> = Record<string, unknown>> {
  /** The output folder's name (e.g. mnist-cnn for --model cnn). */
  folder(options: Record<string, unknown>): string;
  /** The resolved settings shared by every unit (data sizes, epochs, the default learning rate, ...). */
  resolve(options: Record<string, unknown>, quick: boolean): B;
  /** The settings to run; default: --beta2 modes x --lrs (or the default learning rate). */
  settings?(base: B, options: Record<string, unknown>): UnitSetting[];
  run(base: B, unit: Unit, env: UnitEnv): Promise<UnitOutcome>;
  /**
   * The units read beta2 'own' as each optimizer's default: a unit whose beta2 equals its
   * optimizer's default is then the same run as its 'own' unit, and is run (and saved) once.
   */
  ownBeta2?: boolean;
  summarize(
    base: B,
    records: RunRecord[],
    ctx: RunContext,
    options: Record<string, unknown>,
  ): Promise<ExperimentResult>;
}

const FORMAT = 1;

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The hash that decides whether a saved run is still valid: experiment, resolved settings, setting, optimizer, seed.
 */
export function unitHash(folder: string, base: Record<string, unknown>, unit: Unit): string {
  return createHash('sha256')
    .update(stable({ format: FORMAT, folder, base, setting: unit.setting, optimizer: unit.optimizer, seed: unit.seed }))
    .digest('hex')
    .slice(0, 16);
}

export function settingId(s: UnitSetting): string {
  const extra = Object.keys(s)
    .filter((k) => k !== 'beta2' && k !== 'learningRate')
    .sort()
    .map((k) => `${k}${s[k]}`);
  return [`b2${s.beta2}`, `lr${s.learningRate}`, ...extra].join('-').replace(/[^A-Za-z0-9.+-]/g, '_');
}

/**
 * A run as people read it, "ADOPT, β2 0.1, lr 0.01, k 10, seed 1" (the compact id, `adopt-b20.1-lr0.01-k10-seed1`,
 * read β2 = 0.1 as "b20.1"; it stays the file name, so that saved runs are found again).
 */
export function unitLabel(u: Unit): string {
  const s = u.setting;
  const extra = Object.keys(s)
    .filter((k) => k !== 'beta2' && k !== 'learningRate')
    .sort()
    .map((k) => `${k} ${String(s[k])}`);
  return [
    LABELS[u.optimizer],
    `β2 ${s.beta2 === 'own' ? 'default' : s.beta2}`,
    `lr ${s.learningRate}`,
    ...extra,
    `seed ${u.seed}`,
  ].join(', ');
}

export function makeUnit(optimizer: LabOptimizer, seed: number, setting: UnitSetting): Unit {
  const id = settingId(setting);
  return { optimizer, seed, setting, settingId: id, id: `${optimizer}-${id}-seed${seed}` };
}

/** The default settings: every --beta2 mode times every --lrs rate (or the default rate). */
export function defaultSettings(defaultLr: number, options: Record<string, unknown>): UnitSetting[] {
  const modes = (options['beta2'] as Beta2Mode[] | undefined) ?? ['own'];
  const lrs = (options['lrs'] as number[] | undefined) ?? [defaultLr];
  return modes.flatMap((beta2) => lrs.map((learningRate) => ({ beta2, learningRate })));
}

/** The machine a run was measured on. os.cpus() is empty in some containers (CI's: /proc/cpuinfo unreadable), so the
 * count comes from availableParallelism() (never 0) and a missing model reads 'unknown'. */
export function machine(): Machine {
  const model = cpus()[0]?.model.trim();
  return {
    cpuModel: model || 'unknown',
    cpus: availableParallelism(),
    node: process.version,
    platform: platform(),
    backend: tf.getBackend(),
  };
}

export function runPath(outDir: string, folder: string, unit: Unit): string {
  return join(outDir, folder, 'runs', `${unit.id}.json`);
}

/** The results subfolder: `name` when given (e.g. "mnist-int8"), else the experiment's own. */
export function resultsFolder(exp: UnitExperiment, options: Record<string, unknown>): string {
  const name = options['name'];
  return typeof name === 'string' ? name : exp.folder(options);
}

/** The saved record of a unit if it is there and was made with the same settings (hash), else null. */
export function readRun(path: string, hash: string): RunRecord | null {
  if (!existsSync(path)) return null;
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
    return r.hash === hash && r.format === FORMAT ? r : null;
  } catch {
    return null; // a partial or corrupt file: run it again
  }
}

/** Runs one unit in this process and saves its record (written to a temporary name, then renamed). */
export async function executeUnit(
  exp: UnitExperiment,
  folder: string,
  base: Record<string, unknown>,
  unit: Unit,
  outDir: string,
): Promise<RunRecord> {
  const started = Date.now();
  const scratchDir = join(outDir, folder, 'scratch', unit.id);
  const outcome = await exp.run(base, unit, { scratchDir, cacheDir: join(outDir, folder, 'cache') });
  rmSync(scratchDir, { recursive: true, force: true });
  try {
    rmdirSync(join(outDir, folder, 'scratch')); // only when empty (another process may be using it)
  } catch {
    // not empty, or not there
  }
  const record: RunRecord = {
    format: FORMAT,
    experiment: folder,
    optimizer: unit.optimizer,
    seed: unit.seed,
    setting: unit.setting,
    settingId: unit.settingId,
    base,
    hash: unitHash(folder, base, unit),
    ...outcome,
    // ms resolution: a tiny run rounded to 0.1 s read 0 seconds (a CI failure)
    seconds: (Date.now() - started) / 1000,
    startedAt: new Date(started).toISOString(),
    machine: machine(),
    versions: { adoptLab: packageVersion('adopt-lab'), adoptOptim: packageVersion('adopt-optim') },
  };
  const path = runPath(outDir, folder, unit);
  makeDirectoriesSync(join(outDir, folder, 'runs'));
  writeFileSync(`${path}.tmp`, JSON.stringify(record));
  renameSync(`${path}.tmp`, path);
  return record;
}

/** A message to a worker (src/worker.ts). */
export interface WorkerTask {
  experiment: string;
  options: Record<string, unknown>;
  quick: boolean;
  backend: string;
  outDir: string;
  unit: Unit;
}

function workerScript(): { path: string; execArgv: string[] } {
  const ts = import.meta.url.endsWith('.ts');
  const path = fileURLToPath(new URL(ts ? './worker.ts' : './worker.js', import.meta.url));
  return { path, execArgv: ts ? ['--import', 'tsx'] : [] };
}

/**
 * Runs `tasks` in `jobs` child processes, each taking the next task when it finishes one. A child
 * that dies (not a run that fails: that is an error) has its task retried, up to 3 times, in a new child.
 */
async function runInWorkers(tasks: WorkerTask[], jobs: number, onDone: (t: WorkerTask) => void): Promise<void> {
  const { path, execArgv } = workerScript();
  const queue = [...tasks];
  const retried = new Map<string, number>();
  // A signal to this process stops the children too (they kept running, and writing records, after
  // the parent was interrupted: issue 21); the runs they finished are saved and a rerun resumes.
  // A child also exits when its parent is gone without a word (SIGKILL): src/worker.ts.
  const children = new Set<ChildProcess>();
  const onSignal = (signal: NodeJS.Signals) => {
    for (const c of children) c.kill('SIGTERM');
    process.stderr.write(
      `\nadopt-lab: ${signal}: stopped ${children.size} child process(es); finished runs are saved and a rerun ` +
        'resumes the rest.\n',
    );
    process.exit(128 + (constants.signals[signal] ?? 0));
  };
  const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of SIGNALS) process.once(s, onSignal);
  const one = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      // the child's output goes to our stderr (stdout may be a report or a test runner's channel)
      const child = fork(path, [], { execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      children.add(child);
      child.on('exit', () => children.delete(child));
      let tail = '';
      const keep = (d: Buffer) => {
        process.stderr.write(d);
        tail = (tail + d.toString()).slice(-2000);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      let current: WorkerTask | undefined;
      let failed = false;
      const give = () => {
        current = queue.shift();
        child.send(current ?? 'exit');
      };
      child.on('message', (m: { done?: string; error?: string }) => {
        if (m.error) {
          failed = true;
          queue.length = 0; // the other children finish their current run (it is saved) and stop
          child.kill();
          reject(new Error(`run ${current?.unit.id} failed in a child process: ${m.error}`));
          return;
        }
        if (current) onDone(current);
        give();
      });
      child.on('exit', (code, signal) => {
        if (failed) return;
        if (code === 0 && !current) resolve();
        else if (current && (retried.get(current.unit.id) ?? 0) < 3) {
          // e.g. the package being rebuilt under a long sweep: wait a little, then start a new child
          const tries = (retried.get(current.unit.id) ?? 0) + 1;
          retried.set(current.unit.id, tries);
          queue.unshift(current);
          process.stderr.write(
            `a child process stopped (status ${code ?? signal}) during run ${current.unit.id}; retrying it in a new ` +
              `one (${tries} of 3).\n`,
          );
          setTimeout(() => one().then(resolve, reject), 5000 * tries);
        } else
          reject(
            new Error(
              `a child process exited with status ${code ?? signal} during run ${current?.unit.id ?? '(none)'}: ` +
                `${tail}`,
            ),
          );
      });
      child.on('error', reject);
      give();
    });
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, one));
  } finally {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
  }
}

/** Each optimizer's default beta2, from adopt-optim (ADOPT 0.9999, the others 0.999). */
export function defaultBeta2(optimizer: LabOptimizer): number {
  const opt = makeOptimizer(optimizer, 1e-3);
  const beta2 = opt.getConfig()['beta2'] as number;
  opt.dispose();
  return beta2;
}

/** The unit that is actually run: beta2 equal to the optimizer's default is 'own'. */
function canonical(u: Unit): Unit {
  return typeof u.setting.beta2 === 'number' && u.setting.beta2 === defaultBeta2(u.optimizer)
    ? makeUnit(u.optimizer, u.seed, { ...u.setting, beta2: 'own' })
    : u;
}

export interface RunCounts {
  total: number;
  ran: number;
  skipped: number;
  jobs: number;
}

/**
 * Plans the units, runs the missing ones (in this process, or in `ctx.jobs` child processes), then
 * builds the result from every saved record.
 */
export async function runExperiment(
  name: string,
  exp: UnitExperiment,
  ctx: RunContext,
  options: Record<string, unknown>,
): Promise<ExperimentResult> {
  const started = Date.now();
  const folder = resultsFolder(exp, options);
  const base = exp.resolve(options, ctx.quick);
  const settings = exp.settings?.(base, options) ?? defaultSettings(base['learningRate'] as number, options);
  const requested = settings.flatMap((s) =>
    ctx.optimizers.flatMap((o) => ctx.seeds.map((seed) => makeUnit(o, seed, s))),
  );
  const runOf = (u: Unit) => (exp.ownBeta2 ? canonical(u) : u);
  const units = [...new Map(requested.map((u) => [runOf(u).id, runOf(u)])).values()];
  const records = new Map<string, RunRecord>();
  for (const u of units) {
    const r = readRun(runPath(ctx.outDir, folder, u), unitHash(folder, base, u));
    if (r) records.set(u.id, r);
  }
  const missing = units.filter((u) => !records.has(u.id));
  const jobs = Math.max(1, ctx.jobs ?? 1);
  ctx.log(
    `${folder}: ${units.length} run(s); ${records.size} already saved (skipped), ${missing.length} to ` +
      `run${missing.length > 1 && jobs > 1 ? ` in ${Math.min(jobs, missing.length)} processes` : ''}.`,
  );
  let done = 0;
  const tick = (u: Unit, r?: RunRecord) => {
    done++;
    if (ctx.progress)
      ctx.log(`  [${done}/${missing.length}] ${folder}: ${unitLabel(u)}${r ? ` (${r.seconds} s)` : ''}`);
  };
  if (jobs > 1 && missing.length > 1) {
    const plain = JSON.parse(JSON.stringify(options)) as Record<string, unknown>;
    await runInWorkers(
      missing.map((unit) => ({
        experiment: name,
        options: plain,
        quick: ctx.quick,
        backend: ctx.backend,
        outDir: ctx.outDir,
        unit,
      })),
      jobs,
      (t) => tick(t.unit),
    );
    for (const u of missing) {
      const r = readRun(runPath(ctx.outDir, folder, u), unitHash(folder, base, u));
      if (!r)
        throw new Error(`run ${u.id}: a child process finished it but its record is missing or has another hash.`);
      records.set(u.id, r);
    }
  } else {
    for (const u of missing) {
      const r = await executeUnit(exp, folder, base, u, ctx.outDir);
      records.set(u.id, r);
      tick(u, r);
    }
  }
  // every requested unit, with the record of the run that answers it (labelled with the requested setting)
  const all = requested.map((u) => {
    const r = records.get(runOf(u).id)!;
    return r.settingId === u.settingId ? r : { ...r, setting: u.setting, settingId: u.settingId };
  });
  const result = await exp.summarize(base, all, ctx, options);
  result.name = folder;
  result.meta = {
    ...runMeta(ctx, { ...base, settings }, started),
    runs: { total: units.length, ran: missing.length, skipped: units.length - missing.length, jobs },
    runSeconds: Math.round(units.reduce((a, u) => a + records.get(u.id)!.seconds, 0) * 10) / 10,
    machine: machine(),
  };
  return result;
}
