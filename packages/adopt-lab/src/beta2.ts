/**
 * Robustness to beta2: the MNIST setup swept over beta2 for Adam and ADOPT. The paper's claim is
 * that ADOPT works for any beta2 while Adam's results depend on it.
 */
import { loadMnist } from './data/mnist.js';
import { trainMnist } from './mnist.js';
import { formatMeanStd, LABELS, meanStd, progressBar, runMeta, type ExperimentResult, type Figure, type LabOptimizer, type RunContext } from './common.js';
import { lineChart, type LinePoint } from './plot.js';

export interface Beta2Options {
  beta2s?: number[];
  epochs?: number;
  trainSize?: number;
}

/** The figures, from the curves alone (so they can be redrawn from a saved curves.json). */
export async function beta2Figures(curves: Record<string, number | string>[], optimizers: LabOptimizer[], beta2s: number[]): Promise<Figure[]> {
  const points = (f: string): LinePoint[] => optimizers.flatMap((opt) => beta2s.map((b2) => {
    const v = curves.filter((c) => c['optimizer'] === opt && c['beta2'] === b2).map((c) => c[f] as number);
    return { x: 1 - b2, y: meanStd(v).mean, lower: Math.min(...v), upper: Math.max(...v), series: LABELS[opt] };
  }));
  return [
    // log y: a diverged run's loss is many orders of magnitude above the others
    { file: 'test-loss-vs-beta2.svg', caption: 'Final test loss against 1 - beta2 (both axes log scale).', svg: await lineChart(points('testLoss'), { title: 'Final test loss against beta2', x: '1 - beta2', y: 'test cross-entropy', logX: true, logY: true, points: true }) },
    { file: 'test-accuracy-vs-beta2.svg', caption: 'Final test accuracy against 1 - beta2 (log scale).', svg: await lineChart(points('testAccuracy'), { title: 'Final test accuracy against beta2', x: '1 - beta2', y: 'test accuracy', logX: true, points: true }) },
  ];
}

export async function beta2(ctx: RunContext, options: Beta2Options = {}): Promise<ExperimentResult> {
  const started = Date.now();
  const beta2s = options.beta2s ?? [0.5, 0.9, 0.99, 0.999, 0.9999];
  const epochs = options.epochs ?? (ctx.quick ? 1 : 3);
  const data = loadMnist({ train: options.trainSize ?? (ctx.quick ? 4096 : undefined), test: ctx.quick ? 2000 : undefined });
  const o = { model: 'mlp' as const, epochs, batchSize: 128, learningRate: 1e-3, hidden: 256 };
  const bar = progressBar(ctx, 'beta2 sweep', ctx.optimizers.length * beta2s.length * ctx.seeds.length * epochs, ['run', 'acc']);
  const curves: Record<string, number | string>[] = [];
  for (const optimizer of ctx.optimizers) {
    for (const b2 of beta2s) {
      for (const seed of ctx.seeds) {
        const records = await trainMnist(data, optimizer, seed, o, { beta2: b2 }, (r) => bar.tick({ run: `${LABELS[optimizer]} b2=${b2}`, acc: r.testAccuracy.toFixed(4) }));
        const last = records.at(-1)!;
        curves.push({ optimizer, beta2: b2, seed, testLoss: last.testLoss, testAccuracy: last.testAccuracy, trainLoss: last.trainLoss });
      }
    }
  }
  bar.stop();
  const pick = (opt: string, b2: number, f: string) => curves.filter((c) => c['optimizer'] === opt && c['beta2'] === b2).map((c) => c[f] as number);
  return {
    name: 'beta2',
    title: 'Robustness to beta2 (MNIST MLP)',
    description: `MLP 784-256-256-10 on ${data.train.count.toLocaleString('en')} MNIST images, ${epochs} epoch(s), learning rate 1e-3, ` +
      `beta2 in {${beta2s.join(', ')}}, all else at each optimizer's defaults. The x axis is 1 - beta2 on a log scale.`,
    summary: {
      columns: ['beta2', ...ctx.optimizers.flatMap((o2) => [`${LABELS[o2]} test loss`, `${LABELS[o2]} test acc. %`])],
      rows: beta2s.map((b2) => [b2, ...ctx.optimizers.flatMap((o2) => [formatMeanStd(pick(o2, b2, 'testLoss'), 4), formatMeanStd(pick(o2, b2, 'testAccuracy').map((a) => 100 * a), 2)])]),
    },
    figures: await beta2Figures(curves, ctx.optimizers, beta2s),
    curves,
    notes: [],
    meta: runMeta(ctx, { ...o, beta2s, trainSize: data.train.count }, started),
  };
}
