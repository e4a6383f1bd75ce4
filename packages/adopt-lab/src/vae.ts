/**
 * A generative model: a variational autoencoder on MNIST (the paper trains NVAE; this is the
 * classic MLP VAE of Kingma & Welling). Curves: the negative ELBO on the test set per epoch, in
 * nats per image; and a grid of digits decoded from z ~ N(0, I).
 */
import * as tf from '@tensorflow/tfjs';
import { Trainer } from 'adopt-optim/train';
import { IMAGE_SIZE, loadMnist, type MnistSplit } from './data/mnist.js';
import { formatMeanStd, LABELS, meanStd, progressBar, Random, runMeta, type ExperimentResult, type LabOptimizer, type RunContext } from './common.js';
import { imageGrid, lineChart, type LinePoint } from './plot.js';

export interface VaeOptions {
  epochs?: number;
  latent?: number;
  hidden?: number;
  trainSize?: number;
}

interface Vae {
  variables: tf.Variable[];
  encode(x: tf.Tensor): { mu: tf.Tensor; logVar: tf.Tensor };
  decodeLogits(z: tf.Tensor): tf.Tensor;
}

let instances = 0;

function makeVae(seed: number, hidden: number, latent: number): Vae {
  const id = instances++; // variable names must be unique in the process
  const glorot = (shape: [number, number], k: number) =>
    tf.variable(tf.initializers.glorotUniform({ seed: seed * 100 + k }).apply(shape) as tf.Tensor, true, `vae${id}/kernel${k}`);
  const zeros = (n: number, k: number) => tf.variable(tf.zeros([n]), true, `vae${id}/bias${k}`);
  const [w1, b1, wMu, bMu, wLv, bLv, w2, b2, w3, b3] = [
    glorot([IMAGE_SIZE, hidden], 1), zeros(hidden, 2), glorot([hidden, latent], 3), zeros(latent, 4),
    glorot([hidden, latent], 5), zeros(latent, 6), glorot([latent, hidden], 7), zeros(hidden, 8),
    glorot([hidden, IMAGE_SIZE], 9), zeros(IMAGE_SIZE, 10),
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

function testNelbo(vae: Vae, split: MnistSplit): number {
  let sum = 0;
  for (let start = 0, chunk = 0; start < split.count; start += 2000, chunk++) {
    const n = Math.min(2000, split.count - start);
    sum += tf.tidy(() => negativeElbo(vae, tf.tensor2d(split.images.subarray(start * IMAGE_SIZE, (start + n) * IMAGE_SIZE), [n, IMAGE_SIZE]), 12345 + chunk).dataSync()[0]!);
  }
  return sum / split.count;
}

export async function vae(ctx: RunContext, options: VaeOptions = {}): Promise<ExperimentResult> {
  const started = Date.now();
  const epochs = options.epochs ?? (ctx.quick ? 1 : 10);
  const latent = options.latent ?? 20;
  const hidden = options.hidden ?? 400;
  const batchSize = 128;
  const lr = 1e-3;
  const data = loadMnist({ train: options.trainSize ?? (ctx.quick ? 2048 : undefined), test: ctx.quick ? 1000 : undefined });
  const steps = Math.floor(data.train.count / batchSize);
  const curves: Record<string, number | string>[] = [];
  const grids: { optimizer: LabOptimizer; images: Float32Array[] }[] = [];
  const bar = progressBar(ctx, 'vae', ctx.optimizers.length * ctx.seeds.length * epochs, ['run', 'nelbo']);
  for (const optimizer of ctx.optimizers) {
    for (const seed of ctx.seeds) {
      const model = makeVae(seed, hidden, latent);
      type X = { x: tf.Tensor };
      const trainer = new Trainer<X>({
        model: model.variables,
        loss: (b, c) => tf.div(negativeElbo(model, b.x, c.rng.seed()), b.x.shape[0]!) as tf.Scalar,
        data: (epoch) => {
          const order = new Random(seed * 7_000_001 + epoch).shuffle(data.train.count);
          return Array.from({ length: steps }, (_, s) => {
            const xs = new Float32Array(batchSize * IMAGE_SIZE);
            for (let i = 0; i < batchSize; i++) {
              const j = order[s * batchSize + i]!;
              xs.set(data.train.images.subarray(j * IMAGE_SIZE, (j + 1) * IMAGE_SIZE), i * IMAGE_SIZE);
            }
            return { x: tf.tensor2d(xs, [batchSize, IMAGE_SIZE]) };
          });
        },
        optimizer: optimizer === 'adopt-unclipped' ? 'adopt' : optimizer,
        optimizerOptions: optimizer === 'adopt-unclipped' ? { clip: null } : {},
        learningRate: lr,
        steps: steps * epochs,
        seed,
        progress: false,
        evaluate: {
          every: steps,
          run: (step) => {
            const epoch = step / steps;
            const nelbo = testNelbo(model, data.test);
            const trainNelbo = meanStd(trainer.losses.slice(step - steps, step).map((l) => l.loss)).mean;
            curves.push({ optimizer, seed, epoch, testNelbo: nelbo, trainNelbo });
            bar.tick({ run: `${LABELS[optimizer]} seed ${seed}`, nelbo: nelbo.toFixed(2) });
            return { testNelbo: nelbo };
          },
        },
      });
      await trainer.fit();
      if (seed === ctx.seeds[0]) {
        const z = tf.randomNormal([25, latent], 0, 1, 'float32', 2024);
        const images = tf.tidy(() => tf.sigmoid(model.decodeLogits(z)).dataSync() as Float32Array);
        grids.push({ optimizer, images: Array.from({ length: 25 }, (_, i) => images.slice(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE)) });
        z.dispose();
      }
      trainer.optimizers.forEach((o) => o.dispose());
      tf.dispose(model.variables);
    }
  }
  bar.stop();
  const final = (opt: string) => curves.filter((c) => c['optimizer'] === opt && c['epoch'] === epochs).map((c) => c['testNelbo'] as number);
  const points: LinePoint[] = ctx.optimizers.flatMap((opt) => Array.from({ length: epochs }, (_, i) => {
    const v = curves.filter((c) => c['optimizer'] === opt && c['epoch'] === i + 1).map((c) => c['testNelbo'] as number);
    return { x: i + 1, y: meanStd(v).mean, lower: Math.min(...v), upper: Math.max(...v), series: LABELS[opt] };
  }));
  const gridFigures = await Promise.all(grids.slice(0, 2).map(async (g) => ({
    file: `samples-${g.optimizer}.svg`,
    caption: `Digits decoded from 25 draws of z ~ N(0, I) (the same draws for every optimizer), after training with ${LABELS[g.optimizer]}.`,
    svg: await imageGrid(g.images, 28, { title: `Samples, ${LABELS[g.optimizer]}`, columns: 5, cell: 2 }),
  })));
  return {
    name: 'vae',
    title: 'Variational autoencoder on MNIST',
    description: `MLP VAE 784-${hidden}-${latent} (Bernoulli decoder) on ${data.train.count.toLocaleString('en')} MNIST images, batch ${batchSize}, ` +
      `learning rate ${lr}, ${epochs} epoch(s). Negative ELBO in nats per image (lower is better), single-sample estimate on the ${data.test.count.toLocaleString('en')} test images.`,
    summary: { columns: ['optimizer', 'final test negative ELBO (nats)'], rows: ctx.optimizers.map((o) => [LABELS[o], formatMeanStd(final(o), 2)]) },
    figures: [
      { file: 'test-nelbo.svg', caption: 'Test negative ELBO after each epoch.', svg: await lineChart(points, { title: 'Test negative ELBO', x: 'epoch', y: 'nats per image', points: true }) },
      ...gridFigures,
    ],
    curves,
    notes: [],
    meta: runMeta(ctx, { epochs, latent, hidden, batchSize, learningRate: lr, trainSize: data.train.count }, started),
  };
}
