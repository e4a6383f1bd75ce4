/**
 * What every experiment shares: the optimizers compared, the run context (output folder, seeds,
 * backend), run metadata, output files and progress bars.
 */
import { makeDirectoriesSync } from 'adopt-optim/train'; // Node's recursive mkdir never returns under /proc
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { enableWasmTraining } from 'tfjs-wasm-train';
import cliProgress from 'cli-progress';
import 'adopt-optim/lowbit'; // int8, int4 and bfloat16 state (the 'adopt-int8', '-int4' and '-bf16' variants)
import { adam, adamw, adopt, amsgrad } from 'adopt-optim';
import type { LearningRate } from 'adopt-optim';

/**
 * Optimizers the experiments compare. 'adopt-unclipped' is the paper's (v1-era) ADOPT;
 * 'adopt-int8' is ADOPT with block-wise 8-bit state (`stateDtype: 'int8'`, ALGORITHM.md §11);
 * 'adopt-int4' and 'adamw-int4' are ADOPT and AdamW with block-wise 4-bit state (`'int4'`, §12);
 * 'adopt-bf16' and 'adamw-bf16' with bfloat16 state (`'bfloat16'`, §13).
 * The ε ablation: 'adopt-eps-add' is ADOPT with ε added as Adam adds it (√v + 1e-6, `epsilonMode:
 * 'add'`, §10.4) and 'adam-eps6' is Adam with ADOPT's ε size (√v̂ + 1e-6).
 */
export const LAB_OPTIMIZERS = [
  'adopt',
  'adopt-unclipped',
  'adopt-int8',
  'adopt-int4',
  'adopt-eps-add',
  'adam',
  'adam-eps6',
  'adamw',
  'adamw-int4',
  'adopt-bf16',
  'adamw-bf16',
  'amsgrad',
] as const;
export type LabOptimizer = (typeof LAB_OPTIMIZERS)[number];

export const LABELS: Record<LabOptimizer, string> = {
  adopt: 'ADOPT',
  'adopt-unclipped': 'ADOPT (unclipped)',
  'adopt-int8': 'ADOPT (8-bit state)',
  'adopt-int4': 'ADOPT (4-bit state)',
  'adopt-eps-add': 'ADOPT (ε added)',
  adam: 'Adam',
  'adam-eps6': 'Adam (ε 1e-6)',
  adamw: 'AdamW',
  'adamw-int4': 'AdamW (4-bit state)',
  'adopt-bf16': 'ADOPT (bfloat16 state)',
  'adamw-bf16': 'AdamW (bfloat16 state)',
  amsgrad: 'AMSGrad',
};

export interface OptimizerOverrides {
  beta2?: number;
  weightDecay?: number;
}

export function isLabOptimizer(name: string): name is LabOptimizer {
  return (LAB_OPTIMIZERS as readonly string[]).includes(name);
}

/** A tfjs optimizer for an experiment, with each optimizer's own defaults unless overridden. */
export function makeOptimizer(name: LabOptimizer, lr: LearningRate, o: OptimizerOverrides = {}): tf.Optimizer {
  const options = {
    ...(o.beta2 === undefined ? {} : { beta2: o.beta2 }),
    ...(o.weightDecay === undefined ? {} : { weightDecay: o.weightDecay }),
  };
  switch (name) {
    case 'adopt':
      return adopt(lr, options);
    case 'adopt-unclipped':
      return adopt(lr, { ...options, clip: null });
    case 'adopt-int8':
      return adopt(lr, { ...options, stateDtype: 'int8' });
    case 'adopt-int4':
      return adopt(lr, { ...options, stateDtype: 'int4' });
    case 'adopt-eps-add':
      return adopt(lr, { ...options, epsilonMode: 'add' });
    case 'adam':
      return adam(lr, options);
    case 'adam-eps6':
      return adam(lr, { ...options, epsilon: 1e-6 });
    case 'adamw':
      return adamw(lr, options);
    case 'adamw-int4':
      return adamw(lr, { ...options, stateDtype: 'int4' });
    case 'adopt-bf16':
      return adopt(lr, { ...options, stateDtype: 'bfloat16' });
    case 'adamw-bf16':
      return adamw(lr, { ...options, stateDtype: 'bfloat16' });
    case 'amsgrad':
      return amsgrad(lr, options);
  }
}

