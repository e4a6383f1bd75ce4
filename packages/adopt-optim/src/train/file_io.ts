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
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

/** An IOHandler saving to and loading from `dir` (created if missing). */
export function fileSystem(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error('fileSystem: saving a binary (GraphDef) model topology is not supported.');
      }
      await mkdir(dir, { recursive: true });
      const weights = artifacts.weightData === undefined ? new Uint8Array(0) : joinWeightData(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.signature ? { signature: artifacts.signature } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      // weights first: model.json appears only once the weights it names are in place
      await writeAtomically(join(dir, WEIGHTS_BIN), weights);
      await writeAtomically(join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const path = join(dir, MODEL_JSON);
      let modelJson: tf.io.ModelJSON;
      try {
        modelJson = JSON.parse(await readFile(path, 'utf8')) as tf.io.ModelJSON;
      } catch (e) {
        throw new Error(`fileSystem: cannot read the model at ${path} (${(e as Error).message}).`);
      }
      if (modelJson.modelTopology == null || !Array.isArray(modelJson.weightsManifest)) {
        throw new Error(`fileSystem: ${path} is not a tfjs model.json (no modelTopology or weightsManifest).`);
      }
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const parts: Uint8Array[] = [];
        for (const group of manifest) {
          for (const file of group.paths) parts.push(await readFile(join(dir, file)));
          specs.push(...group.weights);
        }
        const data = joinWeightData(parts.map((p) => p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength) as ArrayBuffer));
        const expected = specs.reduce((n, s) => n + tf.util.sizeFromShape(s.shape) * (s.dtype === 'float32' || s.dtype === 'int32' ? 4 : 1), 0);
        if (data.byteLength < expected) {
          throw new Error(`fileSystem: the weights in ${dir} hold ${data.byteLength} bytes; model.json lists ${expected}. The files are truncated.`);
        }
        return [specs, data.buffer as ArrayBuffer];
      });
    },
  };
}

let registered = false;

/** Makes `file://path` URLs work with model.save and tf.loadLayersModel (unless tfjs-node did). */
export function registerFileSystemRouter(): void {
  if (registered) return;
  registered = true;
  const route = (url: string | string[]) => {
    const u = Array.isArray(url) ? url[0] : url;
    return typeof u === 'string' && u.startsWith('file://') ? fileSystem(u.slice('file://'.length)) : null;
  };
  // tfjs's router type omits the `null` that routers return for URLs they do not handle
  if (tf.io.getSaveHandlers('file://probe').length === 0) tf.io.registerSaveRouter(route as never);
  if (tf.io.getLoadHandlers('file://probe').length === 0) tf.io.registerLoadRouter(route as never);
}
