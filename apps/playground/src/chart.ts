// Live line charts drawn by Vega-Lite (the library the experiment report uses), updated in place, with
// an HTML legend above each chart that lists exactly the series drawn (and a note per series, such as
// "diverged at step 170"); Vega's own legend is off, so it can neither list what is absent nor be cut off.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface Point {
  x: number;
  y: number;
  series: string;
  lower?: number;
  upper?: number;
}

/**
 * One colour per optimizer, the same in every chart (the Okabe-Ito palette, readable with colour blindness).
 * No optimizer is red: the page uses red for failure, and a colour should not say how a run went.
 */
export const COLORS: Record<string, string> = {
  ADOPT: '#0072b2',
  'ADOPT (unclipped)': '#56b4e9',
  Adam: '#e69f00',
  AdamW: '#cc79a7',
  AMSGrad: '#009e73',
};

/**
 * Each series' line: width and dash. ADOPT is wide and solid and drawn first, the others narrower and dashed on
 * top of it, so where two runs sit at the same value (Adam and clipped ADOPT both at +1, say) both stay visible.
 */
const WIDE = 4;
const NARROW = 2;
export const STROKES: Record<string, { width: number; dash: number[] }> = {
  ADOPT: { width: WIDE, dash: [] },
  'ADOPT (unclipped)': { width: NARROW, dash: [2, 2] },
  Adam: { width: NARROW, dash: [7, 3] },
  AdamW: { width: NARROW, dash: [3, 2, 1, 2] },
  AMSGrad: { width: NARROW, dash: [10, 2, 2, 2] },
};

export interface ChartOptions {
  x: string;
  y: string;
  logX?: boolean;
  logY?: boolean;
  band?: boolean;
  yDomain?: [number, number];
}

/** Pixels per x-axis tick asked for: fewer ticks on narrow screens, so the labels do not crowd. */
const PIXELS_PER_TICK = 80;

export class LiveChart {
  private view: vega.View | null = null;
  private points: Point[] = [];
  private xEnd: number | null = null;
  private width = 0;
  private readonly legend: HTMLUListElement;
  private readonly notes = new Map<string, string>();

  constructor(
    private readonly container: HTMLElement,
    private readonly o: ChartOptions,
  ) {
    this.legend = document.createElement('ul');
    this.legend.className = 'legend';
    this.legend.setAttribute('aria-label', `Series drawn: ${o.y}`);
    container.before(this.legend);
    // The chart takes its container's width, also when it was drawn while hidden (the MNIST tab) and is shown later.
    new ResizeObserver(() => {
      if (this.view && this.container.clientWidth > 0 && this.container.clientWidth !== this.width) this.rebuild();
    }).observe(container);
  }

  private rebuild(): void {
    this.view?.finalize();
    this.view = null;
    this.container.replaceChildren();
    void this.set(this.points);
  }