/** What the Trainer is given for a lab optimizer: the registry name and its options. */
export function trainerOptimizer(
  name: LabOptimizer,
  o: OptimizerOverrides = {},
): { optimizer: 'adopt' | 'adam' | 'adamw' | 'amsgrad'; optimizerOptions: Record<string, unknown> } {
  const overrides = {
    ...(o.beta2 === undefined ? {} : { beta2: o.beta2 }),
    ...(o.weightDecay === undefined ? {} : { weightDecay: o.weightDecay }),
  };
  switch (name) {
    case 'adopt-unclipped':
      return { optimizer: 'adopt', optimizerOptions: { clip: null, ...overrides } };
    case 'adopt-int8':
      return { optimizer: 'adopt', optimizerOptions: { stateDtype: 'int8', ...overrides } };
    case 'adopt-int4':
      return { optimizer: 'adopt', optimizerOptions: { stateDtype: 'int4', ...overrides } };
    case 'adamw-int4':
      return { optimizer: 'adamw', optimizerOptions: { stateDtype: 'int4', ...overrides } };
    case 'adopt-bf16':
      return { optimizer: 'adopt', optimizerOptions: { stateDtype: 'bfloat16', ...overrides } };
    case 'adamw-bf16':
      return { optimizer: 'adamw', optimizerOptions: { stateDtype: 'bfloat16', ...overrides } };
    case 'adopt-eps-add':
      return { optimizer: 'adopt', optimizerOptions: { epsilonMode: 'add', ...overrides } };
    case 'adam-eps6':
      return { optimizer: 'adam', optimizerOptions: { epsilon: 1e-6, ...overrides } };
    default:
      return { optimizer: name, optimizerOptions: overrides };
  }
}

export interface RunContext {
  /** The output root; an experiment writes under `${outDir}/${name}`. */
  outDir: string;
  seeds: number[];
  optimizers: LabOptimizer[];
  backend: string;
  /** A short run (tests and the demo). */
  quick: boolean;
  progress: boolean;
  /** Child processes to run units in (1: in this process). */
  jobs?: number;
  /** The command line that started the run, for the record. */
  command: string;
  log: (message: string) => void;
}

export interface Figure {
  file: string;
  caption: string;
  svg: string;
}

export interface ExperimentResult {
  name: string;
  title: string;
  /** What the experiment shows, one paragraph. */
  description: string;
  summary: { columns: string[]; rows: (string | number)[][] };
  figures: Figure[];
  /** Raw curves: rows of a table, written as JSON and CSV. */
  curves: Record<string, number | string>[];
  notes: string[];
  /** More tables after the summary (comparisons, learning-rate sweeps). */
  tables?: { title: string; columns: string[]; rows: (string | number)[][] }[];
  meta: RunMeta;
}

export interface RunMeta {
  package: string;
  version: string;
  /** The adopt-lab version that ran the experiment (absent in records written before 0.2). */
  labVersion?: string;
  backend: string;
  node: string;
  seeds: number[];
  optimizers: string[];
  settings: Record<string, unknown>;
  /** Each optimizer's full configuration (getConfig) as the experiment built it. */
  optimizerSettings: Record<string, unknown>;
  command: string;
  startedAt: string;
  seconds: number;
  /** Units planned, run now, and found saved (skipped). */
  runs?: { total: number; ran: number; skipped: number; jobs: number };
  /** The sum of the units' own wall times. */
  runSeconds?: number;
  machine?: { cpuModel: string; cpus: number; node: string; platform: string; backend: string };
}

/** The version of an installed package: 'adopt-optim' (the library under test) or 'adopt-lab' (this suite). */
export function packageVersion(name: 'adopt-optim' | 'adopt-lab' = 'adopt-optim'): string {
  const require = createRequire(import.meta.url);
  return (require(`${name}/package.json`) as { version: string }).version;
}

