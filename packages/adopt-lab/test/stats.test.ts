// Statistics over seeds (src/stats.ts) against hand-computed values, and the figures' styles.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  adjustedVerdict,
  formatInterval,
  holm,
  interval95,
  pairedComparison,
  tQuantile975,
  twoSidedP,
} from '../src/stats.js';
import { lineChart, STYLES } from '../src/plot.js';

describe('statistics over seeds (src/stats.ts), against hand-computed values', () => {
  it('t quantiles agree with the printed table (3 decimals) and with closed forms', () => {
    const table: [number, number][] = [
      [1, 12.706],
      [2, 4.303],
      [3, 3.182],
      [4, 2.776],
      [9, 2.262],
      [30, 2.042],
      [40, 2.021],
      [60, 2.0],
      [120, 1.98],
    ];
    for (const [df, t] of table) assert.ok(Math.abs(tQuantile975(df) - t) < 5e-4, `df ${df}: ${tQuantile975(df)}`);
    // df 1 (Cauchy): tan(0.475 pi); df 2: 2q / sqrt(2 (1 - 4 (q - 1/2)^2)) ... at q = 0.975: 4.302653
    assert.ok(Math.abs(tQuantile975(1) - Math.tan(0.475 * Math.PI)) < 1e-9);
    const a = 2 * 0.975 - 1;
    assert.ok(Math.abs(tQuantile975(2) - a * Math.sqrt(2 / (1 - a * a))) < 1e-9);
    assert.ok(Math.abs(tQuantile975(1e9) - 1.959964) < 1e-5);
    assert.throws(() => tQuantile975(0), RangeError);
  });
  it('p-values of the t test against closed forms (df 1 and 2)', () => {
    for (const t of [0.3, 1, 2.5, 8.66, 40]) {
      assert.ok(Math.abs(twoSidedP(t, 1) - (1 - (2 / Math.PI) * Math.atan(t))) < 1e-9, `df 1, t ${t}`);
      assert.ok(Math.abs(twoSidedP(-t, 2) - (1 - t / Math.sqrt(t * t + 2))) < 1e-9, `df 2, t ${t}`);
    }
    assert.equal(twoSidedP(0, 4), 1);
  });
  it('Holm: the i-th smallest p times (m - i + 1), monotone, NaN left out', () => {
    const adj = holm([0.01, 0.04, 0.03, NaN, 0.5]);
    // family of 4: 0.01*4 = 0.04; 0.03*3 = 0.09; 0.04*2 = 0.08 -> 0.09 (monotone); 0.5*1 -> 0.5
    [0.04, 0.09, 0.09, NaN, 0.5].forEach((e, i) =>
      Number.isNaN(e) ? assert.ok(Number.isNaN(adj[i]!)) : assert.ok(Math.abs(adj[i]! - e) < 1e-12, `${i}: ${adj[i]}`),
    );
    assert.deepEqual(holm([0.9, 0.8]), [1, 1]); // 0.8 * 2 capped at 1; 0.9 * 1 raised to 1 (monotone)
    assert.ok(Math.abs(holm([0.3, 0.4, 0.5])[0]! - 0.9) < 1e-12);
  });
  it('mean ± t(0.975, n - 1) s / sqrt(n)', () => {
    // 1..5: mean 3, s = sqrt(2.5) = 1.5811, half = 2.776 * 1.5811 / sqrt(5) = 1.9630
    const i = interval95([1, 2, 3, 4, 5]);
    assert.equal(i.mean, 3);
    assert.ok(Math.abs(i.half - 1.963) < 5e-4, String(i.half));
    assert.equal(formatInterval([1, 2, 3, 4, 5], 2), '3.00 ± 1.96');
    // two values 10, 12: s = sqrt(2), half = t(0.975, 1) * sqrt(2) / sqrt(2) = tan(0.475 pi) = 12.7062
    assert.ok(Math.abs(interval95([10, 12]).half - Math.tan(0.475 * Math.PI)) < 1e-9);
    assert.equal(formatInterval([0.5], 1), '0.5 (n = 1)');
    assert.equal(formatInterval([2e19, 4e19], 4), '3.00e+19 ± 1.27e+20'); // a diverged run's loss, readable
  });
  it('paired differences: ADOPT better, worse, no significant difference; the p-value of the paired t test', () => {
    const m = (xs: number[]) => new Map(xs.map((x, i) => [i + 1, x]));
    // differences 0.5, 0.6, 0.4: mean 0.5, s 0.1, half = 4.303 * 0.1 / sqrt(3) = 0.2484
    const d = pairedComparison(m([1, 2, 3]), m([0.5, 1.4, 2.6]), false);
    assert.ok(Math.abs(d.mean - 0.5) < 1e-12 && Math.abs(d.half - 0.24844) < 1e-4);
    assert.equal(d.verdict, 'ADOPT better'); // higher is better (accuracy)
    // lower is better (loss)
    assert.equal(pairedComparison(m([1, 2, 3]), m([0.5, 1.4, 2.6]), true).verdict, 'ADOPT worse');
    // t = 0.5 / (0.1 / sqrt 3), df 2
    assert.ok(Math.abs(d.p - (1 - 8.660254037844386 / Math.sqrt(75 + 2))) < 1e-9, String(d.p));
    assert.equal(pairedComparison(m([1, -1, 0.5]), m([0, 0, 0]), true).verdict, 'no significant difference');
    // only the seeds both have are paired
    const partial = pairedComparison(
      new Map([
        [1, 1],
        [2, 2],
        [9, 5],
      ]),
      new Map([
        [1, 0],
        [2, 1],
        [3, 7],
      ]),
      false,
    );
    assert.deepEqual(partial.seeds, [1, 2]);
    assert.equal(pairedComparison(m([1]), m([0]), false).verdict, 'n < 2');
  });
  it('a diverged run gives no verdict and is counted, on either side (NaN, +Infinity)', () => {
    const m = (xs: number[]) => new Map(xs.map((x, i) => [i + 1, x]));
    // the baseline diverged in one seed: its loss NaN would otherwise have made ADOPT "better" or "worse"
    const a = pairedComparison(m([0.1, 0.2, 0.3]), m([0.5, NaN, 0.7]), true);
    assert.equal(a.verdict, 'diverged');
    assert.deepEqual(a.diverged, { adopt: 0, baseline: 1 });
    const b = pairedComparison(m([Infinity, 0.2, 0.3]), m([0.5, 0.6, 0.7]), true);
    assert.deepEqual([b.verdict, b.diverged], ['diverged', { adopt: 1, baseline: 0 }]);
    assert.equal(adjustedVerdict(a, 0.001, true), 'diverged');
  });
  it("a constant comparison (the same difference in every seed) has no test and does not widen Holm's family", () => {
    const zeros = new Map([
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
    const c = pairedComparison(zeros, new Map(zeros), true, { margin: 1 });
    assert.ok(Number.isNaN(c.p));
    assert.equal(c.verdict, 'constant');
    assert.equal(c.equivalence, undefined, 'no equivalence claimed from no spread');
    assert.equal(
      pairedComparison(
        new Map([
          [1, 1],
          [2, 2],
        ]),
        new Map([
          [1, 0],
          [2, 1],
        ]),
        true,
      ).verdict,
      'constant',
      '+1 in every seed',
    );
    const varied = pairedComparison(
      new Map([
        [1, 1],
        [2, 2],
        [3, 4],
      ]),
      new Map([
        [1, 0],
        [2, 0],
        [3, 0],
      ]),
      true,
    );
    assert.deepEqual(holm([c.p, varied.p]), [NaN, varied.p], 'alone in its family: not multiplied');
    assert.equal(adjustedVerdict(c, NaN, true), 'constant');
  });

  it('equivalence: two one-sided tests against the margin; a wide interval is "no significant difference", not equivalence', () => {
    const m = (xs: number[]) => new Map(xs.map((x, i) => [i + 1, x]));
    // differences 0.01, -0.01, 0.02, 0, -0.02: mean 0, s = 0.0158, 90% half = 2.132 * 0.0158 / sqrt 5 = 0.0151
    const tight = pairedComparison(m([1.01, 0.99, 1.02, 1, 0.98]), m([1, 1, 1, 1, 1]), false, { margin: 0.05 });
    assert.deepEqual([tight.verdict, tight.equivalence], ['equivalent', { margin: 0.05, holds: true }]);
    const narrowMargin = pairedComparison(m([1.01, 0.99, 1.02, 1, 0.98]), m([1, 1, 1, 1, 1]), false, { margin: 0.01 });
    assert.deepEqual([narrowMargin.verdict, narrowMargin.equivalence?.holds], ['no significant difference', false]);
    const wide = pairedComparison(m([1.5, 0.5, 1.2, 0.9, 0.7]), m([1, 1, 1, 1, 1]), false, { margin: 0.05 });
    assert.equal(wide.verdict, 'no significant difference');
    // Holm can turn "better" into "no significant difference", and then equivalence may still hold
    const better = pairedComparison(m([1, 2, 3]), m([0.5, 1.4, 2.6]), false);
    assert.equal(adjustedVerdict(better, 0.2, false), 'no significant difference');
    assert.equal(adjustedVerdict(better, 0.01, false), 'ADOPT better');
  });
});

describe('figures: colours, dashes and legends', () => {
  it('every optimizer has its own colour and dash pattern; ADOPT and unclipped ADOPT differ in both', () => {
    const colours = Object.values(STYLES).map((x) => x.color);
    assert.equal(new Set(colours).size, colours.length);
    // Adam and ADOPT share solid, nothing else
    assert.equal(new Set(Object.values(STYLES).map((x) => x.dash.join(','))).size, Object.keys(STYLES).length - 1);
    assert.notDeepEqual(STYLES['ADOPT']!.dash, STYLES['ADOPT (unclipped)']!.dash);
    for (const a of ['Adam', 'AdamW', 'AMSGrad'])
      for (const b of ['Adam', 'AdamW', 'AMSGrad']) if (a !== b) assert.notDeepEqual(STYLES[a]!.dash, STYLES[b]!.dash);
  });
  it('the legend lists only the series drawn, and the band is described', async () => {
    const svg = await lineChart(
      [
        { x: 1, y: 1, lower: 0.5, upper: 1.5, series: 'ADOPT' },
        { x: 2, y: 2, lower: 1.5, upper: 2.5, series: 'ADOPT' },
        { x: 1, y: 1.2, series: 'AdamW' },
        { x: 2, y: 2.2, series: 'AdamW' },
      ],
      { title: 't', subtitle: 'band: 95% CI', x: 'x', y: 'y' },
    );
    for (const name of ['ADOPT', 'AdamW', 'band: 95% CI'])
      assert.match(svg, new RegExp(`>${name.replace(/[()]/g, '\\$&')}<`));
    for (const name of ['AMSGrad', '>Adam<', 'unclipped']) assert.doesNotMatch(svg, new RegExp(name));
    assert.match(svg, /stroke-dasharray="8,4"/); // AdamW dashed
  });
});
