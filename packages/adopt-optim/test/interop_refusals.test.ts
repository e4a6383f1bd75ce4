/**
 * What importState and exportState refuse, each with an OptimizerArgumentError naming the field, the
 * value and what was expected, and with parameters, optimizer state and tensor count unchanged: state
 * keyed by name, NaN/Infinity parameters, steps beyond int32, option typos, unknown layouts, null or
 * missing state, shapes that differ.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adopt, type NamedStateOptimizer } from '../src/index.js';
import { exportState, importState } from '../src/interop/index.js';
import { useBackend } from './backends.js';
import { refusedUnchanged, rewrite, squareModel, train, variablesOf } from './interop_helpers.js';

let m: tf.Sequential;
let vars: tf.Variable[];
let opt: NamedStateOptimizer;
let file: Uint8Array;

before(async () => {
  await useBackend('cpu');
  m = squareModel(1, ['rf_a', 'rf_b', 'rf_c']);
  vars = variablesOf(m);
  opt = adopt(0.01);
  train(opt, vars, 3, 5);
  file = (await exportState(opt, m)).file;
  train(opt, vars, 1, 6); // the live state differs from the file's
});

const refused = (f: Uint8Array, message: RegExp, options?: object) =>
  refusedUnchanged(opt, vars, () => importState(opt, m, f, options as never), message);

describe('importState refuses, changing nothing', () => {
  it('state keyed by name instead of index (item 9)', async () => {
    await refused(
      rewrite(file, (sd) => {
        sd.state = Object.fromEntries(
          Object.entries(sd.state).map(([k, s]) => [sd.param_groups[0].param_names[+k], s]),
        );
      }),
      /"state" has the key "rf_a.weight"; state is keyed by the parameter's index in param_groups\[0\].params/,
    );
    const other = /"state" has the key "7"; expected one of "0", "1"/;
    await refused(
      rewrite(file, (sd) => {
        sd.state['7'] = sd.state['0'];
      }),
      other,
    );
  });

  it('NaN or Infinity in a parameter (item 10)', async () => {
    for (const x of [NaN, Infinity, -Infinity]) {
      const f = rewrite(file, (_, t) => {
        (t.get('rf_b.bias')!.data as Float32Array)[1] = x;
      });
      await refused(f, new RegExp(`parameter "rf_b/bias": tensor "rf_b.bias" holds ${x} at index 1; expected finite`));
    }
  });

  it('a step outside int32 (item 11): 2^31, 2^32, 2^32 + 1, -1, 1.5, "3"', async () => {
    for (const step of [2 ** 31, 2 ** 32, 2 ** 32 + 1, -1, 1.5, '3']) {
      const f = rewrite(file, (sd) => {
        sd.state['1'].step = step;
      });
      await refused(f, /state\["1"\].step is .*; expected an integer in \[0, 2147483647\]/);
    }
    const edge = adopt(0.01);
    await importState(
      edge,
      m,
      rewrite(file, (sd) => {
        sd.state['1'].step = 2 ** 31 - 1;
      }),
    );
    assert.equal(edge.stepOf(vars[1]!.name), 2 ** 31 - 1);
    assert.equal(edge.iterations, 2 ** 31 - 1);
    edge.dispose();
  });

  it('option typos and unknown layouts (item 12)', async () => {
    await refused(file, /importState: unknown option "param"; did you mean "params"\?/, { param: false });
    await refused(file, /importState: invalid params "no"; expected true or false/, { params: 'no' });
    const typo = /exportState: unknown option "layuot"; did you mean "layout"\?/;
    await assert.rejects(exportState(opt, m, { layuot: 'tfjs' } as never), typo);
    const upper = /exportState: invalid layout "TFJS"; expected one of "torch", "tfjs"/;
    await assert.rejects(exportState(opt, m, { layout: 'TFJS' } as never), upper);
    await refused(
      rewrite(file, (sd) => {
        sd.layout = 'TFJS';
      }),
      /"layout" is "TFJS"; expected "torch" or "tfjs"/,
    );
    await refused(
      rewrite(file, (sd) => {
        delete sd.layout;
      }),
      /"layout" is undefined; expected "torch" or "tfjs"/,
    );
  });

  it('a null state entry, no state, no param_groups, a state entry with an unknown field (item 14)', async () => {
    const cases: [(sd: Record<string, any>) => void, RegExp][] = [
      [
        (sd) => {
          sd.state['0'] = null;
        },
        /state\["0"\] is null; expected \{step, exp_avg, exp_avg_sq\}/,
      ],
      [
        (sd) => {
          delete sd.state;
        },
        /"state" is undefined; expected an object keyed by parameter index/,
      ],
      [
        (sd) => {
          sd.param_groups = null;
        },
        /"param_groups" is null; expected one parameter group/,
      ],
      [
        (sd) => {
          sd.state['0'].exp_avg_sqq = 'x';
        },
        /state\["0"\] has the field "exp_avg_sqq"; expected only step/,
      ],
      [
        (sd) => {
          delete sd.state['0'].exp_avg_sq;
        },
        /\.exp_avg_sq is undefined; expected "state.0.exp_avg_sq"/,
      ],
    ];
    for (const [edit, message] of cases) await refused(rewrite(file, edit), message);
  });

  it('a shape error says what was found and what was expected, never the same shape twice (item 14)', async () => {
    // rf_a.weight (3x3) stored as [9], [3, 3, 1], [1, 9]: the old check compared the transposed shape ([3, 3] twice)
    for (const shape of [[9], [3, 3, 1], [1, 9]]) {
      const f = rewrite(file, (_, t) => {
        t.get('rf_a.weight')!.shape = shape;
      });
      const expected = `expected \\[3,3\\] \\(the variable "rf_a/kernel" \\[3,3\\] in the file's axes\\)`;
      await refused(f, new RegExp(`tensor "rf_a.weight" has shape \\[${shape}\\]; ${expected}`));
    }
    const f = rewrite(file, (_, t) => {
      const x = t.get('rf_c.weight')!;
      t.set('rf_c.weight', { dtype: 'F32', shape: [3, 2], data: x.data });
    });
    await refused(f, /tensor "rf_c.weight" has shape \[3,2\]; expected \[2,3\] \(the variable "rf_c\/kernel" \[3,2\]/);
  });

  it('a file that is not ours, or names a tensor it does not hold', async () => {
    await refused(file.subarray(0, 40), /not a safetensors file/);
    await refused(
      rewrite(file, (sd) => {
        sd.version = 2;
      }),
      /"version" is 2; expected 1/,
    );
    const missing = /state\["2"\].exp_avg names the tensor "state.2.exp_avg", which the file does not hold/;
    await refused(
      rewrite(file, (_, t) => {
        t.delete('state.2.exp_avg');
      }),
      missing,
    );
    await refused(
      rewrite(file, (_, t) => {
        const x = t.get('rf_a.bias')!;
        t.set('rf_a.bias', { dtype: 'F64', shape: x.shape, data: Float64Array.from(x.data as Float32Array) });
      }),
      /tensor "rf_a.bias" is F64; expected F32/,
    );
  });
});

describe('exportState refuses what could not be read back, writing nothing', () => {
  it('a parameter holding NaN or Infinity', async () => {
    const start = tf.memory().numTensors;
    const v = tf.tidy(() => tf.variable(tf.tensor([1, NaN, 3]), true, 'rf_nan'));
    const w = tf.tidy(() => tf.variable(tf.tensor([1, 2, -Infinity]), true, 'rf_inf'));
    const o = adopt(0.01);
    const nan = /exportState: the parameter "rf_nan" holds NaN at index 1; a file holds finite values only/;
    await assert.rejects(exportState(o, [v]), nan);
    await assert.rejects(exportState(o, [w]), /the parameter "rf_inf" holds -Infinity at index 2/);
    o.dispose();
    tf.dispose([v, w]);
    assert.equal(tf.memory().numTensors, start);
  });
});
