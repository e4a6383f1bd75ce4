/**
 * A training loop for custom models (a tf.LayersModel or a list of variables with a loss):
 * optimizer by name, learning-rate schedule, clipping by global norm, gradient accumulation,
 * parameter groups, evaluation, a progress bar, a JSON-lines log, callbacks, and checkpoints
 * that resume a run exactly (same losses, same parameters as the uninterrupted run).
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import cliProgress from 'cli-progress';
import { Rng } from '../random.js';
import { learningRateAt } from '../schedules.js';

export { Rng };
import { NonFiniteGradientError, OptimizerArgumentError, OUT_OF_RANGE } from '../validate.js';
import {
  acquireCheckpointLock,
  CheckpointError,
  readCheckpoint,
  writeCheckpoint,
  type CheckpointLock,
} from './checkpoint.js';
import { createOptimizer, setLearningRate } from '../registry/optimizers_by_name.js';
import { checkGroupRate, checkTrainerConfig, type Batch, type StepInfo, type TrainerConfig } from './trainer_config.js';
import { appendLogRecord, cutLog, prepareLogCut, type LogCut } from './trainer_log.js';
import { groupMatcher, inGroup } from './trainer_fields.js';
import { stepGradients } from './trainer_step.js';
import { isNamedState } from './restore_check.js';
import { checkRestore, type RestorePlan, type SavedState } from './trainer_restore.js';

export type { Batch, DataSource, ParamGroup, StepInfo, TrainerConfig } from './trainer_config.js';

interface Group {
  pattern: string | null;
  /** A new optimizer configured as this group's (restore checks saved state on one first). */
  make: () => tf.Optimizer;
  multiplier: number;
  optimizer: tf.Optimizer;
  variables: tf.Variable[];
}

interface LayerVariableLike {
  read(): tf.Variable;
}

function variablesOf(model: TrainerConfig<Batch>['model']): { trainable: tf.Variable[]; all: tf.Variable[] } {
  if (Array.isArray(model)) return { trainable: model, all: model };
  const read = (w: unknown) => (w as LayerVariableLike).read();
  return { trainable: model.trainableWeights.map(read), all: model.weights.map(read) };
}

function firstDimension(batch: Batch): number {
  const tensors: tf.Tensor[] = [];
  const walk = (x: unknown) => {
    if (x instanceof tf.Tensor) tensors.push(x);
    else if (Array.isArray(x)) x.forEach(walk);
    else if (x !== null && typeof x === 'object') Object.values(x).forEach(walk);
  };
  walk(batch);
  return tensors[0]?.shape[0] ?? 1;
}

/** What restore() read. */
export interface RestoreInfo {
  /** The step folder restored. */
  folder: string;
  step: number;
  /** True when the checkpoint latest.json names failed verification and an older one was restored. */
  fellBack: boolean;
  /** Checkpoints refused before this one, with the reason. */
  skipped: { folder: string; reason: string }[];
  warnings: string[];
}

/** What fit() returns. */
export interface TrainResult {
  step: number;
  losses: { step: number; loss: number }[];
  stopped: boolean;
}

/**
 * A training loop for Node: steps, epochs, gradient accumulation, parameter groups, evaluation, and crash-safe
 * checkpoints restored exactly (the package's docs/training.md walks through it).
 */
export class Trainer<B extends Batch> {
  readonly rng: Rng;
  /** Optimizer steps done. */
  step = 0;
  /** Loss of every step done, resumed runs included. */
  readonly losses: { step: number; loss: number }[] = [];
  private epoch = 0;
  private batchInEpoch = 0;
  private stopRequested = false;
  private readonly groups: Group[];
  private readonly variables: { trainable: tf.Variable[]; all: tf.Variable[] };
  private readonly accumulation: number;
  /** The run this trainer's checkpoints belong to (taken over from a restored checkpoint). */
  private runId_ = randomBytes(8).toString('hex');
  /** The lock on config.checkpoint.dir while fit() runs. */
  private lock: CheckpointLock | undefined;
  /** Step of the newest checkpoint written or restored in config.checkpoint.dir. */
  private checkpointedStep: number | undefined;
  /** Whether the log was cut back to this Trainer's step (before its first line, or by a restore). */
  private logCut = false;

