/** The experiments adopt-lab runs, with their own command-line options. */
import { Option } from 'commander';
import type { ExperimentResult, LabOptimizer, RunContext } from './common.js';
import { beta2 } from './beta2.js';
import { charlm } from './charlm.js';
import { mnist } from './mnist.js';
import { rl } from './rl.js';
import { toy } from './toy.js';
import { vae } from './vae.js';

export interface ExperimentSpec {
  description: string;
  /** Optimizers compared unless --optimizers says otherwise. */
  optimizers: LabOptimizer[];
  /** Experiment-specific options (integers unless `parse` says otherwise). */
  options: { option: Option; parse?: (value: string, previous: unknown) => unknown }[];
  run(ctx: RunContext, options: Record<string, unknown>): Promise<ExperimentResult>;
}

const ALL: LabOptimizer[] = ['adopt', 'adam', 'adamw', 'amsgrad'];

const numberList = (value: string) => value.split(',').map(Number);

export const EXPERIMENTS: Record<'toy' | 'mnist' | 'beta2' | 'vae' | 'charlm' | 'rl', ExperimentSpec> = {
  toy: {
    description: 'the convex counterexample, swept over beta2 and k (framework-free core)',
    optimizers: ['adopt', 'adopt-unclipped', 'adam', 'amsgrad'],
    options: [
      { option: new Option('--steps <n>', 'steps per run (default 2,000,000; --quick 50,000)') },
      { option: new Option('--chains <n>', 'independent chains per run') },
      { option: new Option('--ks <list>', 'values of k'), parse: numberList },
      { option: new Option('--beta2s <list>', 'values of beta2'), parse: numberList },
    ],
    run: (ctx, o) => toy(ctx, o),
  },
  mnist: {
    description: 'an MLP (or --model cnn) on the real MNIST: training loss and test accuracy per epoch',
    optimizers: ALL,
    options: [
      { option: new Option('--model <kind>', 'mlp or cnn').choices(['mlp', 'cnn']), parse: (v: string) => v },
      { option: new Option('--epochs <n>', 'epochs (default 10, cnn 3)') },
      { option: new Option('--batch-size <n>', 'batch size (default 128)') },
      { option: new Option('--learning-rate <x>', 'learning rate (default 1e-3)'), parse: Number },
      { option: new Option('--train-size <n>', 'use the first n training images (default all; cnn 12,800)') },
    ],
    run: (ctx, o) => mnist(ctx, o),
  },
  beta2: {
    description: 'the MNIST setup swept over beta2 in {0.5, 0.9, 0.99, 0.999, 0.9999} for Adam and ADOPT',
    optimizers: ['adopt', 'adam'],
    options: [
      { option: new Option('--beta2s <list>', 'values of beta2'), parse: numberList },
      { option: new Option('--epochs <n>', 'epochs per run (default 3)') },
      { option: new Option('--train-size <n>', 'use the first n training images') },
    ],
    run: (ctx, o) => beta2(ctx, o),
  },
  vae: {
    description: 'a variational autoencoder on MNIST: test negative ELBO per epoch and generated digits',
    optimizers: ALL,
    options: [
      { option: new Option('--epochs <n>', 'epochs (default 10)') },
      { option: new Option('--train-size <n>', 'use the first n training images') },
    ],
    run: (ctx, o) => vae(ctx, o),
  },
  charlm: {
    description: 'a small GPT on Moby Dick characters, then finetuned on State of the Union addresses',
    optimizers: ALL,
    options: [
      { option: new Option('--steps <n>', 'pretraining steps (default 1200)') },
      { option: new Option('--finetune-steps <n>', 'finetuning steps (default 300)') },
      { option: new Option('--width <n>', 'model width (default 64)') },
      { option: new Option('--layers <n>', 'transformer blocks (default 2)') },
      { option: new Option('--context <n>', 'context length (default 32)') },
    ],
    run: (ctx, o) => charlm(ctx, o),
  },
  rl: {
    description: 'PPO on CartPole (its published dynamics in TypeScript): episode return per update',
    optimizers: ALL,
    options: [{ option: new Option('--env-steps <n>', 'environment steps per run (default 150,000)') }],
    run: (ctx, o) => rl(ctx, o),
  },
};

export type ExperimentName = keyof typeof EXPERIMENTS;
