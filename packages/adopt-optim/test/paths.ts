/**
 * Every path a variant can take in Node (core fused and chained, tfjs cpu and wasm fused and as
 * ops), run over the same data, and its largest error against the variant's float64 reference:
 * shared by test/variant_options.test.ts and scripts/mutation-check.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { core, type NamedStateOptimizer } from '../src/index.js';
import { BACKENDS, useBackend } from './backends.js';
import { maxRelativeError, refState, Rng, type RefState } from './reference.js';
import type { VARIANTS } from './variants.js';

export const N = 257;
export const STEPS = 150;
export const TOLERANCE = 5e-4; // as in core.test.ts and tfjs_optimizers.test.ts

export type Path = {
  name: string;
  run(
    variant: (typeof VARIANTS)[number],
    p0: Float32Array,
    grads: Float32Array[],
  ): Promise<Float32Array[]> | Float32Array[];
};

/** Parameters after every step, through the core optimizer with `fused` forced. */
function corePath(fused: boolean): Path {
  return {
    name: `core ${fused ? 'fused' : 'chain'}`,
    run(variant, p0, grads) {
      const made = variant.core() as core.CoreOptimizer<any, any>;
      const { learningRate, amsgrad: _a, ...options } = made.hyperparams;
      const factory = variant.name.startsWith('ADOPT')
        ? core.adopt
        : variant.name.startsWith('AdamW')
          ? core.adamw
          : variant.name.startsWith('AMSGrad')
            ? core.amsgrad
            : core.adam;
      const opt = (factory as typeof core.adopt)(learningRate, { ...options, fused } as never);
      const p = Float32Array.from(p0);
      const state = opt.init(p);
      return grads.map((g) => {
        opt.step(p, g, state);
        return Float32Array.from(p);
      });
    },
  };
}

function tfjsPath(backend: string, fused: boolean): Path {
  return {
    name: `tfjs ${backend} ${fused ? 'fused' : 'ops'}`,
    async run(variant, p0, grads) {
      await useBackend(backend);
      const base = variant.tfjs();
      const cls = Object.getPrototypeOf(base).constructor;
      const opt = cls.fromConfig(cls, { ...base.getConfig(), fused }) as NamedStateOptimizer;
      base.dispose();
      const v = tf.variable(tf.tensor(p0));
      const out = grads.map((g) => {
        const gt = tf.tensor(g);
        opt.applyGradients({ [v.name]: gt });
        gt.dispose();
        return v.dataSync().slice() as Float32Array;
      });
      opt.dispose();
      v.dispose();
      return out;
    },
  };
}

export const PATHS: Path[] = [
  corePath(true),
  corePath(false),
  ...BACKENDS.flatMap((b) => [tfjsPath(b, true), tfjsPath(b, false)]),
];

export function data(seed: number): { p0: Float32Array; grads: Float32Array[] } {
  const rng = new Rng(seed);
  const p0 = rng.normals(N);
  const grads = Array.from({ length: STEPS }, (_, step) => rng.gradient(N, step === 0 ? 0.05 : 0));
  return { p0, grads };
}

/** Largest relative error against a float64 run of `reference` over the same gradients. */
export function errorAgainst(
  trajectory: Float32Array[],
  p0: Float32Array,
  grads: Float32Array[],
  reference: (p: Float64Array, g: ArrayLike<number>, s: RefState, k: number) => void,
): number {
  const ref = Float64Array.from(p0);
  const s = refState(N);
  let worst = 0;
  grads.forEach((g, k) => {
    reference(ref, g, s, k);
    worst = Math.max(worst, maxRelativeError(trajectory[k]!, ref));
  });
  return worst;
}
