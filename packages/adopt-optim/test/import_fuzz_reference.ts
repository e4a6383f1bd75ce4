/**
 * The import fuzzer's independent reference: what an exported file means for a target, read with its own
 * safetensors reader and plain-JS transposition (float64 indices, no tfjs, nothing from src/interop), or
 * why it means nothing (then an import that accepts it is wrong).
 */

/** A tensor of the file. */
interface RefTensor {
  dtype: string;
  shape: number[];
  data: Float32Array | null;
}

/** The tensors and the state dict of a file, or a reason it is not one. */
function readFile(bytes: Uint8Array): { tensors: Map<string, RefTensor>; sd: any } | string {
  if (bytes.length < 8) return 'shorter than 8 bytes';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (8 + n > bytes.length) return 'header past the end';
  let header: any;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch {
    return 'header not JSON';
  }
  if (typeof header !== 'object' || header === null) return 'header not an object';
  const tensors = new Map<string, RefTensor>();
  for (const [name, e] of Object.entries<any>(header)) {
    if (name === '__metadata__') continue;
    const [b, end] = e.data_offsets;
    const size = e.shape.reduce((a: number, d: number) => a * d, 1);
    let data: Float32Array | null = null;
    if (e.dtype === 'F32') {
      if (end - b !== 4 * size || 8 + n + end > bytes.length) return `tensor ${name} has the wrong byte count`;
      data = new Float32Array(size);
      for (let i = 0; i < size; i++) data[i] = view.getFloat32(8 + n + b + 4 * i, true);
    }
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data });
  }
  try {
    return { tensors, sd: JSON.parse(header.__metadata__.adopt_optim_state_dict) };
  } catch {
    return 'no state dict';
  }
}

/** x (of shape `shape`, laid out with `axes`: axis j of x is the variable's axis axes[j]) in the variable's layout. */
function untranspose(x: Float32Array, varShape: number[], axes: number[] | null): number[] {
  const out = new Array<number>(x.length);
  if (axes === null) return Array.from(x);
  const fileShape = axes.map((a) => varShape[a]!);
  const rank = varShape.length;
  for (let k = 0; k < x.length; k++) {
    // k's index in the variable, then where that element sits in the file
    const idx = new Array<number>(rank);
    let r = k;
    for (let a = rank - 1; a >= 0; a--) {
      idx[a] = r % varShape[a]!;
      r = Math.floor(r / varShape[a]!);
    }
    let at = 0;
    for (let j = 0; j < rank; j++) at = at * fileShape[j]! + idx[axes[j]!]!;
    out[k] = x[at]!;
  }
  return out;
}

/** Which classes' state each optimizer continues from. */
const KIND: Record<string, string> = {
  'adopt-optim/ADOPT': 'adopt',
  'adopt-optim/Adam': 'adam',
  'adopt-optim/AdamW': 'adam',
  'adopt-optim/AMSGrad': 'amsgrad',
};

export interface Meaning {
  /** Each target variable's value after the import, by name. */
  params: Map<string, number[]>;
  /** The covered variables' state after the import (absent: none), by name. */
  state: Map<string, { step: number; slots: Map<string, number[]> }>;
}

/** Whether a saved name denotes a live one: the same, or the same once tfjs's `_<N>` uniquifier is dropped (unique). */
function resolve(names: string[], live: { name: string }[]): number[] | string {
  const strip = (s: string) => s.replace(/_\d+$/, '');
  const out: number[] = [];
  for (const n of names) {
    let i = live.findIndex((v) => v.name === n);
    if (i < 0) {
      const c = live.map((v, k) => [k, strip(v.name)] as const).filter(([, s]) => s === strip(n));
      if (c.length !== 1) return `no live variable for ${n}`;
      i = c[0]![0];
    }
    if (out.includes(i)) return `two names for ${live[i]!.name}`;
    out.push(i);
  }
  return out.length === live.length ? out : 'not every variable named';
}

/**
 * What `bytes` means for `targets` (the source's variables) and an optimizer of class `className` with
 * `slots` (tfjs slot names): each variable's value and state, or why the file must be refused.
 */
