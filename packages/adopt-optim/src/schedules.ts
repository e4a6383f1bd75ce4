/**
 * Learning-rate schedules: functions of the step (0 for the first optimizer step, 1 for the
 * second, ...) returning the learning rate of that step. Those made here carry a config, so an
 * optimizer using one can be saved and restored; any other `(step) => number` works for
 * training but cannot be serialized.
 *
 *   adopt(cosineDecay({ peak: 1e-3, warmupSteps: 100, totalSteps: 5000, final: 1e-4 }))
 */
import { OptimizerArgumentError } from './validate.js';

/** A learning-rate schedule as getConfig saves it (scheduleConfig) and scheduleFromConfig reads it. */
export type ScheduleConfig =
  | { kind: 'constant'; value: number }
  | { kind: 'linearWarmup'; peak: number; warmupSteps: number }
  | { kind: 'cosineDecay'; peak: number; totalSteps: number; warmupSteps: number; final: number }
  | { kind: 'stepDecay'; initial: number; stepSize: number; gamma: number };

/** A learning rate as a function of the step. */
export type Schedule = (step: number) => number;

const CONFIG = Symbol('adopt-optim.scheduleConfig');

function nonNegative(owner: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new OptimizerArgumentError(`${owner}: invalid ${name} ${String(value)}; expected a finite number >= 0.`);
  }
  return value;
}

function count(owner: string, name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new OptimizerArgumentError(`${owner}: invalid ${name} ${String(value)}; expected an integer >= ${min}.`);
  }
  return value;
}

function make(config: ScheduleConfig, fn: Schedule): Schedule {
  Object.defineProperty(fn, CONFIG, { value: Object.freeze({ ...config }) });
  return fn;
}

/** The same learning rate at every step. */
export function constant(value: number): Schedule {
  nonNegative('constant', 'value', value);
  return make({ kind: 'constant', value }, () => value);
}

/** Rises linearly to `peak`, reached at step warmupSteps - 1: peak * (step + 1) / warmupSteps. */
export function linearWarmup(o: { peak: number; warmupSteps: number }): Schedule {
  const peak = nonNegative('linearWarmup', 'peak', o.peak);
  const warmupSteps = count('linearWarmup', 'warmupSteps', o.warmupSteps, 1);
  return make({ kind: 'linearWarmup', peak, warmupSteps }, (step) => peak * Math.min(1, (step + 1) / warmupSteps));
}

/**
 * Linear warm-up over `warmupSteps` (as linearWarmup), then a half cosine from `peak` down to
 * `final`, reached at step totalSteps and kept after it (nanoGPT's and Hugging Face's shape).
 */
export function cosineDecay(o: { peak: number; totalSteps: number; warmupSteps?: number; final?: number }): Schedule {
  const peak = nonNegative('cosineDecay', 'peak', o.peak);
  const final = nonNegative('cosineDecay', 'final', o.final ?? 0);
  const warmupSteps = count('cosineDecay', 'warmupSteps', o.warmupSteps ?? 0, 0);
  const totalSteps = count('cosineDecay', 'totalSteps', o.totalSteps, 1);
  if (warmupSteps >= totalSteps) {
    throw new OptimizerArgumentError(
      `cosineDecay: warmupSteps ${warmupSteps} must be less than totalSteps ${totalSteps}.`,
    );
  }
  return make({ kind: 'cosineDecay', peak, totalSteps, warmupSteps, final }, (step) => {
    if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
    const progress = Math.min(1, (step - warmupSteps) / (totalSteps - warmupSteps));
    return final + 0.5 * (peak - final) * (1 + Math.cos(Math.PI * progress));
  });
}

/** initial * gamma ** floor(step / stepSize) (PyTorch's StepLR). */
export function stepDecay(o: { initial: number; stepSize: number; gamma: number }): Schedule {
  const initial = nonNegative('stepDecay', 'initial', o.initial);
  const stepSize = count('stepDecay', 'stepSize', o.stepSize, 1);
  const gamma = nonNegative('stepDecay', 'gamma', o.gamma);
  return make(
    { kind: 'stepDecay', initial, stepSize, gamma },
    (step) => initial * gamma ** Math.floor(step / stepSize),
  );
}

/** The config of a schedule made here, or undefined for any other function. */
export function scheduleConfig(schedule: Schedule): ScheduleConfig | undefined {
  return (schedule as unknown as Record<symbol, ScheduleConfig | undefined>)[CONFIG];
}

/** Rebuilds a schedule from its config. */
export function scheduleFromConfig(config: unknown): Schedule {
  const c = config as Partial<Record<string, unknown>> | null;
  switch (c?.['kind']) {
    case 'constant':
      return constant(c['value'] as number);
    case 'linearWarmup':
      return linearWarmup(c as { peak: number; warmupSteps: number });
    case 'cosineDecay':
      return cosineDecay(c as { peak: number; totalSteps: number; warmupSteps: number; final: number });
    case 'stepDecay':
      return stepDecay(c as { initial: number; stepSize: number; gamma: number });
    default:
      throw new OptimizerArgumentError(
        `scheduleFromConfig: unknown schedule ${JSON.stringify(config)}; expected kind constant, linearWarmup, cosineDecay or stepDecay.`,
      );
  }
}

/**
 * Largest learning rate accepted, constant or from a schedule. The Adam family and ADOPT move each
 * parameter by about lr per step (the update is normalised), so a rate past 1e6 leaves any useful
 * float32 range within a few steps, and `adam(1e38)` overflowed parameters to ±Infinity on its first
 * step and to NaN on the next, without an error (issue 21). Refused instead, before anything changes.
 */
export const MAX_LEARNING_RATE = 1e6;

/** The learning rate of a step, checked: a schedule returning a negative, non-finite or too large rate throws. */
export function learningRateAt(owner: string, learningRate: number | Schedule, step: number): number {
  const lr = typeof learningRate === 'number' ? learningRate : learningRate(step);
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0 || lr > MAX_LEARNING_RATE) {
    throw new OptimizerArgumentError(
      `${owner}: the learning-rate schedule returned ${String(lr)} at step ${step}; expected a finite number in [0, ${MAX_LEARNING_RATE}].`,
    );
  }
  return lr;
}

/**
 * `lrMax` of corrected weight decay (docs/ALGORITHM.md §10.3): the learning rate the schedule is
 * built around, as timm snapshots the optimizer's constructor lr. A number: itself. A schedule
 * made here: `constant` its value, `linearWarmup` and `cosineDecay` their `peak` (their maximum),
 * `stepDecay` its `initial` (its maximum when gamma <= 1). Any other function has no known
 * maximum and is refused, as is an lrMax of 0 (timm refuses it too): lr² / 0 is undefined.
 */
export function maxLearningRate(owner: string, learningRate: number | Schedule): number {
  let max: number;
  if (typeof learningRate === 'number') max = learningRate;
  else {
    const c = scheduleConfig(learningRate);
    if (c === undefined) {
      throw new OptimizerArgumentError(
        `${owner}: correctedWeightDecay needs the schedule's maximum learning rate (lr² / lrMax), which a custom ` +
          'function does not declare; use constant, linearWarmup, cosineDecay or stepDecay, or a number.',
      );
    }
    max = c.kind === 'constant' ? c.value : c.kind === 'stepDecay' ? c.initial : c.peak;
  }
  if (!(max > 0)) {
    throw new OptimizerArgumentError(
      `${owner}: correctedWeightDecay needs a maximum learning rate > 0 (it divides by it); got ${String(max)}.`,
    );
  }
  return max;
}
