/**
 * The paper's convex counterexample (PAPER.md). One parameter theta in [-1, 1], projected back
 * after every step, theta_0 = 0; stochastic gradient k^2 with probability 1/k, otherwise -k (mean
 * 1: f(theta) = theta, optimum -1); learning rate 0.01 / sqrt(1 + 0.01 t); beta1 0.9. Adam's
 * convergence depends on beta2 here; ADOPT's should not. Many independent chains run at once as
 * one Float32Array through the framework-free core.
 */
import { LABELS, meanStd, type LabOptimizer } from './common.js';
import type { UnitExperiment } from './runs.js';
import { formatInterval } from './stats.js';
import { simulateToy, type ToyPoint } from './toy_problem.js';
import { lineChart, type LinePoint } from './plot.js';

export interface ToyOptions {
  steps?: number;
  chains?: number;
  ks?: number[];
  beta2s?: number[];
  /** Trajectory points recorded per run. */
  points?: number;
}

/** Runs `chains` chains for `steps` steps; returns the median/quartile trajectory and final thetas. */
export function runToy(
  optimizer: LabOptimizer,
  k: number,
  beta2: number,
  steps: number,
  chains: number,
  seed: number,
  points: number,
): { trajectory: ToyPoint[]; final: Float32Array } {
  if (optimizer === 'adamw')
    throw new Error('toy: AdamW is Adam here (no weight decay on a linear objective); use adam.');
  if (
    optimizer === 'adopt-int8' ||
    optimizer === 'adopt-int4' ||
    optimizer === 'adamw-int4' ||
    optimizer === 'adopt-bf16' ||
    optimizer === 'adamw-bf16'
  )
    throw new Error('toy: the toy simulates float64 chains; low-bit state is not simulated there.');
  if (optimizer === 'adopt-eps-add' || optimizer === 'adam-eps6')
    throw new Error(`toy: the toy simulates the four reference rules; ${optimizer} is not one of them.`);
  const trajectory: ToyPoint[] = [];
  const final = simulateToy({ optimizer, k, beta2, steps, chains, seed, points }, (p) => trajectory.push(p));
  return { trajectory, final };
}

export interface ToyBase extends Record<string, unknown> {
  steps: number;
  chains: number;
  ks: number[];
  beta2s: number[];
  points: number;
  learningRate: number;
}

export const toyUnits: UnitExperiment<ToyBase> = {
  folder: () => 'toy',
  resolve: (o, quick) => ({
    steps: (o['steps'] as number | undefined) ?? (quick ? 50_000 : 2_000_000),
    chains: (o['chains'] as number | undefined) ?? (quick ? 32 : 64),
    ks: (o['ks'] as number[] | undefined) ?? (quick ? [10] : [10, 50]),
    beta2s: (o['beta2s'] as number[] | undefined) ?? [0.1, 0.5, 0.999],
    points: (o['points'] as number | undefined) ?? 200,
    // the schedule 0.01 / sqrt(1 + 0.01 t) is fixed; this is its initial value
    learningRate: 0.01,
  }),
  settings: (b) => b.ks.flatMap((k) => b.beta2s.map((beta2) => ({ beta2, learningRate: b.learningRate, k }))),
  async run(b, unit) {
    const k = unit.setting['k'] as number;
    const { trajectory, final } = runToy(
      unit.optimizer,
      k,
      unit.setting.beta2 as number,
      b.steps,
      b.chains,
      unit.seed + 7919 * k,
      b.points,
    );
    const distances = Array.from(final, (x) => x + 1);
    const { mean, std } = meanStd(distances);
    return {
      curves: trajectory.map((p) => ({ ...p })),
      final: { medianTheta: trajectory.at(-1)!.median, meanDistance: mean, stdDistance: std },
    };
  },
  async summarize(b, records) {
    const seeds = [...new Set(records.map((r) => r.seed))];
    const optimizers = [...new Set(records.map((r) => r.optimizer))];
    const rows: (string | number)[][] = [];
    const chart: Record<number, LinePoint[]> = {};
    for (const k of b.ks) {
      chart[k] = [];
      for (const beta2 of b.beta2s) {
        for (const optimizer of optimizers) {
          const rs = records.filter(
            (r) => r.optimizer === optimizer && r.setting['k'] === k && r.setting.beta2 === beta2,
          );
          if (rs.length === 0) continue;
          const first = rs[0]!;
          for (const p of first.curves) {
            if ((p['t'] as number) > 0)
              chart[k]!.push({
                x: p['t'] as number,
                y: p['median'] as number,
                lower: p['q1'] as number,
                upper: p['q3'] as number,
                series: LABELS[optimizer],
                panel: `beta2 = ${beta2}`,
              });
          }
          rows.push([
            k,
            beta2,
            LABELS[optimizer],
            formatInterval(
              rs.map((r) => r.final['medianTheta']!),
              3,
            ),
            `${first.final['meanDistance']!.toFixed(3)} ± ${first.final['stdDistance']!.toFixed(3)}`,
          ]);
        }
      }
    }
    const figures = await Promise.all(
      b.ks.map(async (k) => ({
        file: `trajectory-k${k}.svg`,
        caption:
          `Median theta against the step, k = ${k}, seed ${seeds[0]}; band: quartiles over the ${b.chains} ` +
          'chains of that run (not an interval over seeds). The optimum is -1; +1 is the wrong end.',
        svg: await lineChart(chart[k]!, {
          title: `Convex counterexample, k = ${k}`,
          subtitle: `line: median over ${b.chains} chains; band: quartiles over chains`,
          x: 'step t',
          y: 'theta',
          logX: true,
          yDomain: [-1, 1],
          columns: b.beta2s.length,
          width: 260,
          height: 200,
        }),
      })),
    );
    return {
      name: 'toy',
      title:
        'Convex counterexample: convergence for any beta2 (the optimum is theta = -1; Adam with a small beta2 goes ' +
        'to +1)',
      description:
        'theta in [-1, 1], f(theta) = theta (optimum -1), stochastic gradient k^2 with probability 1/k and -k ' +
        `otherwise; learning rate 0.01/sqrt(1 + 0.01 t), beta1 0.9, ${b.steps.toLocaleString('en')} steps, ` +
        `${b.chains} chains per run, seeds ${seeds.join(', ')}.`,
      summary: {
        columns: [
          'k',
          'beta2',
          'optimizer',
          `median final theta (${seeds.length > 1 ? 'mean ± 95% CI over seeds' : 'one seed'})`,
          `distance to optimum (mean ± std over chains, seed ${seeds[0]})`,
        ],
        rows,
      },
      figures,
      curves: records.flatMap((r) =>
        r.curves.map((c) => ({
          k: r.setting['k'] as number,
          beta2: r.setting.beta2 as number,
          optimizer: r.optimizer,
          seed: r.seed,
          ...c,
        })),
      ),
      notes: [
        'Adam and AMSGrad here have bias correction and epsilon 1e-8 (PyTorch form); the public reproduction uses ' +
          'neither.',
        'Clipped ADOPT clips the normalised rare gradient (about k) at t^0.25, so it needs about t > k^4 steps ' +
          'before the rare gradient is seen in full; the unclipped (paper) version converges from the start.',
      ],
      meta: undefined as never,
    };
  },
};
