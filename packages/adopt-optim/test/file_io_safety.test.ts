/**
 * fileSystem(): weight paths stay inside the model folder (4), quantized weights are sized by
 * their stored dtype (5), and file://dir/model.json works as well as file://dir (6).
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { fileSystem, registerFileSystemRouter, weightByteSize } from '../src/train/index.js';
import { useBackend } from './backends.js';
import { mlp, scratchDirs, weightsOf } from './checkpoint_helpers.js';

const freshDir = scratchDirs('adopt-file-io-');

async function savedModel(
  seed = 21,
): Promise<{ dir: string; model: tf.Sequential; json: tf.io.ModelJSON; weights: Buffer }> {
  const dir = freshDir();
  const model = mlp(seed);
  await model.save(fileSystem(dir));
  return {
    dir,
    model,
    json: JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')),
    weights: readFileSync(join(dir, 'weights.bin')),
  };
}

const withPaths = (json: tf.io.ModelJSON, paths: string[]) =>
  JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0]!, paths }] });

/** IEEE half-precision bits of x (round to nearest even is not needed here: truncation is fine). */
function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exponent = ((u >>> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return sign;
  if (exponent >= 31) return sign | 0x7c00;
  return sign | (exponent << 10) | ((u >>> 13) & 0x3ff);
}

describe('fileSystem IOHandler safety', () => {
  before(() => useBackend('cpu'));

  describe('4. weight paths are resolved inside the model folder; only regular files of the listed size are read', () => {
    it('"../secret/x.bin" is refused, not loaded', async () => {
      const { dir, model, json, weights } = await savedModel();
      const secret = join(dir, '..', 'secret');
      mkdirSync(secret, { recursive: true });
      writeFileSync(join(secret, 'x.bin'), weights); // the right size: only the path check can stop it
      writeFileSync(join(dir, 'model.json'), withPaths(json, ['../secret/x.bin']));
      await assert.rejects(
        fileSystem(dir).load!(),
        /names the weight file "\.\.\/secret\/x\.bin", which resolves to .*outside the model folder.*; refused/,
      );
      await assert.rejects(tf.loadLayersModel(fileSystem(dir)), /outside the model folder/);
      model.dispose();
    });

    it('"../../../../dev/zero", absolute paths, URLs and symlinks out of the folder are refused before any read', async () => {
      const { dir, model, json } = await savedModel();
      const started = Date.now();
      for (const [path, pattern] of [
        ['../../../../dev/zero', /outside the model folder/],
        ['/dev/zero', /an absolute path or URL/],
        ['file:///dev/zero', /an absolute path or URL/],
        ['', /not a file name/],
        ['missing.bin', /cannot be found/],
        ['.', /not a regular file|resolves to/],
      ] as const) {
        writeFileSync(join(dir, 'model.json'), withPaths(json, [path]));
        await assert.rejects(fileSystem(dir).load!(), pattern, path);
      }
      symlinkSync('/dev/zero', join(dir, 'zero.bin'));
      writeFileSync(join(dir, 'model.json'), withPaths(json, ['zero.bin']));
      await assert.rejects(fileSystem(dir).load!(), /outside the model folder|not a regular file/);
      mkdirSync(join(dir, 'sub'));
      symlinkSync('/dev/zero', join(dir, 'sub', 'zero.bin'));
      symlinkSync(join(dir, '..'), join(dir, 'up'));
      writeFileSync(join(dir, 'model.json'), withPaths(json, ['up/secret.bin']));
      await assert.rejects(fileSystem(dir).load!(), /outside the model folder|cannot be found/);
      assert.ok(Date.now() - started < 5000, 'took too long: something was read');
      model.dispose();
    });

    it('weight files larger than model.json lists are refused; smaller ones are truncated; a path inside via sub/.. loads', async () => {
      const { dir, model, json, weights } = await savedModel();
      writeFileSync(join(dir, 'weights.bin'), Buffer.concat([weights, Buffer.alloc(4)]));
      await assert.rejects(
        fileSystem(dir).load!(),
        /hold \d+ bytes; model\.json lists \d+\. Refusing to read files larger than the model lists/,
      );
      writeFileSync(join(dir, 'weights.bin'), weights.subarray(0, 40));
      await assert.rejects(fileSystem(dir).load!(), /hold 40 bytes; model\.json lists \d+\. The files are truncated/);
      writeFileSync(join(dir, 'weights.bin'), weights);
      mkdirSync(join(dir, 'sub'));
      writeFileSync(join(dir, 'model.json'), withPaths(json, ['sub/../weights.bin']));
      const loaded = await tf.loadLayersModel(fileSystem(dir));
      assert.deepEqual(weightsOf(loaded), weightsOf(model));
      loaded.dispose();
      model.dispose();
    });

    it('property: a load reads only regular files inside the folder, whatever the path', async () => {
      const { dir, model, json, weights } = await savedModel();
      writeFileSync(join(dir, '..', 'outside.bin'), weights);
      mkdirSync(join(dir, 'sub'));
      writeFileSync(join(dir, 'sub', 'weights.bin'), weights);
      const root = resolve(dir);
      const segment = fc.constantFrom(
        '..',
        '.',
        '',
        'sub',
        'weights.bin',
        'outside.bin',
        'model.json',
        '/',
        '%2e%2e',
        'nul\0',
        '\\..',
      );
      await fc.assert(
        fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 6 }), async (parts) => {
          const path = parts.join('/');
          writeFileSync(join(dir, 'model.json'), withPaths(json, [path]));
          const target = resolve(dir, path);
          const r = relative(root, target);
          const inside =
            !path.startsWith('/') && !path.includes('\0') && r !== '' && !r.startsWith(`..${sep}`) && r !== '..';
          const loadable = inside && (r === 'weights.bin' || r === join('sub', 'weights.bin'));
          try {
            const artifacts = await fileSystem(dir).load!();
            assert.ok(loadable, `loaded ${JSON.stringify(path)} (${target})`);
            assert.deepEqual(new Uint8Array(artifacts.weightData as ArrayBuffer), new Uint8Array(weights));
          } catch (e) {
            assert.ok(!loadable, `refused ${JSON.stringify(path)}: ${e}`);
            assert.match(String(e), /fileSystem: .*refused|The files are truncated|larger than/);
          }
        }),
        { numRuns: 300 },
      );
      model.dispose();
    });
  });

  describe('5. quantized weights', () => {
    for (const dtype of ['uint8', 'uint16', 'float16'] as const) {
      it(`a ${dtype}-quantized model loads, sized by its stored dtype`, async () => {
        const { dir, model, json } = await savedModel(23);
        const specs = json.weightsManifest[0]!.weights;
        const parts: Uint8Array[] = [];
        const tolerance: number[] = [];
        for (const [i, spec] of specs.entries()) {
          const values = model.getWeights()[i]!.dataSync() as Float32Array;
          if (dtype === 'float16') {
            spec.quantization = { dtype };
            parts.push(new Uint8Array(Uint16Array.from(values, toHalf).buffer));
            tolerance.push(Math.max(...Array.from(values, Math.abs)) / 512 + 1e-7);
            continue;
          }
          const levels = dtype === 'uint8' ? 255 : 65535;
          const min = Math.min(...values);
          const scale = (Math.max(...values) - min) / levels || 1;
          spec.quantization = { dtype, min, scale };
          const q = Array.from(values, (v) => Math.round((v - min) / scale));
          parts.push(dtype === 'uint8' ? Uint8Array.from(q) : new Uint8Array(Uint16Array.from(q).buffer));
          tolerance.push(scale / 2 + 1e-6);
        }
        const expected = specs.reduce((n, s) => n + (weightByteSize(s) ?? 0), 0);
        const bin = Buffer.concat(parts);
        assert.equal(bin.byteLength, expected);
        writeFileSync(join(dir, 'weights.bin'), bin);
        writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
        const loaded = await tf.loadLayersModel(fileSystem(dir));
        const got = weightsOf(loaded);
        weightsOf(model).forEach((w, i) =>
          w.forEach((x, j) =>
            assert.ok(Math.abs(x - got[i]![j]!) <= tolerance[i]!, `${dtype}: weight ${i}[${j}] ${got[i]![j]} vs ${x}`),
          ),
        );
        // one byte short is still truncation, one byte more is refused
        writeFileSync(join(dir, 'weights.bin'), bin.subarray(0, bin.byteLength - 1));
        await assert.rejects(fileSystem(dir).load!(), /The files are truncated/);
        writeFileSync(join(dir, 'weights.bin'), Buffer.concat([bin, Buffer.alloc(1)]));
        await assert.rejects(fileSystem(dir).load!(), /larger than the model lists/);
        loaded.dispose();
        model.dispose();
      });
    }

    it('weightByteSize: quantized dtype first, then dtype; unknown ones refused', () => {
      const spec = (extra: object) => ({ name: 'w', shape: [2, 3], dtype: 'float32' as const, ...extra });
      assert.equal(weightByteSize(spec({})), 24);
      assert.equal(weightByteSize(spec({ quantization: { dtype: 'uint8', min: 0, scale: 1 } })), 6);
      assert.equal(weightByteSize(spec({ quantization: { dtype: 'uint16', min: 0, scale: 1 } })), 12);
      assert.equal(weightByteSize(spec({ quantization: { dtype: 'float16' } })), 12);
      assert.equal(weightByteSize(spec({ dtype: 'bool' })), 6);
      assert.equal(weightByteSize(spec({ dtype: 'string' })), null);
      assert.throws(
        () => weightByteSize(spec({ quantization: { dtype: 'int4' } })),
        /unknown quantization dtype "int4"/,
      );
      assert.throws(() => weightByteSize(spec({ shape: [-1] })), /invalid shape/);
    });
  });

  describe('6. file:// URLs name the folder or its model.json', () => {
    it('tf.loadLayersModel takes file://dir and file://dir/model.json; model.save takes both too', async () => {
      registerFileSystemRouter();
      const { dir, model } = await savedModel(25);
      for (const url of [`file://${dir}`, `file://${dir}/model.json`]) {
        const loaded = await tf.loadLayersModel(url);
        assert.deepEqual(weightsOf(loaded), weightsOf(model), url);
        loaded.dispose();
      }
      const other = freshDir();
      await model.save(`file://${other}/model.json`);
      assert.ok(existsSync(join(other, 'model.json')) && existsSync(join(other, 'weights.bin')));
      assert.ok(!existsSync(join(other, 'model.json', 'model.json')));
      const back = await tf.loadLayersModel(`file://${other}/model.json`);
      assert.deepEqual(weightsOf(back), weightsOf(model));
      await assert.rejects(
        tf.loadLayersModel(`file://${other}/nothing.json`),
        /cannot read the model at .*nothing\.json/,
      );
      back.dispose();
      model.dispose();
    });
  });
});
