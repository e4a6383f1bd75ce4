/**
 * Language-model pretraining and finetuning, the paper's GPT-2 experiments at the scale of two CPU
 * cores: a small GPT-style decoder (causal self-attention, written with tfjs ops) trained on the
 * characters of Moby Dick with a held-out tail for validation; then, from the pretrained
 * checkpoint, finetuned on State of the Union addresses (a different corpus), with validation loss
 * on that corpus before and after.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readCheckpoint } from 'adopt-optim/train';
import { Trainer } from 'adopt-optim/train';
import { loadMobyDick, loadStateOfTheUnion, splitTail, Vocabulary } from './data/text.js';
import { meanStd, Random } from './common.js';
import { lineChart } from './plot.js';
import type { Row, UnitExperiment } from './runs.js';
import { bandText, figureRecords, meanCurves, seedCount, standardTables, type SummarySpec } from './summary.js';

export interface GptConfig {
  vocab: number;
  width: number;
  layers: number;
  heads: number;
  context: number;
}

let instances = 0;

/** A GPT-style decoder: token and position embeddings, pre-norm blocks, an untied output head. */
export class Gpt {
  readonly variables: tf.Variable[] = [];
  private readonly mask: tf.Tensor;
  private readonly p: Record<string, tf.Variable> = {};

  constructor(readonly config: GptConfig, seed: number) {
    const { vocab, width: d, layers, context } = config;
    const id = instances++;
    let k = 0;
    const add = (name: string, value: tf.Tensor) => {
      const v = tf.variable(value, true, `gpt${id}/${name}`);
      this.p[name] = v;
      this.variables.push(v);
    };
    const normal = (shape: number[], std: number) => tf.randomNormal(shape, 0, std, 'float32', seed * 1000 + k++);
    add('tokens', normal([vocab, d], 0.02));
    add('positions', normal([context, d], 0.02));
    for (let l = 0; l < layers; l++) {
      add(`h${l}/ln1/gamma`, tf.ones([d]));
      add(`h${l}/ln1/beta`, tf.zeros([d]));
      add(`h${l}/attn/qkv/kernel`, normal([d, 3 * d], 0.02));
      add(`h${l}/attn/qkv/bias`, tf.zeros([3 * d]));
      add(`h${l}/attn/out/kernel`, normal([d, d], 0.02 / Math.sqrt(2 * layers)));
      add(`h${l}/attn/out/bias`, tf.zeros([d]));
      add(`h${l}/ln2/gamma`, tf.ones([d]));
      add(`h${l}/ln2/beta`, tf.zeros([d]));
      add(`h${l}/mlp/in/kernel`, normal([d, 4 * d], 0.02));
      add(`h${l}/mlp/in/bias`, tf.zeros([4 * d]));
      add(`h${l}/mlp/out/kernel`, normal([4 * d, d], 0.02 / Math.sqrt(2 * layers)));
      add(`h${l}/mlp/out/bias`, tf.zeros([d]));
    }
    add('lnf/gamma', tf.ones([d]));
    add('lnf/beta', tf.zeros([d]));
    add('head/kernel', normal([d, vocab], 0.02));
    // -1e9 above the diagonal: position t attends to positions <= t only
    this.mask = tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([context, context]), -1, 0)), -1e9));
  }

  private layerNorm(x: tf.Tensor, name: string): tf.Tensor {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), this.p[`${name}/gamma`]!), this.p[`${name}/beta`]!);
  }

  private dense(x: tf.Tensor, name: string, bias = true): tf.Tensor {
    const y = matMul2d(x, this.p[`${name}/kernel`]!);
    return bias ? tf.add(y, this.p[`${name}/bias`]!) : y;
  }

  /** Logits [batch * T, vocab] for token ids [batch, T]. */
  logits(ids: tf.Tensor2D): tf.Tensor2D {
    const [batch, T] = ids.shape;
    const { width: d, heads, layers } = this.config;
    const dh = d / heads;
    // the embedding lookup as a one-hot product: tf.gather's gradient needs UnsortedSegmentSum,
    // which the wasm backend lacks, and with ~80 characters the product is cheap
    const embedded = tf.reshape(matMul2d(tf.cast(tf.oneHot(tf.reshape(ids, [-1]), this.config.vocab), 'float32'), this.p['tokens']!), [batch, T, d]);
    let x = tf.add(embedded, tf.slice(this.p['positions']!, [0, 0], [T, d])); // [B, T, d]
    const mask = tf.slice(this.mask, [0, 0], [T, T]);
    for (let l = 0; l < layers; l++) {
      const h = tf.reshape(this.layerNorm(x, `h${l}/ln1`), [batch * T, d]);
      const qkv = tf.transpose(tf.reshape(this.dense(h, `h${l}/attn/qkv`), [batch, T, 3, heads, dh]), [2, 0, 3, 1, 4]);
      const [q, k, v] = tf.unstack(qkv); // each [B, heads, T, dh]
      const scores = tf.add(tf.div(tf.matMul(q!, k!, false, true), Math.sqrt(dh)), mask);
      const attended = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), v!), [0, 2, 1, 3]), [batch * T, d]);
      x = tf.add(x, tf.reshape(this.dense(attended, `h${l}/attn/out`), [batch, T, d]));
      const h2 = tf.reshape(this.layerNorm(x, `h${l}/ln2`), [batch * T, d]);
      const mlp = this.dense(gelu(this.dense(h2, `h${l}/mlp/in`)), `h${l}/mlp/out`);
      x = tf.add(x, tf.reshape(mlp, [batch, T, d]));
    }
    return this.dense(tf.reshape(this.layerNorm(x, 'lnf'), [batch * T, d]), 'head', false) as tf.Tensor2D;
  }

  /** Mean next-character cross-entropy (nats) of a batch. */
  loss(x: tf.Tensor2D, y: tf.Tensor2D): tf.Scalar {
    return tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.reshape(y, [-1]), this.config.vocab), this.logits(x)) as tf.Scalar);
  }

  dispose(): void {
    tf.dispose([...this.variables, this.mask]);
  }
}

