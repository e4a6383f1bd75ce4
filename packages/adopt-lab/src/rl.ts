/**
 * Deep reinforcement learning (the paper's last experiment, HalfCheetah and Ant with PPO there):
 * PPO on CartPole, its published dynamics (Barto, Sutton & Anderson 1983, as in Gym's
 * CartPole-v1) written here in TypeScript. Curve: episode return against environment steps.
 */
import * as tf from '@tensorflow/tfjs';
import { clipFactorOf, PYTORCH_CLIP_EPSILON } from 'adopt-optim/train';
import { makeOptimizer, meanStd, Random, type LabOptimizer, type OptimizerOverrides } from './common.js';
import { lineChart } from './plot.js';
import type { UnitExperiment } from './runs.js';
import { figureRecords, meanCurves, seedCount, standardTables, type SummarySpec, curveRows } from './summary.js';

/** CartPole-v1: push the cart left or right to keep the pole up; reward 1 per step, at most 500. */
export class CartPole {
  static readonly GRAVITY = 9.8;
  static readonly CART_MASS = 1.0;
  static readonly POLE_MASS = 0.1;
  static readonly HALF_LENGTH = 0.5;
  static readonly FORCE = 10;
  static readonly TAU = 0.02;
  static readonly X_LIMIT = 2.4;
  static readonly THETA_LIMIT = (12 * 2 * Math.PI) / 360;
  static readonly MAX_STEPS = 500;

  /** x, x_dot, theta, theta_dot */
  readonly state = new Float64Array(4);
  steps = 0;

  constructor(private readonly random: Random) {
    this.reset();
  }

  reset(): Float64Array {
    for (let i = 0; i < 4; i++) this.state[i] = this.random.next() * 0.1 - 0.05;
    this.steps = 0;
    return this.state;
  }

  /** Applies action 0 (push left) or 1 (push right); returns whether the episode ended. */
  step(action: number): { reward: number; done: boolean; truncated: boolean } {
    const s = this.state;
    const force = action === 1 ? CartPole.FORCE : -CartPole.FORCE;
    const total = CartPole.CART_MASS + CartPole.POLE_MASS;
    const poleMassLength = CartPole.POLE_MASS * CartPole.HALF_LENGTH;
    const cos = Math.cos(s[2]!);
    const sin = Math.sin(s[2]!);
    const temp = (force + poleMassLength * s[3]! * s[3]! * sin) / total;
    const thetaAcc =
      (CartPole.GRAVITY * sin - cos * temp) /
      (CartPole.HALF_LENGTH * (4 / 3 - (CartPole.POLE_MASS * cos * cos) / total));
    const xAcc = temp - (poleMassLength * thetaAcc * cos) / total;
    s[0] = s[0]! + CartPole.TAU * s[1]!;
    s[1] = s[1]! + CartPole.TAU * xAcc;
    s[2] = s[2]! + CartPole.TAU * s[3]!;
    s[3] = s[3]! + CartPole.TAU * thetaAcc;
    this.steps++;
    const failed = Math.abs(s[0]!) > CartPole.X_LIMIT || Math.abs(s[2]!) > CartPole.THETA_LIMIT;
    const truncated = !failed && this.steps >= CartPole.MAX_STEPS;
    return { reward: 1, done: failed || truncated, truncated };
  }
}

let instances = 0;

function mlp(
  sizes: number[],
  seed: number,
  prefix: string,
): { variables: tf.Variable[]; apply(x: tf.Tensor): tf.Tensor } {
  const id = instances++;
  const layers = sizes.slice(1).map((n, i) => ({
    w: tf.variable(
      tf.initializers
        .orthogonal({ gain: i === sizes.length - 2 ? 0.01 : Math.SQRT2, seed: seed * 10 + i })
        .apply([sizes[i]!, n]) as tf.Tensor,
      true,
      `${prefix}${id}/kernel${i}`,
    ),
    b: tf.variable(tf.zeros([n]), true, `${prefix}${id}/bias${i}`),
  }));
  return {
    variables: layers.flatMap((l) => [l.w, l.b]),
    apply: (x) =>
      layers.reduce((h, l, i) => {
        const y = tf.add(tf.matMul(h, l.w), l.b);
        return i < layers.length - 1 ? tf.tanh(y) : y;
      }, x),
  };
}

export interface RlOptions {
  envSteps?: number;
}

interface Run {
  curve: { envSteps: number; meanReturn: number }[];
  finalReturn: number;
}

