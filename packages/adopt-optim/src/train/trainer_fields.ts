/**
 * The check of each TrainerConfig field's value when the Trainer is built: a value of the wrong kind
 * (null, a number for a function, an object for an array, a Map for options) is refused with an
 * OptimizerArgumentError naming the field, the value and what was expected, instead of a TypeError
 * ("specs.map is not a function") or a silently ignored setting later.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAX_LEARNING_RATE } from '../schedules.js';
import { OptimizerArgumentError } from '../validate.js';

/** A value as an error message shows it: strings quoted, objects by kind or as short JSON. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || typeof v !== 'object') return String(v);
  if (v instanceof RegExp) return String(v);
  if (Array.isArray(v)) return v.length > 8 ? `an array of ${v.length}` : `[${v.map(describeValue).join(', ')}]`;
  if (!isPlainObject(v)) return `a ${(v as object).constructor?.name ?? 'object'}`;
  try {
    const json = JSON.stringify(v);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return 'an object';
  }
}

/** An object literal (or Object.create(null)): not a Map, an array, a class instance or a function. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function refuse(field: string, value: unknown, expected: string): never {
  throw new OptimizerArgumentError(`Trainer: invalid ${field} ${describeValue(value)}; expected ${expected}.`);
}

const isFunction = (v: unknown): boolean => typeof v === 'function';
const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The regular expression a paramGroups pattern matches variable names with: a copy without the g and y flags, whose
 * lastIndex would otherwise carry over from one name to the next (issue 06); its other flags (i, u, s, ...) apply.
 */
export function groupMatcher(pattern: RegExp | string): RegExp {
  if (typeof pattern === 'string') return new RegExp(pattern);
  return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
}

/** f(), an OptimizerArgumentError from it (an option the optimizer lacks) naming paramGroups[i] (when i >= 0). */
export function inGroup<T>(i: number, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (i < 0 || !(e instanceof OptimizerArgumentError)) throw e;
    throw new OptimizerArgumentError(`Trainer: paramGroups[${i}]: ${e.message}`);
  }
}

/** Largest paramGroups[].learningRateMultiplier: the bound on learning rates (MAX_LEARNING_RATE, issue 21). */
export const MAX_LEARNING_RATE_MULTIPLIER = MAX_LEARNING_RATE;

function checkModel(model: unknown): void {
  const expected = 'a tf.LayersModel or an array of tf.Variable';
  if (Array.isArray(model)) {
    // duck-typed too: a second copy of tfjs-core has its own tf.Variable class
    const isVariable = (v: unknown) =>
      v instanceof tf.Variable ||
      (v !== null &&
        typeof v === 'object' &&
        isFunction((v as tf.Variable).assign) &&
        typeof (v as tf.Variable).name === 'string');
    const i = model.findIndex((v) => !isVariable(v));
    if (i >= 0) refuse(`model[${i}]`, model[i], 'a tf.Variable (model is an array of tf.Variable)');
    if (model.length === 0) refuse('model', model, 'a non-empty array of tf.Variable (the variables to train)');
    const twice = model.findIndex((v, k) => model.indexOf(v) !== k);
    if (twice >= 0) {
      const name = (model[twice] as tf.Variable).name;
      const first = model.indexOf(model[twice]);
      refuse(`model[${twice}]`, name, `each tf.Variable once (variable ${describeValue(name)} is model[${first}] too)`);
    }
    return;
  }
  if (model === null || typeof model !== 'object') refuse('model', model, expected);
  const m = model as Record<string, unknown>;
  for (const key of ['trainableWeights', 'weights']) {
    const list = m[key];
    const isWeight = (w: unknown) => w !== null && typeof w === 'object' && isFunction((w as { read?: unknown }).read);
    if (!Array.isArray(list) || !list.every(isWeight)) {
      refuse('model', model, `${expected} (its ${key} is ${describeValue(list)}, not a list of layer weights)`);
    }
  }
}

function checkParamGroups(groups: unknown): void {
  if (groups === undefined) return;
  const item = 'an object {pattern, weightDecay?, learningRateMultiplier?}';
  if (!Array.isArray(groups)) refuse('paramGroups', groups, `an array of ${item}`);
  groups.forEach((g: unknown, i) => {
    const at = `paramGroups[${i}]`;
    if (!isPlainObject(g)) refuse(at, g, item);
    const { pattern, weightDecay, learningRateMultiplier } = g;
    if (typeof pattern === 'string') {
      try {
        new RegExp(pattern);
      } catch (e) {
        refuse(`${at}.pattern`, pattern, `a RegExp or a valid regular expression (${(e as Error).message})`);
      }
    } else if (!(pattern instanceof RegExp)) {
      refuse(`${at}.pattern`, pattern, 'a RegExp or a string (a regular expression matched against variable names)');
    }
    if (weightDecay !== undefined && !(isFiniteNumber(weightDecay) && weightDecay >= 0)) {
      refuse(`${at}.weightDecay`, weightDecay, 'a finite number >= 0');
    }
    const m = learningRateMultiplier;
    if (m !== undefined && !(isFiniteNumber(m) && m >= 0 && m <= MAX_LEARNING_RATE_MULTIPLIER)) {
      const range = `[0, ${MAX_LEARNING_RATE_MULTIPLIER}]`;
      refuse(`${at}.learningRateMultiplier`, m, `a finite number in ${range} (0 freezes the group)`);
    }
  });
}