export function meaning(bytes: Uint8Array, targets: Target[], className: string, slots: string[]): Meaning | string {
  try {
    return meaningOf(bytes, targets, className, slots);
  } catch (e) {
    return `unreadable (${String(e)})`; // a header field of the wrong type, say
  }
}

type Target = { name: string; shape: number[] };

function meaningOf(bytes: Uint8Array, targets: Target[], className: string, slots: string[]): Meaning | string {
  const read = readFile(bytes);
  if (typeof read === 'string') return read;
  const { tensors, sd } = read;
  if (sd?.format !== 'adopt-optim/state_dict' || sd.version !== 1) return 'format or version';
  if (sd.layout !== 'torch' && sd.layout !== 'tfjs') return 'layout';
  if (KIND[sd.optimizer] === undefined || KIND[sd.optimizer] !== KIND[className]) return 'another optimizer kind';
  if (typeof sd.state !== 'object' || sd.state === null || Array.isArray(sd.state)) return 'state';
  const g = Array.isArray(sd.param_groups) && sd.param_groups.length === 1 ? sd.param_groups[0] : null;
  if (g === null || !Array.isArray(g.tfjs_names)) return 'group';
  if (!g.tfjs_names.every((x: unknown) => typeof x === 'string')) return 'tfjs_names';
  const order = resolve(g.tfjs_names, targets);
  if (typeof order === 'string') return order;
  const n = order.length;
  if (![g.param_names, g.params, g.axes].every((a) => Array.isArray(a) && a.length === n)) return 'group lists';
  if (new Set(g.param_names).size !== n || new Set(g.params).size !== n) return 'duplicate names or ids';
  const take = (key: unknown, shape: number[], nonNegative: boolean): Float32Array | string => {
    const t = typeof key === 'string' ? tensors.get(key) : undefined;
    if (t === undefined || t.data === null) return `tensor ${String(key)} missing or not F32`;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) return `tensor ${key} shape`;
    if (t.data.some((x) => !Number.isFinite(x) || (nonNegative && x < 0))) return `tensor ${key} values`;
    return t.data;
  };
  const params = new Map<string, number[]>();
  const fileShapes: number[][] = [];
  const axesOf: (number[] | null)[] = [];
  for (let i = 0; i < n; i++) {
    const v = targets[order[i]!]!;
    const axes = g.axes[i];
    const isPerm =
      axes === null ||
      (Array.isArray(axes) && axes.length === v.shape.length && [...axes].sort().every((a, k) => a === k));
    if (!isPerm) return 'axes';
    const moved = axes?.some((a: number, k: number) => a !== k);
    if (sd.layout === 'tfjs' && moved) return 'axes in tfjs layout';
    if (!Number.isSafeInteger(g.params[i]) || g.params[i] < 0) return 'params';
    const shape = axes === null ? v.shape : axes.map((a: number) => v.shape[a]!);
    const x = take(g.param_names[i], shape, false);
    if (typeof x === 'string') return x;
    fileShapes.push(shape);
    axesOf.push(axes);
    params.set(v.name, untranspose(x, v.shape, axes));
  }
  const state: Meaning['state'] = new Map();
  const torch: Record<string, string> = { m: 'exp_avg', v: 'exp_avg_sq', vmax: 'max_exp_avg_sq' };
  for (const [key, e] of Object.entries<any>(sd.state)) {
    const i = g.params.findIndex((p: number) => String(p) === key);
    if (i < 0 || typeof e !== 'object' || e === null) return `state key ${key}`;
    if (!Number.isInteger(e.step) || e.step < 0 || e.step > 2 ** 31 - 1) return 'step';
    const v = targets[order[i]!]!;
    const values = new Map<string, number[]>();
    for (const slot of slots) {
      const x = take(e[torch[slot]!], fileShapes[i]!, slot !== 'm');
      if (typeof x === 'string') return x;
      values.set(slot, untranspose(x, v.shape, axesOf[i]!));
    }
    state.set(v.name, { step: e.step, slots: values });
  }
  return { params, state };
}
