/**
 * MNIST classification (the paper's first neural-network experiment): a multilayer perceptron
 * (or, with --model cnn, a small convolutional network standing in for the CIFAR/ImageNet runs)
 * on the real MNIST, trained by each optimizer through the Trainer. Curves: training loss and test
 * loss/accuracy per epoch.
 */
import * as tf from '@tensorflow/tfjs';
import { Trainer } from 'adopt-optim/train';
import { IMAGE_SIZE, loadMnist, type Mnist, type MnistSplit } from './data/mnist.js';
import {
  formatMeanStd, LABELS, meanStd, progressBar, Random, runMeta, type ExperimentResult, type LabOptimizer,
  type OptimizerOverrides, type RunContext,
} from './common.js';
import { lineChart, type LinePoint } from './plot.js';

export interface MnistOptions {
  model?: 'mlp' | 'cnn';
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  hidden?: number;
  /** Use only the first n training examples. */
  trainSize?: number;
  testSize?: number;
}

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  testLoss: number;
  testAccuracy: number;
}

type XY = { xs: tf.Tensor; ys: tf.Tensor };

export function buildModel(kind: 'mlp' | 'cnn', seed: number, hidden = 256): tf.Sequential {
  const init = (k: number) => tf.initializers.heNormal({ seed: seed * 100 + k });
  if (kind === 'mlp') {
    return tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [IMAGE_SIZE], units: hidden, activation: 'relu', kernelInitializer: init(1) }),
        tf.layers.dense({ units: hidden, activation: 'relu', kernelInitializer: init(2) }),
        tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 100 + 3 }) }),
      ],
    });
  }
  // 3x3 convolutions written as conv3d over a depth of 1: the wasm backend has no
  // Conv2DBackpropFilter kernel, but it has Conv3D's filter and input gradients
  return tf.sequential({
    layers: [
      tf.layers.reshape({ inputShape: [IMAGE_SIZE], targetShape: [1, 28, 28, 1] }),
      tf.layers.conv3d({ filters: 16, kernelSize: [1, 3, 3], activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.reshape({ targetShape: [26, 26, 16] }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.reshape({ targetShape: [1, 13, 13, 16] }),
      tf.layers.conv3d({ filters: 32, kernelSize: [1, 3, 3], activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.reshape({ targetShape: [11, 11, 32] }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init(3) }),
      tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 100 + 4 }) }),
    ],
  });
}

/** Batches of one epoch, shuffled by a stream seeded from (seed, epoch): the same every time. */
export function mnistBatches(split: MnistSplit, batchSize: number, seed: number) {
  return (epoch: number): XY[] => {
    const order = new Random(seed * 1_000_003 + epoch).shuffle(split.count);
    const batches: XY[] = [];
    for (let start = 0; start + batchSize <= split.count; start += batchSize) {
      const xs = new Float32Array(batchSize * IMAGE_SIZE);
      const labels = new Int32Array(batchSize);
      for (let i = 0; i < batchSize; i++) {
        const j = order[start + i]!;
        xs.set(split.images.subarray(j * IMAGE_SIZE, (j + 1) * IMAGE_SIZE), i * IMAGE_SIZE);
        labels[i] = split.labels[j]!;
      }
      batches.push(tf.tidy(() => ({ xs: tf.tensor2d(xs, [batchSize, IMAGE_SIZE]), ys: tf.oneHot(tf.tensor1d(labels, 'int32'), 10) })));
    }
    return batches;
  };
}

/** Mean cross-entropy and accuracy of `model` on a split, in chunks. */
export function evaluateClassifier(model: tf.LayersModel, split: MnistSplit): { loss: number; accuracy: number } {
  let lossSum = 0;
  let correct = 0;
  const chunk = 2000;
  for (let start = 0; start < split.count; start += chunk) {
    const n = Math.min(chunk, split.count - start);
    const [l, c] = tf.tidy(() => {
      const xs = tf.tensor2d(split.images.subarray(start * IMAGE_SIZE, (start + n) * IMAGE_SIZE), [n, IMAGE_SIZE]);
      const labels = tf.tensor1d(split.labels.subarray(start, start + n), 'int32');
      const logits = model.predict(xs) as tf.Tensor;
      const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 10), logits, undefined, undefined, tf.Reduction.SUM);
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32'));
      return [loss.dataSync()[0]!, hits.dataSync()[0]!];
    });
    lossSum += l;
    correct += c;
  }
  return { loss: lossSum / split.count, accuracy: correct / split.count };
}

