/** Shared by the checkpoint safety suites: a small model, deterministic data, trainer snapshots. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Trainer, type TrainerConfig } from '../src/train/index.js';
import { Rng } from './reference.js';

export type XY = { xs: tf.Tensor; ys: tf.Tensor };

export function scratchDirs(prefix: string): () => string {
  const scratch = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(scratch, { recursive: true, force: true }));
  let count = 0;
  return () => join(scratch, `run-${count++}`);
}

/** Deterministic data: epoch e yields the same batches whenever it is asked for. */
export function dataset(batchSize: number, batches: number, inputs = 6, outputs = 3) {
  return (epoch: number): XY[] => {
    const rng = new Rng(1000 + epoch);
    return Array.from({ length: batches }, () => ({
      xs: tf.tensor(rng.normals(batchSize * inputs), [batchSize, inputs]),
      ys: tf.tensor(rng.normals(batchSize * outputs), [batchSize, outputs]),
    }));
  };
}

export function mlp(seed: number, inputs = 6): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [inputs],
        units: 8,
        activation: 'tanh',
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
      }),
      tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
}

export function trainerFor(model: tf.Sequential, overrides: Partial<TrainerConfig<XY>>): Trainer<XY> {
  // overrides may name another optimizer: the config is checked as a whole (its options, at run time too)
  return new Trainer<XY>({
    model,
    loss: (b, { rng }) => {
      rng.next(); // the RNG is part of the state a checkpoint must restore
      return tf.losses.meanSquaredError(b.ys, model.apply(b.xs) as tf.Tensor) as tf.Scalar;
    },
    data: dataset(8, 5),
    optimizer: 'adopt',
    learningRate: 0.02,
    steps: 6,
    seed: 7,
    progress: false,
    callbacks: { onWarning: () => undefined },
    ...overrides,
  } as TrainerConfig<XY>);
}

export const weightsOf = (model: tf.LayersModel) => model.getWeights().map((w) => Array.from(w.dataSync()));

/** Everything restore() sets, as plain values (optimizer state by position, names dropped). */
export async function snapshot(trainer: Trainer<XY>, model: tf.LayersModel) {
  const internal = trainer as unknown as { epoch: number; batchInEpoch: number };
  const optimizer = [];
  for (const o of trainer.optimizers) {
    const weights = await o.getWeights();
    optimizer.push(weights.map((w) => [w.name.replace(/^.*\//, ''), Array.from(w.tensor.dataSync())]));
  }
  return {
    step: trainer.step,
    epoch: internal.epoch,
    batchInEpoch: internal.batchInEpoch,
    rng: trainer.rng.state,
    losses: trainer.losses.map((l) => [l.step, l.loss]),
    weights: weightsOf(model),
    optimizer,
  };
}

/** Names in a checkpoint folder that a finished writer should not leave behind. */
export const leftovers = (dir: string) =>
  readdirSync(dir).filter(
    (f) => f.includes('.tmp-') || f.includes('.del-') || f.includes('.stale-') || f === 'writer.lock',
  );

export const stepFolders = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.startsWith('step-'))
    .sort();

export function disposeTrainer(trainer: Trainer<XY>, model: tf.LayersModel): void {
  trainer.optimizers.forEach((o) => o.dispose());
  model.dispose();
}
