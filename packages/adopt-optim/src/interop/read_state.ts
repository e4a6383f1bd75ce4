/**
 * importState's checks: a whole file read and checked against the target parameters before anything
 * changes, into a plan of plain arrays (no tensors) that state_dict.ts then applies. Every refusal is an
 * OptimizerArgumentError naming the field, the value and what was expected.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { OptimizerArgumentError } from '../validate.js';
import { parseJsonStrict } from './strict_json.js';
import { matchByName } from '../train/variable_names.js';
import { decodeSafetensors, type NamedArray } from './safetensors.js';
import { inverse, isModel, kindOf, paramLayouts, torchNamesOf, type ParamSource } from './layout.js';
import { FORMAT, isPermutation, KNOWN_CLASSES, MAX_STEP, permute, SLOT_NAMES, STATE_DICT_KEY } from './format.js';

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
const G = 'param_groups[0]';

/** Whether a torch-layout name was derived from the tfjs name as exportState derives it (layout.ts). */
function derivedFrom(param: string, tfjsName: string): boolean {
  const p = param.split('.');
  const t = tfjsName.split('/');
  const last = p.pop()!;
  t.pop();
  const endsWith = t.length <= p.length && t.every((s, i) => s === p[p.length - t.length + i]);
  return endsWith && torchNamesOf(kindOf(tfjsName)).includes(last);
}

/** The tensors and the state dict, its top-level fields checked. */
function decode(file: Uint8Array): { tensors: Map<string, NamedArray>; sd: Record<string, unknown> } {
  if (!(file instanceof Uint8Array)) {
    throw refuse(`file is ${typeof file}; expected a Uint8Array (the bytes exportState wrote)`);
  }
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
    sd = parseJsonStrict(json);
  } catch (e) {
    throw refuse(`its "${STATE_DICT_KEY}" metadata is not JSON that means one thing (${(e as Error).message})`);
  }
  if (!isObject(sd)) throw refuse(`its "${STATE_DICT_KEY}" metadata is ${show(sd)}; expected a JSON object`);
  const field = (name: string, ok: boolean, expected: string) => {
    if (!ok) throw refuse(`"${name}" is ${show(sd[name])?.slice(0, 80)}; expected ${expected}`);
  };
  field('format', sd['format'] === FORMAT, `"${FORMAT}"`);
  field('version', sd['version'] === 1, '1 (is the file from a newer adopt-optim?)');
  field('optimizer', typeof sd['optimizer'] === 'string', "the writer's class name");
  field('layout', sd['layout'] === 'torch' || sd['layout'] === 'tfjs', '"torch" or "tfjs"');
  field('state', isObject(sd['state']), 'an object keyed by parameter index');
  const groups = sd['param_groups'];
  const oneGroup = Array.isArray(groups) && groups.length === 1 && isObject(groups[0]);
  field('param_groups', oneGroup, 'one parameter group (an object)');
  return { tensors: decoded.tensors, sd };
}

/** A tensor of the file, checked: present, F32, the expected shape (in the file's layout), finite (and >= 0). */
function tensor(
  tensors: Map<string, NamedArray>,
  key: string,
  what: string,
  shape: number[],
  variable: tf.Variable,
  nonNegative = false,
): Float32Array {
  const t = tensors.get(key);
  if (t === undefined) throw refuse(`${what} names the tensor "${key}", which the file does not hold`);
  if (t.dtype !== 'F32') throw refuse(`${what}: tensor "${key}" is ${t.dtype}; expected F32`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw refuse(
      `${what}: tensor "${key}" has shape [${t.shape}]; expected [${shape}] ` +
        `(the variable "${variable.name}" [${variable.shape}] in the file's axes)`,
    );
  }
  const data = t.data as Float32Array;
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (!Number.isFinite(x) || (nonNegative && x < 0)) {
      const expected = `finite values${nonNegative ? ' >= 0' : ''}`;
      throw refuse(`${what}: tensor "${key}" holds ${x} at index ${i}; expected ${expected}`);
    }
  }
  return data;
}

