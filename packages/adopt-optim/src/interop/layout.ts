/**
 * How a tfjs parameter maps to PyTorch's: its name in a torch module (`<layer>.weight`, `.bias`) and the
 * permutation of its axes. tfjs-layers stores a Dense kernel [in, out], torch.nn.Linear its weight
 * [out, in]; Conv2D HWIO [h, w, in, out] against Conv2d OIHW; Conv1D [w, in, out] against [out, in, w].
 * Embedding tables and LayerNorm's gamma/beta (torch's weight/bias) keep their layout. Optimizer moments
 * are per element and follow their parameter's permutation.
 */
import * as tf from '@tensorflow/tfjs-core';

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

interface LayerLike { name: string; getClassName(): string; trainableWeights: { originalName: string; read(): tf.Variable }[] }

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

/** The inverse of a permutation. */
export function inverse(perm: number[]): number[] {
  const out = new Array<number>(perm.length);
  perm.forEach((p, i) => { out[p] = i; });
  return out;
}

/** The parameters of `source` in order, with their exported names and axes for `layout`. */
export function paramLayouts(source: ParamSource, layout: 'torch' | 'tfjs'): ParamLayout[] {
  if (Array.isArray(source)) return source.map((variable) => ({ variable, exportName: variable.name, perm: null }));
  const out: ParamLayout[] = [];
  for (const layer of source.layers as LayerLike[]) {
    for (const w of layer.trainableWeights) {
      const variable = w.read();
      const kind = w.originalName.slice(w.originalName.lastIndexOf('/') + 1).replace(/_\d+$/, '');
      const cls = layer.getClassName();
      if (layout === 'tfjs') {
        out.push({ variable, exportName: variable.name, perm: null });
        continue;
      }
      const perm = PERMS[cls]?.[kind] ?? null;
      out.push({
        variable,
        exportName: `${layer.name}.${TORCH_NAMES[cls]?.[kind] ?? kind}`,
        perm: perm !== null && perm.length === variable.rank ? perm : null,
      });
    }
  }
  return out;
}
