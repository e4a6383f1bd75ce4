/**
 * The non-finite check on GPU backends (webgl, webgpu), without a synchronous readback
 * (docs/ALGORITHM.md §6.3).
 *
 * On the CPU backends the check reads every gradient before the step and refuses a bad one
 * synchronously (§6.2). On a GPU that read would stall the pipeline on every step, and on tfjs's
 * webgpu backend `dataSync()` goes through an OffscreenCanvas path that returned wrong values or
 * lost the device (measured in headless Chromium, SwiftShader). Here instead:
 *
 * - one flag per gradient, `sum(g · 0)` (0 when every element is finite, NaN otherwise) or, with
 *   the fused webgl/webgpu kernels, one program counting non-finite elements; stacked into a
 *   vector and reduced on the GPU to one boolean `ok` (the sum of the flags is 0);
 * - every write of the step is `ok ? new : old` on the GPU (the fused kernels take `ok` as an
 *   input, the ops path uses `tf.where`), so a bad step changes no parameter and no state;
 * - the flag vector is read back asynchronously (`data()`); the outcome is applied when it
 *   arrives: `'skip'` increments `skippedSteps`, `'throw'` records a NonFiniteGradientError that
 *   the next call (applyGradients, minimize, checkFinite) throws.
 * - `'throw'` is sticky on the GPU: `ok` of a step is also false when an earlier step was refused
 *   and not yet reported, so every step issued between a bad one and its report is a no-op too.
 *   When the report arrives the step counters of all those steps are rolled back: the optimizer
 *   is exactly as it was before the bad step, as with the synchronous check.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NonFinitePolicy } from '../hyperparams.js';
import { NonFiniteGradientError, OUT_OF_RANGE } from '../validate.js';
import { opsFlags } from './gradient_checks.js';

export { opsFlag, opsFlags } from './gradient_checks.js';

/** What one issued step touched: enough to roll its counters back. */
interface IssuedStep {
  iteration: number;
  names: string[];
  /** Per-gradient flags (0 or NaN), read back asynchronously; null once read. */
  flags: tf.Tensor | null;
  done: Promise<void>;
}

/** Counters the guard may roll back (the optimizer's). */
export interface RollbackTarget {
  /** Name used in error messages, e.g. 'ADOPT'. */
  displayName(): string;
  /** Undo `iterations` optimizer steps and, per variable, that many steps of its counter. */
  rollBack(iterations: number, stepsByName: Map<string, number>): void;
  countSkipped(): void;
}

export class GpuFiniteGuard {
  /** Steps issued whose flags have not been read yet, oldest first. */
  private issued: IssuedStep[] = [];
  /** 'throw': the `ok` of the last step issued (false once a step was refused), kept across steps. */
  private chain: tf.Tensor | null = null;
  /** The error to throw at the next call ('throw'). */
  private pendingError: NonFiniteGradientError | null = null;
  /** Bumped when a refused step has been handled: later reports of its generation are stale. */
  private generation = 0;

  constructor(
    private readonly policy: NonFinitePolicy,
    private readonly target: RollbackTarget,
  ) {}

  /** Throws the error found by an earlier step's report (once). */
  throwPending(): void {
    const error = this.pendingError;
    if (error !== null) {
      this.pendingError = null;
      throw error;
    }
  }

  /**
   * `ok` of this step: a bool scalar on the GPU, kept (the caller disposes it after the step).
   * Call after every synchronous check has passed, just before the updates.
   */
  begin(
    iteration: number,
    pairs: [tf.Variable, tf.Tensor][],
    flagsOf: (gs: tf.Tensor[]) => tf.Tensor = opsFlags,
  ): tf.Tensor {
    const checked = pairs.filter(([, g]) => g.size > 0);
    const flags = checked.length === 0 ? null : tf.tidy(() => flagsOf(checked.map(([, g]) => g)));
    const ok = tf.tidy(() => {
      const finite = flags === null ? tf.scalar(true, 'bool') : tf.equal(tf.sum(flags), 0);
      return this.policy === 'throw' && this.chain !== null ? tf.logicalAnd(finite, this.chain) : finite;
    });
    if (this.policy === 'throw') {
      this.chain?.dispose();
      this.chain = tf.keep(tf.clone(ok));
    }
    const generation = this.generation;
    const step: IssuedStep = { iteration, names: pairs.map(([v]) => v.name), flags, done: Promise.resolve() };
    step.done =
      flags === null
        ? Promise.resolve()
        : flags.data().then(
            (values) =>
              this.report(
                step,
                checked.map(([v]) => v.name),
                values as Float32Array,
                generation,
              ),
            () => {
              flags.dispose();
              step.flags = null;
              const index = this.issued.indexOf(step);
              if (index >= 0) this.issued.splice(index, 1);
            },
          );
    this.issued.push(step);
    return ok;
  }

  /** Handles the flags of one step, when they arrive (GPU order: oldest first). */
  private report(step: IssuedStep, names: string[], values: Float32Array, generation: number): void {
    step.flags?.dispose();
    step.flags = null;
    const index = this.issued.indexOf(step);
    if (generation !== this.generation || index < 0) return; // a step after a handled refusal
    const bad = values.findIndex((x) => x !== 0);
    if (bad < 0) {
      this.issued.splice(index, 1);
      return;
    }
    if (this.policy === 'skip') {
      // the step was a no-op on the GPU: its counters go back, as if it had been skipped at once (§6.1)
      this.target.rollBack(1, new Map(step.names.map((name) => [name, 1])));
      this.target.countSkipped();
      this.issued.splice(index, 1);
      return;
    }
    // 'throw': this step and every one issued after it were no-ops on the GPU (the chain).
    const undone = this.issued.splice(index);
    const stepsByName = new Map<string, number>();
    for (const s of undone) for (const name of s.names) stepsByName.set(name, (stepsByName.get(name) ?? 0) + 1);
    this.target.rollBack(undone.length, stepsByName);
    this.generation++;
    this.chain?.dispose();
    this.chain = null;
    const name = names[bad]!;
    const later = undone.length - 1;
    this.pendingError = new NonFiniteGradientError(
      `${this.target.displayName()}: the gradient of variable "${name}" held ${OUT_OF_RANGE} at step ${step.iteration} ` +
        `(found on the GPU after the step was issued); parameters and optimizer state were left as they were ` +
        `before that step${later > 0 ? `, and the ${later} step(s) issued after it were not applied either` : ''}. ` +
        "Pass {nonFinite: 'skip'} to skip such steps instead.",
      name,
      step.iteration,
    );
  }

  /** Whether a step naming this variable awaits its report. */
  unreported(name: string): boolean {
    return this.issued.some((s) => s.flags !== null && s.names.includes(name));
  }

  /** Waits for every issued step's report. */
  async settle(): Promise<void> {
    while (this.issued.some((s) => s.flags !== null)) {
      await Promise.all(this.issued.map((s) => s.done));
    }
  }

  /** Resolves once every step so far has been checked; rejects with the error of a refused one ('throw'). */
  async check(): Promise<void> {
    await this.settle();
    this.throwPending();
  }

  /** Forgets everything pending (setWeights replaced the state; dispose). */
  reset(): void {
    for (const s of this.issued) {
      s.flags?.dispose();
      s.flags = null;
    }
    this.issued = [];
    this.chain?.dispose();
    this.chain = null;
    this.pendingError = null;
    this.generation++;
  }
}
