// Runs the convex counterexample off the main thread with adopt-optim's framework-free core.
import { simulateToy, type ToyOptimizer, type ToyPoint } from 'adopt-lab/toy';

export interface ToyRequest {
  k: number;
  beta1: number;
  beta2: number;
  steps: number;
  chains: number;
  optimizers: ToyOptimizer[];
  seed: number;
}
export type ToyMessage =
  | { type: 'points'; optimizer: ToyOptimizer; points: ToyPoint[] }
  | { type: 'done'; optimizer: ToyOptimizer; median: number; seconds: number }
  | { type: 'finished'; stopped: boolean };

// The simulation runs synchronously: the page stops a run by terminating this worker.
self.onmessage = (event: MessageEvent<ToyRequest>) => {
  const r = event.data;
  for (const optimizer of r.optimizers) {
    const started = performance.now();
    let pending: ToyPoint[] = [];
    let lastPost = performance.now();
    const final = simulateToy(
      {
        optimizer,
        k: r.k,
        beta1: r.beta1,
        beta2: r.beta2,
        steps: r.steps,
        chains: r.chains,
        seed: r.seed,
        points: 300,
      },
      (p) => {
        pending.push(p);
        if (performance.now() - lastPost > 100) {
          postMessage({ type: 'points', optimizer, points: pending } satisfies ToyMessage);
          pending = [];
          lastPost = performance.now();
        }
      },
    );
    if (pending.length) postMessage({ type: 'points', optimizer, points: pending } satisfies ToyMessage);
    const sorted = Float32Array.from(final).sort();
    const median = (sorted[(sorted.length - 1) >> 1]! + sorted[sorted.length >> 1]!) / 2;
    postMessage({
      type: 'done',
      optimizer,
      median,
      seconds: (performance.now() - started) / 1000,
    } satisfies ToyMessage);
  }
  postMessage({ type: 'finished', stopped: false } satisfies ToyMessage);
};
