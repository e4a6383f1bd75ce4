/**
 * The demo: ADOPT beside Adam on two problems, printed as tables.
 *   1. The paper's convex counterexample, where Adam with beta2 = 0.1 goes to the wrong end.
 *   2. A small MLP classifier trained with tfjs (wasm backend) by ADOPT, our Adam and tf.train.adam.
 * Run with `npm run demo`.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { adam, adopt, core } from '../src/index.js';

function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function median(xs: Float32Array): number {
  const s = Array.from(xs).sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
}

/** Theta in [-1, 1]; gradient k^2 with probability 1/k, else -k; optimum -1. */
function toyProblem(): void {
  const k = 10;
  const chains = 64;
  const steps = 50_000;
  const lr = (t: number) => 0.01 / Math.sqrt(1 + 0.01 * t);
  console.log(`\n1. Convex counterexample (k = ${k}, ${chains} chains, ${steps} steps; optimum at -1)`);
  console.log('   beta2   Adam     AMSGrad  ADOPT    ADOPT unclipped   (median final theta)');
  for (const beta2 of [0.1, 0.5, 0.999]) {
    const row = [core.adam(lr, { beta2 }), core.amsgrad(lr, { beta2 }), core.adopt(lr, { beta2 }),
      core.adopt(lr, { beta2, clip: null })].map((opt) => {
      const random = mulberry32(7);
      const theta = new Float32Array(chains);
      const g = new Float32Array(chains);
      const state = opt.init(theta);
      for (let t = 0; t < steps; t++) {
        for (let i = 0; i < chains; i++) g[i] = random() < 1 / k ? k * k : -k;
        opt.step(theta, g, state as never);
        for (let i = 0; i < chains; i++) theta[i] = Math.min(1, Math.max(-1, theta[i]!));
      }
      return median(theta);
    });
    console.log(`   ${beta2.toFixed(3)}  ${row.map((x) => x.toFixed(3).padStart(6)).join('   ')}`);
  }
}

/** Labels from a random teacher network; a student MLP learns them. */
async function mlp(): Promise<void> {
  await tf.setBackend('wasm');
  const n = 4096;
  const dim = 32;
  const classes = 8;
  const epochs = 12;
  const x = tf.randomNormal([n, dim], 0, 1, 'float32', 1);
  const teacher = tf.randomNormal([dim, classes], 0, 1, 'float32', 2);
  const y = tf.tidy(() => tf.oneHot(tf.argMax(tf.matMul(tf.tanh(x), teacher), 1), classes));
  const optimizers: [string, () => tf.Optimizer][] = [
    ['ADOPT (adopt-optim)', () => adopt(1e-3)],
    ['Adam (adopt-optim)', () => adam(1e-3)],
    ['tf.train.adam', () => tf.train.adam(1e-3)],
  ];
  console.log(`\n2. MLP ${dim}-64-${classes} on a teacher-labelled task (${n} examples, batch 64, backend ${tf.getBackend()})`);
  const losses: number[][] = [];
  for (const [, make] of optimizers) {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [dim], units: 64, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 3 }) }),
        tf.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: tf.initializers.glorotNormal({ seed: 4 }) }),
      ],
    });
    model.compile({ optimizer: make(), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const history = await model.fit(x, y, { epochs, batchSize: 64, shuffle: false, verbose: 0 });
    losses.push(history.history['loss'] as number[]);
    const accuracy = (history.history['acc'] as number[]).at(-1)!;
    losses.at(-1)!.push(accuracy);
    model.optimizer.dispose();
    model.dispose();
  }
  console.log(`   epoch  ${optimizers.map(([name]) => name.padEnd(20)).join('  ')}   (training loss)`);
  for (let e = 0; e < epochs; e++) {
    console.log(`   ${String(e + 1).padStart(5)}  ${losses.map((l) => l[e]!.toFixed(4).padEnd(20)).join('  ')}`);
  }
  console.log(`   acc.   ${losses.map((l) => l[epochs]!.toFixed(4).padEnd(20)).join('  ')}   (final training accuracy)`);
  tf.dispose([x, teacher, y]);
}

console.log('adopt-optim demo: ADOPT (Taniguchi et al., NeurIPS 2024) beside Adam');
const started = Date.now();
toyProblem();
await mlp();
console.log(`\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
