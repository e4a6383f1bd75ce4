/**
 * importState's checks: a whole file read and checked against the target parameters before anything
 * changes, into a plan of plain arrays (no tensors) that state_dict.ts then applies. Every refusal is an
 * OptimizerArgumentError naming the field, the value and what was expected.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { OptimizerArgumentError } from '../validate.js';
import { matchByName } from '../train/variable_names.js';
import { decodeSafetensors, type NamedArray } from './safetensors.js';
import { inverse, isModel, kindOf, paramLayouts, torchNamesOf, type ParamSource } from './layout.js';
import {
  FORMAT, isPermutation, KNOWN_CLASSES, MAX_STEP, permute, SLOT_NAMES, STATE_DICT_KEY,
} from './format.js';

/** What a checked file means for the target: values in the variables' own layout. */
export interface ImportPlan {
  /** The optimizer class that wrote the file (setWeights refuses another kind's state by it). */
  className: string;
  /** Every parameter of the target, with its value from the file. */
  params: { variable: tf.Variable; data: Float32Array }[];
  /** The state of the parameters the file has state for (tfjs slot name -> values). */
  states: { variable: tf.Variable; step: number; slots: Map<string, Float32Array> }[];
}

const refuse = (m: string) => new OptimizerArgumentError(`importState: ${m}; nothing was changed.`);
const show = (x: unknown) => (x === undefined ? 'undefined' : JSON.stringify(x));
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const ENTRY_KEYS = ['step', ...Object.values(SLOT_NAMES)];

/** Whether a torch-layout name was derived from the tfjs name as exportState derives it (layout.ts). */
function derivedFrom(param: string, tfjsName: string): boolean {
  const p = param.split('.');
  const t = tfjsName.split('/');
  const last = p.pop()!;
  t.pop();
  return t.length <= p.length && t.every((s, i) => s === p[p.length - t.length + i]) && torchNamesOf(kindOf(tfjsName)).includes(last);
}

function decode(file: Uint8Array): { tensors: Map<string, NamedArray>; sd: Record<string, unknown> } {
  if (!(file instanceof Uint8Array)) throw refuse(`file is ${typeof file}; expected a Uint8Array (the bytes exportState wrote)`);
  let decoded: ReturnType<typeof decodeSafetensors>;
  try {
    decoded = decodeSafetensors(file);
  } catch (e) {
    throw refuse(`not a safetensors file (${(e as Error).message})`);
  }
  const json = decoded.metadata[STATE_DICT_KEY];
  if (json === undefined) throw refuse(`the file has no "${STATE_DICT_KEY}" metadata (was it written by exportState?)`);
  let sd: unknown;
  try {
    sd = JSON.parse(json);
  } catch {
    throw refuse(`its "${STATE_DICT_KEY}" metadata is not JSON`);
  }
  if (!isObject(sd)) throw refuse(`its "${STATE_DICT_KEY}" metadata is ${show(sd)}; expected a JSON object`);
  if (sd['format'] !== FORMAT) throw refuse(`"format" is ${show(sd['format'])}; expected "${FORMAT}"`);
  if (sd['version'] !== 1) throw refuse(`"version" is ${show(sd['version'])}; expected 1 (is the file from a newer adopt-optim?)`);
  if (typeof sd['optimizer'] !== 'string') throw refuse(`"optimizer" is ${show(sd['optimizer'])}; expected the writer's class name`);
  if (sd['layout'] !== 'torch' && sd['layout'] !== 'tfjs') throw refuse(`"layout" is ${show(sd['layout'])}; expected "torch" or "tfjs"`);
  if (!isObject(sd['state'])) throw refuse(`"state" is ${show(sd['state'])}; expected an object keyed by parameter index`);
  const groups = sd['param_groups'];
  if (!Array.isArray(groups) || groups.length !== 1 || !isObject(groups[0])) {
    throw refuse(`"param_groups" must hold one parameter group (an object); got ${show(groups)?.slice(0, 80)}`);
  }
  return { tensors: decoded.tensors, sd };
}

