/**
 * Moving a run to PyTorch or JAX and back: the parameters and optimizer state as one safetensors file in the
 * shape of PyTorch's `state_dict` (`exportState`, `importState`), and the safetensors codec itself. Browser-safe.
 * Import from 'adopt-optim/interop'; the guide is docs/interop.md.
 *
 * @module adopt-optim/interop
 */
export {
  exportState,
  importState,
  STATE_DICT_KEY,
  type StateDict,
  type ExportOptions,
  type ImportOptions,
} from './state_dict.js';
export type { StateEntry } from './format.js';
export type { ParamSource } from './layout.js';
export {
  encodeSafetensors,
  decodeSafetensors,
  SafetensorsError,
  type NamedArray,
  type SafetensorsDtype,
  type TensorData,
} from './safetensors.js';
