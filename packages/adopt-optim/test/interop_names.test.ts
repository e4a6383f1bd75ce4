/**
 * exportState/importState map every variable to its own tensors: unique names (Bidirectional, nested
 * models), the file's own axes whatever the source and target (model or variable list), names checked
 * against their mappings, and the state of variables the file does not cover kept as it was.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adam, adopt, amsgrad } from '../src/index.js';
import { exportState, importState } from '../src/interop/index.js';
import { useBackend } from './backends.js';
import {
  bidirectionalModel,
  nestedModel,
  refusedUnchanged,
  rewrite,
  snapshot,
  squareModel,
  stateOf,
  train,
  variablesOf,
} from './interop_helpers.js';

const values = (vars: tf.Variable[]) => vars.map((v) => Array.from(v.dataSync()));

/** Exported from (m, opt), imported into (m2, opt2): every variable of m2 holds m's values, every state slot opt's. */
async function assertRoundTrip(
  m: tf.LayersModel,
  m2: tf.LayersModel,
  file: Uint8Array,
  opt: ReturnType<typeof adopt>,
): Promise<void> {
  const opt2 = adopt(0.01);
  await importState(opt2, m2, file);
  assert.deepEqual(values(variablesOf(m2)), values(variablesOf(m)));
  const a = await stateOf(opt);
  const b = await stateOf(opt2);
  variablesOf(m).forEach((v, i) => {
    for (const slot of ['m', 'v', 'step']) {
      assert.deepEqual(b.get(`${variablesOf(m2)[i]!.name}/${slot}`), a.get(`${v.name}/${slot}`), `${v.name}/${slot}`);
    }
  });
  opt2.dispose();
}

describe('exported names are unique and round-trip (item 2)', () => {
  it('a Bidirectional(LSTM): both directions keep their own values', async () => {
    await useBackend('cpu');
    const m = bidirectionalModel(1);
    const opt = adopt(0.01);
    train(opt, variablesOf(m), 2, 5);
    const { file, stateDict } = await exportState(opt, m);
    const names = stateDict.param_groups[0]!.param_names;
    assert.equal(new Set(names).size, 8);
    const lstm = ['kernel', 'recurrent_kernel', 'bias'];
    assert.deepEqual(
      names.slice(0, 6),
      ['forward', 'backward'].flatMap((d) => lstm.map((w) => `bi.${d}_rnn.${w}`)),
    );
    await assertRoundTrip(m, bidirectionalModel(20), file, opt);
    opt.dispose();
  });

  it('a nested model: its layers are named by their path and mapped (Dense kernels transposed)', async () => {
    await useBackend('cpu');
    const m = nestedModel(1, 'x');
    const opt = adopt(0.01);
    train(opt, variablesOf(m), 2, 5);
    const { file, stateDict } = await exportState(opt, m);
    assert.deepEqual(stateDict.param_groups[0]!.param_names, [
      'inner_x.d_x.weight',
      'inner_x.d_x.bias',
      'inner_x.e_x.weight',
      'inner_x.e_x.bias',
      'f_x.weight',
      'f_x.bias',
    ]);
    assert.deepEqual(stateDict.param_groups[0]!.axes, [[1, 0], null, [1, 0], null, [1, 0], null]);
    const m2 = nestedModel(30, 'x');
    await assertRoundTrip(m, m2, file, opt);
    opt.dispose();
  });

  it('an export that would hold two tensors of one name is refused, nothing written', async () => {
    await useBackend('cpu');
    const v = tf.variable(tf.ones([2]), true, 'twice_v');
    const opt = adopt(0.01);
    await assert.rejects(exportState(opt, [v, v]), /"twice_v" is listed twice/);
    v.dispose();
  });
});

describe("the file's axes are followed, whatever the source and target (item 3)", () => {
  it('model -> variable list and variable list -> model keep square kernels as they were', async () => {
    await useBackend('cpu');
    const m = squareModel(1, ['sq_a', 'sq_b', 'sq_c'], 3); // every kernel square: a transposed one has the right shape
    const opt = adopt(0.01);
    train(opt, variablesOf(m), 2, 5);
    const fromModel = (await exportState(opt, m)).file;
    const fromList = await exportState(opt, variablesOf(m));
    // the targets are a second model's variables (matched by name: tfjs's numbering aside)
    for (const [file, toList] of [
      [fromModel, true],
      [fromList.file, false],
    ] as const) {
      const m2 = squareModel(40, ['sq_a', 'sq_b', 'sq_c'], 3);
      const opt2 = adopt(0.01);
      await importState(opt2, toList ? variablesOf(m2) : m2, file);
      assert.deepEqual(values(variablesOf(m2)), values(variablesOf(m)), toList ? 'model -> list' : 'list -> model');
      opt2.dispose();
      m2.dispose();
    }
    assert.equal(fromList.stateDict.layout, 'tfjs'); // a list says nothing of layers
    const refused = /invalid layout "torch" for a list of variables/;
    await assert.rejects(exportState(opt, variablesOf(m), { layout: 'torch' }), refused);
    opt.dispose();
  });

  it("axes that contradict the model's layout, or are no permutation, are refused", async () => {
    await useBackend('cpu');
    const m = squareModel(1, ['ax_a', 'ax_b', 'ax_c']);
    const opt = adopt(0.01);
    train(opt, variablesOf(m), 1, 5);
    const { file } = await exportState(opt, m);
    const vars = variablesOf(m);
    const axes = (a: unknown) =>
      rewrite(file, (sd) => {
        sd.param_groups[0].axes[0] = a;
      });
    await refusedUnchanged(opt, vars, () => importState(opt, m, axes(null)), /axes\[0\] is null; .* has \[1,0\]/);
    const notPerm = /axes\[0\] is \[0,0\]; expected null or a permutation/;
    await refusedUnchanged(opt, vars, () => importState(opt, vars, axes([0, 0])), notPerm);
    opt.dispose();
  });
});

