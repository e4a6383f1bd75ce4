/**
 * Tables and figures built from saved runs (src/runs.ts): mean ± 95% interval over seeds per
 * optimizer and setting, paired comparisons of ADOPT with each baseline, the learning rate each
 * optimizer does best at (chosen on a validation metric), and mean curves with interval bands.
 */
import { LABELS, type LabOptimizer } from './common.js';
import type { LinePoint } from './plot.js';
import type { Beta2Mode, RunRecord, Row } from './runs.js';
import {
  adjustedVerdict,
  formatDifference,
  formatInterval,
  formatP,
  holm,
  INTERVAL_NOTE,
  interval95,
  mean,
  pairedComparison,
  type PairedComparison,
} from './stats.js';

export interface Metric {
  key: string;
  label: string;
  digits: number;
  /** Multiplies the stored value (e.g. 100 for a percentage, 1 / ln 2 for bits). */
  scale?: number;
  unit?: string;
  lowerIsBetter: boolean;
  /** Compare ADOPT with the baselines on it. */
  compare?: boolean;
  /**
   * The equivalence margin, in the metric's displayed unit (after `scale`): a difference smaller than
   * this is too small to matter, so "equivalent" may be claimed when both one-sided tests pass.
   */
  margin?: number;
}

export interface SummarySpec {
  metrics: Metric[];
  /**
   * The metric a learning rate is chosen on, and what it is (e.g. "validation accuracy on 5,000 held-out training
   * images").
   */
  select: {
    key: string;
    label?: string;
    lowerIsBetter: boolean;
    on: string;
    /**
     * Seeds held out for the choice of rate (RL has no held-out data, so it holds out seeds): their runs
     * choose each optimizer's rate and are left out of every reported row and comparison.
     */
    seeds?: (seed: number) => boolean;
  };
  defaultLr: number;
}

export function beta2Label(m: Beta2Mode): string {
  return m === 'own' ? 'own defaults' : `${m} for all`;
}

export const BETA2_NOTE =
  'beta2 "own defaults": ADOPT 0.9999, Adam/AdamW/AMSGrad 0.999; "x for all": every optimizer at beta2 = x. Epsilon ' +
  "stays at each optimizer's default and means different things: ADOPT uses max(sqrt(v), 1e-6) as the denominator (a " +
  'floor), Adam/AdamW/AMSGrad use sqrt(v_hat) + 1e-8 (an addend, after bias correction). AdamW has decoupled weight ' +
  'decay 0.01; the others none. A beta2 equal to an optimizer\'s own default is the same run as "own defaults" and ' +
  'is run once.';

const unique = <T>(xs: T[]) => [...new Set(xs)];

export interface Selection {
  /** Learning rate chosen per `${beta2}|${optimizer}`. */
  best: Map<string, number>;
  modes: Beta2Mode[];
  lrs: number[];
  optimizers: LabOptimizer[];
}

const key = (b2: Beta2Mode, opt: string) => `${b2}|${opt}`;

/** Per optimizer and beta2 mode, the learning rate with the best mean selection metric over seeds. */
export function selectRates(records: RunRecord[], spec: SummarySpec): Selection {
  const modes = unique(records.map((r) => r.setting.beta2));
  const lrs = unique(records.map((r) => r.setting.learningRate)).sort((a, b) => a - b);
  const optimizers = unique(records.map((r) => r.optimizer));
  const best = new Map<string, number>();
  for (const b2 of modes) {
    for (const opt of optimizers) {
      let chosen = lrs[0]!;
      let score = NaN;
      for (const lr of lrs) {
        const v = records
          .filter((r) => r.setting.beta2 === b2 && r.optimizer === opt && r.setting.learningRate === lr)
          .map((r) => r.final[spec.select.key]!);
        if (v.length === 0) continue;
        // a diverged run (NaN) counts as the worst
        const m = v.some((x) => !Number.isFinite(x)) ? (spec.select.lowerIsBetter ? Infinity : -Infinity) : mean(v);
        if (Number.isNaN(score) || (spec.select.lowerIsBetter ? m < score : m > score)) {
          score = m;
          chosen = lr;
        }
      }
      best.set(key(b2, opt), chosen);
    }
  }
  return { best, modes, lrs, optimizers };
}

/** The records of one optimizer, beta2 mode and learning rate. */
export function pick(records: RunRecord[], opt: string, b2: Beta2Mode, lr: number): RunRecord[] {
  return records.filter((r) => r.optimizer === opt && r.setting.beta2 === b2 && r.setting.learningRate === lr);
}

function bySeed(records: RunRecord[], m: Metric): Map<number, number> {
  return new Map(records.map((r) => [r.seed, r.final[m.key]! * (m.scale ?? 1)]));
}

