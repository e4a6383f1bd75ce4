/**
 * A training loop for custom models (a tf.LayersModel or a list of variables with a loss):
 * optimizer by name, learning-rate schedule, clipping by global norm, gradient accumulation,
 * parameter groups, evaluation, a progress bar, a JSON-lines log, callbacks, and checkpoints
 * that resume a run exactly (same losses, same parameters as the uninterrupted run).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import cliProgress from 'cli-progress';
import { Rng } from '../random.js';
import { learningRateAt, type Schedule } from '../schedules.js';

export { Rng };
import { NamedStateOptimizer } from '../tfjs/named_state_optimizer.js';
import { OptimizerArgumentError } from '../validate.js';
import { CheckpointError, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { createOptimizer, isOptimizerName, OPTIMIZER_NAMES, setLearningRate, type OptimizerName } from './registry.js';

/** A batch: any object whose tensors the loss reads. The trainer disposes it after use. */
export type Batch = tf.TensorContainer;

/** A source of batches: a tf.data.Dataset (iterated once per epoch) or a function of the epoch. */
export type DataSource<B> =
  | { iterator(): Promise<{ next(): Promise<IteratorResult<B>> }> }
  | ((epoch: number) => AsyncIterable<B> | Iterable<B>);

/** Variables whose names match `pattern` get this weight decay and learning-rate multiplier. */
export interface ParamGroup {
  pattern: RegExp | string;
  weightDecay?: number;
  learningRateMultiplier?: number;
}

export interface StepInfo {
  step: number;
  epoch: number;
  loss: number;
  learningRate: number;
  gradNorm: number;
  examplesPerSecond: number;
}

export interface TrainerConfig<B extends Batch> {
  /** A tf.LayersModel (all its weights are checkpointed, its trainable ones optimized) or variables. */
  model: { trainableWeights: unknown[]; weights: unknown[] } | tf.Variable[];
  /** The loss of one batch (of one micro-batch when accumulating). */
  loss: (batch: B, context: { rng: Rng; step: number }) => tf.Scalar;
  data: DataSource<B>;
  optimizer: OptimizerName;
  /** Options of the optimizer other than the learning rate (e.g. {weightDecay: 0.1, decoupled: true}). */
  optimizerOptions?: Record<string, unknown>;
  /** A number or a schedule of the optimizer step. */
  learningRate: number | Schedule;
  /** Optimizer steps to run in all (resumed runs count the steps already done). */
  steps?: number;
  /** Epochs to run at most. */
  epochs?: number;
  /** Clip gradients by global norm to at most this (PyTorch's clip_grad_norm_). */
  clipGradNorm?: number;
  /** Micro-batches per optimizer step; their mean gradient is applied. Default 1. */
  accumulationSteps?: number;
  /** First matching group wins; variables matching none use optimizerOptions as they are. */
  paramGroups?: ParamGroup[];
  evaluate?: { every: number; run: (step: number) => Promise<Record<string, number>> | Record<string, number> };
  checkpoint?: { dir: string; every?: number; keep?: number };
  /** JSON-lines log: one line per step, evaluation and checkpoint. */
  logFile?: string;
  /** Progress bar on stderr. Default: when stderr is a terminal. */
  progress?: boolean;
  /** Seed of `context.rng`, the trainer's random stream (saved in checkpoints). Default 0. */
  seed?: number;
  /** Examples in a batch, for examples/s. Default: the first dimension of its first tensor. */
  batchSize?: (batch: B) => number;
  callbacks?: {
    onStep?(info: StepInfo): void | 'stop';
    onEvaluate?(step: number, metrics: Record<string, number>): void;
    onCheckpoint?(step: number, folder: string): void;
  };
}

interface Group {
  pattern: string | null;
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

export interface TrainResult {
  step: number;
  losses: { step: number; loss: number }[];
  stopped: boolean;
}

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

