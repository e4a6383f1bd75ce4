// The data the experiments read (IDX files, MNIST, the text corpora) and CartPole's dynamics.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataFormatError, parseIdx } from '../src/data/idx.js';
import { loadMnist, mnistDataDir, readMnistSplit } from '../src/data/mnist.js';
import { loadMobyDick, loadStateOfTheUnion, splitTail, Vocabulary } from '../src/data/text.js';
import { CartPole } from '../src/rl.js';
import { Random } from '../src/common.js';

const scratch = mkdtempSync(join(tmpdir(), 'adopt-lab-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function idx(type: number, dims: number[], data: number[]): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  header.set([0, 0, type, dims.length]);
  const view = new DataView(header.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  return Uint8Array.from([...header, ...data]);
}

describe('IDX parser', () => {
  it('reads dimensions (big-endian) and data', () => {
    const parsed = parseIdx(idx(8, [2, 3], [1, 2, 3, 4, 5, 6]), 'small');
    assert.deepEqual(parsed.dims, [2, 3]);
    assert.deepEqual(Array.from(parsed.data), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(parseIdx(idx(8, [300], new Array(300).fill(7)), 'big').dims, [300]);
  });
  it('refuses corrupt and truncated files with a clear error', () => {
    const bad: [Uint8Array, RegExp][] = [
      [Uint8Array.from([0, 0]), /2 bytes is too short for an IDX header/],
      [Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 1, 5]), /not an IDX file \(the first two bytes are 1, 0/],
      [idx(0x0d, [1], [0, 0, 0, 0]), /IDX data type 0xd is not supported; expected 0x08/],
      [Uint8Array.from([0, 0, 8, 2, 0, 0]), /truncated IDX header/],
      [
        idx(8, [2, 3], [1, 2, 3, 4]),
        /the header says \[2, 3\] \(6 bytes of data\) but the file holds 4; it is truncated/,
      ],
      [idx(8, [2], [1, 2, 3]), /it has trailing bytes/],
      [Uint8Array.from([0, 0, 8, 0]), /IDX rank 0 is out of range/],
    ];
    for (const [bytes, message] of bad)
      assert.throws(
        () => parseIdx(bytes, 'x'),
        (e: unknown) => e instanceof DataFormatError && message.test(e.message),
      );
  });
  it('refuses a truncated copy of the real MNIST labels file, naming it', () => {
    const path = join(scratch, 'truncated-labels');
    writeFileSync(path, readFileSync(join(mnistDataDir(), 't10k-labels-idx1-ubyte')).subarray(0, 5000));
    assert.throws(
      () => readMnistSplit(join(mnistDataDir(), 't10k-images-idx3-ubyte'), path),
      new RegExp(`${path}: the header says \\[10000\\] .* holds 4992; it is truncated`),
    );
  });
  it('refuses labels that do not match the images', () => {
    const path = join(scratch, 'few-labels');
    writeFileSync(path, idx(8, [3], [1, 2, 3]));
    assert.throws(
      () => readMnistSplit(join(mnistDataDir(), 't10k-images-idx3-ubyte'), path),
      /3 labels for 10000 images/,
    );
    const wrong = join(scratch, 'wrong-labels');
    const labels = readFileSync(join(mnistDataDir(), 't10k-labels-idx1-ubyte'));
    labels[8 + 17] = 12;
    writeFileSync(wrong, labels);
    assert.throws(
      () => readMnistSplit(join(mnistDataDir(), 't10k-images-idx3-ubyte'), wrong),
      /label 12 at index 17 is not a digit/,
    );
  });
});

describe('data loaders', () => {
  it('MNIST: 60,000 + 10,000 images of 784 pixels in [0, 1], labels 0-9, every digit present', () => {
    const { train, test } = loadMnist();
    assert.equal(train.count, 60000);
    assert.equal(test.count, 10000);
    assert.equal(train.images.length, 60000 * 784);
    assert.equal(test.labels.length, 10000);
    let min = Infinity;
    let max = -Infinity;
    for (const x of test.images) {
      if (x < min) min = x;
      if (x > max) max = x;
    }
    assert.deepEqual([min, max], [0, 1]);
    const counts = new Array(10).fill(0);
    for (const l of train.labels) counts[l]++;
    assert.ok(
      counts.every((c) => c > 5000 && c < 7000),
      `label counts ${counts}`,
    );
    assert.equal(train.labels[0], 5); // the first MNIST training label is a 5
    assert.equal(loadMnist({ train: 100, test: 10 }).train.images.length, 100 * 784);
  });
  it('text corpora and the character vocabulary', () => {
    const moby = loadMobyDick();
    const sotu = loadStateOfTheUnion();
    assert.ok(moby.length > 1_000_000 && moby.includes('Call me Ishmael.'));
    assert.ok(sotu.length > 500_000 && sotu.includes('State of the Union'));
    const v = new Vocabulary([moby, sotu], 20);
    assert.ok(v.size > 60 && v.size < 120, `vocabulary of ${v.size}`);
    assert.equal(v.decode(v.encode('Call me Ishmael.')), 'Call me Ishmael.');
    assert.equal(v.decode(v.encode('\u00e6')), '?'); // unknown characters map to ?
    const { train, validation } = splitTail(v.encode('abcdefghij'), 0.2);
    assert.deepEqual([train.length, validation.length], [8, 2]);
  });
});

describe('CartPole dynamics', () => {
  it('matches the published equations for one step and ends episodes at the limits', () => {
    const env = new CartPole(new Random(1));
    env.state.set([0, 0, 0.05, 0]);
    env.step(1);
    // theta = 0.05, force +10: Barto, Sutton & Anderson's equations with Euler integration
    const total = 1.1;
    const temp = (10 + 0.05 * 0 * Math.sin(0.05)) / total;
    const thetaAcc =
      (9.8 * Math.sin(0.05) - Math.cos(0.05) * temp) / (0.5 * (4 / 3 - (0.1 * Math.cos(0.05) ** 2) / total));
    const xAcc = temp - (0.05 * thetaAcc * Math.cos(0.05)) / total;
    assert.deepEqual(
      Array.from(env.state).map((x) => +x.toFixed(12)),
      [0, 0.02 * xAcc, 0.05, 0.02 * thetaAcc].map((x) => +x.toFixed(12)),
    );
    env.state.set([0, 0, 0.21, 0]);
    assert.equal(env.step(0).done, true); // past 12 degrees
    env.reset();
    env.state.set([0, 0, 0, 0]);
    env.steps = 499; // the 500th step ends the episode by the time limit, not by failure
    const result = env.step(1);
    assert.equal(env.steps, 500);
    assert.deepEqual([result.done, result.truncated], [true, true]);
  });
});