interface Group {
  tfjsNames: string[];
  paramNames: string[];
  ids: number[];
  axes: unknown[];
}

/** The parameter group's lists, checked: one entry per parameter, names unique and derived from tfjs_names. */
function readGroup(group: Record<string, unknown>, layout: 'torch' | 'tfjs'): Group {
  const tfjsNames = group['tfjs_names'];
  if (!Array.isArray(tfjsNames) || !tfjsNames.every((n) => typeof n === 'string')) {
    throw refuse(`${G}.tfjs_names is ${show(tfjsNames)?.slice(0, 80)}; expected a list of names`);
  }
  const n = tfjsNames.length;
  for (const field of ['param_names', 'params', 'axes']) {
    const v = group[field];
    if (!Array.isArray(v) || v.length !== n) {
      throw refuse(`${G}.${field} is ${show(v)?.slice(0, 80)}; expected a list of ${n} (one per tfjs_names entry)`);
    }
  }
  const paramNames = group['param_names'] as unknown[];
  const names = new Set<string>();
  paramNames.forEach((p, i) => {
    if (typeof p !== 'string') throw refuse(`${G}.param_names[${i}] is ${show(p)}; expected a tensor name`);
    if (names.has(p)) throw refuse(`${G}.param_names names "${p}" twice; each parameter needs its own tensor`);
    names.add(p);
    const t = tfjsNames[i] as string;
    if (layout === 'tfjs' ? p !== t : !derivedFrom(p, t)) {
      const rule =
        layout === 'tfjs'
          ? 'the same name'
          : `"<path>.${torchNamesOf(kindOf(t)).join('" or ".')}", its path ending in ` +
            `"${t.split('/').slice(0, -1).join('.')}"`;
      throw refuse(
        `${G}.param_names[${i}] is "${p}" but tfjs_names[${i}] is "${t}"; ` + `in ${layout} layout it must be ${rule}`,
      );
    }
  });
  const ids = group['params'] as unknown[];
  const seen = new Set<number>();
  ids.forEach((id, i) => {
    if (!Number.isSafeInteger(id) || (id as number) < 0 || seen.has(id as number)) {
      throw refuse(`${G}.params[${i}] is ${show(id)}; expected distinct integers >= 0 (the keys of "state")`);
    }
    seen.add(id as number);
  });
  return { tfjsNames, paramNames: paramNames as string[], ids: ids as number[], axes: group['axes'] as unknown[] };
}

interface Param {
  variable: tf.Variable;
  perm: number[] | null;
  fileShape: number[];
  data: Float32Array;
}

/** Each parameter's variable, axes and value (in the variable's layout), in the file's order. */
function readParams(
  g: Group,
  source: ParamSource,
  layout: 'torch' | 'tfjs',
  tensors: Map<string, NamedArray>,
): Param[] {
  const targets = paramLayouts('importState', source, isModel(source) ? layout : 'tfjs');
  let order: number[];
  try {
    order = matchByName(
      g.tfjsNames,
      targets.map((p) => p.variable.name),
    );
  } catch (e) {
    throw refuse(`${G}.tfjs_names: ${(e as Error).message}`);
  }
  return g.tfjsNames.map((name, i) => {
    const target = targets[order[i]!]!;
    const { variable } = target;
    if (variable.dtype !== 'float32') {
      throw refuse(`the variable "${variable.name}" has dtype ${variable.dtype}; expected float32`);
    }
    let perm = g.axes[i] as number[] | null;
    const axes = `${G}.axes[${i}] is ${show(perm)}`;
    if (perm !== null && !isPermutation(perm, variable.rank)) {
      throw refuse(`${axes}; expected null or a permutation of the ${variable.rank} axes of "${variable.name}"`);
    }
    if (perm?.every((a, k) => a === k)) perm = null;
    if (layout === 'tfjs' && perm !== null) throw refuse(`${axes} in a file of layout "tfjs"; expected null`);
    if (isModel(source) && show(perm) !== show(target.perm)) {
      throw refuse(`${axes}; "${variable.name}" of this model in ${layout} layout has ${show(target.perm)}`);
    }
    const fileShape = perm === null ? [...variable.shape] : perm.map((a) => variable.shape[a]!);
    const data = tensor(tensors, g.paramNames[i]!, `parameter "${name}"`, fileShape, variable);
    return { variable, perm, fileShape, data: perm === null ? data.slice() : permute(data, fileShape, inverse(perm)) };
  });
}