  constructor(private readonly config: TrainerConfig<B>) {
    if (!isOptimizerName(config.optimizer)) {
      throw new OptimizerArgumentError(
        `Trainer: unknown optimizer ${JSON.stringify(config.optimizer)}; expected one of ${OPTIMIZER_NAMES.join(', ')}.`,
      );
    }
    if (config.steps === undefined && config.epochs === undefined) {
      throw new OptimizerArgumentError('Trainer: give steps or epochs (or both) to say when training ends.');
    }
    this.accumulation = config.accumulationSteps ?? 1;
    if (!Number.isInteger(this.accumulation) || this.accumulation < 1) {
      throw new OptimizerArgumentError(`Trainer: invalid accumulationSteps ${config.accumulationSteps}; expected an integer >= 1.`);
    }
    if (config.clipGradNorm !== undefined && !(config.clipGradNorm > 0)) {
      throw new OptimizerArgumentError(`Trainer: invalid clipGradNorm ${config.clipGradNorm}; expected a number > 0.`);
    }
    learningRateAt('Trainer', config.learningRate, 0);
    this.rng = new Rng(config.seed ?? 0);
    this.variables = variablesOf(config.model as TrainerConfig<Batch>['model']);
    this.groups = this.makeGroups();
  }

  private makeGroups(): Group[] {
    const specs = this.config.paramGroups ?? [];
    const members: tf.Variable[][] = specs.map(() => []);
    const rest: tf.Variable[] = [];
    for (const v of this.variables.trainable) {
      const i = specs.findIndex((g) => (typeof g.pattern === 'string' ? new RegExp(g.pattern) : g.pattern).test(v.name));
      (i < 0 ? rest : members[i]!).push(v);
    }
    const make = (overrides: Record<string, unknown>) =>
      createOptimizer(this.config.optimizer, { ...this.config.optimizerOptions, ...overrides, learningRate: learningRateAt('Trainer', this.config.learningRate, 0) });
    const groups: Group[] = specs.map((g, i) => ({
      pattern: String(g.pattern),
      multiplier: g.learningRateMultiplier ?? 1,
      optimizer: make(g.weightDecay === undefined ? {} : { weightDecay: g.weightDecay }),
      variables: members[i]!,
    }));
    groups.push({ pattern: null, multiplier: 1, optimizer: make({}), variables: rest });
    return groups;
  }

  /** The optimizers, one per parameter group (the last for variables matching no group). */
  get optimizers(): tf.Optimizer[] {
    return this.groups.map((g) => g.optimizer);
  }

  /** Variable names of each group, in the same order as `optimizers`. */
  get groupMembers(): string[][] {
    return this.groups.map((g) => g.variables.map((v) => v.name));
  }