  private spec(): TopLevelSpec {
    this.width = this.container.clientWidth;
    const width = this.width > 0 ? this.width : 600;
    const xScale = {
      ...(this.o.logX ? { type: 'log' } : { zero: true }),
      nice: false, // the axis ends at the run's last step, not at the next round number
      ...(this.xEnd === null ? {} : { domainMax: this.xEnd }),
    };
    const axis = {
      labelOverlap: 'greedy',
      labelSeparation: 8,
      labelFlush: true,
      // a log axis asks for more ticks (its labels are short), and Vega hides those that would collide
      tickCount: Math.max(2, Math.floor(width / (this.o.logX ? PIXELS_PER_TICK / 2 : PIXELS_PER_TICK))),
      ...(this.o.logX ? { format: '~s' } : {}),
    };
    const x = { field: 'x', type: 'quantitative', title: this.o.x, scale: xScale, axis };
    const yScale = {
      ...(this.o.yDomain ? { domain: this.o.yDomain } : { zero: false }),
      ...(this.o.logY ? { type: 'log' } : {}),
    };
    const names = Object.keys(COLORS);
    const bySeries = (range: unknown[]) => ({
      field: 'series',
      type: 'nominal',
      scale: { domain: names, range },
      legend: null,
    });
    const color = bySeries(Object.values(COLORS));
    const strokeDash = bySeries(names.map((s) => STROKES[s]!.dash));
    const wide = names.filter((s) => STROKES[s]!.width === WIDE);
    const y = { field: 'y', type: 'quantitative', title: this.o.y, scale: yScale };
    // two layers, the wide lines first: Vega orders the lines within a layer by name, not as the data come
    const layer: object[] = [true, false].map((isWide) => ({
      transform: [{ filter: isWide ? { field: 'series', oneOf: wide } : { not: { field: 'series', oneOf: wide } } }],
      mark: { type: 'line', strokeWidth: isWide ? WIDE : NARROW },
      encoding: { x, y, color, strokeDash },
    }));
    if (this.o.band) {
      layer.unshift({
        mark: { type: 'area', opacity: 0.2 },
        encoding: { x, y: { field: 'lower', type: 'quantitative', scale: yScale }, y2: { field: 'upper' }, color },
      });
    }
    return {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      width,
      height: 240,
      autosize: { type: 'fit-x', contains: 'padding' },
      data: { name: 'points' },
      layer,
    } as TopLevelSpec;
  }

  private async ensure(): Promise<vega.View> {
    if (this.view) return this.view;
    const runtime = vega.parse(compile(this.spec()).spec);
    const view = new vega.View(runtime, { renderer: 'svg', container: this.container, hover: false });
    this.view = view;
    await view.runAsync();
    return view;
  }

  /** The series drawn now, in the order of COLORS. */
  get series(): string[] {
    const present = new Set(this.points.map((p) => p.series));
    return Object.keys(COLORS).filter((s) => present.has(s));
  }

  private drawLegend(): void {
    this.legend.replaceChildren(
      ...this.series.map((s) => {
        const li = document.createElement('li');
        li.dataset['series'] = s;
        const last = this.points.filter((p) => p.series === s).at(-1);
        // the series' last point drawn, for readers (and tests) that compare it with the table
        if (last) Object.assign(li.dataset, { lastX: String(last.x), lastY: String(last.y) });
        const swatch = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
        swatch.setAttribute('class', 'swatch');
        swatch.setAttribute('viewBox', '0 0 28 6');
        swatch.setAttribute('aria-hidden', 'true');
        const line = document.createElementNS('http://www.w3.org/2000/svg', 'line');
        const stroke = STROKES[s]!;
        const attributes = {
          x1: 0,
          y1: 3,
          x2: 28,
          y2: 3,
          stroke: COLORS[s]!,
          'stroke-width': Math.min(stroke.width, 4),
        };
        for (const [k, v] of Object.entries(attributes)) line.setAttribute(k, String(v));
        if (stroke.dash.length) line.setAttribute('stroke-dasharray', stroke.dash.join(','));
        swatch.append(line);
        const note = this.notes.get(s);
        li.append(swatch, note ? `${s} — ${note}` : s);
        return li;
      }),
    );
  }

  /** A note shown after a series' name in the legend (empty string: none). */
  note(series: string, text: string): void {
    if (text) this.notes.set(series, text);
    else this.notes.delete(series);
    this.drawLegend();
  }

  async set(points: Point[]): Promise<void> {
    this.points = points;
    const view = await this.ensure();
    await view.data('points', this.points.slice()).runAsync();
    this.drawLegend();
  }

  async add(points: Point[]): Promise<void> {
    await this.set([...this.points, ...points]);
  }

  /** Empties the chart; xEnd fixes where the x axis ends (the toy run's last step), else it follows the data. */
  async clear(xEnd?: number): Promise<void> {
    this.notes.clear();
    const same = (xEnd ?? null) === this.xEnd;
    this.xEnd = xEnd ?? null;
    this.points = [];
    if (!same && this.view) {
      this.view.finalize();
      this.view = null;
      this.container.replaceChildren();
    }
    await this.set([]);
  }
}