/** Trains one model with one optimizer and seed; returns per-epoch records. */
export async function trainMnist(
  data: Mnist, optimizer: LabOptimizer, seed: number, o: Required<Omit<MnistOptions, 'trainSize' | 'testSize'>>,
  overrides: OptimizerOverrides = {}, onEpoch?: (r: EpochRecord) => void,
): Promise<EpochRecord[]> {
  const model = buildModel(o.model, seed, o.hidden);
  const stepsPerEpoch = Math.floor(data.train.count / o.batchSize);
  const records: EpochRecord[] = [];
  const trainer = new Trainer<XY>({
    model,
    loss: (b) => tf.losses.softmaxCrossEntropy(b.ys, model.apply(b.xs, { training: true }) as tf.Tensor) as tf.Scalar,
    data: mnistBatches(data.train, o.batchSize, seed),
    optimizer: optimizer === 'adopt-unclipped' ? 'adopt' : optimizer,
    optimizerOptions: {
      ...(optimizer === 'adopt-unclipped' ? { clip: null } : {}),
      ...(overrides.beta2 === undefined ? {} : { beta2: overrides.beta2 }),
      ...(overrides.weightDecay === undefined ? {} : { weightDecay: overrides.weightDecay }),
    },
    learningRate: o.learningRate,
    steps: stepsPerEpoch * o.epochs,
    progress: false,
    evaluate: {
      every: stepsPerEpoch,
      run: (step) => {
        const epoch = step / stepsPerEpoch;
        const losses = trainer.losses.slice(step - stepsPerEpoch, step).map((l) => l.loss);
        const test = evaluateClassifier(model, data.test);
        const r = { epoch, trainLoss: meanStd(losses).mean, testLoss: test.loss, testAccuracy: test.accuracy };
        records.push(r);
        onEpoch?.(r);
        return { testLoss: test.loss, testAccuracy: test.accuracy };
      },
    },
  });
  await trainer.fit();
  trainer.optimizers.forEach((opt) => opt.dispose());
  model.dispose();
  return records;
}



export async function mnist(ctx: RunContext, options: MnistOptions = {}): Promise<ExperimentResult> {
  const started = Date.now();
  const model = options.model ?? 'mlp';
  const o = {
    model,
    epochs: options.epochs ?? (ctx.quick ? 1 : model === 'cnn' ? 3 : 10),
    batchSize: options.batchSize ?? 128,
    learningRate: options.learningRate ?? 1e-3,
    hidden: options.hidden ?? 256,
  };
  // the CNN runs ~0.7 s per step on two cores (conv3d stands in for conv2d on wasm): a subset by default
  const defaultTrain = ctx.quick ? 4096 : model === 'cnn' ? 12_800 : undefined;
  const data = loadMnist({ train: options.trainSize ?? defaultTrain, test: options.testSize ?? (ctx.quick ? 2000 : undefined) });
  const curves: Record<string, number | string>[] = [];
  const bar = progressBar(ctx, `mnist ${model}`, ctx.optimizers.length * ctx.seeds.length * o.epochs, ['run', 'acc']);
  const finals: Record<string, EpochRecord[]> = {};
  for (const optimizer of ctx.optimizers) {
    for (const seed of ctx.seeds) {
      const records = await trainMnist(data, optimizer, seed, o, {}, (r) => bar.tick({ run: `${LABELS[optimizer]} seed ${seed}`, acc: r.testAccuracy.toFixed(4) }));
      for (const r of records) curves.push({ optimizer, seed, ...r });
      (finals[optimizer] ??= []).push(records.at(-1)!);
    }
  }
  bar.stop();
  const series = (field: keyof EpochRecord): LinePoint[] => ctx.optimizers.flatMap((optimizer) => {
    const rows = curves.filter((c) => c['optimizer'] === optimizer);
    return Array.from({ length: o.epochs }, (_, i) => {
      const values = rows.filter((c) => c['epoch'] === i + 1).map((c) => c[field] as number);
      return { x: i + 1, y: meanStd(values).mean, lower: Math.min(...values), upper: Math.max(...values), series: LABELS[optimizer] };
    });
  });
  const name = model === 'cnn' ? 'mnist-cnn' : 'mnist';
  const band = ctx.seeds.length > 1 ? ` (band: min-max over ${ctx.seeds.length} seeds)` : '';
  return {
    name,
    title: model === 'cnn' ? 'MNIST, small convolutional network' : 'MNIST, multilayer perceptron',
    description:
      `${model === 'cnn' ? 'Conv(16)-pool-conv(32)-pool-dense(128)' : `MLP 784-${o.hidden}-${o.hidden}-10 (ReLU)`} on ` +
      `${data.train.count.toLocaleString('en')} training and ${data.test.count.toLocaleString('en')} test images; batch ${o.batchSize}, ` +
      `learning rate ${o.learningRate} for every optimizer, each with its own default betas, epsilon and weight decay; ${o.epochs} epochs.`,
    summary: {
      columns: ['optimizer', 'final test accuracy', 'final test loss', 'final training loss'],
      rows: ctx.optimizers.map((opt) => [
        LABELS[opt],
        formatMeanStd(finals[opt]!.map((r) => 100 * r.testAccuracy), 2) + ' %',
        formatMeanStd(finals[opt]!.map((r) => r.testLoss), 4),
        formatMeanStd(finals[opt]!.map((r) => r.trainLoss), 4),
      ]),
    },
    figures: [
      { file: 'train-loss.svg', caption: `Training loss (mean over the epoch's steps)${band}.`, svg: await lineChart(series('trainLoss'), { title: 'Training loss', x: 'epoch', y: 'cross-entropy', logY: true, points: true }) },
      { file: 'test-accuracy.svg', caption: `Test accuracy after each epoch${band}.`, svg: await lineChart(series('testAccuracy'), { title: 'Test accuracy', x: 'epoch', y: 'accuracy', points: true }) },
      { file: 'test-loss.svg', caption: `Test loss after each epoch${band}.`, svg: await lineChart(series('testLoss'), { title: 'Test loss', x: 'epoch', y: 'cross-entropy', points: true }) },
    ],
    curves,
    notes: [],
    meta: runMeta(ctx, { ...o, trainSize: data.train.count, testSize: data.test.count }, started),
  };
}
