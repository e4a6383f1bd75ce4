// Duplicate JSON keys in an imported file are refused (JSON.parse keeps the last; another reader may keep the first).
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adopt } from '../src/index.js';
import { exportState, importState } from '../src/interop/index.js';
import { parseJsonStrict } from '../src/interop/strict_json.js';
import { useBackend } from './backends.js';
import { refusedUnchanged, variablesOf } from './interop_helpers.js';

describe('parseJsonStrict', () => {
  it('parses as JSON.parse does, and refuses a key twice in one object, at any depth', () => {
    const ok = [
      '{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}',
      '{"x":"{\\"a\\":1,\\"a\\":2}"}',
      '[1,"a","a"]',
      '"a"',
      '{}',
      '{"a\\"b":1,"a\\\\":2}',
      '{ "k" : [ { "k" : 1 } , { "k" : 2 } ] , "l" : "," }',
    ];
    for (const text of ok) assert.deepEqual(parseJsonStrict(text), JSON.parse(text), text);
    const bad = [
      '{"a":1,"a":2}',
      '{"a":{"b":1,"b":1}}',
      '[{"a":1},{"b":{"c":1,"c":2}}]',
      '{"a":1,"\\u0061":2}',
      '{"a":[1,{"x":1}],"a":0}',
    ];
    for (const text of bad) {
      assert.doesNotThrow(() => JSON.parse(text), 'JSON.parse alone accepts it');
      assert.throws(() => parseJsonStrict(text), /appears twice in one object/, text);
    }
    assert.throws(() => parseJsonStrict('{"a":'), SyntaxError);
  });
});

describe('importState: a header or state dict naming a key twice is refused, nothing changed', () => {
  it('a step given twice in one state entry, and a tensor named twice in the header', async () => {
    await useBackend('cpu');
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], name: 'd' })] });
    const opt = adopt(1e-2);
    model.compile({ optimizer: opt, loss: 'meanSquaredError' });
    const [xs, ys] = [tf.ones([4, 3]), tf.zeros([4, 2])];
    await model.fit(xs, ys, { epochs: 1, verbose: 0 });
    const { file } = await exportState(opt, model);
    const n = Number(Buffer.from(file).readBigUInt64LE(0));
    const text = Buffer.from(file.subarray(8, 8 + n)).toString();
    const rewrap = (header: string) => {
      const h = Buffer.from(header);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      return new Uint8Array(Buffer.concat([len, h, file.subarray(8 + n)]));
    };
    // the state dict (a JSON string inside the metadata): "step":1 becomes "step":1,"step":7
    const header = JSON.parse(text);
    const dict = header.__metadata__.adopt_optim_state_dict as string;
    assert.match(dict, /"step":1/);
    header.__metadata__.adopt_optim_state_dict = dict.replace('"step":1', '"step":1,"step":7');
    const twiceStep = rewrap(JSON.stringify(header));
    // the header: the first tensor's entry repeated under its own name
    const first = Object.keys(JSON.parse(text)).find((k) => k !== '__metadata__')!;
    const entry = JSON.stringify(JSON.parse(text)[first]);
    const twiceTensor = rewrap(text.replace(/^\{/, `{${JSON.stringify(first)}:${entry},`));
    for (const bad of [twiceStep, twiceTensor]) {
      await refusedUnchanged(
        opt,
        variablesOf(model),
        () => importState(opt, model, bad),
        /appears twice in one object/,
      );
    }
    await importState(opt, model, file); // the file itself is still accepted
    opt.dispose();
    model.dispose();
    tf.dispose([xs, ys]);
  });
});