describe('names and mappings are checked (item 4)', () => {
  it("param_names swapped for two same-shaped layers, state naming another's moments: refused", async () => {
    await useBackend('cpu');
    const m = squareModel(1, ['nm_a', 'nm_b', 'nm_c']);
    const opt = adam(0.01);
    train(opt, variablesOf(m), 2, 5);
    const { file } = await exportState(opt, m);
    const vars = variablesOf(m);
    const swapped = rewrite(file, (sd) => {
      const n = sd.param_groups[0].param_names;
      [n[0], n[2]] = [n[2], n[0]];
    });
    const mismatch = /param_names\[0\] is "nm_b.weight" but tfjs_names\[0\] is "nm_a\/kernel"/;
    await refusedUnchanged(opt, vars, () => importState(opt, m, swapped), mismatch);
    const crossed = rewrite(file, (sd) => {
      sd.state['0'].exp_avg = 'state.2.exp_avg';
    });
    const notOwn = /state\["0"\].exp_avg is "state.2.exp_avg"; expected "state.0.exp_avg"/;
    await refusedUnchanged(opt, vars, () => importState(opt, m, crossed), notOwn);
    const tfjsFile = (await exportState(opt, m, { layout: 'tfjs' })).file;
    const tfjsSwapped = rewrite(tfjsFile, (sd) => {
      const n = sd.param_groups[0].param_names;
      [n[0], n[2]] = [n[2], n[0]];
    });
    const same = /in tfjs layout it must be the same name/;
    await refusedUnchanged(opt, vars, () => importState(opt, m, tfjsSwapped), same);
    opt.dispose();
  });
});

describe('import keeps the state of variables the file does not cover (item 8)', () => {
  it("a frozen layer's moments and count, and another variable's, stay as they were", async () => {
    await useBackend('cpu');
    const m = squareModel(1, ['fr_a', 'fr_b', 'fr_c']);
    const extra = tf.variable(tf.ones([4]), true, 'fr_extra');
    const opt = amsgrad(0.01);
    train(opt, [...variablesOf(m), extra], 3, 5);
    m.layers[0]!.trainable = false; // the export covers fr_b and fr_c only
    const { file, stateDict } = await exportState(opt, m);
    assert.equal(stateDict.param_groups[0]!.tfjs_names.length, 4);
    train(opt, variablesOf(m), 2, 6); // the covered variables move on; the import takes them back
    const before = await stateOf(opt);
    const frozen = m.layers[0]!.weights.map((w) => w.read() as tf.Variable);
    await importState(opt, m, file);
    const after = await stateOf(opt);
    for (const v of [...frozen, extra]) {
      for (const slot of ['m', 'v', 'vmax', 'step']) {
        assert.deepEqual(after.get(`${v.name}/${slot}`), before.get(`${v.name}/${slot}`), `${v.name}/${slot}`);
      }
    }
    assert.equal(opt.stepOf(frozen[0]!.name), 3);
    assert.equal(opt.stepOf(variablesOf(m)[0]!.name), 3); // fr_b is back at the file's step (5 before the import)
    assert.equal(opt.iterations, 3);
    m.layers[0]!.trainable = true;
    opt.dispose();
    extra.dispose();
  });

  it('a failed import still changes nothing when other state is kept', async () => {
    await useBackend('cpu');
    const m = squareModel(1, ['fk_a', 'fk_b', 'fk_c']);
    const opt = adopt(0.01);
    train(opt, variablesOf(m), 2, 5);
    const { file } = await exportState(opt, m);
    const adamOpt = adam(0.01);
    train(adamOpt, variablesOf(m), 1, 5);
    const before = await snapshot(adamOpt, variablesOf(m));
    await refusedUnchanged(adamOpt, variablesOf(m), () => importState(adamOpt, m, file), /saved by adopt-optim\/ADOPT/);
    assert.deepEqual(await snapshot(adamOpt, variablesOf(m)), before);
    opt.dispose();
    adamOpt.dispose();
  });
});
