/**
 * The one TensorFlow.js optimizer built from a rule (src/rules/rule.ts): its slots, kernel flags and
 * phases are read off the rule, its options off the rule's options table; a declaration (./adopt.ts,
 * ./adam_family.ts, ./rule_optimizer.ts) supplies only the step's scalars and the checks its math needs.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LearningRate, NonFinitePolicy } from '../hyperparams.js';
import { flagsOf, type Rule } from '../rules/rule.js';
import { optionsConfig, optionsFromConfig, type OptionSpecs } from '../rules/options.js';
import { kernelPlan, type KernelPlan, type PhaseCall } from '../codegen/modules.js';
import { runPhase } from '../dispatch.js';
import type { StepEntry } from '../backends/tfjs_fused.js';
import { maxLearningRate } from '../schedules.js';
import { lowBitFormat, type LowBitDtype } from '../formats/state_formats.js';
import { lowBitPiecesFor, type LowBitPieces } from './extensions.js';
import { NamedStateOptimizer, type StepItem, type VariableState } from './named_state_optimizer.js';

/** What the step's scalars are computed from: the rate of this step, the variable's count before it, lrMax. */
export interface StepContext {
  readonly lr: number;
  /** The variable's step count before this step (0 at its first). */
  readonly step: number;
  /** lrMax of corrected decay (§10.3): the learning rate's declared maximum (refused where unknown); 1 if unused. */
  lrMax(): number;
  /** The variable's name, for the message when the scalars are refused. */
  readonly variable: string;
}

/** A declaration: the rule, its resolved options, and the hooks its math needs. */
export interface Family {
  /** Name in messages: 'ADOPT', 'AdamW', a defined rule's name. */
  readonly displayName: string;
  readonly rule: Rule;
  /** The resolved options (without the learning rate): they become read-only fields (`opt.beta2`). */
  readonly options: Readonly<Record<string, unknown>>;
  /**
   * The phase's float64 scalars (rules/scalars.ts) from the optimizer's options (its fields), checked:
   * computed for every variable before any changes.
   */
  scalars(options: Readonly<Record<string, unknown>>, context: StepContext): Record<string, number>;
  /** The name each of the rule's slots is saved under (default: the slot's own name). */
  readonly savedSlots?: readonly string[];
  /** Whether the scalars' `sign` may carry the clipping-by-norm factor (src/gradient_clipping.ts): no pass of its own. */
  readonly foldsGradientScale: boolean;
  /**
   * Whether the scalars depend only on the options, the rate and the count (not on the variable, and scalars() is
   * pure): one object then serves every variable at a count in a step, and the table kernel evaluates its uniforms
   * once. False (a rule defined by a user: its scalars() is called for every variable, as it may refuse any).
   */
  readonly sharedScalars?: boolean;
  /** Whether the ops path takes a backend-safe epsilon (§7.1). */
  readonly safeEpsilon: boolean;
}

/** The options a rule's optimizer saves and loads from its options table (getConfig / fromConfig). */
export interface SavedOptions {
  readonly displayName: string;
  readonly specs: OptionSpecs;
}

export abstract class FamilyOptimizer extends NamedStateOptimizer {
  protected readonly slotNames: readonly string[];
  protected readonly displayName: string;
  /** The rule's slots as its kernels name them, in binding order (paired with slotNames). */
  private readonly arrays: readonly string[];
  private readonly family: Family;
  /** The rule's kernels for these options (fixed when the optimizer is built). */
  private readonly plan: KernelPlan;
  /** Each variable's scalars for the step in progress (at its count): computed and checked before any is written. */
  private readonly pending = new Map<tf.Variable, { step: number; scalars: Record<string, number> }>();
  /** The scalars of the step in progress by variable count (the same for every variable at that count). */
  private readonly byCount = new Map<number, Record<string, number>>();

  /** The low-bit pieces (`import 'adopt-optim/lowbit'`) where the state is low-bit. */
  private readonly lowBitPieces: LowBitPieces | null;