/**
 * a @ b for 2-D a and b, with gradients computed as dA = dy @ b^T and dB = a^T @ dy through
 * explicit transposes. tfjs's own gradient multiplies with transpose flags, which the wasm
 * backend runs in a naive loop instead of XNNPACK (measured: 2.3 s of a 2.7 s training step).
 */
const matMul2d = tf.customGrad((a, b, save) => {
  (save as tf.GradSaveFunc)([a as tf.Tensor, b as tf.Tensor]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy, saved) => {
      const [x, w] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(w)), tf.matMul(tf.transpose(x), dy as tf.Tensor2D)];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

/** tanh approximation of GELU (GPT-2's). */
function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x))))))));
}

type Window = { x: tf.Tensor2D; y: tf.Tensor2D };

/** A batch of random windows (inputs and next-character targets) from `ids`. */
function windows(ids: Int32Array, batch: number, T: number, random: Random): Window {
  const x = new Int32Array(batch * T);
  const y = new Int32Array(batch * T);
  for (let b = 0; b < batch; b++) {
    const start = random.int(ids.length - T - 1);
    x.set(ids.subarray(start, start + T), b * T);
    y.set(ids.subarray(start + 1, start + T + 1), b * T);
  }
  return { x: tf.tensor2d(x, [batch, T], 'int32'), y: tf.tensor2d(y, [batch, T], 'int32') };
}

/** Mean validation loss over fixed windows (the same for every model). */
function validationLoss(model: Gpt, ids: Int32Array, count: number, T: number): number {
  const random = new Random(424242);
  const losses: number[] = [];
  for (let i = 0; i < count; i += 16) {
    const w = windows(ids, Math.min(16, count - i), T, random);
    const l = model.loss(w.x, w.y);
    losses.push(l.dataSync()[0]!);
    tf.dispose([w.x, w.y, l]);
  }
  return meanStd(losses).mean;
}

export interface CharLmOptions {
  steps?: number;
  finetuneSteps?: number;
  width?: number;
  layers?: number;
  heads?: number;
  context?: number;
  batchSize?: number;
  learningRate?: number;
}

export interface CharLmBase extends Record<string, unknown> {
  steps: number;
  finetuneSteps: number;
  context: number;
  batchSize: number;
  width: number;
  layers: number;
  heads: number;
  learningRate: number;
  /** Finetuning rate as a fraction of the pretraining rate (default 0.3: 3e-4 after 1e-3). */
  finetuneRatio: number;
  evalEvery: number;
  evalWindows: number;
}

