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
  /** A line under the title, e.g. what the band is. */
  subtitle?: string;
}

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/**
 * One colour and one dash pattern per optimizer (Okabe-Ito, colour-blind safe): ADOPT solid
 * vermillion, unclipped ADOPT dotted reddish purple, Adam solid blue, AdamW dashed bluish green,
 * AMSGrad dash-dotted orange. Anything else is grey, solid.
 */
export const STYLES: Record<string, { color: string; dash: number[] }> = {
  ADOPT: { color: '#D55E00', dash: [1, 0] },
  'ADOPT (unclipped)': { color: '#CC79A7', dash: [2, 2] },
  'ADOPT (8-bit state)': { color: '#56B4E9', dash: [4, 2] },
  'ADOPT (ε added)': { color: '#882255', dash: [2, 4] },
  Adam: { color: '#0072B2', dash: [1, 0] },
  'Adam (ε 1e-6)': { color: '#332288', dash: [6, 2] },
  AdamW: { color: '#009E73', dash: [8, 4] },
  AMSGrad: { color: '#E69F00', dash: [6, 3, 1, 3] },
};
const ORDER = Object.keys(STYLES);

/** Lines per series (with an optional band), optionally in panels. */
export async function lineChart(data: LinePoint[], o: LineChartOptions): Promise<string> {
  const hasBand = data.some((d) => d.lower !== undefined && d.upper !== undefined && d.lower !== d.upper);
  const hasPanel = data.some((d) => d.panel !== undefined);
  const x = {
    field: 'x',
    type: 'quantitative' as const,
    title: o.x,
    ...(o.logX ? { scale: { type: 'log' as const } } : {}),
  };
  const yScale = {
    ...(o.logY ? { type: 'log' as const } : { zero: false }),
    ...(o.yDomain ? { domain: o.yDomain } : {}),
  };
  // the legend lists only the series drawn, in the fixed order, colours and dashes of STYLES
  const drawn = [...new Set(data.map((d) => d.series))];
  const domain = [...ORDER.filter((n) => drawn.includes(n)), ...drawn.filter((n) => !ORDER.includes(n))];
  // one legend (colour and dash merged), its symbols drawn as full-opacity line segments
  const legend = {
    orient: 'bottom' as const,
    title: null,
    symbolType: 'stroke',
    symbolSize: 500,
    symbolStrokeWidth: 2.5,
    encode: { symbols: { update: { opacity: { value: 1 }, fillOpacity: { value: 0 } } } },
  };
  const color = {
    field: 'series',
    type: 'nominal' as const,
    title: null,
    scale: { domain, range: domain.map((n) => STYLES[n]?.color ?? '#7f7f7f') },
    legend,
  };
  const strokeDash = {
    field: 'series',
    type: 'nominal' as const,
    title: null,
    scale: { domain, range: domain.map((n) => STYLES[n]?.dash ?? [1, 0]) },
    legend,
  };
  const layers: object[] = [];
  if (hasBand) {
    layers.push({
      mark: { type: 'area', opacity: 0.15 },
      encoding: {
        x,
        y: { field: 'lower', type: 'quantitative', scale: yScale, title: o.y },
        y2: { field: 'upper' },
        color,
      },
    });
  }
  layers.push({
    mark: { type: 'line', point: o.points ?? false, strokeWidth: 2 },
    encoding: { x, y: { field: 'y', type: 'quantitative', scale: yScale, title: o.y }, color, strokeDash },
  });
  const inner = { width: o.width ?? 360, height: o.height ?? 220, layer: layers };
  const title = o.subtitle ? { text: o.title, subtitle: o.subtitle } : o.title;
  const spec = hasPanel
    ? {
        data: { values: data },
        title,
        facet: { field: 'panel', type: 'nominal', title: null, sort: [...new Set(data.map((d) => d.panel))] },
        columns: o.columns ?? 3,
        spec: inner,
        resolve: { scale: { y: 'independent' } },
      }
    : { data: { values: data }, title, ...inner };
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    background: 'white',
    ...spec,
  } as TopLevelSpec);
}

/** Grayscale images (values in [0, 1], `size` x `size` each) in a grid. */
export async function imageGrid(
  images: Float32Array[],
  size: number,
  o: { title: string; columns: number; cell?: number },
): Promise<string> {
  const values: { image: number; row: number; col: number; v: number }[] = [];
  images.forEach((img, image) => {
    for (let r = 0; r < size; r++)
      for (let c = 0; c < size; c++) values.push({ image, row: r, col: c, v: img[r * size + c]! });
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
      width: size * cell,
      height: size * cell,
      mark: { type: 'rect', strokeWidth: 0, stroke: null },
      encoding: {
        x: { field: 'col', type: 'ordinal', axis: null },
        y: { field: 'row', type: 'ordinal', axis: null },
        color: { field: 'v', type: 'quantitative', scale: { range: ['black', 'white'], domain: [0, 1] }, legend: null },
      },
    },
  } as TopLevelSpec);
}
