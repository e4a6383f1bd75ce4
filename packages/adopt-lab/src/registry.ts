/** The experiments adopt-lab runs, with their own command-line options. */
import { InvalidArgumentError, Option } from 'commander';
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
  /** Experiment-specific options (integers >= 1 unless `parse` says otherwise). */
  options: { option: Option; parse?: (value: string, previous: unknown) => unknown }[];
  /** The optimizers it can run, when not all of them. */
  accepts?: readonly LabOptimizer[];
  /** Checks that involve several options (or --quick); returns what is wrong, or null. */
  check?(options: Record<string, unknown>, quick: boolean): string | null;
  run(ctx: RunContext, options: Record<string, unknown>): Promise<ExperimentResult>;
}

const ALL: LabOptimizer[] = ['adopt', 'adam', 'adamw', 'amsgrad'];

/** MNIST's training set: the largest --train-size. */
const MNIST_TRAIN = 60_000;

/** An integer in [min, max], for commander: a bad value gets an InvalidArgumentError naming the range. */
export function integerIn(min: number, max = Number.MAX_SAFE_INTEGER, why = ''): (value: string) => number {
  const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max.toLocaleString('en')}`;
  return (value) => {
    const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected ${range}${why}, got "${value}".`);
    }
    return n;
  };
}

/** A finite number in a range, for commander. */
function numberIn(ok: (x: number) => boolean, range: string): (value: string) => number {
  return (value) => {
    const n = value.trim() === '' ? NaN : Number(value);
    if (!ok(n)) throw new InvalidArgumentError(`expected ${range}, got "${value}".`);
    return n;
  };
}

/** A comma-separated list of distinct numbers, each passing `ok`, for commander. */
function numberList(ok: (x: number) => boolean, range: string, example: string): (value: string) => number[] {
  const expected = `a comma-separated list of ${range}, such as ${example}`;
  return (value) => {
    if (value.trim() === '') throw new InvalidArgumentError(`expected ${expected}; got an empty list.`);
    const items = value.split(',').map((s) => s.trim());
    const numbers = items.map((s) => (s === '' ? NaN : Number(s)));
    items.forEach((s, i) => {
      if (s === '') throw new InvalidArgumentError(`expected ${expected}; "${value}" has an empty entry.`);
      if (Number.isNaN(numbers[i]!)) throw new InvalidArgumentError(`expected ${expected}; "${s}" is not a number.`);
      if (!ok(numbers[i]!)) throw new InvalidArgumentError(`expected ${expected}; ${s} is out of range.`);
      if (numbers.indexOf(numbers[i]!) !== i) throw new InvalidArgumentError(`expected ${expected}; ${s} is listed twice.`);
    });
    return numbers;
  };
}

/** beta2 in [0, 1), the range the optimizers accept. */
const beta2List = numberList((x) => x >= 0 && x < 1, 'numbers in [0, 1)', '0.9,0.999');

/** An MNIST subset: at least one batch of `batch` images, at most the whole training set. */
const trainSize = (batch: number) => integerIn(batch, MNIST_TRAIN, batch > 1 ? ` (one batch of ${batch} at least; MNIST has ${MNIST_TRAIN.toLocaleString('en')} training images)` : '');

export const EXPERIMENTS: Record<'toy' | 'mnist' | 'beta2' | 'vae' | 'charlm' | 'rl', ExperimentSpec> = {
  toy: {
    description: 'the convex counterexample, swept over beta2 and k (framework-free core)',
    optimizers: ['adopt', 'adopt-unclipped', 'adam', 'amsgrad'],
    accepts: ['adopt', 'adopt-unclipped', 'adam', 'amsgrad'], // AdamW is Adam on this linear objective
    options: [
      { option: new Option('--steps <n>', 'steps per run (default 2,000,000; --quick 50,000)') },
      { option: new Option('--chains <n>', 'independent chains per run') },
      // k = 1 would make the gradient always 1: the problem needs k > 1
      { option: new Option('--ks <list>', 'values of k (> 1)'), parse: numberList((x) => Number.isFinite(x) && x > 1, 'numbers > 1', '10,50') },
      { option: new Option('--beta2s <list>', 'values of beta2, in [0, 1)'), parse: beta2List },
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
      { option: new Option('--learning-rate <x>', 'learning rate (default 1e-3)'), parse: numberIn((x) => Number.isFinite(x) && x > 0, 'a number > 0, such as 1e-3') },
      { option: new Option('--train-size <n>', 'use the first n training images (default all; cnn 12,800)'), parse: integerIn(1, MNIST_TRAIN, ` (MNIST has ${MNIST_TRAIN.toLocaleString('en')} training images)`) },
    ],
    check(o, quick) {
      const train = (o['trainSize'] as number | undefined) ?? (quick ? 4096 : o['model'] === 'cnn' ? 12_800 : MNIST_TRAIN);
      const batch = (o['batchSize'] as number | undefined) ?? 128;
      return batch > train ? `--batch-size ${batch} is larger than the ${train.toLocaleString('en')} training images used; expected at most ${train} (or a larger --train-size).` : null;
    },
    run: (ctx, o) => mnist(ctx, o),
  },
  beta2: {
    description: 'the MNIST setup swept over beta2 in {0.5, 0.9, 0.99, 0.999, 0.9999} for Adam and ADOPT',
    optimizers: ['adopt', 'adam'],
    options: [
      { option: new Option('--beta2s <list>', 'values of beta2, in [0, 1)'), parse: beta2List },
      { option: new Option('--epochs <n>', 'epochs per run (default 3)') },
      { option: new Option('--train-size <n>', 'use the first n training images'), parse: trainSize(128) },
    ],
    run: (ctx, o) => beta2(ctx, o),
  },
  vae: {
    description: 'a variational autoencoder on MNIST: test negative ELBO per epoch and generated digits',
    optimizers: ALL,
    options: [
      { option: new Option('--epochs <n>', 'epochs (default 10)') },
      { option: new Option('--train-size <n>', 'use the first n training images'), parse: trainSize(128) },
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
    check(o, quick) {
      const heads = quick ? 2 : 4; // as in charlm.ts
      const width = o['width'] as number | undefined;
      return width !== undefined && width % heads !== 0
        ? `--width ${width} must be a multiple of the ${heads} attention heads${quick ? ' (--quick)' : ''}, such as ${Math.max(heads, width - (width % heads))}.`
        : null;
    },
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