  /** Ends training after the current step. */
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
          step: this.step, epoch: this.epoch, loss, learningRate, gradNorm,
          examplesPerSecond: examples / ((performance.now() - started) / 1000),
        };
        this.losses.push({ step: this.step, loss });
        this.step++;
        this.log({ type: 'step', ...info });
        bar?.update(this.step, { loss: loss.toFixed(4), lr: learningRate.toExponential(2), eps: info.examplesPerSecond.toFixed(0) });
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
      bar?.stop();
      await source.return(undefined);
    }
    if (checkpoint !== undefined) await this.save();
    return { step: this.step, losses: [...this.losses], stopped };
  }

  /** One optimizer step over `micro` micro-batches; disposes them. */
  private optimizerStep(micro: B[]): { loss: number; gradNorm: number; learningRate: number } {
    const vars = this.variables.trainable;
    let sum: tf.NamedTensorMap = {};
    let lossSum: tf.Tensor = tf.scalar(0);
    for (const batch of micro) {
      const { value, grads } = tf.variableGrads(() => this.config.loss(batch, { rng: this.rng, step: this.step }), vars);
      const next = tf.tidy(() => {
        const out: tf.NamedTensorMap = { ...sum };
        for (const v of vars) {
          const g = grads[v.name];
          if (g === undefined) continue; // this variable does not affect the loss
          out[v.name] = sum[v.name] ? tf.add(sum[v.name]!, g) : tf.clone(g);
        }
        return out;
      });
      for (const name of Object.keys(next)) if (next[name] !== sum[name]) tf.dispose(sum[name]!);
      sum = {}; // its tensors are either disposed above or carried over in `next`
      const nextLoss = tf.add(lossSum, value);
      tf.dispose([grads, value, lossSum, batch]);
      sum = next;
      lossSum = nextLoss;
    }
    const k = micro.length;
    const { grads, norm } = tf.tidy(() => {
      const mean: tf.NamedTensorMap = {};
      for (const name of Object.keys(sum)) mean[name] = k === 1 ? tf.clone(sum[name]!) : tf.div(sum[name]!, k);
      const squares = Object.values(mean).map((g) => tf.sum(tf.square(g)));
      const norm = squares.length ? tf.sqrt(tf.addN(squares)) : tf.scalar(0);
      const max = this.config.clipGradNorm;
      if (max !== undefined) {
        const scale = tf.minimum(1, tf.div(max, tf.add(norm, 1e-6)));
        for (const name of Object.keys(mean)) mean[name] = tf.mul(mean[name]!, scale);
      }
      return { grads: mean, norm };
    });
    const meanLoss = tf.div(lossSum, k);
    const [loss, gradNorm] = [meanLoss.dataSync()[0]!, norm.dataSync()[0]!];
    tf.dispose([sum, lossSum, meanLoss, norm]);
    const learningRate = learningRateAt('Trainer', this.config.learningRate, this.step);
    try {
      for (const g of this.groups) {
        const named = g.variables.filter((v) => grads[v.name] !== undefined).map((v) => ({ name: v.name, tensor: grads[v.name]! }));
        if (named.length === 0) continue;
        setLearningRate(g.optimizer, learningRate * g.multiplier);
        g.optimizer.applyGradients(named);
      }
    } finally {
      tf.dispose(grads);
    }
    return { loss, gradNorm, learningRate };
  }

  private progressBar(): cliProgress.SingleBar | null {
    const show = this.config.progress ?? (Boolean(process.stderr.isTTY) && !process.env['CI']);
    if (!show) return null;
    const bar = new cliProgress.SingleBar({
      format: 'step {value}/{total} |{bar}| loss {loss} | lr {lr} | {eps} ex/s | {eta_formatted}',
      stream: process.stderr,
      hideCursor: true,
    }, cliProgress.Presets.shades_classic);
    bar.start(this.config.steps ?? 0, this.step, { loss: '-', lr: '-', eps: '-' });
    return bar;
  }

  private log(record: Record<string, unknown>): void {
    if (this.config.logFile === undefined) return;
    mkdirSync(dirname(this.config.logFile), { recursive: true });
    appendFileSync(this.config.logFile, `${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  }

  /** Writes a checkpoint of the current step to config.checkpoint.dir (or `dir`). */
  async save(dir = this.config.checkpoint?.dir): Promise<string> {
    if (dir === undefined) throw new OptimizerArgumentError('Trainer.save: no checkpoint dir configured or given.');
    const weights = await Promise.all(this.groups.map((g) => g.optimizer.getWeights()));
    const tensors: Record<string, { name: string; tensor: tf.Tensor }[]> = {
      model: this.variables.all.map((v) => ({ name: v.name, tensor: v })),
    };
    weights.forEach((w, i) => { tensors[`optimizer/${i}`] = w; });
    const folder = await writeCheckpoint(dir, this.step, {
      optimizer: this.config.optimizer,
      optimizerClasses: this.groups.map((g) => g.optimizer.getClassName()),
      groups: this.groups.map((g) => g.pattern),
      epoch: this.epoch,
      batchInEpoch: this.batchInEpoch,
      rngState: this.rng.state,
      accumulationSteps: this.accumulation,
      losses: this.losses,
    }, tensors, this.config.checkpoint?.keep);
    // tfjs's own optimizers hand out a fresh `iter` scalar per getWeights call; ours own theirs
    weights.forEach((w, i) => {
      if (!(this.groups[i]!.optimizer instanceof NamedStateOptimizer)) tf.dispose(w.filter((x) => x.name === 'iter').map((x) => x.tensor));
    });
    this.log({ type: 'checkpoint', step: this.step, folder });
    this.config.callbacks?.onCheckpoint?.(this.step, folder);
    return folder;
  }

  /**
   * Restores model, optimizer state, step, data position and RNG from the latest checkpoint in
   * `dir`. Everything is checked before anything is assigned: a checkpoint of another optimizer,
   * other parameter groups or another model shape is refused with a CheckpointError.
   */
  async restore(dir = this.config.checkpoint?.dir): Promise<void> {
    if (dir === undefined) throw new OptimizerArgumentError('Trainer.restore: no checkpoint dir configured or given.');
    const loaded = await readCheckpoint(dir);
    const s = loaded.manifest.state as {
      optimizer: string; optimizerClasses: string[]; groups: (string | null)[]; epoch: number; batchInEpoch: number;
      rngState: number; accumulationSteps: number; losses: { step: number; loss: number }[];
    };
    const where = loaded.folder;
    if (s.optimizer !== this.config.optimizer) {
      throw new CheckpointError(`restore: ${where} was written with optimizer "${s.optimizer}"; this trainer uses "${this.config.optimizer}".`);
    }
    const groups = this.groups.map((g) => g.pattern);
    if (JSON.stringify(s.groups) !== JSON.stringify(groups)) {
      throw new CheckpointError(`restore: ${where} has parameter groups ${JSON.stringify(s.groups)}; this trainer has ${JSON.stringify(groups)}.`);
    }
    const saved = loaded.tensors('model');
    const optimizerWeights = this.groups.map((_, i) => loaded.tensors(`optimizer/${i}`));
    const disposeAll = () => tf.dispose([...saved.map((w) => w.tensor), ...optimizerWeights.flat().map((w) => w.tensor)]);
    try {
      const vars = this.variables.all;
      if (saved.length !== vars.length) {
        throw new CheckpointError(`restore: ${where} holds ${saved.length} model variables; this model has ${vars.length}.`);
      }
      const rename = new Map<string, string>();
      saved.forEach((w, i) => {
        const v = vars[i]!;
        if (!tf.util.arraysEqual(w.tensor.shape, v.shape) || w.tensor.dtype !== v.dtype) {
          throw new CheckpointError(
            `restore: model variable ${i} ("${w.name}" in ${where}) has shape [${w.tensor.shape}] ${w.tensor.dtype}; ` +
              `this model's "${v.name}" has [${v.shape}] ${v.dtype}.`,
          );
        }
        rename.set(w.name, v.name);
      });
      // All checks passed: assign. Variable names may differ from the saved run's (tfjs-layers
      // numbers them per process), so optimizer state is renamed by position.
      saved.forEach((w, i) => vars[i]!.assign(w.tensor));
      for (let i = 0; i < this.groups.length; i++) {
        const renamed = optimizerWeights[i]!.map(({ name, tensor }) => {
          const cut = name.lastIndexOf('/');
          const owner = cut < 0 ? undefined : rename.get(name.slice(0, cut));
          return { name: owner === undefined ? name : `${owner}${name.slice(cut)}`, tensor };
        });
        if (renamed.length > 0) await this.groups[i]!.optimizer.setWeights(renamed);
      }
    } finally {
      disposeAll();
    }
    this.step = loaded.manifest.step;
    this.epoch = s.epoch;
    this.batchInEpoch = s.batchInEpoch;
    this.rng.state = s.rngState;
    this.losses.splice(0, this.losses.length, ...s.losses);
    this.log({ type: 'restore', step: this.step, folder: where });
  }
}
