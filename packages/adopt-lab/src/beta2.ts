/**
 * Robustness to beta2: the MNIST setup swept over beta2 for Adam and ADOPT. The paper's claim is
 * that ADOPT works for any beta2 while Adam's results depend on it. One unit per (optimizer,
 * beta2, seed), saved and resumed like every experiment (src/runs.ts).
 */
import { LABELS, type Figure, type LabOptimizer } from './common.js';
import { MNIST_METRICS, mnistUnits, resolveMnist, type MnistBase } from './mnist.js';
import { lineChart, type LinePoint } from './plot.js';
import type { RunRecord, UnitExperiment } from './runs.js';
import { interval95 } from './stats.js';
import { bandText, seedCount, standardTables } from './summary.js';

export interface Beta2Options {
  beta2s?: number[];
  epochs?: number;
  trainSize?: number;
}

export const DEFAULT_BETA2S = [0.5, 0.9, 0.99, 0.999, 0.9999];

/** The figures, from the saved runs. */
export async function beta2Figures(
  records: RunRecord[],
  optimizers: LabOptimizer[],
  beta2s: number[],
): Promise<Figure[]> {
  const band = bandText(seedCount(records));
  const points = (f: string): LinePoint[] =>
    optimizers.flatMap((opt) =>
      beta2s.flatMap((b2) => {
        const v = records.filter((r) => r.optimizer === opt && r.setting.beta2 === b2).map((r) => r.final[f]!);
        if (v.length === 0) return [];
        const i = interval95(v);
        return [
          {
            x: 1 - b2,
            y: i.mean,
            ...(i.n > 1 ? { lower: Math.max(i.lower, 1e-9), upper: i.upper } : {}),
            series: LABELS[opt],
          },
        ];
      }),
    );
  return [
    // log y: a diverged run's loss is many orders of magnitude above the others
    {
      file: 'test-loss-vs-beta2.svg',
      caption: `Final test loss against 1 - beta2 (both axes log scale); ${band}.`,
      svg: await lineChart(points('testLoss'), {
        title: 'Final test loss against beta2',
        subtitle: band,
        x: '1 - beta2',
        y: 'test cross-entropy',
        logX: true,
        logY: true,
        points: true,
      }),
    },
    {
      file: 'test-accuracy-vs-beta2.svg',
      caption: `Final test accuracy against 1 - beta2 (log scale); ${band}.`,
      svg: await lineChart(points('testAccuracy'), {
        title: 'Final test accuracy against beta2',
        subtitle: band,
        x: '1 - beta2',
        y: 'test accuracy',
        logX: true,
        points: true,
      }),
    },
  ];
}

type Beta2Base = MnistBase & { beta2s: number[] };

export const beta2Units: UnitExperiment<Beta2Base> = {
  folder: () => 'beta2',
  ownBeta2: true,
  resolve(o, quick) {
    const b = resolveMnist(
      {
        model: 'mlp',
        epochs: (o['epochs'] as number | undefined) ?? (quick ? 1 : 3),
        trainSize: o['trainSize'] as number | undefined,
      },
      quick,
    );
    return { ...b, beta2s: (o['beta2s'] as number[] | undefined) ?? DEFAULT_BETA2S };
  },
  settings: (b) => b.beta2s.map((beta2) => ({ beta2, learningRate: b.learningRate })),
  // the units are MNIST units at a given beta2 (beta2s is in the hash through the base, harmlessly)
  run: (b, unit, env) => mnistUnits.run(b, unit, env),
  async summarize(b, records) {
    const t = standardTables(records, {
      metrics: MNIST_METRICS,
      defaultLr: b.learningRate,
      select: {
        key: 'validationAccuracy',
        label: 'validation accuracy',
        lowerIsBetter: false,
        on: 'validation accuracy',
      },
    });
    return {
      name: 'beta2',
      title: 'Robustness to beta2 (MNIST MLP)',
      description:
        `MLP 784-256-256-10 on ${b.trainSize.toLocaleString('en')} MNIST images, ${b.epochs} epoch(s), learning rate ` +
        `${b.learningRate}, beta2 in {${b.beta2s.join(', ')}} for every optimizer, all else at each optimizer's ` +
        'defaults. The x axis is 1 - beta2 on a log scale.',
      summary: t.summary,
      tables: t.tables,
      figures: await beta2Figures(records, t.selection.optimizers, b.beta2s),
      curves: records.map((r) => ({
        optimizer: r.optimizer,
        beta2: r.setting.beta2 as number,
        seed: r.seed,
        testLoss: r.final['testLoss']!,
        testAccuracy: r.final['testAccuracy']!,
        trainLoss: r.final['trainLoss']!,
      })),
      notes: t.notes,
      meta: undefined as never,
    };
  },
};
