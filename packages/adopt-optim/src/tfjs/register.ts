/**
 * Registering the optimizer classes with tfjs's serialization, which `tf.loadLayersModel` needs to
 * rebuild a model saved with its optimizer (`model.save(..., {includeOptimizer: true})`). Importing
 * 'adopt-optim' does it; `registerOptimizers()` does it explicitly, also into another copy of
 * tfjs-core (an app that bundles two) whose `serialization` is passed in.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AdoptOptimizer } from './adopt.js';
import { AdamOptimizer } from './adam.js';
import { AdamWOptimizer } from './adamw.js';
import { AMSGradOptimizer } from './amsgrad.js';

type Registrable = Parameters<typeof tf.serialization.registerClass>[0];

/** Classes their entry points add when imported: the rule optimizer ('adopt-optim/rules', ./rule_optimizer.ts). */
const added: Registrable[] = [];

/** Adds a class that `registerOptimizers` registers too (called by the module that defines it, when loaded). */
export function addRegisteredClass(cls: Registrable): void {
  if (!added.includes(cls)) added.push(cls);
}

/**
 * Registers ADOPT, Adam, AdamW, AMSGrad and, once 'adopt-optim/rules' is imported, the rule optimizer with `serialization` (tfjs-core's
 * `tf.serialization` by default; registering again is harmless) and returns their class names
 * (`adopt-optim/ADOPT`, ...). Without it, loading such a model fails in tfjs with
 * "Unknown optimizer: adopt-optim/ADOPT" (or "Unknown layer").
 */
export function registerOptimizers(
  serialization: { registerClass(cls: Registrable): unknown } = tf.serialization,
): string[] {
  const classes = [AdoptOptimizer, AdamOptimizer, AdamWOptimizer, AMSGradOptimizer, ...added] as Registrable[];
  for (const cls of classes) serialization.registerClass(cls as unknown as Registrable);
  return classes.map((cls) => cls.className);
}