/** Refuses the first field whose value is of the wrong kind or out of range (checkFields ran before). */
export function checkFieldValues(c: Record<string, unknown>): void {
  checkModel(c['model']);
  if (!isFunction(c['loss'])) refuse('loss', c['loss'], 'a function (batch, context) => tf.Scalar');
  const data = c['data'];
  const isDataset = data !== null && typeof data === 'object' && isFunction((data as { iterator?: unknown }).iterator);
  if (!isFunction(data) && !isDataset) {
    refuse('data', data, 'a tf.data.Dataset or a function of the epoch returning batches');
  }
  if (c['optimizerOptions'] !== undefined && !isPlainObject(c['optimizerOptions'])) {
    refuse('optimizerOptions', c['optimizerOptions'], 'a plain object of options, e.g. {weightDecay: 0.1}');
  }
  const lr = c['learningRate'];
  if (typeof lr !== 'number' && !isFunction(lr)) {
    refuse('learningRate', lr, 'a number, or a schedule of the optimizer step (a function)');
  }
  if (typeof lr === 'number' && !(Number.isFinite(lr) && lr >= 0 && lr <= MAX_LEARNING_RATE)) {
    refuse('learningRate', lr, `a finite number in [0, ${MAX_LEARNING_RATE}], or a schedule of the optimizer step`);
  }
  for (const key of ['steps', 'epochs']) {
    if (c[key] !== undefined && !isCount(c[key])) refuse(key, c[key], 'an integer >= 0');
  }
  const clip = c['clipGradNorm'];
  if (clip !== undefined && !(isFiniteNumber(clip) && clip > 0)) refuse('clipGradNorm', clip, 'a finite number > 0');
  const k = c['accumulationSteps'];
  if (k !== undefined && !(isCount(k) && (k as number) >= 1)) refuse('accumulationSteps', k, 'an integer >= 1');
  checkParamGroups(c['paramGroups']);
  const evaluate = c['evaluate'] as Record<string, unknown> | undefined;
  if (evaluate !== undefined) {
    if (!isPlainObject(evaluate)) refuse('evaluate', evaluate, 'an object {every, run}');
    if (!(isCount(evaluate['every']) && (evaluate['every'] as number) >= 1)) {
      refuse('evaluate.every', evaluate['every'], 'an integer >= 1');
    }
    if (!isFunction(evaluate['run'])) refuse('evaluate.run', evaluate['run'], 'a function (step) => metrics');
  }
  const ck = c['checkpoint'] as Record<string, unknown> | undefined;
  if (ck !== undefined) {
    if (!isPlainObject(ck)) refuse('checkpoint', ck, 'an object {dir, every?, keep?, fs?}');
    if (typeof ck['dir'] !== 'string' || ck['dir'] === '') refuse('checkpoint.dir', ck['dir'], 'a folder path');
    if (ck['every'] !== undefined && !(isCount(ck['every']) && (ck['every'] as number) >= 1)) {
      refuse('checkpoint.every', ck['every'], 'an integer >= 1 (steps between checkpoints)');
    }
    if (ck['keep'] !== undefined && !(isCount(ck['keep']) && (ck['keep'] as number) >= 1)) {
      refuse('checkpoint.keep', ck['keep'], 'an integer >= 1 (checkpoints of this run to keep)');
    }
    if (ck['fs'] !== undefined && (ck['fs'] === null || typeof ck['fs'] !== 'object')) {
      refuse('checkpoint.fs', ck['fs'], 'an object of file operations (CheckpointFs)');
    }
  }
  const { logFile, progress, seed, batchSize } = c;
  if (logFile !== undefined && (typeof logFile !== 'string' || logFile === '')) refuse('logFile', logFile, 'a path');
  if (progress !== undefined && typeof progress !== 'boolean') refuse('progress', progress, 'true or false');
  if (seed !== undefined && !Number.isSafeInteger(seed)) refuse('seed', seed, 'an integer');
  if (batchSize !== undefined && !isFunction(batchSize)) refuse('batchSize', batchSize, 'a function (batch) => size');
  const callbacks = c['callbacks'] as Record<string, unknown> | undefined;
  if (callbacks !== undefined) {
    if (!isPlainObject(callbacks)) {
      refuse('callbacks', callbacks, 'an object {onStep?, onEvaluate?, onCheckpoint?, onWarning?}');
    }
    for (const [name, f] of Object.entries(callbacks)) {
      if (f !== undefined && !isFunction(f)) refuse(`callbacks.${name}`, f, 'a function');
    }
  }
}