  constructor(private readonly config: TrainerConfig<B>) {
    this.accumulation = checkTrainerConfig(config);
    this.rng = new Rng(config.seed ?? 0);
    this.variables = variablesOf(config.model as TrainerConfig<Batch>['model']);
    this.groups = this.makeGroups();
  }

  private makeGroups(): Group[] {
    const specs = this.config.paramGroups ?? [];
    const members: tf.Variable[][] = specs.map(() => []);
    const rest: tf.Variable[] = [];
    const matchers = specs.map((g) => groupMatcher(g.pattern));
    for (const v of this.variables.trainable) {
      const i = matchers.findIndex((m) => m.test(v.name));
      (i < 0 ? rest : members[i]!).push(v);
    }
    const make = (overrides: Record<string, unknown>) =>
      createOptimizer(this.config.optimizer, {
        ...this.config.optimizerOptions,
        ...overrides,
        learningRate: learningRateAt('Trainer', this.config.learningRate, 0),
      });
    const groups: Group[] = specs.map((g, i) => {
      const overrides = g.weightDecay === undefined ? {} : { weightDecay: g.weightDecay };
      return {
        pattern: String(g.pattern),
        make: () => make(overrides),
        multiplier: g.learningRateMultiplier ?? 1,
        optimizer: inGroup(i, () => make(overrides)),
        variables: members[i]!,
      };
    });
    groups.push({ pattern: null, make: () => make({}), multiplier: 1, optimizer: make({}), variables: rest });
    return groups;
  }

  /** The run id written into this trainer's checkpoints (restore() takes over the checkpoint's). */
  get runId(): string {
    return this.runId_;
  }

  private warn(message: string): void {
    const onWarning = this.config.callbacks?.onWarning;
    if (onWarning !== undefined) onWarning(message);
    else console.warn(message);
  }

  /** The optimizers, one per parameter group (the last for variables matching no group). */
  get optimizers(): tf.Optimizer[] {
    return this.groups.map((g) => g.optimizer);
  }

  /** Variable names of each group, in the same order as `optimizers`. */
  get groupMembers(): string[][] {
    return this.groups.map((g) => g.variables.map((v) => v.name));
  }

  /** Ends the running fit() after the current step (a later fit() trains on). */
  stop(): void {
    this.stopRequested = true;
  }

  private async *batches(): AsyncGenerator<B> {
    const { data, epochs } = this.config;
    while (epochs === undefined || this.epoch < epochs) {
      let index = 0;
      const skip = this.batchInEpoch; // batches of this epoch consumed before a resume
      let produced = false;
      const consume = async function* (this: Trainer<B>, it: AsyncIterable<B> | Iterable<B>) {
        for await (const batch of it as AsyncIterable<B>) {
          produced = true;
          if (index++ < skip) {
            tf.dispose(batch);
            continue;
          }
          this.batchInEpoch = index;
          yield batch;
        }
      }.bind(this);
      if (typeof data === 'function') {
        yield* consume(data(this.epoch));
      } else {
        const it = await data.iterator();
        yield* consume({ [Symbol.asyncIterator]: () => it } as AsyncIterable<B>);
      }
      if (!produced) return; // an empty epoch: the source is exhausted
      this.epoch++;
      this.batchInEpoch = 0;
    }
  }

  /** Runs until `steps` optimizer steps are done, the epochs run out, or stop() is called. */
  async fit(): Promise<TrainResult> {
    const { steps, evaluate, checkpoint, callbacks } = this.config;
    if (checkpoint !== undefined) {
      this.lock = await acquireCheckpointLock(checkpoint.dir, {
        fs: checkpoint.fs,
        runId: this.runId_,
        onWarning: (m) => this.warn(m),
      });
    }
    try {
      return await this.fitLocked(steps, evaluate, checkpoint, callbacks);
    } finally {
      const lock = this.lock;
      this.lock = undefined;
      // a failure to unlink leaves a lock that the next writer finds stale
      await lock?.release().catch(() => undefined);
    }
  }

