// Live line charts drawn by Vega-Lite (the library the experiment report uses), updated in place, with
// an HTML legend above each chart that lists exactly the series drawn (and a note per series, such as
// "diverged at step 170"); Vega's own legend is off, so it can neither list what is absent nor be cut off.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface Point { x: number; y: number; series: string; lower?: number; upper?: number }

/** One colour per optimizer, the same in every chart. */
export const COLORS: Record<string, string> = {
  ADOPT: '#d62728', 'ADOPT (unclipped)': '#ff7f0e', Adam: '#1f77b4', AdamW: '#2ca02c', AMSGrad: '#9467bd',
};

export interface ChartOptions { x: string; y: string; logX?: boolean; logY?: boolean; band?: boolean; yDomain?: [number, number] }

export class LiveChart {
  private view: vega.View | null = null;
  private points: Point[] = [];
  private readonly legend: HTMLUListElement;
  private readonly notes = new Map<string, string>();

  constructor(private readonly container: HTMLElement, private readonly o: ChartOptions) {
    this.legend = document.createElement('ul');
    this.legend.className = 'legend';
    this.legend.setAttribute('aria-label', `Series drawn: ${o.y}`);
    container.before(this.legend);
  }

  private async ensure(): Promise<vega.View> {
    if (this.view) return this.view;
    const x = { field: 'x', type: 'quantitative', title: this.o.x, ...(this.o.logX ? { scale: { type: 'log' } } : {}) };
    const yScale = { ...(this.o.yDomain ? { domain: this.o.yDomain } : { zero: false }), ...(this.o.logY ? { type: 'log' } : {}) };
    const color = { field: 'series', type: 'nominal', title: null, scale: { domain: Object.keys(COLORS), range: Object.values(COLORS) }, legend: null };
    const layer: object[] = [{ mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { field: 'y', type: 'quantitative', title: this.o.y, scale: yScale }, color } }];
    if (this.o.band) layer.unshift({ mark: { type: 'area', opacity: 0.2 }, encoding: { x, y: { field: 'lower', type: 'quantitative', scale: yScale }, y2: { field: 'upper' }, color } });
    const spec = { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', width: 'container', height: 240, autosize: { type: 'fit-x', contains: 'padding' }, data: { name: 'points' }, layer };
    this.view = new vega.View(vega.parse(compile(spec as TopLevelSpec).spec), { renderer: 'svg', container: this.container, hover: false });
    await this.view.runAsync();
    return this.view;
  }

  /** The series drawn now, in the order of COLORS. */
  get series(): string[] {
    const present = new Set(this.points.map((p) => p.series));
    return Object.keys(COLORS).filter((s) => present.has(s));
  }

  private drawLegend(): void {
    this.legend.replaceChildren(...this.series.map((s) => {
      const li = document.createElement('li');
      li.dataset['series'] = s;
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = COLORS[s]!;
      const note = this.notes.get(s);
      li.append(swatch, note ? `${s} — ${note}` : s);
      return li;
    }));
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

  async clear(): Promise<void> {
    this.notes.clear();
    await this.set([]);
  }
}
