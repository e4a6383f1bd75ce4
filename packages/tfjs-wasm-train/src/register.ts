/**
 * `import 'tfjs-wasm-train/register';` : enables the wasm training kernels on import
 * (the same as calling `enableWasmTraining()` once).
 */
import { enableWasmTraining } from './index.js';

enableWasmTraining();