  protected constructor(family: Family, learningRate: LearningRate, nonFinite: NonFinitePolicy, fused: boolean) {
    const stateDtype = (family.options.stateDtype ?? 'float32') as 'float32' | LowBitDtype;
    // refused before anything is made where the low-bit entry point was not imported
    const pieces = stateDtype === 'float32' ? null : lowBitPiecesFor(family.displayName, stateDtype);
    super(learningRate, nonFinite, fused);
    this.family = family;
    this.lowBitPieces = pieces;
    this.displayName = family.displayName;
    const flags = flagsOf(family.rule, family.options);
    this.arrays = family.rule.slots(flags);
    this.plan = kernelPlan(family.rule, flags);
    const saved = family.savedSlots ?? this.arrays;
    if (saved.length !== this.arrays.length) {
      const counts = `${saved.length} saved slot names for ${this.arrays.length} slots`;
      throw new TypeError(`adopt-optim ${family.displayName}: ${counts}`);
    }
    this.slotNames = stateDtype !== 'float32' ? [] : saved;
    this.lowBit = stateDtype === 'float32' ? null : pieces!.store(family.displayName, lowBitFormat(stateDtype));
    Object.assign(this, family.options);
  }

  /** lrMax of corrected weight decay (§10.3): the current learning rate's declared maximum. */
  private maxLearningRate(): number {
    if (this.family.options.correctedWeightDecay !== true) return 1;
    return maxLearningRate(this.displayName, this.schedule ?? this.learningRate);
  }

  private scalarsOf(variable: tf.Variable, step: number): Record<string, number> {
    const context = { lr: this.learningRate, step, lrMax: () => this.maxLearningRate(), variable: variable.name };
    return this.family.scalars(this as unknown as Record<string, unknown>, context);
  }

  /** Called for every variable of a step before any is updated: refused scalars leave everything unchanged. */
  protected override checkStep(variable: tf.Variable, step: number): void {
    // built-in rules (Family.sharedScalars): the scalars depend on the count and the step's rate, not on the
    // variable: one object per count, checked at the first variable with that count (a refusal names it), shared by
    // the others (and by updateMany's table, which evaluates the uniforms once per distinct object)
    let scalars = this.family.sharedScalars === true ? this.byCount.get(step) : undefined;
    if (scalars === undefined) this.byCount.set(step, (scalars = this.scalarsOf(variable, step)));
    this.pending.set(variable, { step, scalars });
  }

  /**
   * One step for these gradients (by variable name): every gradient and every variable's scalars checked
   * before any parameter or state changes.
   */
  override applyGradients(variableGradients: Parameters<NamedStateOptimizer['applyGradients']>[0]): void {
    this.pending.clear();
    this.byCount.clear();
    try {
      super.applyGradients(variableGradients);
    } finally {
      this.pending.clear();
      this.byCount.clear();
    }
  }

  protected override foldsGradientScale(): boolean {
    return this.family.foldsGradientScale;
  }

  /** A variable's call at its count: its init phase at the first step where it has one (ADOPT §2.3). */
  private callOf(p: tf.Variable, state: VariableState, gradScale: number): PhaseCall {
    const pending = this.pending.get(p);
    // a first step redone on a GPU (./gpu_first_steps.ts) runs at count 0: its own scalars
    const checked = pending?.step === state.step ? pending.scalars : this.scalarsOf(p, state.step);
    // clipping by norm multiplies the gradient through the rule's sign (src/gradient_clipping.ts)
    const folds = gradScale !== 1 && this.family.foldsGradientScale;
    const scalars = folds ? { ...checked, sign: checked.sign! * gradScale } : checked;
    const plan = this.plan;
    return { plan, phase: state.step === 0 && plan.init !== undefined ? 'init' : 'step', scalars };
  }

  /** The variable's slots, in the rule's order, as the kernels name them. */
  private slotsOf(state: VariableState): [string, tf.Variable][] {
    return this.arrays.map((a, i): [string, tf.Variable] => [a, state.slots.get(this.slotNames[i]!)!]);
  }

