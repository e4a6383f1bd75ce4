/**
 * Optimizer state that PyTorch and JAX can load (issue 23): `exportState` writes the parameters and the
 * moments of ADOPT, Adam, AdamW or AMSGrad to one safetensors file, with a JSON in the shape of PyTorch's
 * `optimizer.state_dict()` in its metadata (./format.ts). With layout 'torch' the tensors are named and laid
 * out as torch modules hold them (./layout.ts), and the file says each parameter's axes. `importState` reads
 * such a file (ours, or one written from PyTorch in the same shape) back into an optimizer and parameters:
 * the whole file is checked first (./read_state.ts), then the state of the parameters it covers is replaced
 * (all or nothing, through setWeights; other variables' state is kept) and the parameters assigned.
 * 8-bit and 4-bit state is exported de-quantised (float32) and re-quantised on import.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkBoolean, checkKnownKeys, checkOneOf, OptimizerArgumentError } from '../validate.js';
import type { NamedStateOptimizer, NamedTensor } from '../tfjs/named_state_optimizer.js';
import { dequantizeLowBitWeights } from '../tfjs/lowbit_weights.js';
import { STATE_FORMAT_VERSION } from '../tfjs/slot_store.js';
import { encodeSafetensors, type NamedArray } from './safetensors.js';
import { isModel, paramLayouts, type ParamSource } from './layout.js';
import { FORMAT, SLOT_NAMES, STATE_DICT_KEY, type StateDict } from './format.js';
import { readStateFile } from './read_state.js';

export { STATE_DICT_KEY, type StateDict } from './format.js';

/** Options of exportState. */
export interface ExportOptions {
  /**
   * 'torch' (the default for a model): torch module names and layouts (Dense kernels transposed, ...); 'tfjs'
   * (the default, and the only choice, for a list of variables, which says nothing of layers): as tfjs holds them.
   */
  layout?: 'torch' | 'tfjs';
}

const LAYOUTS = ['torch', 'tfjs'] as const;

/** Options must be an object of known keys (a typo is refused, with a "did you mean"). */
function checkOptions(owner: string, options: unknown, known: string[]): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OptimizerArgumentError(`${owner}: invalid options ${String(options)}; expected an object.`);
  }
  checkKnownKeys(owner, options, known);
}

/** A rule defined with defineRule has its own slots, which PyTorch's ADOPT / Adam state dict has no place for. */
function refuseCustomRule(owner: string, optimizer: NamedStateOptimizer): void {
  const name = typeof optimizer?.getClassName === 'function' ? optimizer.getClassName() : undefined;
  if (name !== 'adopt-optim/Rule') return;
  throw new OptimizerArgumentError(
    `${owner}: invalid optimizer ${name} (a rule defined with defineRule); the PyTorch state-dict format covers ` +
      "ADOPT, Adam, AdamW and AMSGrad only. For a custom rule's state use the optimizer's getWeights / setWeights, " +
      'or model.save. Nothing was changed.',
  );
}

/** A tensor of the variable's layout as the file holds it (permuted), float32; non-finite values refused. */
function exported(t: tf.Tensor, perm: number[] | null, what: string): NamedArray {
  const out = tf.tidy(() => (perm === null ? t.clone() : tf.transpose(t, perm)));
  const data = out.dataSync().slice() as Float32Array;
  const shape = [...out.shape];
  out.dispose();
  const bad = data.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) {
    throw new OptimizerArgumentError(
      `exportState: ${what} holds ${data[bad]} at index ${bad}; a file holds finite values only. Nothing was written.`,
    );
  }
  return { dtype: 'F32', shape, data };
}

