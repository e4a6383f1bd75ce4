/**
 * The checks a Trainer restore makes before it assigns anything: the saved trainer state (optimizer,
 * parameter groups, data position, RNG, loss history) and every model variable and optimizer slot
 * against the live trainer. Nothing here creates a tensor or changes the trainer.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, type LoadedCheckpoint, type TensorValues } from './checkpoint.js';
import { checkSlots } from './restore_check.js';
import { isCount, isPositiveInteger, show } from './trainer_config.js';
import { matchByName } from './variable_names.js';

/** The trainer state a checkpoint's manifest holds beside the tensors. */
export interface SavedState {
  optimizer: string;
  optimizerClasses: string[];
  groups: (string | null)[];
  epoch: number;
  batchInEpoch: number;
  rngState: number;
  accumulationSteps: number;
  losses: { step: number; loss: number }[];
}

/** What a restore checks against: the live trainer's optimizer name, groups and model variables. */
export interface RestoreTarget {
  optimizer: string;
  groups: readonly { pattern: string | null; optimizer: tf.Optimizer; variables: tf.Variable[] }[];
  /** Every model variable, trainable or not, in the model's order. */
  variables: tf.Variable[];
}

/** What a checked restore assigns: model values beside their variables, and each group's optimizer weights. */
export interface RestorePlan {
  model: { values: TensorValues; variable: tf.Variable }[];
  optimizer: TensorValues[][];
}

/** Every check of a restore, on the raw values: what to assign, or a CheckpointError. */
export function checkRestore(loaded: LoadedCheckpoint, trainer: RestoreTarget): RestorePlan {
  const where = loaded.folder;
  const refuse = (message: string) => new CheckpointError(`restore: ${where} ${message}`);
  const s = loaded.manifest.state as Partial<Record<keyof SavedState, unknown>>;
  if (s.optimizer !== trainer.optimizer) {
    throw new CheckpointError(
      `restore: ${where} was written with optimizer "${s.optimizer}"; this trainer uses "${trainer.optimizer}".`,
    );
  }
  const groups = trainer.groups.map((g) => g.pattern);
  if (JSON.stringify(s.groups) !== JSON.stringify(groups)) {
    throw new CheckpointError(
      `restore: ${where} has parameter groups ${JSON.stringify(s.groups)}; this trainer has ${JSON.stringify(groups)}.`,
    );
  }
  const classes = trainer.groups.map((g) => g.optimizer.getClassName());
  if (JSON.stringify(s.optimizerClasses) !== JSON.stringify(classes)) {
    throw refuse(
      `has optimizer classes ${JSON.stringify(s.optimizerClasses)}; this trainer has ${JSON.stringify(classes)}.`,
    );
  }
  const step = loaded.manifest.step;
  if (!isCount(s.epoch)) throw refuse(`has an invalid epoch ${show(s.epoch)}.`);
  if (!isCount(s.batchInEpoch)) throw refuse(`has an invalid batchInEpoch ${show(s.batchInEpoch)}.`);
  if (!isCount(s.rngState) || s.rngState > 0xffffffff)
    throw refuse(`has an invalid rngState ${show(s.rngState)}; expected a 32-bit unsigned integer.`);
  if (!isPositiveInteger(s.accumulationSteps))
    throw refuse(`has an invalid accumulationSteps ${show(s.accumulationSteps)}.`);
  const losses = s.losses;
  if (
    !Array.isArray(losses) ||
    losses.length !== step ||
    !losses.every(
      (l: unknown, i) =>
        l !== null &&
        typeof l === 'object' &&
        (l as { step: unknown }).step === i &&
        (typeof (l as { loss: unknown }).loss === 'number' || (l as { loss: unknown }).loss === null),
    )
  ) {
    throw refuse(`has an invalid loss history; expected one {step, loss} per step done (${step}).`);
  }
  const expectedGroups = ['model', ...trainer.groups.map((_, i) => `optimizer/${i}`)];
  if (JSON.stringify([...loaded.groups].sort()) !== JSON.stringify([...expectedGroups].sort())) {
    throw refuse(
      `holds tensor groups ${JSON.stringify(loaded.groups)}; this trainer expects ${JSON.stringify(expectedGroups)}.`,
    );
  }

  const saved = loaded.values('model');
  const vars = trainer.variables;
  if (saved.length !== vars.length)
    throw refuse(`holds ${saved.length} model variables; this model has ${vars.length}.`);
  let order: number[];
  try {
    order = matchByName(
      saved.map((w) => w.name),
      vars.map((v) => v.name),
    ); // ./variable_names.ts
  } catch (e) {
    throw refuse((e as Error).message);
  }
  const liveOf = new Map<string, tf.Variable>();
  const model = saved.map((w, i) => {
    const v = vars[order[i]!]!;
    if (!tf.util.arraysEqual(w.shape, v.shape) || w.dtype !== v.dtype) {
      throw new CheckpointError(
        `restore: model variable "${w.name}" in ${where} has shape [${w.shape}] ${w.dtype}; ` +
          `this model's "${v.name}" has [${v.shape}] ${v.dtype}.`,
      );
    }
    liveOf.set(w.name, v);
    return { values: w, variable: v };
  });
  // optimizer state follows its variable, matched by name above
  const optimizer = trainer.groups.map((g, i) =>
    checkSlots(g.optimizer, new Set(g.variables), loaded.values(`optimizer/${i}`), liveOf, `${where} optimizer/${i}`),
  );
  return { model, optimizer };
}