export function formatMetric(records: RunRecord[], m: Metric): string {
  return formatInterval(
    records.map((r) => r.final[m.key]! * (m.scale ?? 1)),
    m.digits,
    m.unit ?? '',
  );
}

/** The summary table, the comparison table, the learning-rate table (when several) and notes. */
export function standardTables(all: RunRecord[], spec: SummarySpec) {
  const held = spec.select.seeds;
  const heldOut = held ? all.filter((r) => held(r.seed)) : [];
  // with held-out seeds (and runs of them), the rate is chosen on those and everything reported on the others
  const records = heldOut.length > 0 ? all.filter((r) => !held!(r.seed)) : all;
  const choosing = heldOut.length > 0 ? heldOut : all;
  const sel = selectRates(choosing, spec);
  const many = sel.lrs.length > 1;
  const hasDefault = sel.lrs.includes(spec.defaultLr);
  const choices: { label: string; lr: (b2: Beta2Mode, opt: string) => number }[] = [];
  if (hasDefault)
    choices.push({ label: many ? `shared ${spec.defaultLr}` : String(spec.defaultLr), lr: () => spec.defaultLr });
  if (many) choices.push({ label: 'own best', lr: (b2, opt) => sel.best.get(key(b2, opt))! });
  if (choices.length === 0) choices.push({ label: String(sel.lrs[0]), lr: () => sel.lrs[0]! });
  const rows: (string | number)[][] = [];
  for (const b2 of sel.modes) {
    for (const c of choices) {
      for (const opt of sel.optimizers) {
        const lr = c.lr(b2, opt);
        const rs = pick(records, opt, b2, lr);
        rows.push([
          beta2Label(b2),
          LABELS[opt],
          c.label === 'own best' ? `own best: ${lr}` : String(lr),
          rs.length,
          ...spec.metrics.map((m) => formatMetric(rs, m)),
        ]);
      }
    }
  }
  const summary = {
    columns: ['beta2', 'optimizer', 'learning rate', 'seeds', ...spec.metrics.map((m) => `${m.label} (mean ± 95% CI)`)],
    rows,
  };
  const tests: { row: (string | number)[]; c: PairedComparison; m: Metric }[] = [];
  if (sel.optimizers.includes('adopt')) {
    for (const b2 of sel.modes) {
      for (const c of choices) {
        for (const m of spec.metrics.filter((x) => x.compare)) {
          const a = bySeed(pick(records, 'adopt', b2, c.lr(b2, 'adopt')), m);
          for (const base of sel.optimizers.filter((o) => o !== 'adopt')) {
            const d = pairedComparison(
              a,
              bySeed(pick(records, base, b2, c.lr(b2, base)), m),
              m.lowerIsBetter,
              m.margin === undefined ? {} : { margin: m.margin },
            );
            tests.push({
              row: [
                beta2Label(b2),
                c.label,
                m.label,
                LABELS[base],
                d.seeds.length,
                divergedText(d),
                formatDifference(d, m.digits),
                formatP(d.p),
              ],
              c: d,
              m,
            });
          }
        }
      }
    }
  }
  const adjusted = holm(tests.map((t) => t.c.p));
  const comparisons = tests.map((t, k) => [
    ...t.row,
    formatP(adjusted[k]!),
    verdictText(adjustedVerdict(t.c, adjusted[k]!, t.m.lowerIsBetter), t.m),
  ]);
  const tables: { title: string; columns: string[]; rows: (string | number)[][] }[] = [];
  if (comparisons.length) {
    tables.push({
      title:
        "ADOPT minus each baseline, paired over the same seeds (95% CI of the mean difference; verdicts after Holm's " +
        `adjustment across the ${tested(tests)} tested comparisons of this table, for exploring it: the verdicts the ` +
        'README states are those of its claims, each in its own family, src/claims.ts)',
      columns: [
        'beta2',
        'learning rate',
        'metric',
        'baseline',
        'pairs',
        'diverged (ADOPT / baseline)',
        'ADOPT − baseline',
        'p',
        'p (Holm, this table)',
        'verdict (this table)',
      ],
      rows: comparisons,
    });
  }
  if (many) {
    const sm = spec.metrics.find((m) => m.key === spec.select.key) ?? {
      key: spec.select.key,
      label: spec.select.label ?? spec.select.key,
      digits: 4,
      lowerIsBetter: spec.select.lowerIsBetter,
    };
    tables.push({
      title: `Learning-rate sweep: each optimizer's rate is chosen on ${spec.select.on}`,
      columns: ['beta2', 'optimizer', 'learning rate', `${sm.label} (selection)`, 'chosen'],
      rows: sel.modes.flatMap((b2) =>
        sel.optimizers.flatMap((opt) =>
          sel.lrs.map((lr) => [
            beta2Label(b2),
            LABELS[opt],
            lr,
            formatMetric(pick(choosing, opt, b2, lr), sm),
            sel.best.get(key(b2, opt)) === lr ? '←' : '', // what the choice saw
          ]),
        ),
      ),
    });
  }
  const notes = [INTERVAL_NOTE, BETA2_NOTE];
  const margins = spec.metrics.filter((m) => m.compare && m.margin !== undefined);
  if (margins.length)
    notes.push(
      'Equivalence margins (two one-sided tests at 5%): ' +
        `${margins.map((m) => `${m.label} ±${m.margin}${m.unit ?? ''}`).join('; ')}.`,
    );
  if (many)
    notes.push(
      `Learning rates ${sel.lrs.join(', ')}: "own best" is each optimizer's rate with the best mean ` +
        `${spec.select.on}; "shared" is the default rate for all.`,
    );
  if (heldOut.length > 0)
    notes.push(
      'The rates were chosen on the held-out seeds ' +
        `${[...new Set(heldOut.map((r) => r.seed))].sort((a, b) => a - b).join(', ')}, which no reported row or ` +
        'comparison includes.',
    );
  return { summary, tables, notes, selection: sel };
}