/** PPO with clipped objective, GAE, separate policy and value networks. */
export async function ppo(
  optimizerName: LabOptimizer,
  seed: number,
  totalSteps: number,
  onUpdate?: (steps: number, ret: number) => void,
  learningRate = 3e-4,
  overrides: OptimizerOverrides = {},
): Promise<Run> {
  const envs = 8;
  const horizon = 128;
  const epochs = 4;
  const minibatch = 256;
  const gamma = 0.99;
  const lambda = 0.95;
  const clipRange = 0.2;
  const maxGradNorm = 0.5;
  const random = new Random(seed);
  const policy = mlp([4, 64, 64, 2], seed, 'policy');
  const value = mlp([4, 64, 64, 1], seed + 500, 'value');
  const variables = [...policy.variables, ...value.variables];
  const optimizer = makeOptimizer(optimizerName, learningRate, overrides);
  const world = Array.from({ length: envs }, () => new CartPole(random));
  const episodeReturn = new Float64Array(envs);
  const finished: number[] = [];
  const curve: Run['curve'] = [];
  const n = envs * horizon;
  const obs = new Float32Array(n * 4);
  const actions = new Int32Array(n);
  const logProbs = new Float32Array(n);
  const values = new Float32Array(n + envs);
  const rewards = new Float32Array(n);
  const dones = new Uint8Array(n);
  const truncatedValue = new Float32Array(n);
  let envSteps = 0;
  const current = () => Float32Array.from(world.flatMap((e) => Array.from(e.state)));
  while (envSteps < totalSteps) {
    const doneBefore = finished.length;
    for (let t = 0; t < horizon; t++) {
      const o = current();
      const [probs, v] = tf.tidy(() => {
        const x = tf.tensor2d(o, [envs, 4]);
        return [tf.softmax(policy.apply(x)).dataSync(), value.apply(x).dataSync()];
      });
      for (let e = 0; e < envs; e++) {
        const i = t * envs + e;
        obs.set(o.subarray(e * 4, e * 4 + 4), i * 4);
        const a = random.next() < probs[e * 2]! ? 0 : 1;
        actions[i] = a;
        logProbs[i] = Math.log(Math.max(probs[e * 2 + a]!, 1e-8));
        values[i] = v[e]!;
        const r = world[e]!.step(a);
        rewards[i] = r.reward;
        dones[i] = r.done ? 1 : 0;
        truncatedValue[i] = 0;
        episodeReturn[e] += r.reward;
        if (r.done) {
          if (r.truncated) {
            // a time limit is no failure: bootstrap from the value of the state it stopped in
            const last = Float32Array.from(world[e]!.state);
            truncatedValue[i] = tf.tidy(() => value.apply(tf.tensor2d(last, [1, 4])).dataSync()[0]!);
          }
          finished.push(episodeReturn[e]!);
          episodeReturn[e] = 0;
          world[e]!.reset();
        }
      }
    }
    envSteps += n;
    const lastValues = tf.tidy(() => value.apply(tf.tensor2d(current(), [envs, 4])).dataSync());
    values.set(lastValues, n);
    // generalised advantage estimation, backwards in time per environment
    const advantages = new Float32Array(n);
    const returns = new Float32Array(n);
    for (let e = 0; e < envs; e++) {
      let gae = 0;
      for (let t = horizon - 1; t >= 0; t--) {
        const i = t * envs + e;
        const nextValue = dones[i] ? truncatedValue[i]! : t === horizon - 1 ? values[n + e]! : values[i + envs]!;
        const delta = rewards[i]! + gamma * nextValue - values[i]!;
        gae = delta + gamma * lambda * (dones[i] ? 0 : gae);
        advantages[i] = gae;
        returns[i] = gae + values[i]!;
      }
    }
    const { mean, std } = meanStd(Array.from(advantages));
    for (let i = 0; i < n; i++) advantages[i] = (advantages[i]! - mean) / (std + 1e-8);
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = random.shuffle(n);
      for (let start = 0; start < n; start += minibatch) {
        const idx = order.subarray(start, start + minibatch);
        const pick = <T extends Float32Array | Int32Array>(src: T, width: number, make: (k: number) => T) => {
          const out = make(idx.length * width);
          idx.forEach((j, k) => out.set(src.subarray(j * width, j * width + width) as never, k * width));
          return out;
        };
        tf.tidy(() => {
          const x = tf.tensor2d(
            pick(obs, 4, (k) => new Float32Array(k)),
            [idx.length, 4],
          );
          const a = tf.tensor1d(
            pick(actions, 1, (k) => new Int32Array(k)),
            'int32',
          );
          const oldLogProb = tf.tensor1d(pick(logProbs, 1, (k) => new Float32Array(k)));
          const adv = tf.tensor1d(pick(advantages, 1, (k) => new Float32Array(k)));
          const ret = tf.tensor1d(pick(returns, 1, (k) => new Float32Array(k)));
          const { grads } = tf.variableGrads(() => {
            const logProb = tf.sum(tf.mul(tf.logSoftmax(policy.apply(x)), tf.oneHot(a, 2)), 1);
            const ratio = tf.exp(tf.sub(logProb, oldLogProb));
            const surrogate = tf.minimum(
              tf.mul(ratio, adv),
              tf.mul(tf.clipByValue(ratio, 1 - clipRange, 1 + clipRange), adv),
            );
            const valueLoss = tf.mean(tf.square(tf.sub(tf.reshape(value.apply(x), [-1]), ret)));
            return tf.add(tf.neg(tf.mean(surrogate)), tf.mul(0.5, valueLoss)) as tf.Scalar;
          }, variables);
          // The library's clipping formula (PyTorch's clip_grad_norm_: min(1, c / (‖g‖ + 1e-6))), on the norm as the
          // recorded runs (docs/results/v0.2/rl) computed it: a plain float32 √Σg². The library's scaled norm
          // (clipByGlobalNorm) differs by an ulp, and a 150k-step run then leaves the recorded one (seed 1 on wasm:
          // from step 29,696; final return 243 became 494). Use clipByGlobalNorm when the RL results are re-run.
          const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
          const scale = clipFactorOf(maxGradNorm, norm, PYTORCH_CLIP_EPSILON);
          optimizer.applyGradients(variables.map((v) => ({ name: v.name, tensor: tf.mul(grads[v.name]!, scale) })));
        });
      }
    }
    const recent = finished.slice(Math.max(doneBefore, finished.length - 20));
    const meanReturn = recent.length ? meanStd(recent).mean : (curve.at(-1)?.meanReturn ?? 0);
    curve.push({ envSteps, meanReturn });
    onUpdate?.(envSteps, meanReturn);
    await tf.nextFrame?.();
  }
  optimizer.dispose();
  tf.dispose(variables);
  const last = finished.slice(-20);
  return { curve, finalReturn: last.length ? meanStd(last).mean : 0 };
}

