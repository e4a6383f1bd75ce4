/**
 * A variable's first step under `nonFinite: 'skip'` on webgl and webgpu (docs/ALGORITHM.md §6.3):
 * redone at its next step when the GPU skipped it, as on cpu.
 *
 * On the GPU a skipped step is a no-op (`ok ? new : old`) whose verdict arrives later. Its counter
 * advanced meanwhile, so the variable's next step, issued before the verdict, would run as step 1 on
 * a state that was never initialised (ADOPT: v = 0, a division by ε; Adam: the wrong bias
 * correction). So, until the verdict of every step that could have been a variable's first is
 * known, the variable keeps `done`, a bool scalar on the GPU (has its first step been applied?),
 * and each of its steps runs twice, with exclusive verdicts: as its first step where
 * `ok ∧ ¬done`, as the step its counter says where `ok ∧ done`; then `done ← done ∨ ok`. Once the
 * verdicts are in, the skipped steps' counters have been rolled back (GpuFiniteGuard) and the
 * counter alone says again which step comes next.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { VariableState } from './slot_store.js';

/** Makes `ok` (a bool scalar on the GPU) the verdict every write honours (NamedStateOptimizer.commit, GPU kernels). */
export type SetVerdict = (ok: tf.Tensor) => void;

export class FirstSteps {
  /** Variable name → `done` (kept), while a step that may have been its first awaits its verdict. */
  private pending = new Map<string, tf.Tensor>();

  /** Forgets the variables whose steps have all been reported (call before the step's own verdict is issued). */
  settle(unreported: (name: string) => boolean): void {
    for (const [name, done] of this.pending) {
      if (unreported(name)) continue;
      done.dispose();
      this.pending.delete(name);
    }
  }

  /**
   * One variable's update under the step's verdict `ok`: as it is, recording `done = ok` when it is
   * the variable's first step; twice, as described above, while an earlier first step awaits its verdict.
   */
  step(name: string, state: VariableState, ok: tf.Tensor, update: () => void, setVerdict: SetVerdict): void {
    const done = this.pending.get(name);
    if (done === undefined) {
      update();
      if (state.step === 0) this.pending.set(name, tf.keep(tf.clone(ok)));
      return;
    }
    const runUnder = (verdict: tf.Tensor) => {
      setVerdict(verdict);
      try {
        update();
      } finally {
        setVerdict(ok);
      }
    };
    const [asFirst, asNext, next] = tf.tidy(() => [
      tf.keep(tf.logicalAnd(ok, tf.logicalNot(done))),
      tf.keep(tf.logicalAnd(ok, done)),
      tf.keep(tf.logicalOr(done, ok)),
    ]);
    try {
      const count = state.step;
      state.step = 0;
      try {
        runUnder(asFirst!);
      } finally {
        state.step = count;
      }
      runUnder(asNext!);
    } catch (error) {
      next!.dispose();
      throw error;
    } finally {
      asFirst!.dispose();
      asNext!.dispose();
    }
    done.dispose();
    this.pending.set(name, next!);
  }

  /** Drops everything (setWeights replaced the state; dispose). */
  reset(): void {
    tf.dispose([...this.pending.values()]);
    this.pending.clear();
  }
}