export function runMeta(ctx: RunContext, settings: Record<string, unknown>, started: number): RunMeta {
  const lr = typeof settings['learningRate'] === 'number' ? settings['learningRate'] : 1e-3;
  const optimizerSettings = Object.fromEntries(
    ctx.optimizers.map((name) => {
      const opt = makeOptimizer(name, lr);
      const config = opt.getConfig();
      opt.dispose();
      return [
        name,
        typeof settings['learningRate'] === 'number'
          ? config
          : { ...config, learningRate: settings['learningRate'] ?? lr },
      ];
    }),
  );
  return {
    package: 'adopt-optim',
    version: packageVersion(),
    labVersion: packageVersion('adopt-lab'),
    backend: ctx.backend,
    node: process.version,
    seeds: ctx.seeds,
    optimizers: ctx.optimizers,
    settings,
    optimizerSettings,
    command: ctx.command,
    startedAt: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
}

export async function useBackend(name: string): Promise<void> {
  // on wasm: fast transposed matMul (Dense gradients) and the convolution gradients tfjs lacks there
  if (name === 'wasm') enableWasmTraining();
  if (!(await tf.setBackend(name))) throw new Error(`backend "${name}" could not be initialised`);
  await tf.ready();
}

function csv(rows: Record<string, number | string>[]): string {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) =>
    v === undefined ? '' : typeof v === 'string' && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v);
  return `${[columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\n')}\n`;
}

/** Writes result.json, curves.json, curves.csv and the figures to `${outDir}/${name}`. */
export function writeResult(outDir: string, result: ExperimentResult): string {
  const dir = join(outDir, result.name);
  makeDirectoriesSync(dir);
  for (const f of result.figures) writeFileSync(join(dir, f.file), f.svg);
  writeFileSync(join(dir, 'curves.json'), JSON.stringify(result.curves));
  writeFileSync(join(dir, 'curves.csv'), csv(result.curves));
  const { figures, ...rest } = result;
  writeFileSync(
    join(dir, 'result.json'),
    JSON.stringify({ ...rest, figures: figures.map(({ file, caption }) => ({ file, caption })) }, null, 1),
  );
  return dir;
}

/**
 * A result written earlier, with its figures read back. A file that cannot be read or parsed, or
 * that is not a result, throws an Error naming the file and what is wrong (a corrupt result.json
 * gave an uncaught SyntaxError that named nothing: issue 21).
 */
export function readResult(dir: string): ExperimentResult {
  const path = join(dir, 'result.json');
  const refuse = (why: string): never => {
    throw new Error(`${path} cannot be read as a result (${why}); run that experiment again, or delete its folder.`);
  };
  let result: ExperimentResult;
  try {
    result = JSON.parse(readFileSync(path, 'utf8')) as ExperimentResult;
  } catch (e) {
    return refuse((e as Error).message);
  }
  if (
    result === null ||
    typeof result !== 'object' ||
    typeof result.name !== 'string' ||
    !Array.isArray(result.figures) ||
    !result.figures.every(
      (f) =>
        f !== null &&
        typeof f === 'object' &&
        typeof f.file === 'string' &&
        !f.file.includes('/') &&
        !f.file.includes('\\'),
    )
  ) {
    return refuse('not an experiment result: expected a name and a list of figure files');
  }
  result.figures = result.figures.map((f) => {
    try {
      return { ...f, svg: readFileSync(join(dir, f.file), 'utf8') };
    } catch (e) {
      return refuse(`its figure ${f.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  });
  return result;
}

export interface Progress {
  tick(values?: Record<string, string | number>): void;
  stop(): void;
}

/** A progress bar with the given fields, or a no-op when progress is off. */
export function progressBar(ctx: RunContext, label: string, total: number, fields: string[]): Progress {
  if (!ctx.progress) return { tick() {}, stop() {} };
  const format =
    `${label.padEnd(28)} |{bar}| {value}/{total} ${fields.map((f) => `${f} {${f}}`).join(' | ')} | ` +
    '{eta_formatted}';
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, Object.fromEntries(fields.map((f) => [f, '-'])));
  return { tick: (values) => bar.increment(1, values), stop: () => bar.stop() };
}

/** Mean and sample standard deviation. */
export function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
}

export function formatMeanStd(xs: number[], digits: number): string {
  const { mean, std } = meanStd(xs);
  return xs.length > 1 ? `${mean.toFixed(digits)} ± ${std.toFixed(digits)}` : mean.toFixed(digits);
}

/** The seeded random stream of the experiments (the Trainer's, see src/random.ts). */
export { Rng as Random } from 'adopt-optim/core';