  private async fitLocked(
    steps: TrainerConfig<B>['steps'],
    evaluate: TrainerConfig<B>['evaluate'],
    checkpoint: TrainerConfig<B>['checkpoint'],
    callbacks: TrainerConfig<B>['callbacks'],
  ): Promise<TrainResult> {
    this.cutOldLog(); // before any step changes anything
    const bar = this.progressBar();
    const source = this.batches();
    let stopped = false;
    try {
      while ((steps === undefined || this.step < steps) && !this.stopRequested) {
        const started = performance.now();
        const micro: B[] = [];
        for (let i = 0; i < this.accumulation; i++) {
          const next = await source.next();
          if (next.done) break;
          micro.push(next.value);
        }
        if (micro.length < this.accumulation) {
          tf.dispose(micro); // an incomplete accumulation at the end of the data is dropped
          break;
        }
        const examples = micro.reduce((n, b) => n + (this.config.batchSize ?? firstDimension)(b), 0);
        const { loss, gradNorm, learningRate } = this.optimizerStep(micro);
        const info: StepInfo = {
          step: this.step,
          epoch: this.epoch,
          loss,
          learningRate,
          gradNorm,
          examplesPerSecond: examples / ((performance.now() - started) / 1000),
        };
        this.losses.push({ step: this.step, loss });
        this.step++;
        this.log({ type: 'step', ...info });
        bar?.update(this.step, {
          loss: loss.toFixed(4),
          lr: learningRate.toExponential(2),
          eps: info.examplesPerSecond.toFixed(0),
        });
        if (callbacks?.onStep?.(info) === 'stop') this.stopRequested = true;
        if (evaluate !== undefined && this.step % evaluate.every === 0) {
          const metrics = await evaluate.run(this.step);
          this.log({ type: 'evaluate', step: this.step, ...metrics });
          callbacks?.onEvaluate?.(this.step, metrics);
        }
        if (checkpoint?.every !== undefined && this.step % checkpoint.every === 0) await this.save();
      }
      stopped = this.stopRequested;
    } finally {
      this.stopRequested = false; // consumed by the run it ended: a later fit() trains on
      bar?.stop();
      await source.return(undefined);
    }
    // once: the last step may have been saved by `every` already
    if (checkpoint !== undefined && this.checkpointedStep !== this.step) await this.save();
    return { step: this.step, losses: [...this.losses], stopped };
  }

  /** One optimizer step over `micro` micro-batches (disposed): every check on every group before any group steps. */
  private optimizerStep(micro: B[]): { loss: number; gradNorm: number; learningRate: number } {
    const policy = (this.config.optimizerOptions as { nonFinite?: unknown } | undefined)?.nonFinite;
    const context = { rng: this.rng, step: this.step };
    // nonFinite 'off': unchecked, as the optimizers leave it
    const vars = this.variables.trainable;
    const { grads, loss, gradNorm, bad } = stepGradients(this.config, vars, micro, context, policy !== 'off');
    try {
      const learningRate = learningRateAt('Trainer', this.config.learningRate, this.step);
      const rates = this.groups.map((g, i) => checkGroupRate(learningRate * g.multiplier, i, this.step));
      if (!this.refuseBadStep(bad, policy)) {
        this.groups.forEach((g, i) => {
          const named = g.variables
            .filter((v) => grads[v.name] !== undefined)
            .map((v) => ({ name: v.name, tensor: grads[v.name]! }));
          if (named.length === 0) return;
          setLearningRate(g.optimizer, rates[i]!);
          g.optimizer.applyGradients(named);
        });
      }
      return { loss, gradNorm, learningRate };
    } finally {
      tf.dispose(grads);
    }
  }