  /**
   * Float32 state on wasm or cpu: the variables whose phase has a table kernel (not caution's, whose mean is
   * counted per variable) step in one kernel call per phase (init, step), bit-identical to updateVariable.
   */
  protected override takesMany(): boolean {
    return this.lowBit === null && this.kernels?.runMany !== undefined && this.kernels.runsMany !== undefined;
  }

  protected override updateMany(items: readonly StepItem[]): ReadonlySet<tf.Variable> | null {
    const k = this.kernels;
    if (!this.takesMany() || k === null || k.runMany === undefined || k.runsMany === undefined) return null;
    const byPhase = new Map<string, StepEntry[]>();
    const runsMany = { init: undefined as boolean | undefined, step: undefined as boolean | undefined };
    const plan = this.plan;
    for (const { variable: p, gradient: g, state, gradScale } of items) {
      // whether the phase has a table kernel is the same for every call of it (asked once, before any scalars);
      // runMany leaves the variables not on this backend (`accepts`)
      const phase = state.step === 0 && plan.init !== undefined ? 'init' : 'step';
      const probe = { plan, phase, scalars: {} } as const;
      if (!(runsMany[phase] ??= k.runsMany(probe) && k.supports(probe))) continue;
      const call = this.callOf(p, state, gradScale);
      const slots = this.slotsOf(state).map(([, t]) => t);
      const group = byPhase.get(call.phase) ?? [];
      group.push({ call, p, g, slots });
      byPhase.set(call.phase, group);
    }
    const done = new Set<tf.Variable>();
    for (const entries of byPhase.values()) {
      if (entries.length < 2) continue; // one variable: its own call, as before
      const left = new Set(k.runMany(entries).map((e) => e.p)); // not on this backend: the per-variable path
      for (const { p } of entries) if (!left.has(p)) done.add(p);
      if (left.size < entries.length) this.ranOn(k.path);
    }
    return done;
  }

  /** One step of the rule on one variable: its init phase at the first step where it has one (ADOPT §2.3). */
  protected updateVariable(p: tf.Variable, gradient: tf.Tensor, state: VariableState): void {
    const call = this.callOf(p, state, this.gradScale);
    const { scalars } = call;
    if (this.lowBit !== null) {
      // §11–§13: the low-bit kernels; on wasm in place on the heap (src/tfjs/lowbit_store.ts)
      this.lowBit.step(call, p, gradient, this.lowBitPieces!.stepSeed(state.step), this.kernels, (next) =>
        this.commit(p, tf.tensor(next, p.shape, 'float32')),
      );
      this.ranOn(this.lowBit.format.dtype);
      return;
    }
    const slots = this.slotsOf(state);
    const opsScalars = () =>
      this.family.safeEpsilon ? { ...scalars, epsilon: this.backendSafeEpsilon(scalars.epsilon!) } : scalars;
    const commit = (target: tf.Variable, value: tf.Tensor) => this.commit(target, value);
    this.ranOn(runPhase(this.kernels, call, p, gradient, slots, opsScalars, commit));
  }

  /** The options of a rule's optimizer as its options table saves them, after the learning rate and policies. */
  protected savedOptions(specs: OptionSpecs): tf.serialization.ConfigDict {
    const options = optionsConfig(`${this.displayName}.getConfig`, specs, this) as tf.serialization.ConfigDict;
    return { ...this.baseConfig(), ...options };
  }

  /** A config written by savedOptions, rebuilt as `new cls(learningRate, options)`. */
  protected static fromSavedOptions<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
    saved: SavedOptions,
  ): T {
    // tfjs-layers adds `customObjects` to the config it passes in; it is not an option of ours.
    const { learningRate, customObjects: _, ...rest } = config;
    const options = optionsFromConfig(`${saved.displayName}.fromConfig`, saved.specs, rest);
    const make = cls as unknown as new (lr: unknown, o: object) => T;
    return new make(NamedStateOptimizer.learningRateFromConfig(learningRate), options);
  }
}