/** Seeds from this one up are held out: a sweep chooses each optimizer's rate on them, and reports on the others. */
export const HELD_OUT_SEEDS = 1001;

export interface RlBase extends Record<string, unknown> {
  envSteps: number;
  learningRate: number;
  envs: number;
  horizon: number;
  epochs: number;
  minibatch: number;
}

export const rlUnits: UnitExperiment<RlBase> = {
  folder: () => 'rl',
  ownBeta2: true,
  resolve: (o, quick) => ({
    envSteps: (o['envSteps'] as number | undefined) ?? (quick ? 2048 : 150_000),
    learningRate: (o['learningRate'] as number | undefined) ?? 3e-4,
    envs: 8,
    horizon: 128,
    epochs: 4,
    minibatch: 256,
  }),
  async run(b, unit) {
    const run = await ppo(
      unit.optimizer,
      unit.seed,
      b.envSteps,
      undefined,
      unit.setting.learningRate,
      unit.setting.beta2 === 'own' ? {} : { beta2: unit.setting.beta2 },
    );
    const meanOverRun = meanStd(run.curve.map((p) => p.meanReturn)).mean;
    return {
      curves: run.curve.map((p) => ({ ...p })),
      final: { finalReturn: run.finalReturn, meanReturn: meanOverRun },
    };
  },
  async summarize(b, records) {
    const spec: SummarySpec = {
      metrics: [
        {
          key: 'finalReturn',
          label: 'return of the last 20 episodes (max 500)',
          digits: 1,
          lowerIsBetter: false,
          compare: true,
        },
        { key: 'meanReturn', label: 'mean return over the run', digits: 1, lowerIsBetter: false, compare: true },
      ],
      defaultLr: b.learningRate,
      select: records.some((r) => r.seed >= HELD_OUT_SEEDS)
        ? {
            key: 'meanReturn',
            lowerIsBetter: false,
            on: `the mean return over the run on held-out seeds (${HELD_OUT_SEEDS} and up)`,
            seeds: (s: number) => s >= HELD_OUT_SEEDS,
          }
        : {
            key: 'meanReturn',
            lowerIsBetter: false,
            on:
              'the mean return over the run (training returns: RL has no held-out split, so the chosen rate is ' +
              'selected on the data it reports)',
          },
    };
    const t = standardTables(records, spec);
    // held-out seeds chose, they are not shown
    const reported = spec.select.seeds ? records.filter((r) => !spec.select.seeds!(r.seed)) : records;
    const shown = figureRecords(reported, spec, t.selection);
    const n = seedCount(reported);
    const band = n > 1 ? `mean of ${n} seeds; band: 95% CI of the mean (Student t), not min-max` : 'one seed: no band';
    return {
      name: 'rl',
      title: 'Deep reinforcement learning: PPO on CartPole',
      description:
        `PPO (clipped objective, GAE with gamma 0.99 and lambda 0.95, ${b.envs} environments x ${b.horizon} steps ` +
        `per update, ${b.epochs} epochs of minibatches of ${b.minibatch}, gradient clipping at norm 0.5) with ` +
        `separate 64-64 tanh policy and value networks, learning rate ${t.selection.lrs.join(', ')}, ` +
        `${b.envSteps.toLocaleString('en')} environment steps. CartPole-v1 dynamics; an episode ends at 500 steps.`,
      summary: t.summary,
      tables: t.tables,
      figures: [
        {
          file: 'episode-return.svg',
          caption:
            'Mean return of the episodes that ended in each update (up to 20), against environment steps; ' +
            `${band}.`,
          svg: await lineChart(meanCurves(shown, 'meanReturn', 'envSteps'), {
            title: 'PPO on CartPole: episode return',
            subtitle: band,
            x: 'environment steps',
            y: 'return',
          }),
        },
      ],
      curves: curveRows(records),
      notes: t.notes,
      meta: undefined as never,
    };
  },
};
