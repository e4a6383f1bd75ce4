/**
 * A generative model: a variational autoencoder on MNIST (the paper trains NVAE; this is the
 * classic MLP VAE of Kingma & Welling). Curves: the negative ELBO on the test set per epoch, in
 * nats per image; and a grid of digits decoded from z ~ N(0, I).
 */
import * as tf from '@tensorflow/tfjs';
import { Trainer } from 'adopt-optim/train';
import { binarise, IMAGE_SIZE, loadMnistWithValidation, type MnistSplit } from './data/mnist.js';
import { LABELS, meanStd, Random, trainerOptimizer } from './common.js';
import { imageGrid, lineChart } from './plot.js';
import type { Row, UnitExperiment } from './runs.js';
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

export interface VaeOptions {
  epochs?: number;
  latent?: number;
  hidden?: number;
  trainSize?: number;
  testSize?: number;
  learningRate?: number;
  /** Samples per image of the importance-weighted bound (default 100). */
  iwSamples?: number;
}

export interface Vae {
  variables: tf.Variable[];
  encode(x: tf.Tensor): { mu: tf.Tensor; logVar: tf.Tensor };
  decodeLogits(z: tf.Tensor): tf.Tensor;
}

let instances = 0;

function makeVae(seed: number, hidden: number, latent: number): Vae {
  const id = instances++; // variable names must be unique in the process
  const glorot = (shape: [number, number], k: number) =>
    tf.variable(
      tf.initializers.glorotUniform({ seed: seed * 100 + k }).apply(shape) as tf.Tensor,
      true,
      `vae${id}/kernel${k}`,
    );
  const zeros = (n: number, k: number) => tf.variable(tf.zeros([n]), true, `vae${id}/bias${k}`);
  const [w1, b1, wMu, bMu, wLv, bLv, w2, b2, w3, b3] = [
    glorot([IMAGE_SIZE, hidden], 1),
    zeros(hidden, 2),
    glorot([hidden, latent], 3),
    zeros(latent, 4),
    glorot([hidden, latent], 5),
    zeros(latent, 6),
    glorot([latent, hidden], 7),
    zeros(hidden, 8),
    glorot([hidden, IMAGE_SIZE], 9),
    zeros(IMAGE_SIZE, 10),
  ] as tf.Variable[];
  return {
    variables: [w1!, b1!, wMu!, bMu!, wLv!, bLv!, w2!, b2!, w3!, b3!],
    encode(x) {
      const h = tf.relu(tf.add(tf.matMul(x, w1!), b1!));
      return { mu: tf.add(tf.matMul(h, wMu!), bMu!), logVar: tf.add(tf.matMul(h, wLv!), bLv!) };
    },
    decodeLogits(z) {
      return tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(z, w2!), b2!)), w3!), b3!);
    },
  };
}

/** Negative ELBO summed over the batch: Bernoulli reconstruction plus KL(q(z|x) || N(0, I)). */
function negativeElbo(vae: Vae, x: tf.Tensor, noiseSeed: number): tf.Scalar {
  return tf.tidy(() => {
    const { mu, logVar } = vae.encode(x);
    const eps = tf.randomNormal(mu.shape, 0, 1, 'float32', noiseSeed);
    const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logVar, 0.5)), eps));
    const logits = vae.decodeLogits(z);
    const reconstruction = tf.losses.sigmoidCrossEntropy(x, logits, undefined, undefined, tf.Reduction.SUM);
    const kl = tf.mul(-0.5, tf.sum(tf.sub(tf.add(1, logVar), tf.add(tf.square(mu), tf.exp(logVar)))));
    return tf.add(reconstruction, kl) as tf.Scalar;
  });
}

function splitNelbo(vae: Vae, split: MnistSplit, seed: number): number {
  let sum = 0;
  for (let start = 0, chunk = 0; start < split.count; start += 2000, chunk++) {
    const n = Math.min(2000, split.count - start);
    sum += tf.tidy(
      () =>
        negativeElbo(
          vae,
          tf.tensor2d(split.images.subarray(start * IMAGE_SIZE, (start + n) * IMAGE_SIZE), [n, IMAGE_SIZE]),
          seed + chunk,
        ).dataSync()[0]!,
    );
  }
  return sum / split.count;
}

/**
 * The importance-weighted estimate of the test negative log-likelihood (Burda et al. 2016):
 * -log (1/k) sum_i p(x, z_i) / q(z_i | x) with z_i ~ q(z | x), averaged over images, in nats.
 * An upper bound on -log p(x) in expectation, tighter as k grows. Batched so that at most about
 * 5,000 decoded images are in memory at once.
 */
