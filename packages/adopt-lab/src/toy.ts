/**
 * The paper's convex counterexample (PAPER.md). One parameter theta in [-1, 1], projected back
 * after every step, theta_0 = 0; stochastic gradient k^2 with probability 1/k, otherwise -k (mean
 * 1: f(theta) = theta, optimum -1); learning rate 0.01 / sqrt(1 + 0.01 t); beta1 0.9. Adam's
 * convergence depends on beta2 here; ADOPT's should not. Many independent chains run at once as
 * one Float32Array through the framework-free core.
 */
import { formatMeanStd, LABELS, progressBar, runMeta, type ExperimentResult, type LabOptimizer, type RunContext } from './common.js';
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
  optimizer: LabOptimizer, k: number, beta2: number, steps: number, chains: number, seed: number, points: number,
): { trajectory: ToyPoint[]; final: Float32Array } {
  if (optimizer === 'adamw') throw new Error('toy: AdamW is Adam here (no weight decay on a linear objective); use adam.');
  const trajectory: ToyPoint[] = [];
  const final = simulateToy({ optimizer, k, beta2, steps, chains, seed, points }, (p) => trajectory.push(p));
  return { trajectory, final };
}

export async function toy(ctx: RunContext, options: ToyOptions = {}): Promise<ExperimentResult> {
  const started = Date.now();
  const steps = options.steps ?? (ctx.quick ? 50_000 : 2_000_000);
  const chains = options.chains ?? (ctx.quick ? 32 : 64);
  const ks = options.ks ?? (ctx.quick ? [10] : [10, 50]);
  const beta2s = options.beta2s ?? [0.1, 0.5, 0.999];
  const points = options.points ?? 200;
  const seed = ctx.seeds[0]!;
  const curves: Record<string, number | string>[] = [];
  const rows: (string | number)[][] = [];
  const chart: Record<number, LinePoint[]> = {};
  const bar = progressBar(ctx, 'toy', ctx.optimizers.length * ks.length * beta2s.length, ['run']);
  for (const k of ks) {
    chart[k] = [];
    for (const beta2 of beta2s) {
      for (const optimizer of ctx.optimizers) {
        const { trajectory, final } = runToy(optimizer, k, beta2, steps, chains, seed + 7919 * k, points);
        for (const p of trajectory) {
          curves.push({ k, beta2, optimizer, t: p.t, median: p.median, q1: p.q1, q3: p.q3 });
          if (p.t > 0) chart[k]!.push({ x: p.t, y: p.median, lower: p.q1, upper: p.q3, series: LABELS[optimizer], panel: `beta2 = ${beta2}` });
        }
        const distances = Array.from(final, (x) => x + 1);
        rows.push([k, beta2, LABELS[optimizer], trajectory.at(-1)!.median.toFixed(3), formatMeanStd(distances, 3)]);
        bar.tick({ run: `${LABELS[optimizer]} k=${k} b2=${beta2}` });
      }
    }
  }
  bar.stop();
  const figures = await Promise.all(ks.map(async (k) => ({
    file: `trajectory-k${k}.svg`,
    caption: `Median theta (band: quartiles over ${chains} chains) against the step, k = ${k}. The optimum is -1; +1 is the wrong end.`,
    svg: await lineChart(chart[k]!, { title: `Convex counterexample, k = ${k}`, x: 'step t', y: 'theta', logX: true, yDomain: [-1, 1], columns: beta2s.length, width: 260, height: 200 }),
  })));
  return {
    name: 'toy',
    title: 'Convex counterexample: convergence for any beta2',
    description:
      `theta in [-1, 1], f(theta) = theta (optimum -1), stochastic gradient k^2 with probability 1/k and -k otherwise; ` +
      `learning rate 0.01/sqrt(1 + 0.01 t), beta1 0.9, ${steps.toLocaleString('en')} steps, ${chains} chains per run.`,
    summary: { columns: ['k', 'beta2', 'optimizer', 'median final theta', 'distance to optimum (mean ± std over chains)'], rows },
    figures,
    curves,
    notes: [
      'Adam and AMSGrad here have bias correction and epsilon 1e-8 (PyTorch form); the public reproduction uses neither.',
      'Clipped ADOPT clips the normalised rare gradient (about k) at t^0.25, so it needs about t > k^4 steps before the ' +
        'rare gradient is seen in full; the unclipped (paper) version converges from the start.',
    ],
    meta: runMeta(ctx, { steps, chains, ks, beta2s, learningRate: '0.01 / sqrt(1 + 0.01 t)', beta1: 0.9 }, started),
  };
}
