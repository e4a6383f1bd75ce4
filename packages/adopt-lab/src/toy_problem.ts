/**
 * The convex counterexample as a simulation, free of Node and tfjs so it runs in browsers and
 * workers too (the playground uses it). See toy.ts for the experiment around it.
 *
 * One parameter theta in [-1, 1], projected back after every step, theta_0 = 0; stochastic
 * gradient k^2 with probability 1/k, otherwise -k (mean 1: f(theta) = theta, optimum -1);
 * learning rate 0.01 / sqrt(1 + 0.01 t). Many independent chains run at once as one array
 * through the framework-free core.
 */
import { core } from 'adopt-optim';
import { Rng } from 'adopt-optim/core';

export const TOY_OPTIMIZERS = ['adopt', 'adopt-unclipped', 'adam', 'amsgrad'] as const;
export type ToyOptimizer = (typeof TOY_OPTIMIZERS)[number];

export interface ToySettings {
  optimizer: ToyOptimizer;
  k: number;
  beta1?: number;
  beta2: number;
  steps: number;
  chains: number;
  seed: number;
  /** Trajectory points recorded (roughly evenly spaced). */
  points?: number;
}

export interface ToyPoint {
  t: number;
  median: number;
  q1: number;
  q3: number;
}

/** The learning rate of the published reproduction. */
export const toyLearningRate = (t: number) => 0.01 / Math.sqrt(1 + 0.01 * t);

// biome-ignore lint/suspicious/noExplicitAny: each optimizer has its own state type
function makeOptimizer(name: ToyOptimizer, beta1: number, beta2: number): core.CoreOptimizer<unknown, any> {
  switch (name) {
    case 'adopt':
      return core.adopt(toyLearningRate, { beta1, beta2 });
    case 'adopt-unclipped':
      return core.adopt(toyLearningRate, { beta1, beta2, clip: null });
    case 'adam':
      return core.adam(toyLearningRate, { beta1, beta2 });
    case 'amsgrad':
      return core.amsgrad(toyLearningRate, { beta1, beta2 });
  }
}

function quantile(sorted: Float32Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Runs the chains, calling `onPoint` with the median and quartiles as it goes; returns the final
 * thetas. `shouldStop` is polled at every recorded point, so a caller can cancel a long run.
 */
export function simulateToy(s: ToySettings, onPoint?: (p: ToyPoint) => void, shouldStop?: () => boolean): Float32Array {
  const rng = new Rng(s.seed);
  const random = () => rng.next();
  const theta = new Float32Array(s.chains);
  const g = new Float32Array(s.chains);
  const opt = makeOptimizer(s.optimizer, s.beta1 ?? 0.9, s.beta2);
  const state = opt.init(theta);
  const every = Math.max(1, Math.floor(s.steps / (s.points ?? 200)));
  const record = (t: number) => {
    const sorted = Float32Array.from(theta).sort();
    onPoint?.({ t, median: quantile(sorted, 0.5), q1: quantile(sorted, 0.25), q3: quantile(sorted, 0.75) });
  };
  record(0);
  const p = 1 / s.k;
  const big = s.k * s.k;
  for (let t = 1; t <= s.steps; t++) {
    for (let i = 0; i < s.chains; i++) g[i] = random() < p ? big : -s.k;
    opt.step(theta, g, state);
    for (let i = 0; i < s.chains; i++) theta[i] = Math.min(1, Math.max(-1, theta[i]!));
    if (t % every === 0 || t === s.steps) {
      record(t);
      if (shouldStop?.()) break;
    }
  }
  return theta;
}