export function importanceWeightedNll(vae: Vae, split: MnistSplit, k: number, seed: number, latent: number): number {
  const per = Math.max(1, Math.floor(5000 / k));
  let sum = 0;
  const halfLog2Pi = 0.5 * Math.log(2 * Math.PI);
  for (let start = 0, chunk = 0; start < split.count; start += per, chunk++) {
    const n = Math.min(per, split.count - start);
    sum += tf.tidy(() => {
      const x = tf.tensor2d(split.images.subarray(start * IMAGE_SIZE, (start + n) * IMAGE_SIZE), [n, IMAGE_SIZE]);
      const { mu, logVar } = vae.encode(x);
      const eps = tf.randomNormal([k, n, latent], 0, 1, 'float32', seed + chunk);
      const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logVar, 0.5)), eps)); // [k, n, L]
      const logits = vae.decodeLogits(tf.reshape(z, [k * n, latent])); // [k * n, 784]
      const xs = tf.reshape(tf.tile(tf.expandDims(x, 0), [k, 1, 1]), [k * n, IMAGE_SIZE]);
      // log Bernoulli(x | sigmoid(l)) = x l - softplus(l)
      const logPx = tf.reshape(tf.sum(tf.sub(tf.mul(xs, logits), tf.softplus(logits)), 1), [k, n]);
      const logPz = tf.sub(tf.mul(-0.5, tf.sum(tf.square(z), 2)), latent * halfLog2Pi);
      const logQz = tf.sub(
        tf.sub(tf.mul(-0.5, tf.sum(tf.square(eps), 2)), tf.mul(0.5, tf.sum(logVar, 1))),
        latent * halfLog2Pi,
      );
      const logW = tf.sub(tf.add(logPx, logPz), logQz); // [k, n]
      const ll = tf.sub(tf.logSumExp(logW, 0), Math.log(k));
      return -tf.sum(ll).dataSync()[0]!;
    });
  }
  return sum / split.count;
}

export interface VaeBase extends Record<string, unknown> {
  epochs: number;
  latent: number;
  hidden: number;
  batchSize: number;
  learningRate: number;
  trainSize: number;
  validationSize: number;
  testSize: number;
  iwSamples: number;
  binarisation: string;
}

const BINARISATION_SEED = 20240;
let cached: { key: string; data: { train: MnistSplit; validation: MnistSplit; test: MnistSplit } } | undefined;

/** Binarised MNIST: a fixed, seeded binarisation of each split (the same bits in every run and process). */
function vaeData(b: VaeBase) {
  const key = `${b.trainSize}/${b.validationSize}/${b.testSize}`;
  if (cached?.key !== key) {
    const d = loadMnistWithValidation({ train: b.trainSize, validation: b.validationSize, test: b.testSize });
    cached = {
      key,
      data: {
        train: binarise(d.train, BINARISATION_SEED + 1),
        validation: binarise(d.validation, BINARISATION_SEED + 2),
        test: binarise(d.test, BINARISATION_SEED + 3),
      },
    };
  }
  return cached.data;
}

export function resolveVae(o: VaeOptions, quick: boolean): VaeBase {
  return {
    epochs: o.epochs ?? (quick ? 1 : 10),
    latent: o.latent ?? 20,
    hidden: o.hidden ?? 400,
    batchSize: 128,
    learningRate: o.learningRate ?? 1e-3,
    trainSize: o.trainSize ?? (quick ? 2048 : 55_000),
    validationSize: quick ? 500 : 5000,
    testSize: o.testSize ?? (quick ? 500 : 10_000),
    iwSamples: o.iwSamples ?? 100,
    binarisation: `fixed: pixel p -> 1 with probability p, drawn once (seed ${BINARISATION_SEED})`,
  };
}

const VAE_METRICS: Metric[] = [
  { key: 'testIwNll', label: 'test NLL, importance-weighted (nats)', digits: 2, lowerIsBetter: true, compare: true },
  { key: 'testNelbo', label: 'test negative ELBO (nats)', digits: 2, lowerIsBetter: true, compare: true },
];

