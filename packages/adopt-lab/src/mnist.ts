/**
 * MNIST classification (the paper's first neural-network experiment): a multilayer perceptron
 * (or, with --model cnn, a small convolutional network standing in for the CIFAR/ImageNet runs)
 * on the real MNIST, trained by each optimizer through the Trainer. Curves: training loss and test
 * loss/accuracy per epoch.
 */
import * as tf from '@tensorflow/tfjs';
import { Trainer } from 'adopt-optim/train';
import { IMAGE_SIZE, loadMnistWithValidation, type MnistSplit, type MnistWithValidation } from './data/mnist.js';
import { meanStd, Random, trainerOptimizer, type LabOptimizer, type OptimizerOverrides } from './common.js';
import { lineChart } from './plot.js';
import type { UnitExperiment } from './runs.js';
import {
  bandText,
  figureRecords,
  meanCurves,
  seedCount,
  standardTables,
  type Metric,
  type SummarySpec,
  curveRows,
} from './summary.js';

export interface MnistOptions {
  model?: 'mlp' | 'cnn';
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  hidden?: number;
  /** Use only the first n training examples. */
  trainSize?: number;
  validationSize?: number;
  testSize?: number;
}

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  testLoss: number;
  testAccuracy: number;
  validationLoss: number;
  validationAccuracy: number;
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
  // Conv2D trains on wasm through tfjs-wasm-train's Conv2DBackpropFilter (enabled in useBackend);
  // 0.1 wrote these as conv3d over a depth of 1, the same function with the same initial weights.
  return tf.sequential({
    layers: [
      tf.layers.reshape({ inputShape: [IMAGE_SIZE], targetShape: [28, 28, 1] }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', kernelInitializer: init(2) }),
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
      batches.push(
        tf.tidy(() => ({
          xs: tf.tensor2d(xs, [batchSize, IMAGE_SIZE]),
          ys: tf.oneHot(tf.tensor1d(labels, 'int32'), 10),
        })),
      );
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
  data: MnistWithValidation,
  optimizer: LabOptimizer,
  seed: number,
  o: Required<Omit<MnistOptions, 'trainSize' | 'testSize' | 'validationSize'>>,
  overrides: OptimizerOverrides = {},
  onEpoch?: (r: EpochRecord) => void,
): Promise<EpochRecord[]> {
  const model = buildModel(o.model, seed, o.hidden);
  const stepsPerEpoch = Math.floor(data.train.count / o.batchSize);
  const records: EpochRecord[] = [];
  const trainer = new Trainer<XY>({
    model,
    loss: (b) => tf.losses.softmaxCrossEntropy(b.ys, model.apply(b.xs, { training: true }) as tf.Tensor) as tf.Scalar,
    data: mnistBatches(data.train, o.batchSize, seed),
    ...trainerOptimizer(optimizer, overrides),
    learningRate: o.learningRate,
    steps: stepsPerEpoch * o.epochs,
    progress: false,
    evaluate: {
      every: stepsPerEpoch,
      run: (step) => {
        const epoch = step / stepsPerEpoch;
        const losses = trainer.losses.slice(step - stepsPerEpoch, step).map((l) => l.loss);
        const test = evaluateClassifier(model, data.test);
        const validation = evaluateClassifier(model, data.validation);
        const r = {
          epoch,
          trainLoss: meanStd(losses).mean,
          testLoss: test.loss,
          testAccuracy: test.accuracy,
          validationLoss: validation.loss,
          validationAccuracy: validation.accuracy,
        };
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

export interface MnistBase extends Record<string, unknown> {
  model: 'mlp' | 'cnn';
  epochs: number;
  batchSize: number;
  learningRate: number;
  hidden: number;
  trainSize: number;
  validationSize: number;
  testSize: number;
}

/** Validation: the last 5,000 training images (500 with --quick), held out from training. */
export const MNIST_VALIDATION = 5000;

export function resolveMnist(options: MnistOptions, quick: boolean): MnistBase {
  const model = options.model ?? 'mlp';
  // the CNN runs ~0.7 s per step on two cores (conv3d stands in for conv2d on wasm): a subset by default
  const validationSize = options.validationSize ?? (quick ? 500 : MNIST_VALIDATION);
  return {
    model,
    epochs: options.epochs ?? (quick ? 1 : model === 'cnn' ? 3 : 10),
    batchSize: options.batchSize ?? 128,
    learningRate: options.learningRate ?? 1e-3,
    hidden: options.hidden ?? 256,
    trainSize: options.trainSize ?? (quick ? 4096 : model === 'cnn' ? 12_800 : 60_000 - MNIST_VALIDATION),
    validationSize,
    testSize: options.testSize ?? (quick ? 2000 : 10_000),
  };
}

export function mnistData(b: MnistBase): MnistWithValidation {
  return loadMnistWithValidation({ train: b.trainSize, validation: b.validationSize, test: b.testSize });
}

export const MNIST_METRICS: Metric[] = [
  {
    key: 'testAccuracy',
    label: 'test accuracy',
    digits: 2,
    scale: 100,
    unit: ' %',
    lowerIsBetter: false,
    compare: true,
    margin: 0.25,
  },
  { key: 'testLoss', label: 'test loss', digits: 4, lowerIsBetter: true, compare: true },
  { key: 'trainLoss', label: 'final training loss', digits: 4, lowerIsBetter: true },
];

export const mnistUnits: UnitExperiment<MnistBase> = {
  folder: (o) => (o['model'] === 'cnn' ? 'mnist-cnn' : 'mnist'),
  ownBeta2: true,
  resolve: (o, quick) => resolveMnist(o as MnistOptions, quick),
  async run(b, unit) {
    const { model, epochs, batchSize, hidden } = b;
    const records = await trainMnist(
      mnistData(b),
      unit.optimizer,
      unit.seed,
      { model, epochs, batchSize, hidden, learningRate: unit.setting.learningRate },
      unit.setting.beta2 === 'own' ? {} : { beta2: unit.setting.beta2 },
    );
    const last = records.at(-1)!;
    return { curves: records.map((r) => ({ ...r })), final: { ...last } };
  },
  async summarize(b, records) {
    const spec: SummarySpec = {
      metrics: MNIST_METRICS,
      defaultLr: b.learningRate,
      select: {
        key: 'validationAccuracy',
        label: 'validation accuracy',
        lowerIsBetter: false,
        on:
          `validation accuracy (the last ${b.validationSize.toLocaleString('en')} training images, held out; not ` +
          'the test set)',
      },
    };
    const t = standardTables(records, spec);
    const shown = figureRecords(records, spec, t.selection);
    const n = seedCount(records);
    const band = bandText(n);
    const chart = (field: string, title: string, y: string, logY = false) =>
      lineChart(meanCurves(shown, field, 'epoch'), { title, subtitle: band, x: 'epoch', y, logY, points: true });
    const cnn = b.model === 'cnn';
    return {
      name: cnn ? 'mnist-cnn' : 'mnist',
      title: cnn ? 'MNIST, small convolutional network' : 'MNIST, multilayer perceptron',
      description:
        `${cnn ? 'Conv(16)-pool-conv(32)-pool-dense(128)' : `MLP 784-${b.hidden}-${b.hidden}-10 (ReLU)`} on ` +
        `${b.trainSize.toLocaleString('en')} training, ${b.validationSize.toLocaleString('en')} validation (the last ` +
        `training images, held out) and ${b.testSize.toLocaleString('en')} test images; batch ${b.batchSize}, ` +
        `${b.epochs} epochs; learning rate ${t.selection.lrs.join(', ')}.`,
      summary: t.summary,
      tables: t.tables,
      figures: [
        {
          file: 'train-loss.svg',
          caption: `Training loss (mean over the epoch's steps); ${band}.`,
          svg: await chart('trainLoss', 'Training loss', 'cross-entropy', true),
        },
        {
          file: 'test-accuracy.svg',
          caption: `Test accuracy after each epoch; ${band}.`,
          svg: await chart('testAccuracy', 'Test accuracy', 'accuracy'),
        },
        {
          file: 'test-loss.svg',
          caption: `Test loss after each epoch; ${band}.`,
          svg: await chart('testLoss', 'Test loss', 'cross-entropy'),
        },
      ],
      curves: curveRows(records),
      notes: t.notes,
      meta: undefined as never,
    };
  },
};
