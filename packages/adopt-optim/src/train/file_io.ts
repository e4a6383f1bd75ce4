/**
 * Saving and loading a tf.LayersModel (with its optimizer state) to a folder in Node, for where
 * @tensorflow/tfjs-node, which normally provides `file://`, cannot be installed. The folder holds
 * `model.json` and `weights.bin` in the format tfjs reads (the same files `tfjs-node` and the
 * tfjs converter write), written under temporary names and renamed into place.
 *
 *   await model.save(fileSystem('runs/mnist'), { includeOptimizer: true });
 *   const model = await tf.loadLayersModel(fileSystem('runs/mnist'));
 *   registerFileSystemRouter();  // then model.save('file://runs/mnist') works too
 */
import { randomBytes } from 'node:crypto';
import { readFile, realpath, rename, stat, writeFile } from 'node:fs/promises';
import { makeDirectories } from './make_dir.js';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

async function writeAtomically(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}

function joinWeightData(data: tf.io.WeightData): Uint8Array {
  const buffers = Array.isArray(data) ? data : [data];
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b), at);
    at += b.byteLength;
  }
  return out;
}

const BYTES_PER_ELEMENT: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/**
 * Bytes a weight takes in the weight files: its quantized dtype when it has one (uint8 1,
 * uint16 2, float16 2), else its dtype; null for strings (their length is in the data).
 */