export const vaeUnits: UnitExperiment<VaeBase> = {
  folder: () => 'vae',
  ownBeta2: true,
  resolve: (o, quick) => resolveVae(o as VaeOptions, quick),
  async run(b, unit) {
    const data = vaeData(b);
    const { optimizer, seed } = unit;
    const steps = Math.floor(data.train.count / b.batchSize);
    const model = makeVae(seed, b.hidden, b.latent);
    const curves: Row[] = [];
    type X = { x: tf.Tensor };
    const trainer = new Trainer<X>({
      model: model.variables,
      loss: (batch, c) => tf.div(negativeElbo(model, batch.x, c.rng.seed()), batch.x.shape[0]!) as tf.Scalar,
      data: (epoch) => {
        const order = new Random(seed * 7_000_001 + epoch).shuffle(data.train.count);
        return Array.from({ length: steps }, (_, s) => {
          const xs = new Float32Array(b.batchSize * IMAGE_SIZE);
          for (let i = 0; i < b.batchSize; i++) {
            const j = order[s * b.batchSize + i]!;
            xs.set(data.train.images.subarray(j * IMAGE_SIZE, (j + 1) * IMAGE_SIZE), i * IMAGE_SIZE);
          }
          return { x: tf.tensor2d(xs, [b.batchSize, IMAGE_SIZE]) };
        });
      },
      ...trainerOptimizer(optimizer, unit.setting.beta2 === 'own' ? {} : { beta2: unit.setting.beta2 }),
      learningRate: unit.setting.learningRate,
      steps: steps * b.epochs,
      seed,
      progress: false,
      evaluate: {
        every: steps,
        run: (step) => {
          const epoch = step / steps;
          const testNelbo = splitNelbo(model, data.test, 12345);
          const validationNelbo = splitNelbo(model, data.validation, 54321);
          const trainNelbo = meanStd(trainer.losses.slice(step - steps, step).map((l) => l.loss)).mean;
          curves.push({ epoch, testNelbo, validationNelbo, trainNelbo });
          return { testNelbo };
        },
      },
    });
    await trainer.fit();
    const testIwNll = importanceWeightedNll(model, data.test, b.iwSamples, 777, b.latent);
    const z = tf.randomNormal([25, b.latent], 0, 1, 'float32', 2024);
    const images = tf.tidy(() =>
      Array.from(tf.sigmoid(model.decodeLogits(z)).dataSync(), (v) => Math.round(v * 1000) / 1000),
    );
    z.dispose();
    trainer.optimizers.forEach((o) => o.dispose());
    tf.dispose(model.variables);
    const last = curves.at(-1)!;
    return {
      curves,
      final: {
        testNelbo: last['testNelbo'] as number,
        validationNelbo: last['validationNelbo'] as number,
        trainNelbo: last['trainNelbo'] as number,
        testIwNll,
      },
      extra: { samples: images },
    };
  },
  async summarize(b, records) {
    const spec: SummarySpec = {
      metrics: VAE_METRICS,
      defaultLr: b.learningRate,
      select: {
        key: 'validationNelbo',
        label: 'validation negative ELBO (nats)',
        lowerIsBetter: true,
        on:
          `validation negative ELBO (the last ${b.validationSize.toLocaleString('en')} training images, held out; ` +
          'not the test set)',
      },
    };
    const t = standardTables(records, spec);
    const shown = figureRecords(records, spec, t.selection);
    const band = bandText(seedCount(records));
    const firstSeed = Math.min(...shown.map((r) => r.seed));
    const grids = shown.filter((r) => r.seed === firstSeed && r.setting.beta2 === shown[0]!.setting.beta2).slice(0, 2);
    const gridFigures = await Promise.all(
      grids.map(async (r) => {
        const px = (r.extra as { samples: number[] }).samples;
        const images = Array.from({ length: 25 }, (_, i) =>
          Float32Array.from(px.slice(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE)),
        );
        return {
          file: `samples-${r.optimizer}.svg`,
          caption:
            'Bernoulli means decoded from 25 draws of z ~ N(0, I) (the same draws for every optimizer), after ' +
            `training with ${LABELS[r.optimizer]} (seed ${r.seed}).`,
          svg: await imageGrid(images, 28, { title: `Samples, ${LABELS[r.optimizer]}`, columns: 5, cell: 2 }),
        };
      }),
    );
    return {
      name: 'vae',
      title: 'Variational autoencoder on binarised MNIST',
      description:
        `MLP VAE 784-${b.hidden}-${b.latent} (Bernoulli decoder) on statically binarised MNIST (${b.binarisation}): ` +
        `${b.trainSize.toLocaleString('en')} training, ${b.validationSize.toLocaleString('en')} validation (held out ` +
        `from training) and ${b.testSize.toLocaleString('en')} test images; batch ${b.batchSize}, ${b.epochs} ` +
        `epoch(s). Test negative log-likelihood estimated by importance weighting with k = ${b.iwSamples} samples ` +
        '(an upper bound on -log p(x) in expectation), and the single-sample negative ELBO; nats per image, lower is ' +
        'better.',
      summary: t.summary,
      tables: t.tables,
      figures: [
        {
          file: 'test-nelbo.svg',
          caption: `Test negative ELBO (single sample) after each epoch; ${band}.`,
          svg: await lineChart(meanCurves(shown, 'testNelbo', 'epoch'), {
            title: 'Test negative ELBO',
            subtitle: band,
            x: 'epoch',
            y: 'nats per image',
            points: true,
          }),
        },
        ...gridFigures,
      ],
      curves: curveRows(records),
      notes: [
        ...t.notes,
        'Pixels are binarised once with a fixed seed, so these nats are a likelihood bound on binary data, ' +
          'comparable to other statically binarised MNIST results only in kind (the standard fixed split of ' +
          'Larochelle & Murray differs).',
      ],
      meta: undefined as never,
    };
  },
};