/** The state entries, checked: keyed by index, fields known, step in range, each naming its own tensors. */
function readStates(
  g: Group,
  sd: Record<string, unknown>,
  params: Param[],
  tensors: Map<string, NamedArray>,
): ImportPlan['states'] {
  const className = sd['optimizer'] as string;
  const index = new Map(g.ids.map((id, i) => [String(id), i]));
  const amsgrad = className === 'adopt-optim/AMSGrad';
  const states: ImportPlan['states'] = [];
  for (const [key, entry] of Object.entries(sd['state'] as Record<string, unknown>)) {
    const i = index.get(key);
    if (i === undefined) {
      const byName = g.paramNames.includes(key) || g.tfjsNames.includes(key);
      const keys = [...index.keys()];
      throw refuse(
        `"state" has the key ${show(key)}; ` +
          (byName ? `state is keyed by the parameter's index in ${G}.params (as PyTorch keys it), not by name: ` : '') +
          `expected one of ${keys.slice(0, 8).map(show).join(', ')}${keys.length > 8 ? ', ...' : ''}` +
          `${keys.length === 0 ? '(none: no parameters)' : ''}`,
      );
    }
    const where = `state[${show(key)}]`;
    if (!isObject(entry)) {
      const fields = `step, exp_avg, exp_avg_sq${amsgrad ? ', max_exp_avg_sq' : ''}`;
      throw refuse(`${where} is ${show(entry)}; expected {${fields}}`);
    }
    const extra = Object.keys(entry).find((k) => !ENTRY_KEYS.includes(k));
    if (extra !== undefined) {
      throw refuse(`${where} has the field ${show(extra)}; expected only ${ENTRY_KEYS.join(', ')}`);
    }
    const step = entry['step'];
    if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step > MAX_STEP) {
      throw refuse(
        `${where}.step is ${show(step)}; expected an integer in [0, ${MAX_STEP}] ` + '(tfjs counts steps in int32)',
      );
    }
    const { variable, perm, fileShape } = params[i]!;
    const slots = new Map<string, Float32Array>();
    for (const [slot, torchName] of Object.entries(SLOT_NAMES)) {
      const ref = entry[torchName];
      if (torchName === 'max_exp_avg_sq' && !amsgrad) {
        if (ref === undefined) continue;
        if (KNOWN_CLASSES.includes(className)) {
          throw refuse(`${where}.${torchName} is set, but ${className} keeps no ${torchName}`);
        }
      }
      const expected = `state.${key}.${torchName}`;
      if (ref !== expected) {
        throw refuse(
          `${where}.${torchName} is ${show(ref)}; expected "${expected}" ` +
            `(the tensor of this parameter's ${torchName})`,
        );
      }
      const data = tensor(tensors, ref, `${where}.${torchName}`, fileShape, variable, slot !== 'm');
      slots.set(slot, perm === null ? data.slice() : permute(data, fileShape, inverse(perm)));
    }
    states.push({ variable, step, slots });
  }
  return states;
}

/** Reads and checks `file` against the parameters of `source`; throws before anything changes. */
export function readStateFile(file: Uint8Array, source: ParamSource): ImportPlan {
  const { tensors, sd } = decode(file);
  const layout = sd['layout'] as 'torch' | 'tfjs';
  const g = readGroup((sd['param_groups'] as Record<string, unknown>[])[0]!, layout);
  const params = readParams(g, source, layout, tensors);
  const states = readStates(g, sd, params, tensors);
  const className = sd['optimizer'] as string;
  return { className, params: params.map(({ variable, data }) => ({ variable, data })), states };
}
