/**
 * What `adopt-lab demo` prints: the two results in words a reader who has not read the paper follows (the problem,
 * the outcome per optimizer and β2, and why clipped ADOPT starts slowly on the toy), computed from the results.
 * Statistics appear only where there are seeds to compute them.
 */
import { LABELS, type ExperimentResult, type LabOptimizer } from './common.js';
import { interval95 } from './stats.js';

type Row = Record<string, number | string>;

/** A final θ at or below this is at the optimum (−1); at or above its negative, at the wrong end (+1). */
export const NEAR = -0.9;
/** An MNIST run below this test accuracy (or with a test loss above FAILED_LOSS, or not finite) has failed. */
export const FAILED_ACCURACY = 0.5;
export const FAILED_LOSS = 10;
/** Each optimizer's default β2 in the lab (ADOPT's official 0.9999, PyTorch's 0.999 for the rest). */
const OWN_BETA2 = (o: string): number => (o.startsWith('adopt') ? 0.9999 : 0.999);

const label = (o: string): string => LABELS[o as LabOptimizer] ?? o;
const signed = (x: number, digits = 2): string => `${x > 0 ? '+' : x < 0 ? '−' : ''}${Math.abs(x).toFixed(digits)}`;
const list = (xs: string[]): string =>
  xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs.at(-1)}`;
const uniq = <T>(xs: T[]): T[] => [...new Set(xs)];
/** A paragraph wrapped to lines of at most `width` columns, each indented by `indent`. */
export function wrap(text: string, indent = '   ', width = 110): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}
const bullet = (text: string): string[] => wrap(text, '     ').map((l, i) => (i === 0 ? `   - ${l.trimStart()}` : l));
const table = (rows: string[][]): string[] => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `   ${r.map((c, i) => c.padEnd(widths[i]!)).join('   ')}`.trimEnd());
};

/** A value over seeds: the value itself for one seed; mean ± 95% CI and n for more. */
function overSeeds(xs: number[], format: (x: number) => string): string {
  if (xs.length === 1) return format(xs[0]!);
  const i = interval95(xs);
  return `${format(i.mean)} ± ${format(i.half).replace(/^[+−]/, '')} (${xs.length} seeds)`;
}

interface ToyTrack {
  optimizer: string;
  beta2: number;
  seed: number;
  points: { t: number; median: number }[];
}

function toyTracks(result: ExperimentResult): ToyTrack[] {
  const byKey = new Map<string, ToyTrack>();
  for (const c of result.curves as Row[]) {
    const key = `${c['optimizer']}|${c['beta2']}|${c['seed']}|${c['k']}`;
    let track = byKey.get(key);
    if (track === undefined) {
      track = { optimizer: String(c['optimizer']), beta2: Number(c['beta2']), seed: Number(c['seed']), points: [] };
      byKey.set(key, track);
    }
    track.points.push({ t: Number(c['t']), median: Number(c['median']) });
  }
  for (const t of byKey.values()) t.points.sort((a, b) => a.t - b.t);
  return [...byKey.values()];
}

/** Where a track ended: at the optimum, at the wrong end, still moving towards −1, or stalled in between. */
export function toyOutcome(points: { t: number; median: number }[]): 'optimum' | 'wrong end' | 'moving' | 'stalled' {
  const last = points.at(-1)!.median;
  if (last <= NEAR) return 'optimum';
  if (last >= -NEAR) return 'wrong end';
  const earlier = points[Math.floor(points.length * 0.8)]!.median;
  return last < earlier - 0.02 ? 'moving' : 'stalled';
}

/** The toy problem's story: the problem in words, a table of final θ, and what it shows. */
export function toyStory(result: ExperimentResult): string[] {
  const s = result.meta.settings as { steps?: number; chains?: number; ks?: number[] };
  const tracks = toyTracks(result);
  const k = s.ks?.[0] ?? 10;
  const steps = s.steps ?? Math.max(...tracks.flatMap((t) => t.points.map((p) => p.t)));
  const seeds = uniq(tracks.map((t) => t.seed));
  const optimizers = uniq(tracks.map((t) => t.optimizer));
  const beta2s = uniq(tracks.map((t) => t.beta2)).sort((a, b) => a - b);
  const of = (o: string, b: number) => tracks.filter((t) => t.optimizer === o && t.beta2 === b);
  const out = [
    "1. The convex counterexample (the paper's §5.1)",
    ...wrap(
      "Minimise f(θ) = θ for θ in [−1, 1], starting at 0: the optimum is θ = −1. Each step's gradient is k² " +
        `= ${k * k} with probability 1/k and −k = −${k} otherwise (k = ${k}), so its mean is 1 and a sound optimizer ` +
        'goes to −1; one fooled by the frequent small gradients goes to +1, the wrong end. ' +
        `${steps.toLocaleString('en')} steps, ${s.chains ?? '?'} independent chains per run, learning rate ` +
        `0.01/√(1 + 0.01t), β1 = 0.9; ${seeds.length === 1 ? 'one seed' : `${seeds.length} seeds`}. ` +
        'Final θ (median over the chains):',
    ),
    '',
    ...table([
      ['', ...beta2s.map((b) => `β2 = ${b}`)],
      ...optimizers.map((o) => [
        label(o),
        ...beta2s.map((b) => {
          const ts = of(o, b);
          if (ts.length === 0) return '—';
          const value = overSeeds(
            ts.map((t) => t.points.at(-1)!.median),
            (x) => signed(x),
          );
          const outcome = toyOutcome(ts[0]!.points);
          return outcome === 'wrong end'
            ? `${value} (wrong end)`
            : outcome === 'moving'
              ? `${value} (still moving)`
              : value;
        }),
      ]),
    ]),
    '',
  ];
  for (const o of optimizers) {
    const at = (want: string) =>
      beta2s.filter((b) => of(o, b).length > 0 && toyOutcome(of(o, b)[0]!.points) === want).map(String);
    const parts = [
      at('optimum').length ? `reaches −1 with β2 = ${list(at('optimum'))}` : '',
      at('wrong end').length ? `goes to the wrong end (+1) with β2 = ${list(at('wrong end'))}` : '',
      at('moving').length ? `is still moving towards −1 at the last step with β2 = ${list(at('moving'))}` : '',
      at('stalled').length ? `stops short, between the two ends, with β2 = ${list(at('stalled'))}` : '',
    ].filter(Boolean);
    out.push(...bullet(`${label(o)} ${list(parts)}.`));
  }
  const clipped = tracks.filter((t) => t.optimizer === 'adopt' && t.seed === seeds[0]);
  const detour = clipped
    .map((t) => ({ t, peak: t.points.reduce((a, p) => (p.median > a.median ? p : a)) }))
    .filter(({ peak }) => peak.median > 0.25);
  if (detour.length > 0) {
    const { t, peak } = detour.reduce((a, b) => (b.peak.median > a.peak.median ? b : a));
    out.push(
      ...bullet(
        'Why clipped ADOPT first heads the wrong way: ADOPT clips each normalised gradient to c(t) = t^0.25. The ' +
          `rare large gradient normalises to about k = ${k}, so it is cut short until t^0.25 reaches k, about k⁴ ` +
          `= ${(k ** 4).toLocaleString('en')} steps; until then the small gradients win (median θ ` +
          `${signed(peak.median)} at step ${peak.t.toLocaleString('en')} with β2 = ${t.beta2}), and then ADOPT turns ` +
          "back towards −1. The unclipped rule of the paper's theory has no such warm-up.",
      ),
    );
  }
  return out;
}

interface MnistRun {
  optimizer: string;
  beta2: string;
  seed: number;
  accuracy: number;
  loss: number;
}

function mnistRuns(result: ExperimentResult): MnistRun[] {
  const last = new Map<string, Row>();
  for (const c of result.curves as Row[]) {
    const key = `${c['optimizer']}|${c['beta2']}|${c['seed']}|${c['learningRate']}`;
    const seen = last.get(key);
    if (seen === undefined || Number(c['epoch']) > Number(seen['epoch'])) last.set(key, c);
  }
  return [...last.values()].map((c) => ({
    optimizer: String(c['optimizer']),
    beta2: String(c['beta2']),
    seed: Number(c['seed']),
    accuracy: Number(c['testAccuracy']),
    loss: Number(c['testLoss']),
  }));
}

/** Whether an MNIST run failed to train (see FAILED_ACCURACY). */
export function mnistFailed(r: { accuracy: number; loss: number }): boolean {
  return !(r.accuracy >= FAILED_ACCURACY) || !(Number.isFinite(r.loss) && r.loss <= FAILED_LOSS);
}

/** The MNIST story: the setup, a table of test accuracy per β2, and which optimizer failed where. */
export function mnistStory(result: ExperimentResult): string[] {
  const s = result.meta.settings as {
    epochs?: number;
    trainSize?: number;
    testSize?: number;
    hidden?: number;
    learningRate?: number;
  };
  const runs = mnistRuns(result);
  const optimizers = uniq(runs.map((r) => r.optimizer));
  const beta2s = uniq(runs.map((r) => r.beta2));
  const seeds = uniq(runs.map((r) => r.seed));
  const of = (o: string, b: string) => runs.filter((r) => r.optimizer === o && r.beta2 === b);
  const setting = (b: string) =>
    b === 'own' ? `each one's default β2 (${optimizers.map((o) => OWN_BETA2(o)).join(' / ')})` : `β2 = ${b} for both`;
  const percent = (x: number) => `${(100 * x).toFixed(2)} %`;
  const out = [
    '2. MNIST (handwritten digits, 10 classes)',
    ...wrap(
      `A multilayer perceptron (784-${s.hidden ?? 256}-${s.hidden ?? 256}-10) trained for ${s.epochs ?? '?'} epochs ` +
        `on ${(s.trainSize ?? 0).toLocaleString('en')} images at learning rate ${s.learningRate ?? 1e-3}, tested on ` +
        `${(s.testSize ?? 0).toLocaleString('en')} others; ` +
        `${seeds.length === 1 ? 'one seed, so the table has no intervals' : `${seeds.length} seeds: mean ± 95% CI`}. ` +
        'Test accuracy:',
    ),
    '',
    ...table([
      ['', ...optimizers.map(label)],
      ...beta2s.map((b) => [
        setting(b),
        ...optimizers.map((o) => {
          const rs = of(o, b);
          if (rs.length === 0) return '—';
          const value = overSeeds(
            rs.map((r) => r.accuracy),
            percent,
          );
          return rs.some(mnistFailed) ? `${value} (failed)` : value;
        }),
      ]),
    ]),
    '',
  ];
  for (const b of beta2s) {
    const failed = optimizers.filter((o) => of(o, b).some(mnistFailed));
    const trained = optimizers.filter((o) => of(o, b).length > 0 && !of(o, b).some(mnistFailed));
    const worst = (o: string) => of(o, b).reduce((a, r) => (mnistFailed(r) && !(r.loss <= a.loss) ? r : a));
    const failures = failed.map((o) => {
      const r = worst(o);
      return (
        `${label(o)} fails (test loss ${Number.isFinite(r.loss) ? r.loss.toPrecision(2) : String(r.loss)}, ` +
        `accuracy ${percent(r.accuracy)})`
      );
    });
    const fine = trained.length ? `${list(trained.map(label))} ${trained.length > 1 ? 'train' : 'trains'}` : '';
    out.push(...bullet(`With ${setting(b)}: ${list([...failures, fine].filter(Boolean))}.`));
  }
  if (
    seeds.length === 1 &&
    beta2s.some((b) => optimizers.every((o) => of(o, b).length > 0 && !of(o, b).some(mnistFailed)))
  ) {
    out.push(
      ...bullet("Where both train, one seed cannot say which is better; the README's runs have 5 seeds and intervals."),
    );
  }
  return out;
}
