// A linear regression trained by a core optimizer, for the low-bit state tests: y = x·w*, minibatches of 32.
import type { core } from '../src/index.js';
import { Rng } from './reference.js';

/** Trains w from 0 towards w* (normal, seed 1) for `steps` minibatches; the last minibatch's loss and w. */
export function trainRegression(
  make: () => core.CoreOptimizer<any, any>,
  dim: number,
  steps: number,
): { loss: number; w: Float32Array } {
  const truth = new Rng(1).normals(dim);
  const opt = make();
  const w = new Float32Array(dim);
  const state = opt.init(w);
  const rng = new Rng(2);
  let loss = 0;
  for (let step = 0; step < steps; step++) {
    const g = new Float32Array(dim);
    loss = 0;
    for (let b = 0; b < 32; b++) {
      const x = rng.normals(dim);
      let e = 0;
      for (let i = 0; i < dim; i++) e += x[i]! * (w[i]! - truth[i]!);
      loss += (e * e) / 32;
      for (let i = 0; i < dim; i++) g[i]! += (2 * e * x[i]!) / 32;
    }
    opt.step(w, g, state);
  }
  return { loss, w };
}