/** How many comparisons a table's Holm family has (those with a test: not constant, not diverged). */
function tested(tests: { c: PairedComparison }[]): number {
  return tests.filter((t) => !Number.isNaN(t.c.p)).length;
}

/** "0 / 0", or how many runs of the paired seeds ended non-finite on each side. */
function divergedText(c: PairedComparison): string {
  return `${c.diverged.adopt} / ${c.diverged.baseline}`;
}

function verdictText(v: string, m: Metric): string {
  if (v === 'constant') return 'no test (the same difference in every seed)';
  return v === 'equivalent'
    ? `equivalent within ±${m.margin}${m.unit ?? ''}`
    : v === 'diverged'
      ? 'no verdict (a run diverged)'
      : v;
}

/** The records a figure draws: the default rate when it was run, else each optimizer's best rate. */
export function figureRecords(records: RunRecord[], spec: SummarySpec, sel: Selection): RunRecord[] {
  const hasDefault = sel.lrs.includes(spec.defaultLr);
  return records.filter(
    (r) => r.setting.learningRate === (hasDefault ? spec.defaultLr : sel.best.get(key(r.setting.beta2, r.optimizer))),
  );
}

/**
 * Mean curves with a 95% interval band over seeds, one series per optimizer (a panel per beta2
 * mode when there are several). `field` is read from each record's curve rows that have it and
 * pass `filter`.
 */
export function meanCurves(
  records: RunRecord[],
  field: string,
  x: string,
  o: { filter?: (row: Row) => boolean; scale?: number } = {},
): LinePoint[] {
  const modes = unique(records.map((r) => r.setting.beta2));
  const out: LinePoint[] = [];
  for (const b2 of modes) {
    for (const opt of unique(records.map((r) => r.optimizer))) {
      const rs = records.filter((r) => r.optimizer === opt && r.setting.beta2 === b2);
      const byX = new Map<number, number[]>();
      for (const r of rs) {
        for (const row of r.curves) {
          if (row[field] === undefined || (o.filter && !o.filter(row))) continue;
          const xv = row[x] as number;
          if (!byX.has(xv)) byX.set(xv, []);
          byX.get(xv)!.push((row[field] as number) * (o.scale ?? 1));
        }
      }
      for (const [xv, v] of [...byX].sort((a, b) => a[0] - b[0])) {
        const i = interval95(v);
        out.push({
          x: xv,
          y: i.mean,
          ...(i.n > 1 ? { lower: i.lower, upper: i.upper } : {}),
          series: LABELS[opt],
          ...(modes.length > 1 ? { panel: `beta2: ${beta2Label(b2)}` } : {}),
        });
      }
    }
  }
  return out;
}

/** What the band is, for captions and subtitles. */
export function bandText(seeds: number): string {
  return seeds > 1 ? `mean of ${seeds} seeds; band: 95% CI (Student t)` : 'one seed: no band';
}

/** Every run's curve points as rows of the result, each labelled with its optimizer, seed, beta2 and rate. */
export function curveRows(records: readonly RunRecord[]): Row[] {
  return records.flatMap((r) =>
    r.curves.map((c) => ({
      optimizer: r.optimizer,
      seed: r.seed,
      beta2: String(r.setting.beta2),
      learningRate: r.setting.learningRate,
      ...c,
    })),
  );
}

export function seedCount(records: RunRecord[]): number {
  return unique(records.map((r) => r.seed)).length;
}
