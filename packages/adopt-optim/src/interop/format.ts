/**
 * The JSON that exportState writes into a safetensors file's metadata and importState reads: its
 * type, names and limits, and the plain-array helpers both sides use (no tensors here).
 */

/** The safetensors metadata key that holds the state dict (JSON) in a file exportState writes. */
export const STATE_DICT_KEY = 'adopt_optim_state_dict';
export const FORMAT = 'adopt-optim/state_dict';
/** The largest step a file may hold: tfjs keeps step counters as int32. */
export const MAX_STEP = 2 ** 31 - 1;

/** PyTorch's names for our slots. */
export const SLOT_NAMES: Record<string, string> = { m: 'exp_avg', v: 'exp_avg_sq', vmax: 'max_exp_avg_sq' };
/** The classes whose moments importState knows: AMSGrad has `max_exp_avg_sq`, the others must not. */
export const KNOWN_CLASSES = ['adopt-optim/ADOPT', 'adopt-optim/Adam', 'adopt-optim/AdamW', 'adopt-optim/AMSGrad'];

/** One parameter's state: its step and the names of its moment tensors in the file (`state.<index>.<slot>`). */
export interface StateEntry {
  step: number;
  exp_avg: string;
  exp_avg_sq: string;
  max_exp_avg_sq?: string;
}

/** The JSON exportState writes, in the shape of PyTorch's `optimizer.state_dict()` with tensors named, not inlined. */
export interface StateDict {
  format: typeof FORMAT;
  version: 1;
  /** The optimizer class that wrote it (`adopt-optim/ADOPT`, ...). */
  optimizer: string;
  /** 'torch': torch module names and layouts; 'tfjs': tfjs's own names, every tensor as tfjs holds it. */
  layout: 'torch' | 'tfjs';
  /** Keyed by the parameter's index in `param_groups[0].params` (as PyTorch keys it), never by name. */
  state: Record<string, StateEntry>;
  param_groups: {
    lr: number;
    betas: [number, number];
    eps: number;
    weight_decay: number;
    decoupled: boolean;
    maximize: boolean;
    /** ADOPT: the clip exponent (c(t) = t^e; null unclipped); its ε is a floor on √v. */
    clip_exponent?: number | null;
    amsgrad?: boolean;
    params: number[];
    /** The tensor of each parameter in the file. */
    param_names: string[];
    /** The tfjs variable of each parameter (matched by name on import, tfjs's per-process numbering aside). */
    tfjs_names: string[];
    /** For each parameter, the tfjs axis each axis of its tensors in the file is (null: as tfjs holds it). */
    axes: (number[] | null)[];
  }[];
}

/** Whether `perm` is a permutation of 0 .. rank-1. */
export function isPermutation(perm: unknown, rank: number): perm is number[] {
  return Array.isArray(perm) && perm.length === rank && [...perm].sort((a, b) => a - b).every((a, i) => a === i);
}

/** `data` of shape `shape` with its axes permuted: axis j of the result is axis perm[j] of `data` (as tf.transpose). */
export function permute(data: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  const strides = new Array<number>(rank).fill(1);
  for (let a = rank - 2; a >= 0; a--) strides[a] = strides[a + 1]! * shape[a + 1]!;
  const outShape = perm.map((p) => shape[p]!);
  const out = new Float32Array(data.length);
  const index = new Array<number>(rank).fill(0);
  for (let k = 0; k < out.length; k++) {
    let from = 0;
    for (let j = 0; j < rank; j++) from += index[j]! * strides[perm[j]!]!;
    out[k] = data[from]!;
    for (let j = rank - 1; j >= 0; j--) {
      if (++index[j]! < outShape[j]!) break;
      index[j] = 0;
    }
  }
  return out;
}
