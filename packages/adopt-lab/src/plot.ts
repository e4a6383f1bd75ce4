/**
 * Figures, drawn by Vega-Lite and rendered to SVG by Vega in Node (no canvas needed).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface LinePoint {
  x: number;
  y: number;
  series: string;
  /** Optional band around the line (e.g. quartiles or min-max over seeds). */
  lower?: number;
  upper?: number;
  /** Optional panel (small multiples), e.g. "beta2 = 0.1". */
  panel?: string;
}

export interface LineChartOptions {
  title: string;
  x: string;
  y: string;
  logX?: boolean;
  logY?: boolean;
  /** Fixed y range. */
  yDomain?: [number, number];
  width?: number;
  height?: number;
  /** Number of panel columns when points have a panel. */
  columns?: number;
  points?: boolean;
}

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const COLORS = { domain: ['ADOPT', 'ADOPT (unclipped)', 'Adam', 'AdamW', 'AMSGrad'], range: ['#d62728', '#ff9896', '#1f77b4', '#2ca02c', '#9467bd'] };

/** Lines per series (with an optional band), optionally in panels. */
export async function lineChart(data: LinePoint[], o: LineChartOptions): Promise<string> {
  const hasBand = data.some((d) => d.lower !== undefined);
  const hasPanel = data.some((d) => d.panel !== undefined);
  const x = { field: 'x', type: 'quantitative' as const, title: o.x, ...(o.logX ? { scale: { type: 'log' as const } } : {}) };
  const yScale = { ...(o.logY ? { type: 'log' as const } : { zero: false }), ...(o.yDomain ? { domain: o.yDomain } : {}) };
  // the legend lists only the series drawn, in the fixed order and colours of COLORS
  const present = COLORS.domain.map((name, i) => [name, COLORS.range[i]!] as const).filter(([name]) => data.some((d) => d.series === name));
  const others = [...new Set(data.map((d) => d.series))].filter((name) => !COLORS.domain.includes(name));
  const scale = { domain: [...present.map(([n]) => n), ...others], range: [...present.map(([, c]) => c), ...others.map(() => '#7f7f7f')] };
  const color = { field: 'series', type: 'nominal' as const, title: null, scale, legend: { orient: 'bottom' as const } };
  const layers: object[] = [];
  if (hasBand) {
    layers.push({ mark: { type: 'area', opacity: 0.2 }, encoding: { x, y: { field: 'lower', type: 'quantitative', scale: yScale, title: o.y }, y2: { field: 'upper' }, color } });
  }
  layers.push({ mark: { type: 'line', point: o.points ?? false, strokeWidth: 1.8 }, encoding: { x, y: { field: 'y', type: 'quantitative', scale: yScale, title: o.y }, color } });
  const inner = { width: o.width ?? 360, height: o.height ?? 220, layer: layers };
  const spec = hasPanel
    ? { data: { values: data }, title: o.title, facet: { field: 'panel', type: 'nominal', title: null, sort: null }, columns: o.columns ?? 3, spec: inner, resolve: { scale: { y: 'independent' } } }
    : { data: { values: data }, title: o.title, ...inner };
  return render({ $schema: 'https://vega.github.io/schema/vega-lite/v5.json', background: 'white', ...spec } as TopLevelSpec);
}

/** Grayscale images (values in [0, 1], `size` x `size` each) in a grid. */
export async function imageGrid(images: Float32Array[], size: number, o: { title: string; columns: number; cell?: number }): Promise<string> {
  const values: { image: number; row: number; col: number; v: number }[] = [];
  images.forEach((img, image) => {
    for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) values.push({ image, row: r, col: c, v: img[r * size + c]! });
  });
  const cell = o.cell ?? 3;
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    background: 'white',
    title: o.title,
    data: { values },
    facet: { field: 'image', type: 'ordinal', header: { title: null, labels: false } },
    columns: o.columns,
    spacing: 2,
    config: { view: { stroke: null } },
    spec: {
      width: size * cell, height: size * cell,
      mark: { type: 'rect', strokeWidth: 0, stroke: null },
      encoding: {
        x: { field: 'col', type: 'ordinal', axis: null },
        y: { field: 'row', type: 'ordinal', axis: null },
        color: { field: 'v', type: 'quantitative', scale: { range: ['black', 'white'], domain: [0, 1] }, legend: null },
      },
    },
  } as TopLevelSpec);
}
