/**
 * Optimizer state that PyTorch and JAX can load (issue 23): `exportState` writes the parameters and the
 * moments of ADOPT, Adam, AdamW or AMSGrad to one safetensors file, with a JSON in the shape of PyTorch's
 * `optimizer.state_dict()` in its metadata (`adopt_optim_state_dict`): `state` per parameter index (`step`,
 * and the names of its `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq` tensors in the file) and `param_groups`
 * (hyperparameters, `params`, `param_names`). With layout 'torch' the tensors are named and laid out as
 * torch modules hold them (./layout.ts). `importState` reads such a file (ours, or one written from PyTorch
 * in the same shape) back into an optimizer and model, everything checked before anything changes.
 * 8-bit and 4-bit state is exported de-quantised (float32) and re-quantised on import.
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptimizerArgumentError } from '../validate.js';
import type { NamedStateOptimizer, NamedTensor } from '../tfjs/named_state_optimizer.js';
import { dequantizeLowBitWeights } from '../tfjs/lowbit_weights.js';
import { STATE_FORMAT_VERSION } from '../tfjs/slot_store.js';
import { matchByName } from '../train/variable_names.js';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from './safetensors.js';
import { inverse, paramLayouts, type ParamLayout, type ParamSource } from './layout.js';

/** The safetensors metadata key that holds the state dict (JSON) in a file exportState writes. */
export const STATE_DICT_KEY = 'adopt_optim_state_dict';
const FORMAT = 'adopt-optim/state_dict';

/** PyTorch's names for our slots. */
const SLOT_NAMES: Record<string, string> = { m: 'exp_avg', v: 'exp_avg_sq', vmax: 'max_exp_avg_sq' };

/** The JSON exportState writes, in the shape of PyTorch's `optimizer.state_dict()` with tensors named, not inlined. */
export interface StateDict {
  format: typeof FORMAT;
  version: 1;
  /** The optimizer class that wrote it (`adopt-optim/ADOPT`, ...). */
  optimizer: string;
  layout: 'torch' | 'tfjs';
  state: Record<string, { step: number; exp_avg: string; exp_avg_sq: string; max_exp_avg_sq?: string }>;
  param_groups: {
    lr: number; betas: [number, number]; eps: number; weight_decay: number; decoupled: boolean; maximize: boolean;
    /** ADOPT: the clip exponent (c(t) = t^e; null unclipped); its ε is a floor on √v. */
    clip_exponent?: number | null; amsgrad?: boolean;
    params: number[]; param_names: string[]; tfjs_names: string[];
  }[];
}

/** Options of exportState. */
export interface ExportOptions {
  /** 'torch' (default): torch module names and layouts (Dense kernels transposed, ...); 'tfjs': as tfjs holds them. */
  layout?: 'torch' | 'tfjs';
}

/** A tensor of the variable's layout as the file holds it (permuted), float32. */
function exported(t: tf.Tensor, perm: number[] | null): NamedArray {
  const out = tf.tidy(() => (perm === null ? t.clone() : tf.transpose(t, perm)));
  const data = out.dataSync().slice() as Float32Array;
  const shape = [...out.shape];
  out.dispose();
  return { dtype: 'F32', shape, data };
}

/** The file: parameters, moments and the state dict (also returned). Reads only; changes nothing. */
export async function exportState(
  optimizer: NamedStateOptimizer, source: ParamSource, options: ExportOptions = {},
): Promise<{ file: Uint8Array; stateDict: StateDict }> {
  const layout = options.layout ?? 'torch';
  if (layout !== 'torch' && layout !== 'tfjs') throw new OptimizerArgumentError(`exportState: invalid layout ${JSON.stringify(layout)}; expected 'torch' or 'tfjs'.`);
  const params = paramLayouts(source, layout);
  const h = optimizer.getConfig() as Record<string, unknown>;
  const raw = await optimizer.getWeights();
  const { weights, made } = await dequantizeLowBitWeights('exportState', raw);
  try {
    const byName = new Map<string, NamedTensor>(weights.map((w) => [w.name, w]));
    const tensors = new Map<string, NamedArray>();
    const state: StateDict['state'] = {};
    params.forEach((p, i) => {
      tensors.set(p.exportName, exported(p.variable, p.perm));
      const step = byName.get(`${p.variable.name}/step`);
      if (step === undefined) return; // no state yet: PyTorch omits it too
      const entry: StateDict['state'][string] = { step: step.tensor.dataSync()[0]!, exp_avg: '', exp_avg_sq: '' };
      for (const [slot, torchName] of Object.entries(SLOT_NAMES)) {
        const w = byName.get(`${p.variable.name}/${slot}`);
        if (w === undefined) continue;
        const key = `state.${i}.${torchName}`;
        tensors.set(key, exported(w.tensor, p.perm));
        (entry as Record<string, unknown>)[torchName] = key;
      }
      state[String(i)] = entry;
    });
    const className = optimizer.getClassName();
    const stateDict: StateDict = {
      format: FORMAT, version: 1, optimizer: className, layout, state,
      param_groups: [{
        lr: optimizer.learningRate, betas: [h['beta1'] as number, h['beta2'] as number], eps: h['epsilon'] as number,
        weight_decay: h['weightDecay'] as number, decoupled: h['decoupled'] as boolean, maximize: h['maximize'] as boolean,
        ...(className === 'adopt-optim/ADOPT' ? { clip_exponent: h['clipExponent'] as number | null } : { amsgrad: className === 'adopt-optim/AMSGrad' }),
        params: params.map((_, i) => i), param_names: params.map((p) => p.exportName), tfjs_names: params.map((p) => p.variable.name),
      }],
    };
    return { file: encodeSafetensors(tensors, { [STATE_DICT_KEY]: JSON.stringify(stateDict) }), stateDict };
  } finally {
    tf.dispose(made);
  }
}