let corpora: { pre: { train: Int32Array; validation: Int32Array }; fine: { train: Int32Array; validation: Int32Array }; vocab: number } | undefined;

function loadCorpora() {
  if (!corpora) {
    const moby = loadMobyDick();
    const sotu = loadStateOfTheUnion();
    const vocab = new Vocabulary([moby, sotu], 20);
    corpora = { pre: splitTail(vocab.encode(moby), 0.1), fine: splitTail(vocab.encode(sotu), 0.1), vocab: vocab.size };
  }
  return corpora;
}

export function resolveCharLm(o: CharLmOptions, q: boolean): CharLmBase {
  const steps = o.steps ?? (q ? 20 : 1200);
  return {
    steps,
    finetuneSteps: o.finetuneSteps ?? (q ? 10 : 300),
    context: o.context ?? (q ? 16 : 32),
    batchSize: o.batchSize ?? (q ? 8 : 32),
    width: o.width ?? (q ? 32 : 64),
    layers: o.layers ?? (q ? 1 : 2),
    heads: o.heads ?? (q ? 2 : 4),
    learningRate: o.learningRate ?? 1e-3,
    finetuneRatio: 0.3,
    evalEvery: Math.max(1, Math.floor(steps / (q ? 2 : 15))),
    evalWindows: q ? 16 : 64,
  };
}