/** The file: parameters, moments and the state dict (also returned). Reads only; changes nothing. */
export async function exportState(
  optimizer: NamedStateOptimizer,
  source: ParamSource,
  options: ExportOptions = {},
): Promise<{ file: Uint8Array; stateDict: StateDict }> {
  checkOptions('exportState', options, ['layout']);
  refuseCustomRule('exportState', optimizer);
  const layout = checkOneOf('exportState', 'layout', options.layout ?? (isModel(source) ? 'torch' : 'tfjs'), LAYOUTS);
  if (layout === 'torch' && !isModel(source)) {
    throw new OptimizerArgumentError(
      'exportState: invalid layout "torch" for a list of variables; a list says nothing of layers, ' +
        "so expected 'tfjs' (or pass the model).",
    );
  }
  const params = paramLayouts('exportState', source, layout);
  const h = optimizer.getConfig() as Record<string, unknown>;
  const raw = await optimizer.getWeights();
  const { weights, made } = await dequantizeLowBitWeights('exportState', raw);
  try {
    const byName = new Map<string, NamedTensor>(weights.map((w) => [w.name, w]));
    const tensors = new Map<string, NamedArray>();
    const state: StateDict['state'] = {};
    params.forEach((p, i) => {
      tensors.set(p.exportName, exported(p.variable, p.perm, `the parameter "${p.variable.name}"`));
      const step = byName.get(`${p.variable.name}/step`);
      if (step === undefined) return; // no state yet: PyTorch omits it too
      const entry: StateDict['state'][string] = { step: step.tensor.dataSync()[0]!, exp_avg: '', exp_avg_sq: '' };
      for (const [slot, torchName] of Object.entries(SLOT_NAMES)) {
        const w = byName.get(`${p.variable.name}/${slot}`);
        if (w === undefined) continue;
        const key = `state.${i}.${torchName}`;
        tensors.set(key, exported(w.tensor, p.perm, `the ${torchName} of "${p.variable.name}"`));
        (entry as unknown as Record<string, unknown>)[torchName] = key;
      }
      state[String(i)] = entry;
    });
    const className = optimizer.getClassName();
    const stateDict: StateDict = {
      format: FORMAT,
      version: 1,
      optimizer: className,
      layout,
      state,
      param_groups: [
        {
          lr: optimizer.learningRate,
          betas: [h['beta1'] as number, h['beta2'] as number],
          eps: h['epsilon'] as number,
          weight_decay: h['weightDecay'] as number,
          decoupled: h['decoupled'] as boolean,
          maximize: h['maximize'] as boolean,
          ...(className === 'adopt-optim/ADOPT'
            ? { clip_exponent: h['clipExponent'] as number | null }
            : { amsgrad: className === 'adopt-optim/AMSGrad' }),
          params: params.map((_, i) => i),
          param_names: params.map((p) => p.exportName),
          tfjs_names: params.map((p) => p.variable.name),
          axes: params.map((p) => p.perm),
        },
      ],
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
 * of `source`, matched by name (tfjs's per-process numbering aside). The whole file is checked first
 * (./read_state.ts: format, names, mappings, axes, shapes, values, steps); then the state of the
 * parameters it covers is replaced through the optimizer's own setWeights (all or nothing), the state of
 * every other variable kept as it was, and the parameters assigned. A refusal changes nothing.
 */
export async function importState(
  optimizer: NamedStateOptimizer,
  source: ParamSource,
  file: Uint8Array,
  options: ImportOptions = {},
): Promise<void> {
  checkOptions('importState', options, ['params']);
  refuseCustomRule('importState', optimizer);
  const assign = options.params === undefined ? true : checkBoolean('importState', 'params', options.params);
  const plan = readStateFile(file, source);
  const covered = new Set(plan.params.map((p) => p.variable.name));
  // the state of variables the file does not cover stays (a frozen layer's moments, another model's)
  const current = await optimizer.getWeights();
  const kept = current.filter(
    (w) =>
      w.name !== 'iter' && !w.name.startsWith('optimizer:') && !covered.has(w.name.slice(0, w.name.lastIndexOf('/'))),
  );
  let iter = 0;
  for (const w of kept) if (w.name.endsWith('/step')) iter = Math.max(iter, (await w.tensor.data())[0]!);
  const made: tf.Tensor[] = [];
  try {
    const make = <T extends tf.Tensor>(t: T): T => {
      made.push(t);
      return t;
    };
    const weights: NamedTensor[] = [];
    for (const s of plan.states) {
      iter = Math.max(iter, s.step);
      for (const [slot, data] of s.slots) {
        const tensor = make(tf.tensor(data, s.variable.shape, 'float32'));
        weights.push({ name: `${s.variable.name}/${slot}`, tensor });
      }
      weights.push({ name: `${s.variable.name}/step`, tensor: make(tf.scalar(s.step, 'int32')) });
    }
    const iterT = make(tf.scalar(iter, 'int32'));
    const marker = make(tf.scalar(STATE_FORMAT_VERSION, 'int32'));
    const values = assign ? plan.params.map((p) => make(tf.tensor(p.data, p.variable.shape, 'float32'))) : [];
    // the writer's class marks the state: setWeights refuses another kind's (ADOPT's moments into Adam)
    const head = [
      { name: 'iter', tensor: iterT },
      { name: `optimizer:${plan.className}`, tensor: marker },
    ];
    await optimizer.setWeights([...head, ...kept, ...weights]);
    values.forEach((value, i) => plan.params[i]!.variable.assign(value));
  } finally {
    tf.dispose(made);
  }
}
