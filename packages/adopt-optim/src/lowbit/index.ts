/**
 * adopt-optim/lowbit: low-bit optimizer state for the TensorFlow.js optimizers, `stateDtype: 'int8'`, `'int4'` or
 * `'bfloat16'`. Import it once, for its effect, beside your tfjs backend import (as a tfjs backend registers
 * itself): `import 'adopt-optim/lowbit';`. It registers the low-bit state store, its kernels on tfjs's wasm heap
 * and their WebAssembly codecs; without it `import { adopt }` stays about 13 kB (gzipped) smaller, and an optimizer
 * asked for low-bit state refuses at construction, naming this import. (The framework-free core,
 * 'adopt-optim/core', brings its own low-bit kernels.) On webgpu the low-bit kernels are the GPU entry's
 * (`import 'adopt-optim/gpu'`): import both there.
 *
 * @module adopt-optim/lowbit
 */
import { registerLowBitPieces } from '../tfjs/extensions.js';
import { LowBitStore } from '../tfjs/lowbit_store.js';
import { setWeightsWithLowBit } from '../tfjs/lowbit_weights.js';
import { stepSeed } from '../kernels/lowbit_arrays.js';
import { registerLowBitHeap } from '../backends/tfjs_fused.js';
import { bindHeapLowBit } from '../backends/wasm_heap_lowbit.js';
import { registerLowBitModuleText } from '../codegen/module_text.js';
import { lowBitModuleText } from '../codegen/module_text_lowbit.js';

registerLowBitPieces({
  store: (owner, format) => new LowBitStore(owner, format),
  stepSeed,
  setWeights: setWeightsWithLowBit,
});
registerLowBitHeap(bindHeapLowBit);
registerLowBitModuleText(lowBitModuleText); // (the low-bit kernels also register it when first used)

/** The state dtypes this entry point brings (each `stateDtype` but 'float32'). */
export const LOW_BIT_STATE_DTYPES = ['int8', 'int4', 'bfloat16'] as const;
