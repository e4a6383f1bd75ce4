// Live line charts drawn by Vega-Lite (the library the experiment report uses), updated in place.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface Point { x: number; y: number; series: string; lower?: number; upper?: number }

const COLORS = { domain: ['ADOPT', 'ADOPT (unclipped)', 'Adam', 'AMSGrad'], range: ['#d62728', '#ff7f0e', '#1f77b4', '#9467bd'] };

export class LiveChart {
  private view: vega.View | null = null;
  private points: Point[] = [];

  constructor(private readonly container: HTMLElement, private readonly o: { x: string; y: string; logX?: boolean; band?: boolean; yDomain?: [number, number] }) {}

  private async ensure(): Promise<vega.View> {
    if (this.view) return this.view;
    const x = { field: 'x', type: 'quantitative', title: this.o.x, ...(this.o.logX ? { scale: { type: 'log' } } : {}) };
    const yScale = this.o.yDomain ? { domain: this.o.yDomain } : { zero: false };
    const color = { field: 'series', type: 'nominal', title: null, scale: COLORS, legend: { orient: 'bottom' } };
    const layer: object[] = [{ mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { field: 'y', type: 'quantitative', title: this.o.y, scale: yScale }, color } }];
    if (this.o.band) layer.unshift({ mark: { type: 'area', opacity: 0.2 }, encoding: { x, y: { field: 'lower', type: 'quantitative', scale: yScale }, y2: { field: 'upper' }, color } });
    const spec = { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', width: 'container', height: 260, autosize: { type: 'fit-x', contains: 'padding' }, data: { name: 'points' }, layer };
    this.view = new vega.View(vega.parse(compile(spec as TopLevelSpec).spec), { renderer: 'svg', container: this.container, hover: false });
    await this.view.runAsync();
    return this.view;
  }

  async set(points: Point[]): Promise<void> {
    this.points = points;
    const view = await this.ensure();
    await view.data('points', this.points.slice()).runAsync();
  }

  async add(points: Point[]): Promise<void> {
    await this.set([...this.points, ...points]);
  }

  async clear(): Promise<void> {
    await this.set([]);
  }
}
