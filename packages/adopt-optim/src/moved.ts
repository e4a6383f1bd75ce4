/**
 * The names that left the root in 0.3 (pre-1.0: the CHANGELOG lists each move), kept as declarations without a
 * value so that an old `import { createOptimizer } from 'adopt-optim'` fails to compile with the new import path in
 * the message ("Type 'MovedTo<"adopt-optim/registry">' has no call signatures") instead of a bare "has no exported
 * member". Nothing here exists at run time (an old import from JavaScript fails as a missing export), and the API
 * reference omits it (`@internal`).
 *
 * @internal
 * @module
 */

/**
 * What an old root import of a moved name holds: nothing usable; its type names the new entry point.
 * @internal
 */
export interface MovedTo<Path extends string> {
  /** The new import path. */
  readonly movedTo: Path;
}

// to 'adopt-optim/registry' (browser-safe; 'adopt-optim/train' re-exports them): optimizers by name; to
// 'adopt-optim/core': the seeded random stream
/** @internal @deprecated Moved: import { createOptimizer } from 'adopt-optim/registry'. */
export declare const createOptimizer: MovedTo<'adopt-optim/registry'>;
/** @internal @deprecated Moved: import { setLearningRate } from 'adopt-optim/registry'. */
export declare const setLearningRate: MovedTo<'adopt-optim/registry'>;
/** @internal @deprecated Moved: import { isOptimizerName } from 'adopt-optim/registry'. */
export declare const isOptimizerName: MovedTo<'adopt-optim/registry'>;
/** @internal @deprecated Moved: import { OPTIMIZER_NAMES } from 'adopt-optim/registry'. */
export declare const OPTIMIZER_NAMES: MovedTo<'adopt-optim/registry'>;
/** @internal @deprecated Moved: import { Rng } from 'adopt-optim/core'. */
export declare const Rng: MovedTo<'adopt-optim/core'>;
/** @internal @deprecated Moved: import type { OptimizerName } from 'adopt-optim/registry'. */
export type OptimizerName = MovedTo<'adopt-optim/registry'>;
/** @internal @deprecated Moved: import type { OptimizerOptions } from 'adopt-optim/registry'. */
export type OptimizerOptions = MovedTo<'adopt-optim/registry'>;
/** @internal @deprecated Moved: import type { OptimizerOptionsByName } from 'adopt-optim/registry'. */
export type OptimizerOptionsByName = MovedTo<'adopt-optim/registry'>;
/** @internal @deprecated Moved: import type { OptimizerByName } from 'adopt-optim/registry'. */
export type OptimizerByName = MovedTo<'adopt-optim/registry'>;
/** @internal @deprecated Moved: import type { SgdOptions } from 'adopt-optim/registry'. */
export type SgdOptions = MovedTo<'adopt-optim/registry'>;
/** @internal @deprecated Moved: import type { MomentumOptions } from 'adopt-optim/registry'. */
export type MomentumOptions = MovedTo<'adopt-optim/registry'>;
/** @internal @deprecated Moved: import type { RmspropOptions } from 'adopt-optim/registry'. */
export type RmspropOptions = MovedTo<'adopt-optim/registry'>;
/** @internal @deprecated Moved: import type { WithLearningRate } from 'adopt-optim/registry'. */
export type WithLearningRate = MovedTo<'adopt-optim/registry'>;

// to 'adopt-optim/interop': PyTorch state_dict files and safetensors
/** @internal @deprecated Moved: import { exportState } from 'adopt-optim/interop'. */
export declare const exportState: MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import { importState } from 'adopt-optim/interop'. */
export declare const importState: MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import { STATE_DICT_KEY } from 'adopt-optim/interop'. */
export declare const STATE_DICT_KEY: MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import { encodeSafetensors } from 'adopt-optim/interop'. */
export declare const encodeSafetensors: MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import { decodeSafetensors } from 'adopt-optim/interop'. */
export declare const decodeSafetensors: MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import { SafetensorsError } from 'adopt-optim/interop'. */
export declare const SafetensorsError: MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import type { StateDict } from 'adopt-optim/interop'. */
export type StateDict = MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import type { StateEntry } from 'adopt-optim/interop'. */
export type StateEntry = MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import type { ExportOptions } from 'adopt-optim/interop'. */
export type ExportOptions = MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import type { ImportOptions } from 'adopt-optim/interop'. */
export type ImportOptions = MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import type { ParamSource } from 'adopt-optim/interop'. */
export type ParamSource = MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import type { NamedArray } from 'adopt-optim/interop'. */
export type NamedArray = MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import type { SafetensorsDtype } from 'adopt-optim/interop'. */
export type SafetensorsDtype = MovedTo<'adopt-optim/interop'>;
/** @internal @deprecated Moved: import type { TensorData } from 'adopt-optim/interop'. */
export type TensorData = MovedTo<'adopt-optim/interop'>;

// to 'adopt-optim/rules': custom rules (experimental)
/** @internal @deprecated Moved: import { defineRule } from 'adopt-optim/rules'. */
export declare const defineRule: MovedTo<'adopt-optim/rules'>;
/** @internal @deprecated Moved: import { MAX_RULE_DEPTH } from 'adopt-optim/rules'. */
export declare const MAX_RULE_DEPTH: MovedTo<'adopt-optim/rules'>;
/** @internal @deprecated Moved: import { ruleOptimizer } from 'adopt-optim/rules'. */
export declare const ruleOptimizer: MovedTo<'adopt-optim/rules'>;
/** @internal @deprecated Moved: import { RuleOptimizer } from 'adopt-optim/rules'. */
export declare const RuleOptimizer: MovedTo<'adopt-optim/rules'>;
/** @internal @deprecated Moved: import type { RuleOptimizerOptions } from 'adopt-optim/rules'. */
export type RuleOptimizerOptions = MovedTo<'adopt-optim/rules'>;
/** @internal @deprecated Moved: import type { RuleDefinition } from 'adopt-optim/rules'. */
export type RuleDefinition = MovedTo<'adopt-optim/rules'>;
/** @internal @deprecated Moved: import type { RuleBuilder } from 'adopt-optim/rules'. */
export type RuleBuilder = MovedTo<'adopt-optim/rules'>;
/** @internal @deprecated Moved: import type { RuleWrites } from 'adopt-optim/rules'. */
export type RuleWrites = MovedTo<'adopt-optim/rules'>;
/** @internal @deprecated Moved: import type { CustomRule } from 'adopt-optim/rules'. */
export type CustomRule = MovedTo<'adopt-optim/rules'>;
/** @internal @deprecated Moved: import type { RuleValue } from 'adopt-optim/rules'. */
export type RuleValue = MovedTo<'adopt-optim/rules'>;
/** @internal @deprecated Moved: import type { RuleCond } from 'adopt-optim/rules'. */
export type RuleCond = MovedTo<'adopt-optim/rules'>;
/** @internal @deprecated Moved: import type { BinaryOp } from 'adopt-optim/rules'. */
export type BinaryOp = MovedTo<'adopt-optim/rules'>;
/** @internal @deprecated Moved: import type { UnaryOp } from 'adopt-optim/rules'. */
export type UnaryOp = MovedTo<'adopt-optim/rules'>;