export const charlmUnits: UnitExperiment<CharLmBase> = {
  folder: () => 'charlm',
  ownBeta2: true,
  resolve: (o, q) => resolveCharLm(o as CharLmOptions, q),
  async run(b, unit, env) {
    const { pre, fine, vocab } = loadCorpora();
    const T = b.context;
    const config: GptConfig = { vocab, width: b.width, layers: b.layers, heads: b.heads, context: T };
    const { optimizer, seed } = unit;
    const lr = unit.setting.learningRate;
    const curves: Row[] = [];
    const extra = unit.setting.beta2 === 'own' ? {} : { beta2: unit.setting.beta2 };
    const pretrained = new Gpt(config, seed);
    const run = (model: Gpt, ids: Int32Array, total: number, rate: number, dataSeed: number, phase: string, offset: number) => new Trainer<Window>({
      model: model.variables,
      loss: (w) => model.loss(w.x, w.y),
      data: (epoch) => {
        const random = new Random(dataSeed * 1_000_003 + epoch);
        return Array.from({ length: b.evalEvery }, () => windows(ids, b.batchSize, T, random));
      },
      optimizer: optimizer === 'adopt-unclipped' ? 'adopt' : optimizer,
      optimizerOptions: { ...(optimizer === 'adopt-unclipped' ? { clip: null } : {}), ...extra },
      learningRate: rate,
      clipGradNorm: 1,
      steps: total,
      seed,
      progress: false,
      evaluate: {
        every: b.evalEvery,
        run: (step) => {
          const validation = validationLoss(model, phase === 'pretrain' ? pre.validation : fine.validation, b.evalWindows, T);
          curves.push({ phase, step: offset + step, validationLoss: validation });
          return { validationLoss: validation };
        },
      },
    });
    const pretrain = run(pretrained, pre.train, b.steps, lr, seed, 'pretrain', 0);
    await pretrain.fit();
    for (const l of pretrain.losses) curves.push({ phase: 'pretrain', step: l.step + 1, trainLoss: l.loss });
    const pretrainValidation = validationLoss(pretrained, pre.validation, b.evalWindows, T);
    const dir = join(env.scratchDir, 'checkpoint');
    rmSync(dir, { recursive: true, force: true });
    await pretrain.save(dir);
    pretrain.optimizers.forEach((o) => o.dispose());
    pretrained.dispose();

    // finetuning starts from the pretrained checkpoint, in a fresh model with fresh optimizer state
    const tuned = new Gpt(config, seed + 1);
    const saved = (await readCheckpoint(dir)).tensors('model');
    saved.forEach((w, i) => tuned.variables[i]!.assign(w.tensor));
    tf.dispose(saved.map((w) => w.tensor));
    rmSync(env.scratchDir, { recursive: true, force: true });
    const before = validationLoss(tuned, fine.validation, b.evalWindows, T);
    curves.push({ phase: 'finetune', step: b.steps, validationLoss: before });
    const finetuning = run(tuned, fine.train, b.finetuneSteps, lr * b.finetuneRatio, seed + 17, 'finetune', b.steps);
    await finetuning.fit();
    const after = validationLoss(tuned, fine.validation, b.evalWindows, T);
    finetuning.optimizers.forEach((o) => o.dispose());
    tuned.dispose();
    return { curves, final: { pretrainValidation, finetuneBefore: before, finetuneAfter: after } };
  },
  async summarize(b, records) {
    const bits = 1 / Math.LN2;
    const spec: SummarySpec = {
      metrics: [
        { key: 'pretrainValidation', label: 'pretrain validation (bits/char)', digits: 3, scale: bits, lowerIsBetter: true, compare: true },
        { key: 'finetuneBefore', label: 'finetune validation before', digits: 3, scale: bits, lowerIsBetter: true },
        { key: 'finetuneAfter', label: 'finetune validation after', digits: 3, scale: bits, lowerIsBetter: true, compare: true },
      ],
      defaultLr: b.learningRate,
      select: { key: 'pretrainValidation', lowerIsBetter: true, on: 'the pretraining validation loss (the held-out tail of Moby Dick; there is no separate test text, so the chosen rate is selected on the set it reports)' },
    };
    const t = standardTables(records, spec);
    const shown = figureRecords(records, spec, t.selection);
    const band = bandText(seedCount(records));
    const every = Math.max(1, Math.floor(b.steps / 100));
    const trainShown = shown.map((r) => ({ ...r, curves: r.curves.filter((c) => c['trainLoss'] !== undefined && (c['step'] as number) % every === 0) }));
    const { vocab } = loadCorpora();
    return {
      name: 'charlm',
      title: 'Character-level language model: pretraining on Moby Dick, finetuning on State of the Union addresses',
      description:
        `GPT-style decoder (${b.layers} layer(s), ${b.heads} heads, width ${b.width}, context ${b.context}, ${vocab} characters) trained on ` +
        `Moby Dick for ${b.steps} steps (batch ${b.batchSize}, learning rate ${t.selection.lrs.join(', ')}, gradient clipping at norm 1); validation on the ` +
        `held-out last 10%. Then finetuned from the pretrained checkpoint for ${b.finetuneSteps} steps (learning rate ${b.finetuneRatio} x the pretraining rate, ` +
        'fresh optimizer state) on State of the Union addresses since 1990, with validation on their last 10%. Losses in bits per character.',
      summary: t.summary,
      tables: t.tables,
      figures: [
        { file: 'pretrain-train-loss.svg', caption: `Pretraining loss on Moby Dick (training batches, every ${every} steps); ${band}.`, svg: await lineChart(meanCurves(trainShown, 'trainLoss', 'step', { scale: bits }), { title: 'Pretraining: training loss', subtitle: band, x: 'step', y: 'bits per character' }) },
        { file: 'pretrain-validation.svg', caption: `Pretraining: validation loss on the held-out tail of Moby Dick; ${band}.`, svg: await lineChart(meanCurves(shown, 'validationLoss', 'step', { scale: bits, filter: (c) => c['phase'] === 'pretrain' }), { title: 'Pretraining: validation loss', subtitle: band, x: 'step', y: 'bits per character', points: true }) },
        { file: 'finetune-validation.svg', caption: `Finetuning: validation loss on held-out State of the Union text, from the pretrained checkpoint; ${band}.`, svg: await lineChart(meanCurves(shown, 'validationLoss', 'step', { scale: bits, filter: (c) => c['phase'] === 'finetune' }), { title: 'Finetuning: validation loss', subtitle: band, x: 'step', y: 'bits per character', points: true }) },
      ],
      curves: records.flatMap((r) => r.curves.map((c) => ({ optimizer: r.optimizer, seed: r.seed, beta2: String(r.setting.beta2), learningRate: r.setting.learningRate, ...c }))),
      notes: t.notes,
      meta: undefined as never,
    };
  },
};
