/** The experiments adopt-lab runs, with their own command-line options. */
import { InvalidArgumentError, Option } from 'commander';
import type { ExperimentResult, LabOptimizer, RunContext } from './common.js';
import { runExperiment, type Beta2Mode } from './runs.js';
import { UNIT_EXPERIMENTS } from './units.js';

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

/** MNIST's training set less the 5,000 held out for validation: the largest --train-size. */
const MNIST_TRAIN = 55_000;
const MNIST_WHY = ' (MNIST has 60,000 training images; the last 5,000 are held out for validation)';

/** An integer in [min, max], for commander: a bad value gets an InvalidArgumentError naming the range. */
export function integerIn(min: number, max = Number.MAX_SAFE_INTEGER, why = ''): (value: string) => number {
  const range =
    max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max.toLocaleString('en')}`;
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
      if (numbers.indexOf(numbers[i]!) !== i)
        throw new InvalidArgumentError(`expected ${expected}; ${s} is listed twice.`);
    });
    return numbers;
  };
}

/** beta2 in [0, 1), the range the optimizers accept. */
const beta2List = numberList((x) => x >= 0 && x < 1, 'numbers in [0, 1)', '0.9,0.999');

/** An MNIST subset: at least one batch of `batch` images, at most the whole training set. */
const trainSize = (batch: number) =>
  integerIn(
    batch,
    MNIST_TRAIN,
    ` (one batch of ${batch} at least; MNIST has 60,000 training images, the last 5,000 held out for validation)`,
  );

const learningRate = numberIn((x) => Number.isFinite(x) && x > 0, 'a number > 0, such as 1e-3');

/** --beta2: "own" (each optimizer's default) or a beta2 in [0, 1) for every optimizer. */
function beta2Modes(value: string): Beta2Mode[] {
  const expected =
    'expected a comma-separated list of "own" (each optimizer\'s default) and numbers in [0, 1), such as ' +
    'own,0.999,0.9999';
  if (value.trim() === '') throw new InvalidArgumentError(`${expected}; got an empty list.`);
  const items = value.split(',').map((s) => s.trim());
  const modes = items.map((s) => (s === 'own' ? 'own' : s === '' ? NaN : Number(s)));
  items.forEach((s, i) => {
    const m = modes[i]!;
    if (s === '') throw new InvalidArgumentError(`${expected}; "${value}" has an empty entry.`);
    if (m !== 'own' && !(m >= 0 && m < 1)) throw new InvalidArgumentError(`${expected}; got "${s}".`);
    if (modes.indexOf(m) !== i) throw new InvalidArgumentError(`${expected}; ${s} is listed twice.`);
  });
  return modes as Beta2Mode[];
}

/** The like-with-like options of the trained experiments. */
const likeWithLike = (defaultLr: string) => [
  {
    option: new Option('--learning-rate <x>', `learning rate for every optimizer (default ${defaultLr})`),
    parse: learningRate,
  },
  {
    option: new Option(
      '--lrs <list>',
      'learning rates to sweep, e.g. 3e-4,1e-3,3e-3: reports each optimizer at its best (chosen on validation) and ' +
        'at the shared default',
    ),
    parse: numberList((x) => Number.isFinite(x) && x > 0, 'numbers > 0', '3e-4,1e-3,3e-3'),
  },
  {
    option: new Option(
      '--beta2 <list>',
      'beta2 for every optimizer: "own" (each one\'s default: ADOPT 0.9999, the others 0.999) and/or values, e.g. ' +
        'own,0.999,0.9999 (default own)',
    ),
    parse: beta2Modes,
  },
  resultsName,
];

/** --name: a results subfolder of its own, so another configuration does not replace the default's runs. */
const resultsName = {
  option: new Option(
    '--name <folder>',
    "results subfolder (default: the experiment's name); give a configuration other than the default a name of its " +
      "own, or its runs replace the default's",
  ),
  parse: (value: string) => {
    if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(value))
      throw new InvalidArgumentError(
        `expected a folder name of lower-case letters, digits and "-", such as charlm-medium; got "${value}".`,
      );
    return value;
  },
};

const run = (name: keyof typeof UNIT_EXPERIMENTS) => (ctx: RunContext, o: Record<string, unknown>) =>
  runExperiment(name, UNIT_EXPERIMENTS[name], ctx, o);

export const EXPERIMENTS: Record<'toy' | 'mnist' | 'beta2' | 'vae' | 'charlm' | 'rl', ExperimentSpec> = {
  toy: {
    description: "the paper's own convex counterexample, swept over beta2 and k (framework-free core)",
    optimizers: ['adopt', 'adopt-unclipped', 'adam', 'amsgrad'],
    accepts: ['adopt', 'adopt-unclipped', 'adam', 'amsgrad'], // AdamW is Adam on this linear objective
    options: [
      { option: new Option('--steps <n>', 'steps per run (default 2,000,000; --quick 50,000)') },
      { option: new Option('--chains <n>', 'independent chains per run') },
      // k = 1 would make the gradient always 1: the problem needs k > 1
      {
        option: new Option('--ks <list>', 'values of k (> 1)'),
        parse: numberList((x) => Number.isFinite(x) && x > 1, 'numbers > 1', '10,50'),
      },
      { option: new Option('--beta2s <list>', 'values of beta2, in [0, 1)'), parse: beta2List },
    ],
    run: run('toy'),
  },
  mnist: {
    description: 'stand-in: an MLP (or --model cnn) on the real MNIST: training loss and test accuracy per epoch',
    optimizers: ALL,
    options: [
      { option: new Option('--model <kind>', 'mlp or cnn').choices(['mlp', 'cnn']), parse: (v: string) => v },
      { option: new Option('--epochs <n>', 'epochs (default 10, cnn 3)') },
      { option: new Option('--batch-size <n>', 'batch size (default 128)') },
      {
        option: new Option(
          '--train-size <n>',
          'use the first n training images (default 55,000: all but the 5,000 held out for validation; cnn 12,800)',
        ),
        parse: integerIn(1, MNIST_TRAIN, MNIST_WHY),
      },
      ...likeWithLike('1e-3'),
    ],
    check(o, quick) {
      const train =
        (o['trainSize'] as number | undefined) ?? (quick ? 4096 : o['model'] === 'cnn' ? 12_800 : MNIST_TRAIN);
      const batch = (o['batchSize'] as number | undefined) ?? 128;
      return batch > train
        ? `--batch-size ${batch} is larger than the ${train.toLocaleString('en')} training images used; expected at ` +
            `most ${train} (or a larger --train-size).`
        : null;
    },
    run: run('mnist'),
  },
  beta2: {
    description: 'stand-in: the MNIST setup swept over beta2 in {0.5, 0.9, 0.99, 0.999, 0.9999} for Adam and ADOPT',
    optimizers: ['adopt', 'adam'],
    options: [
      { option: new Option('--beta2s <list>', 'values of beta2, in [0, 1)'), parse: beta2List },
      { option: new Option('--epochs <n>', 'epochs per run (default 3)') },
      { option: new Option('--train-size <n>', 'use the first n training images'), parse: trainSize(128) },
    ],
    run: run('beta2'),
  },
  vae: {
    description:
      'stand-in for NVAE: a VAE on binarised MNIST: importance-weighted test NLL, negative ELBO per epoch, generated ' +
      'digits',
    optimizers: ALL,
    options: [
      { option: new Option('--epochs <n>', 'epochs (default 10)') },
      { option: new Option('--train-size <n>', 'use the first n training images'), parse: trainSize(128) },
      {
        option: new Option(
          '--iw-samples <k>',
          'samples per image for the importance-weighted test log-likelihood (default 100)',
        ),
      },
      ...likeWithLike('1e-3'),
    ],
    run: run('vae'),
  },
  charlm: {
    description:
      'stand-in for GPT-2/LLaMA: a small GPT on Moby Dick characters, then finetuned on State of the Union addresses',
    optimizers: ALL,
    options: [
      { option: new Option('--steps <n>', 'pretraining steps (default 1200)') },
      {
        option: new Option('--finetune-steps <n>', 'finetuning steps; 0: pretraining only (default 300)'),
        parse: integerIn(0),
      },
      { option: new Option('--width <n>', 'model width (default 64)') },
      { option: new Option('--layers <n>', 'transformer blocks (default 2)') },
      { option: new Option('--heads <n>', 'attention heads (default 4)') },
      { option: new Option('--context <n>', 'context length (default 32)') },
      { option: new Option('--batch-size <n>', 'sequences per step (default 32)') },
      {
        option: new Option(
          '--schedule <kind>',
          'learning-rate schedule: constant, or cosine (warm-up, then cosine decay to a tenth) (default constant)',
        ),
        parse: (v: string) => {
          if (v !== 'constant' && v !== 'cosine')
            throw new InvalidArgumentError(`expected constant or cosine, got "${v}".`);
          return v;
        },
      },
      { option: new Option('--warmup <n>', 'warm-up steps of the cosine schedule (default 0)'), parse: integerIn(0) },
      {
        option: new Option(
          '--split <kind>',
          'two: the held-out tail is validation and report; three: its first half validates (curves, rate choice), ' +
            'its second is the test set reported (default two)',
        ),
        parse: (v: string) => {
          if (v !== 'two' && v !== 'three') throw new InvalidArgumentError(`expected two or three, got "${v}".`);
          return v;
        },
      },
      {
        option: new Option(
          '--finetune-from <kind>',
          'own: each optimizer finetunes its own pretrained model; shared: all finetune one model per seed, ' +
            'pretrained by Adam at 1e-3 (default own)',
        ),
        parse: (v: string) => {
          if (v !== 'own' && v !== 'shared') throw new InvalidArgumentError(`expected own or shared, got "${v}".`);
          return v;
        },
      },
      ...likeWithLike('1e-3; finetuning at 0.3 x the rate'),
    ],
    check(o, quick) {
      const heads = (o['heads'] as number | undefined) ?? (quick ? 2 : 4); // as in charlm.ts
      const width = (o['width'] as number | undefined) ?? (quick ? 32 : 64);
      if (width % heads !== 0) {
        return (
          `--width ${width} must be a multiple of the ${heads} attention ` +
          `heads${quick && o['heads'] === undefined ? ' (--quick)' : ''}, such as ` +
          `${Math.max(heads, width - (width % heads))}.`
        );
      }
      if (o['warmup'] !== undefined && o['schedule'] !== 'cosine') return '--warmup applies to --schedule cosine only.';
      if (o['finetuneFrom'] === 'shared' && o['finetuneSteps'] === 0)
        return '--finetune-from shared needs a finetuning phase (--finetune-steps above 0).';
      return null;
    },
    run: run('charlm'),
  },
  rl: {
    description:
      'stand-in for PPO on MuJoCo: PPO on CartPole (its published dynamics in TypeScript): episode return per update',
    optimizers: ALL,
    options: [
      { option: new Option('--env-steps <n>', 'environment steps per run (default 150,000)') },
      ...likeWithLike('3e-4'),
    ],
    run: run('rl'),
  },
};

export type ExperimentName = keyof typeof EXPERIMENTS;