/** Options of importState. */
export interface ImportOptions {
  /** Also assign the parameters from the file (default true). */
  params?: boolean;
}

/**
 * Loads a file written by exportState (or by PyTorch in its shape) into `optimizer` and the parameters
 * of `source`, matched by name (tfjs's per-process numbering aside). Everything is checked first: the
 * format, every name, shape and value (through the optimizer's own setWeights, all or nothing), then
 * the state is set and the parameters assigned.
 */
export async function importState(
  optimizer: NamedStateOptimizer, source: ParamSource, file: Uint8Array, options: ImportOptions = {},
): Promise<void> {
  const refuse = (m: string) => new OptimizerArgumentError(`importState: ${m}; nothing was changed.`);
  const { tensors, metadata } = (() => {
    try {
      return decodeSafetensors(file);
    } catch (e) {
      throw refuse(`not a safetensors file (${(e as Error).message})`);
    }
  })();
  let sd: StateDict;
  try {
    sd = JSON.parse(metadata[STATE_DICT_KEY] ?? 'null') as StateDict;
  } catch {
    throw refuse(`its "${STATE_DICT_KEY}" metadata is not JSON`);
  }
  if (sd === null || sd.format !== FORMAT || sd.version !== 1 || !Array.isArray(sd.param_groups) || sd.param_groups.length !== 1) {
    throw refuse(`no ${FORMAT} version 1 state dict with one parameter group in its metadata`);
  }
  const group = sd.param_groups[0]!;
  const layout = sd.layout === 'tfjs' ? 'tfjs' : 'torch';
  const params = paramLayouts(source, layout);
  let order: number[];
  try {
    order = matchByName(group.tfjs_names, params.map((p) => p.variable.name));
  } catch (e) {
    throw refuse((e as Error).message);
  }
  const take = (key: string, p: ParamLayout, what: string): tf.Tensor => {
    const t = tensors.get(key);
    if (t === undefined || t.dtype !== 'F32') throw refuse(`${what} "${key}" is missing or not F32`);
    const back = p.perm === null ? null : inverse(p.perm);
    const shape = back === null ? t.shape : back.map((a) => t.shape[a]!);
    if (!tf.util.arraysEqual(shape, p.variable.shape)) throw refuse(`${what} "${key}" has shape [${t.shape}] (${layout} layout); the variable "${p.variable.name}" has [${p.variable.shape}]`);
    return tf.tidy(() => {
      const x = tf.tensor(t.data as Float32Array, t.shape, 'float32');
      return back === null ? x : tf.transpose(x, back);
    });
  };
  const made: tf.Tensor[] = [];
  try {
    const weights: NamedTensor[] = [];
    const values: [tf.Variable, tf.Tensor][] = [];
    let iter = 0;
    group.tfjs_names.forEach((_, i) => {
      const p = params[order[i]!]!;
      if (options.params !== false) {
        const value = take(group.param_names[i]!, p, 'parameter');
        made.push(value);
        values.push([p.variable, value]);
      }
      const s = sd.state[String(i)];
      if (s === undefined) return;
      if (!Number.isSafeInteger(s.step) || s.step < 0) throw refuse(`the step of parameter ${i} is ${String(s.step)}; expected an integer >= 0`);
      iter = Math.max(iter, s.step);
      for (const [slot, torchName] of Object.entries(SLOT_NAMES)) {
        const key = (s as Record<string, unknown>)[torchName];
        if (typeof key !== 'string') continue;
        const t = take(key, p, torchName);
        made.push(t);
        weights.push({ name: `${p.variable.name}/${slot}`, tensor: t });
      }
      const step = tf.scalar(s.step, 'int32');
      made.push(step);
      weights.push({ name: `${p.variable.name}/step`, tensor: step });
    });
    const iterT = tf.scalar(iter, 'int32');
    const marker = tf.scalar(STATE_FORMAT_VERSION, 'int32');
    made.push(iterT, marker);
    // the writer's class marks the state: setWeights refuses another kind's (ADOPT's moments into Adam)
    await optimizer.setWeights([{ name: 'iter', tensor: iterT }, { name: `optimizer:${sd.optimizer}`, tensor: marker }, ...weights]);
    for (const [variable, value] of values) variable.assign(value);
  } finally {
    tf.dispose(made);
  }
}
