/**
 * How a tfjs parameter maps to PyTorch's: its name in a torch module (`<layer>.weight`, `.bias`) and the
 * permutation of its axes. tfjs-layers stores a Dense kernel [in, out], torch.nn.Linear its weight
 * [out, in]; Conv2D HWIO [h, w, in, out] against Conv2d OIHW; Conv1D [w, in, out] against [out, in, w].
 * Embedding tables and LayerNorm's gamma/beta (torch's weight/bias) keep their layout. Optimizer moments
 * are per element and follow their parameter's permutation. Nested models are walked into (their layers
 * are named `<model>.<layer>.weight`), a wrapper's inner weights keep their path (`bi.forward_lstm.kernel`);
 * names are unique or nothing is exported.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { OptimizerArgumentError } from '../validate.js';

export interface ParamLayout {
  /** The live variable. */
  variable: tf.Variable;
  /** Its name in the exported file: `<layer>.weight` in torch layout, the tfjs name otherwise. */
  exportName: string;
  /** Axes of the exported tensor in terms of the variable's (null: unchanged). */
  perm: number[] | null;
}

/** What `exportState`/`importState` take: a tf.LayersModel (its trainable weights) or variables. */
export type ParamSource = { layers: unknown[]; trainableWeights: unknown[] } | tf.Variable[];

interface WeightLike {
  originalName: string;
  read(): tf.Variable;
}
interface LayerLike {
  name: string;
  getClassName(): string;
  trainableWeights: WeightLike[];
  layers?: unknown[];
}

const PERMS: Record<string, Record<string, number[]>> = {
  Dense: { kernel: [1, 0] },
  Conv2D: { kernel: [3, 2, 0, 1] },
  Conv1D: { kernel: [2, 1, 0] },
};
const TORCH_NAMES: Record<string, Record<string, string>> = {
  Dense: { kernel: 'weight', bias: 'bias' },
  Conv1D: { kernel: 'weight', bias: 'bias' },
  Conv2D: { kernel: 'weight', bias: 'bias' },
  Embedding: { embeddings: 'weight' },
  LayerNormalization: { gamma: 'weight', beta: 'bias' },
};

/** The torch names a tfjs weight of this kind may have (its own, or what one of the mapped classes calls it). */
export function torchNamesOf(kind: string): string[] {
  return [
    kind,
    ...Object.values(TORCH_NAMES)
      .map((m) => m[kind])
      .filter((n): n is string => n !== undefined),
  ];
}

/** A tfjs weight name's kind: its last segment without tfjs's `_<N>` uniquifier (`dense/kernel_1` -> `kernel`). */
export const kindOf = (name: string): string => name.slice(name.lastIndexOf('/') + 1).replace(/_\d+$/, '');

/** The inverse of a permutation. */
export function inverse(perm: number[]): number[] {
  const out = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    out[p] = i;
  });
  return out;
}

export const isModel = (source: ParamSource): source is Exclude<ParamSource, tf.Variable[]> => !Array.isArray(source);

/** Every leaf layer under `layers`, with its module path (`inner.dense`), nested models walked into. */
function leaves(layers: unknown[], prefix: string, out: Map<tf.Variable, [LayerLike, string]>): void {
  for (const layer of layers as LayerLike[]) {
    if (Array.isArray(layer.layers)) {
      leaves(layer.layers, `${prefix}${layer.name}.`, out);
      continue;
    }
    for (const w of layer.trainableWeights) {
      if (!out.has(w.read())) out.set(w.read(), [layer, `${prefix}${layer.name}`]);
    }
  }
}

/** The torch name and axes of one weight of a leaf layer. */
function torchParam(variable: tf.Variable, w: WeightLike, layer: LayerLike, path: string): ParamLayout {
  const name = w.originalName;
  const own = name.startsWith(`${layer.name}/`) ? name.slice(layer.name.length + 1) : kindOf(name);
  const segments = own.split('/');
  const kind = kindOf(own);
  const cls = layer.getClassName();
  if (segments.length > 1) {
    return { variable, exportName: `${path}.${[...segments.slice(0, -1), kind].join('.')}`, perm: null };
  }
  const perm = PERMS[cls]?.[kind] ?? null;
  return {
    variable,
    exportName: `${path}.${TORCH_NAMES[cls]?.[kind] ?? kind}`,
    perm: perm !== null && perm.length === variable.rank ? perm : null,
  };
}

/**
 * The parameters of `source` in order, with their exported names and axes for `layout`. Throws an
 * OptimizerArgumentError (naming them) where two parameters would have the same name, or a variable is
 * listed twice: such a file could not be read back.
 */
export function paramLayouts(owner: string, source: ParamSource, layout: 'torch' | 'tfjs'): ParamLayout[] {
  let out: ParamLayout[];
  if (!isModel(source)) {
    out = source.map((variable) => ({ variable, exportName: variable.name, perm: null }));
  } else {
    const found = new Map<tf.Variable, [LayerLike, string]>();
    leaves(source.layers, '', found);
    out = [];
    for (const layer of source.layers as LayerLike[]) {
      for (const w of layer.trainableWeights) {
        const variable = w.read();
        const [leaf, path] = found.get(variable) ?? [layer, layer.name];
        const leafWeight = leaf.trainableWeights.find((x) => x.read() === variable) ?? w;
        out.push(
          layout === 'tfjs'
            ? { variable, exportName: variable.name, perm: null }
            : torchParam(variable, leafWeight, leaf, path),
        );
      }
    }
  }
  const seen = new Map<string, string>();
  const variables = new Set<tf.Variable>();
  for (const p of out) {
    if (variables.has(p.variable)) {
      throw new OptimizerArgumentError(
        `${owner}: the variable "${p.variable.name}" is listed twice; expected each parameter once.`,
      );
    }
    variables.add(p.variable);
    const other = seen.get(p.exportName);
    if (other !== undefined) {
      throw new OptimizerArgumentError(
        `${owner}: the variables "${other}" and "${p.variable.name}" would both be named "${p.exportName}" ` +
          `in ${layout} layout; names in the file must be unique (use layout 'tfjs', whose names are tfjs's own, ` +
          'or rename a layer). Nothing was written.',
      );
    }
    seen.set(p.exportName, p.variable.name);
  }
  return out;
}