export function weightByteSize(spec: tf.io.WeightsManifestEntry, where = 'fileSystem'): number | null {
  if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${where}: weight "${spec.name}" has an invalid shape ${JSON.stringify(spec.shape)}.`);
  }
  const stored = spec.quantization?.dtype ?? spec.dtype;
  if (spec.quantization !== undefined && !['uint8', 'uint16', 'float16'].includes(spec.quantization.dtype)) {
    throw new Error(
      `${where}: weight "${spec.name}" has an unknown quantization dtype ${JSON.stringify(spec.quantization.dtype)}.`,
    );
  }
  if (stored === 'string') return null;
  const size = BYTES_PER_ELEMENT[stored];
  if (size === undefined)
    throw new Error(`${where}: weight "${spec.name}" has an unknown dtype ${JSON.stringify(stored)}.`);
  return tf.util.sizeFromShape(spec.shape) * size;
}

/** Where the model json and its weights are: `target` is a folder or a `.json` file in one. */
async function locate(target: string, forSave: boolean): Promise<{ dir: string; json: string; weights: string }> {
  let isDirectory = false;
  try {
    isDirectory = (await stat(target)).isDirectory();
  } catch {
    // missing: decided by its name
  }
  if (!isDirectory && target.toLowerCase().endsWith('.json')) {
    const json = basename(target);
    return {
      dir: dirname(target),
      json,
      weights: json === MODEL_JSON ? WEIGHTS_BIN : `${json.slice(0, -'.json'.length)}.${WEIGHTS_BIN}`,
    };
  }
  void forSave;
  return { dir: target, json: MODEL_JSON, weights: WEIGHTS_BIN };
}

/**
 * An IOHandler saving to and loading from `path`: a folder (created if missing) holding
 * model.json and weights.bin, or the path of the model's .json file itself (as tfjs-node accepts).
 * Loading reads only regular files inside the model's folder, and only as many bytes as
 * model.json lists: a weight path leading outside the folder, to something that is not a regular
 * file, or files of another size than the weights listed are refused before anything is read.
 */
export function fileSystem(path: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error('fileSystem: saving a binary (GraphDef) model topology is not supported.');
      }
      const { dir, json, weights: weightsName } = await locate(path, true);
      await makeDirectories(dir); // not Node's recursive mkdir: it never returns under /proc
      const weights = artifacts.weightData === undefined ? new Uint8Array(0) : joinWeightData(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        weightsManifest: [{ paths: [`./${weightsName}`], weights: artifacts.weightSpecs ?? [] }],
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.signature ? { signature: artifacts.signature } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      // weights first: model.json appears only once the weights it names are in place
      await writeAtomically(join(dir, weightsName), weights);
      await writeAtomically(join(dir, json), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const { dir, json } = await locate(path, false);
      const jsonPath = join(dir, json);
      let modelJson: tf.io.ModelJSON;
      try {
        if (!(await stat(jsonPath)).isFile()) throw new Error('not a regular file');
        modelJson = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (e) {
        throw new Error(`fileSystem: cannot read the model at ${jsonPath} (${(e as Error).message}).`);
      }
      if (
        modelJson === null ||
        typeof modelJson !== 'object' ||
        modelJson.modelTopology == null ||
        !Array.isArray(modelJson.weightsManifest)
      ) {
        throw new Error(`fileSystem: ${jsonPath} is not a tfjs model.json (no modelTopology or weightsManifest).`);
      }
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const root = await realpath(dir);
        const specs: tf.io.WeightsManifestEntry[] = [];
        const files: { path: string; size: number }[] = [];
        let total = 0;
        let expected = 0;
        let exact = true; // false when a string weight makes the size unknowable
        for (const group of manifest) {
          if (
            group === null ||
            typeof group !== 'object' ||
            !Array.isArray(group.paths) ||
            !Array.isArray(group.weights)
          ) {
            throw new Error(`fileSystem: ${jsonPath} has a weightsManifest group without paths or weights.`);
          }
          for (const file of group.paths) files.push(await checkedWeightFile(root, dir, file, jsonPath));
          for (const spec of group.weights) {
            const size = weightByteSize(spec);
            if (size === null) exact = false;
            else expected += size;
          }
          specs.push(...group.weights);
        }
        total = files.reduce((n, f) => n + f.size, 0);
        if (total < expected) {
          throw new Error(
            `fileSystem: the weights in ${dir} hold ${total} bytes; model.json lists ${expected}. The files are ` +
              'truncated.',
          );
        }
        if (exact && total > expected) {
          throw new Error(
            `fileSystem: the weights in ${dir} hold ${total} bytes; model.json lists ${expected}. ` +
              'Refusing to read files larger than the model lists (wrong or extra weight files?).',
          );
        }
        // every check passed: read, and make sure the files did not change size meanwhile
        const parts: Uint8Array[] = [];
        for (const f of files) {
          const bytes = await readFile(f.path);
          if (bytes.byteLength !== f.size)
            throw new Error(
              `fileSystem: ${f.path} changed while being read (${f.size} then ${bytes.byteLength} bytes).`,
            );
          parts.push(bytes);
        }
        const data = joinWeightData(
          parts.map((p) => p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength) as ArrayBuffer),
        );
        return [specs, data.buffer as ArrayBuffer];
      });
    },
  };
}

/** A weight file path from model.json, resolved inside the model's folder, as a regular file. */
async function checkedWeightFile(
  root: string,
  dir: string,
  file: unknown,
  jsonPath: string,
): Promise<{ path: string; size: number }> {
  const refuse = (why: string) =>
    new Error(`fileSystem: ${jsonPath} names the weight file ${JSON.stringify(file)}, ${why}; refused.`);
  if (typeof file !== 'string' || file === '' || file.includes('\0')) throw refuse('which is not a file name');
  if (isAbsolute(file) || /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(file))
    throw refuse('an absolute path or URL, not a path inside the model folder');
  const inside = (p: string) => {
    const r = relative(root, p);
    return r !== '' && r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r);
  };
  let real: string;
  try {
    real = await realpath(resolve(dir, file));
  } catch (e) {
    if (!inside(resolve(root, file))) throw refuse('which is outside the model folder');
    throw refuse(`which cannot be found (${(e as Error).message})`);
  }
  if (!inside(real)) throw refuse(`which resolves to ${real}, outside the model folder ${root}`);
  const info = await stat(real);
  if (!info.isFile()) throw refuse('which is not a regular file');
  return { path: real, size: info.size };
}

let registered = false;

/** Makes `file://path` URLs work with model.save and tf.loadLayersModel (unless tfjs-node did). */
export function registerFileSystemRouter(): void {
  if (registered) return;
  registered = true;
  const route = (url: string | string[]) => {
    const u = Array.isArray(url) ? url[0] : url;
    // file://dir and file://dir/model.json (as tfjs-node takes them) both work
    return typeof u === 'string' && u.startsWith('file://') ? fileSystem(u.slice('file://'.length)) : null;
  };
  // tfjs's router type omits the `null` that routers return for URLs they do not handle
  if (tf.io.getSaveHandlers('file://probe').length === 0) tf.io.registerSaveRouter(route as never);
  if (tf.io.getLoadHandlers('file://probe').length === 0) tf.io.registerLoadRouter(route as never);
}