/** A tensor of the file, checked: present, F32, the expected shape (in the file's layout), finite (and >= 0). */
function tensor(tensors: Map<string, NamedArray>, key: string, what: string, shape: number[], variable: tf.Variable, nonNegative = false): Float32Array {
  const t = tensors.get(key);
  if (t === undefined) throw refuse(`${what} names the tensor "${key}", which the file does not hold`);
  if (t.dtype !== 'F32') throw refuse(`${what}: tensor "${key}" is ${t.dtype}; expected F32`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw refuse(`${what}: tensor "${key}" has shape [${t.shape}]; expected [${shape}] (the variable "${variable.name}" [${variable.shape}] in the file's axes)`);
  }
  const data = t.data as Float32Array;
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (!Number.isFinite(x) || (nonNegative && x < 0)) {
      throw refuse(`${what}: tensor "${key}" holds ${x} at index ${i}; expected finite values${nonNegative ? ' >= 0' : ''}`);
    }
  }
  return data;
}

/** Reads and checks `file` against the parameters of `source`; throws before anything changes. */
export function readStateFile(file: Uint8Array, source: ParamSource): ImportPlan {
  const { tensors, sd } = decode(file);
  const layout = sd['layout'] as 'torch' | 'tfjs';
  const className = sd['optimizer'] as string;
  const group = (sd['param_groups'] as Record<string, unknown>[])[0]!;
  const tfjsNames = group['tfjs_names'];
  if (!Array.isArray(tfjsNames) || !tfjsNames.every((n) => typeof n === 'string')) throw refuse(`param_groups[0].tfjs_names is ${show(tfjsNames)}; expected a list of names`);
  const n = tfjsNames.length;
  for (const field of ['param_names', 'params', 'axes']) {
    const v = group[field];
    if (!Array.isArray(v) || v.length !== n) throw refuse(`param_groups[0].${field} is ${show(v)?.slice(0, 80)}; expected a list of ${n} (one per tfjs_names entry)`);
  }
  const paramNames = group['param_names'] as unknown[];
  const ids = group['params'] as unknown[];
  const axes = group['axes'] as unknown[];
  const names = new Set<string>();
  paramNames.forEach((p, i) => {
    if (typeof p !== 'string') throw refuse(`param_groups[0].param_names[${i}] is ${show(p)}; expected a tensor name`);
    if (names.has(p)) throw refuse(`param_groups[0].param_names names "${p}" twice; each parameter needs its own tensor`);
    names.add(p);
    const t = tfjsNames[i] as string;
    if (layout === 'tfjs' ? p !== t : !derivedFrom(p, t)) {
      throw refuse(`param_groups[0].param_names[${i}] is "${p}" but tfjs_names[${i}] is "${t}"; in ${layout} layout it must be ` +
        `${layout === 'tfjs' ? 'the same name' : `"<module path>.${torchNamesOf(kindOf(t)).join('" or ".')}" ending in "${t.split('/').slice(0, -1).join('.')}"`}`);
    }
  });
  const seenIds = new Set<number>();
  ids.forEach((id, i) => {
    if (!Number.isSafeInteger(id) || (id as number) < 0 || seenIds.has(id as number)) {
      throw refuse(`param_groups[0].params[${i}] is ${show(id)}; expected distinct integers >= 0 (the keys of "state")`);
    }
    seenIds.add(id as number);
  });
  const targets = isModel(source) ? paramLayouts('importState', source, layout) : paramLayouts('importState', source, 'tfjs');
  let order: number[];
  try {
    order = matchByName(tfjsNames as string[], targets.map((p) => p.variable.name));
  } catch (e) {
    throw refuse(`param_groups[0].tfjs_names: ${(e as Error).message}`);
  }
  const fileShapes: number[][] = [];
  const params = (tfjsNames as string[]).map((_, i) => {
    const target = targets[order[i]!]!;
    const { variable } = target;
    if (variable.dtype !== 'float32') throw refuse(`the variable "${variable.name}" has dtype ${variable.dtype}; expected float32`);
    let perm = axes[i] as number[] | null;
    if (perm !== null && !isPermutation(perm, variable.rank)) {
      throw refuse(`param_groups[0].axes[${i}] is ${show(perm)}; expected null or a permutation of the ${variable.rank} axes of "${variable.name}"`);
    }
    if (perm !== null && perm.every((a, k) => a === k)) perm = null;
    if (layout === 'tfjs' && perm !== null) throw refuse(`param_groups[0].axes[${i}] is ${show(perm)} in a file of layout "tfjs"; expected null`);
    if (isModel(source) && show(perm) !== show(target.perm)) {
      throw refuse(`param_groups[0].axes[${i}] is ${show(perm)}; "${variable.name}" of this model in ${layout} layout has ${show(target.perm)}`);
    }
    const shape = perm === null ? [...variable.shape] : perm.map((a) => variable.shape[a]!);
    fileShapes.push(shape);
    const data = tensor(tensors, paramNames[i] as string, `parameter "${tfjsNames[i]}"`, shape, variable);
    return { variable, perm, data: perm === null ? data.slice() : permute(data, shape, inverse(perm)) };
  });
  const index = new Map([...ids].map((id, i) => [String(id), i]));
  const amsgrad = className === 'adopt-optim/AMSGrad';
  const states: ImportPlan['states'] = [];
  for (const [key, entry] of Object.entries(sd['state'] as Record<string, unknown>)) {
    const i = index.get(key);
    if (i === undefined) {
      const byName = names.has(key) || (tfjsNames as string[]).includes(key);
      throw refuse(`"state" has the key ${show(key)}; ${byName ? 'state is keyed by the parameter\'s index in param_groups[0].params (as PyTorch keys it), not by name: ' : ''}` +
        `expected one of ${[...index.keys()].slice(0, 8).map(show).join(', ')}${index.size > 8 ? ', ...' : ''}${index.size === 0 ? '(none: no parameters)' : ''}`);
    }
    const where = `state[${show(key)}]`;
    if (!isObject(entry)) throw refuse(`${where} is ${show(entry)}; expected {step, exp_avg, exp_avg_sq${amsgrad ? ', max_exp_avg_sq' : ''}}`);
    const extra = Object.keys(entry).find((k) => !ENTRY_KEYS.includes(k));
    if (extra !== undefined) throw refuse(`${where} has the field ${show(extra)}; expected only ${ENTRY_KEYS.join(', ')}`);
    const step = entry['step'];
    if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step > MAX_STEP) {
      throw refuse(`${where}.step is ${show(step)}; expected an integer in [0, ${MAX_STEP}] (tfjs counts steps in int32)`);
    }
    const { variable, perm } = params[i]!;
    const slots = new Map<string, Float32Array>();
    for (const [slot, torchName] of Object.entries(SLOT_NAMES)) {
      const ref = entry[torchName];
      if (torchName === 'max_exp_avg_sq' && !amsgrad) {
        if (ref === undefined) continue;
        if (KNOWN_CLASSES.includes(className)) throw refuse(`${where}.${torchName} is set, but ${className} keeps no ${torchName}`);
      }
      const expected = `state.${key}.${torchName}`;
      if (ref !== expected) throw refuse(`${where}.${torchName} is ${show(ref)}; expected "${expected}" (the tensor of this parameter's ${torchName})`);
      const data = tensor(tensors, ref, `${where}.${torchName}`, fileShapes[i]!, variable, slot !== 'm');
      slots.set(slot, perm === null ? data.slice() : permute(data, fileShapes[i]!, inverse(perm)));
    }
    states.push({ variable, step, slots });
  }
  return { className, params: params.map(({ variable, data }) => ({ variable, data })), states };
}