  /**
   * Before any group steps: `bad`, a variable whose gradient holds NaN, ±Infinity or a value beyond ±2^63
   * (./trainer_step.ts), throws a NonFiniteGradientError, or with optimizerOptions.nonFinite 'skip' skips the
   * whole step (true: no group steps). Nothing has been written either way.
   */
  private refuseBadStep(bad: string | undefined, policy: unknown): boolean {
    if (bad === undefined) return false;
    if (policy === 'skip') return true;
    const group = this.groups.findIndex((g) => g.variables.some((v) => v.name === bad));
    const which = group === this.groups.length - 1 ? 'the variables matching no paramGroups' : `paramGroups[${group}]`;
    throw new NonFiniteGradientError(
      `Trainer: the gradient of "${bad}" (${which}) ` +
        `holds ${OUT_OF_RANGE} at step ${this.step}; no parameter group was stepped.`,
      bad,
      this.step,
    );
  }

  private progressBar(): cliProgress.SingleBar | null {
    const show = this.config.progress ?? (Boolean(process.stderr.isTTY) && !process.env['CI']);
    if (!show) return null;
    const bar = new cliProgress.SingleBar(
      {
        format: 'step {value}/{total} |{bar}| loss {loss} | lr {lr} | {eps} ex/s | {eta_formatted}',
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(this.config.steps ?? 0, this.step, { loss: '-', lr: '-', eps: '-' });
    return bar;
  }

  private log(record: Record<string, unknown>): void {
    this.cutOldLog();
    if (this.config.logFile !== undefined) appendLogRecord(this.config.logFile, record);
  }

  /** Once, before this Trainer's first line (unless a restore cut it): an old run's lines from this step on go. */
  private cutOldLog(): void {
    if (this.logCut || this.config.logFile === undefined) return;
    cutLog(this.config.logFile, this.step);
    this.logCut = true;
  }

  /** The log cut back to `step` (steps done), prepared before a restore assigns anything (see ./trainer_log.ts). */
  private prepareLogCut(step: number): LogCut | null {
    return this.config.logFile === undefined ? null : prepareLogCut(this.config.logFile, step);
  }

  /** Writes a checkpoint of the current step to config.checkpoint.dir (or `dir`). */
  async save(dir = this.config.checkpoint?.dir): Promise<string> {
    if (dir === undefined) throw new OptimizerArgumentError('Trainer.save: no checkpoint dir configured or given.');
    const ck = this.config.checkpoint;
    const lock = this.lock !== undefined && resolve(this.lock.dir) === resolve(dir) ? this.lock : undefined;
    const weights = await Promise.all(this.groups.map((g) => g.optimizer.getWeights()));
    let folder: string;
    try {
      const tensors: Record<string, { name: string; tensor: tf.Tensor }[]> = {
        model: this.variables.all.map((v) => ({ name: v.name, tensor: v })),
      };
      weights.forEach((w, i) => {
        tensors[`optimizer/${i}`] = w;
      });
      const state: SavedState = {
        optimizer: this.config.optimizer,
        optimizerClasses: this.groups.map((g) => g.optimizer.getClassName()),
        groups: this.groups.map((g) => g.pattern),
        epoch: this.epoch,
        batchInEpoch: this.batchInEpoch,
        rngState: this.rng.state,
        accumulationSteps: this.accumulation,
        losses: this.losses,
      };
      folder = await writeCheckpoint(dir, this.step, state as unknown as Record<string, unknown>, tensors, {
        keep: ck?.keep ?? 3,
        fs: ck?.fs,
        runId: this.runId_,
        lock,
        onWarning: (m) => this.warn(m),
        requireFinite: true,
      });
    } finally {
      // tfjs's own optimizers hand out a fresh `iter` scalar per getWeights call; ours own theirs
      weights.forEach((w, i) => {
        if (!isNamedState(this.groups[i]!.optimizer))
          tf.dispose(w.filter((x) => x.name === 'iter').map((x) => x.tensor));
      });
    }
    if (ck !== undefined && resolve(dir) === resolve(ck.dir)) this.checkpointedStep = this.step;
    this.log({ type: 'checkpoint', step: this.step, folder });
    this.config.callbacks?.onCheckpoint?.(this.step, folder);
    return folder;
  }

  /**
   * Restores model, optimizer state, step, data position and RNG from the latest checkpoint in
   * `dir` (or from `dir` itself, a step folder). The whole checkpoint is verified (checksums of
   * manifest and tensors) and checked against this trainer (optimizer, parameter groups, every
   * variable's shape and dtype, every optimizer slot) before anything is assigned: a checkpoint
   * that fails is refused with a CheckpointError and the model, optimizers and trainer are left as
   * they were, with no tensor leaked. If the checkpoint latest.json names fails verification, the
   * newest one that verifies is restored instead, with a warning (callbacks.onWarning or
   * console.warn) and `fellBack: true` in what is returned.
   */
  async restore(dir = this.config.checkpoint?.dir): Promise<RestoreInfo> {
    if (dir === undefined) throw new OptimizerArgumentError('Trainer.restore: no checkpoint dir configured or given.');
    const ck = this.config.checkpoint;
    const loaded = await readCheckpoint(dir, { fs: ck?.fs, onWarning: (m) => this.warn(m) });
    const plan = checkRestore(loaded, {
      optimizer: this.config.optimizer,
      groups: this.groups,
      variables: this.variables.all,
    }); // throws before anything changes; creates no tensor
    // A dry run of every optimizer's own setWeights checks on a spare optimizer, so that none can
    // refuse after another group or the model has been assigned.
    for (let i = 0; i < this.groups.length; i++) {
      const probe = this.groups[i]!.make();
      const named = plan.optimizer[i]!.map((v) => ({ name: v.name, tensor: tf.tensor(v.values, v.shape, v.dtype) }));
      try {
        if (named.length > 0) await probe.setWeights(named);
      } catch (e) {
        throw new CheckpointError(
          `restore: ${loaded.folder} optimizer/${i}: ${e instanceof Error ? e.message : String(e)}`,
        );
      } finally {
        tf.dispose(named.map((n) => n.tensor));
        probe.dispose();
      }
    }
    const s = loaded.manifest.state as unknown as SavedState;
    // the log's lines past the checkpoint go (they are redone): written aside, renamed over the log (a
    // failure leaves it as it was and nothing restored), then the assignments, which cannot fail after the probe
    const cut = this.prepareLogCut(loaded.manifest.step);
    try {
      cut?.commit();
      this.logCut = true;
    } catch (e) {
      cut?.abandon();
      throw e;
    }
    await this.assignRestored(plan);
    this.step = loaded.manifest.step;
    this.epoch = s.epoch;
    this.batchInEpoch = s.batchInEpoch;
    this.rng.state = s.rngState;
    this.losses.splice(0, this.losses.length, ...s.losses.map((l) => ({ step: l.step, loss: l.loss ?? Number.NaN })));
    if (loaded.manifest.runId !== undefined) this.runId_ = loaded.manifest.runId; // its pruning continues
    this.checkpointedStep =
      ck !== undefined && resolve(dir) === resolve(ck.dir) && !loaded.fellBack ? this.step : undefined;
    this.log({ type: 'restore', step: this.step, folder: loaded.folder, fellBack: loaded.fellBack });
    return {
      folder: loaded.folder,
      step: this.step,
      fellBack: loaded.fellBack,
      skipped: loaded.skipped,
      warnings: loaded.warnings,
    };
  }

  /** All checks passed: assign. Optimizer state first (setWeights checks again, all or nothing), then the model. */
  private async assignRestored(plan: RestorePlan): Promise<void> {
    for (let i = 0; i < this.groups.length; i++) {
      const named = plan.optimizer[i]!.map((v) => ({ name: v.name, tensor: tf.tensor(v.values, v.shape, v.dtype) }));
      try {
        if (named.length > 0) await this.groups[i]!.optimizer.setWeights(named);
      } finally {
        tf.dispose(named.map((n) => n.tensor));
      }
    }
    // the model's assignments cannot fail after the checks in checkRestore
    plan.model.forEach(({ values: w, variable }) => {
      const t = tf.tensor(w.values, w.shape, w.dtype);
      try {
        variable.assign(t);
      } finally {
        t.dispose();
      }
    });
  }
}
