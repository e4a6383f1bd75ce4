import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataFormatError, parseIdx } from '../src/data/idx.js';
import { loadMnist, mnistDataDir, readMnistSplit } from '../src/data/mnist.js';
import { loadMobyDick, loadStateOfTheUnion, splitTail, Vocabulary } from '../src/data/text.js';
import { useBackend, writeResult, type RunContext } from '../src/common.js';
import { EXPERIMENTS } from '../src/registry.js';
import { writeReport } from '../src/report.js';
import { CartPole } from '../src/rl.js';
import { Random } from '../src/common.js';
import { adjustedVerdict, formatInterval, holm, interval95, pairedComparison, tQuantile975, twoSidedP } from '../src/stats.js';
import { lineChart, STYLES } from '../src/plot.js';
import { binarise } from '../src/data/mnist.js';
import type { RunRecord } from '../src/runs.js';
import { SUITE } from '../src/suite.js';
import { countSpikes, fullLoss, resolveCharLm } from '../src/charlm.js';
import * as tf from '@tensorflow/tfjs';

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
      [idx(8, [2, 3], [1, 2, 3, 4]), /the header says \[2, 3\] \(6 bytes of data\) but the file holds 4; it is truncated/],
      [idx(8, [2], [1, 2, 3]), /it has trailing bytes/],
      [Uint8Array.from([0, 0, 8, 0]), /IDX rank 0 is out of range/],
    ];
    for (const [bytes, message] of bad) assert.throws(() => parseIdx(bytes, 'x'), (e: unknown) => e instanceof DataFormatError && message.test(e.message));
  });
  it('refuses a truncated copy of the real MNIST labels file, naming it', () => {
    const path = join(scratch, 'truncated-labels');
    writeFileSync(path, readFileSync(join(mnistDataDir(), 't10k-labels-idx1-ubyte')).subarray(0, 5000));
    assert.throws(() => readMnistSplit(join(mnistDataDir(), 't10k-images-idx3-ubyte'), path),
      new RegExp(`${path}: the header says \\[10000\\] .* holds 4992; it is truncated`));
  });
  it('refuses labels that do not match the images', () => {
    const path = join(scratch, 'few-labels');
    writeFileSync(path, idx(8, [3], [1, 2, 3]));
    assert.throws(() => readMnistSplit(join(mnistDataDir(), 't10k-images-idx3-ubyte'), path), /3 labels for 10000 images/);
    const wrong = join(scratch, 'wrong-labels');
    const labels = readFileSync(join(mnistDataDir(), 't10k-labels-idx1-ubyte'));
    labels[8 + 17] = 12;
    writeFileSync(wrong, labels);
    assert.throws(() => readMnistSplit(join(mnistDataDir(), 't10k-images-idx3-ubyte'), wrong), /label 12 at index 17 is not a digit/);
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
    assert.ok(counts.every((c) => c > 5000 && c < 7000), `label counts ${counts}`);
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
    const thetaAcc = (9.8 * Math.sin(0.05) - Math.cos(0.05) * temp) / (0.5 * (4 / 3 - (0.1 * Math.cos(0.05) ** 2) / total));
    const xAcc = temp - (0.05 * thetaAcc * Math.cos(0.05)) / total;
    assert.deepEqual(Array.from(env.state).map((x) => +x.toFixed(12)), [0, 0.02 * xAcc, 0.05, 0.02 * thetaAcc].map((x) => +x.toFixed(12)));
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

describe('every experiment runs a few steps and writes curves, figures and a report', () => {
  const out = join(scratch, 'lab');
  before(() => useBackend('wasm'));
  const ctx = (optimizers: RunContext['optimizers']): RunContext => ({
    outDir: out, seeds: [3], optimizers, backend: 'wasm', quick: true, progress: false, command: 'test', log: () => {},
  });
  const small: Record<string, [RunContext['optimizers'], Record<string, unknown>]> = {
    toy: [['adopt', 'adam'], { steps: 300, chains: 8, beta2s: [0.1] }],
    mnist: [['adopt', 'adam'], { trainSize: 256, testSize: 200, epochs: 1 }],
    beta2: [['adopt'], { beta2s: [0.5, 0.99], trainSize: 256 }],
    vae: [['adopt', 'adam'], { trainSize: 256, testSize: 100 }],
    charlm: [['adopt'], { steps: 4, finetuneSteps: 2 }],
    rl: [['adopt'], { envSteps: 1024 }],
  };
  for (const [name, [optimizers, options]] of Object.entries(small)) {
    it(name, async () => {
      const result = await EXPERIMENTS[name as keyof typeof EXPERIMENTS].run(ctx(optimizers), options);
      const dir = writeResult(out, result);
      assert.ok(result.curves.length > 0 && result.summary.rows.length > 0);
      for (const f of result.figures) {
        assert.match(f.svg, /^<svg[\s\S]*<\/svg>$/);
        assert.ok(existsSync(join(dir, f.file)));
      }
      const meta = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')).meta;
      assert.deepEqual([meta.seeds, meta.backend, meta.package], [[3], 'wasm', 'adopt-optim']);
      assert.match(meta.version, /^\d+\.\d+\.\d+/);
      assert.ok(readFileSync(join(dir, 'curves.csv'), 'utf8').split('\n').length > 2);
    });
  }
  it('mnist --model cnn', async () => {
    const result = await EXPERIMENTS.mnist.run(ctx(['adopt']), { model: 'cnn', trainSize: 128, testSize: 100, epochs: 1 });
    assert.equal(result.name, 'mnist-cnn');
    writeResult(out, result);
  });
  it('the same seed gives the same curves (separate folders, so nothing is resumed)', async () => {
    const a = await EXPERIMENTS.mnist.run({ ...ctx(['adopt']), outDir: join(scratch, 'same-a') }, { trainSize: 256, testSize: 200, epochs: 1 });
    const b = await EXPERIMENTS.mnist.run({ ...ctx(['adopt']), outDir: join(scratch, 'same-b') }, { trainSize: 256, testSize: 200, epochs: 1 });
    assert.equal(b.meta.runs!.ran, 1);
    assert.deepEqual(a.curves, b.curves);
    const c = await EXPERIMENTS.toy.run({ ...ctx(['adopt']), outDir: join(scratch, 'same-c') }, { steps: 200, chains: 4, beta2s: [0.5] });
    const d = await EXPERIMENTS.toy.run({ ...ctx(['adopt']), outDir: join(scratch, 'same-d') }, { steps: 200, chains: 4, beta2s: [0.5] });
    assert.deepEqual(c.curves, d.curves);
  });
  it('vae: binarised data and an importance-weighted bound below the ELBO', () => {
    const runs = readdirSync(join(out, 'vae', 'runs')).map((f) => JSON.parse(readFileSync(join(out, 'vae', 'runs', f), 'utf8')) as RunRecord);
    assert.equal(runs.length, 2);
    for (const r of runs) {
      // log p(x) >= IW bound (k = 100) >= ELBO in expectation: the IW negative log-likelihood is the smaller
      assert.ok(r.final['testIwNll']! < r.final['testNelbo']!, `${r.optimizer}: IW ${r.final['testIwNll']} vs ELBO ${r.final['testNelbo']}`);
      assert.equal(r.base['iwSamples'], 100);
    }
    const { test } = loadMnist({ train: 1, test: 20 });
    const bits = binarise(test, 7);
    assert.ok(bits.images.every((v) => v === 0 || v === 1));
    assert.deepEqual(binarise(test, 7).images, bits.images);
    // about as many ones as the mean grey level says
    const ones = bits.images.reduce((a, v) => a + v, 0);
    const grey = test.images.reduce((a, v) => a + v, 0);
    assert.ok(Math.abs(ones - grey) < 0.05 * grey, `${ones} ones for ${grey} grey`);
  });
  it('the report has every experiment, its table and its figures', () => {
    const html = readFileSync(writeReport(out), 'utf8');
    for (const name of ['toy', 'mnist', 'mnist-cnn', 'beta2', 'vae', 'charlm', 'rl']) assert.match(html, new RegExp(`<section id="${name}">`));
    assert.ok((html.match(/<svg/g) ?? []).length >= 12);
    assert.match(html, /<h2>Paper experiment → stand-in<\/h2><table><thead><tr><th>paper experiment<\/th><th>what we run<\/th><th>scale ratio<\/th><th>what the real one would need<\/th>/);
    assert.match(html, /mean ± 95% CI/);
    assert.ok(!existsSync(join(out, 'charlm', 'scratch')), 'checkpoints of finished runs are removed');
  });
});

describe('adopt-lab command line', () => {
  const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
  it('--help lists the experiments', () => {
    const help = execFileSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
    for (const name of ['toy', 'mnist', 'charlm', 'vae', 'beta2', 'rl', 'demo', 'report', 'all']) {
      assert.equal(help.match(new RegExp(`\\n  ${name}\\b`, 'g'))?.length, 1, `${name} listed once`);
    }
  });
  it('--version names both packages', () => {
    const out = execFileSync(process.execPath, [cli, '--version'], { encoding: 'utf8' });
    assert.match(out, /^adopt-lab \d+\.\d+\.\d+ \(adopt-optim \d+\.\d+\.\d+\)\n$/);
  });
  it('shows the seeds default as a list, not an array literal', () => {
    const out = execFileSync(process.execPath, [cli, 'mnist', '--help'], { encoding: 'utf8' });
    assert.match(out, /\(default: 1\)/);
    assert.doesNotMatch(out, /\[1\]/);
  });
  it('refuses an unknown optimizer, naming the valid ones', () => {
    const r = spawnSync(process.execPath, [cli, 'toy', '--optimizers', 'adopt,lion'], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown optimizer "lion"; expected some of adopt, adopt-unclipped, adopt-int8, adopt-int4, adopt-eps-add, adam, adam-eps6, adamw, adamw-int4, amsgrad/);
  });

  /**
   * Runs the CLI. The limit (generous: a refusal takes about a second, but the machine may be
   * busy) only stops a run that was not refused: a full toy run takes far longer.
   */
  const lab = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 180_000 });
  /** Refused with exactly this message (commander's, or ours), no stack trace, and nothing run (no summary on stdout). */
  const refused = (args: string[], message: string) => {
    const r = lab(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: status ${r.status}, stderr ${r.stderr}`);
    assert.equal(r.stderr, `${message}\n`);
    assert.equal(r.stdout, '');
  };
  const invalid = (flag: string, value: string, message: string) =>
    `error: option '${flag}' argument '${value}' is invalid. ${message}`;

  it('refuses an empty, incomplete or repeated --seeds list instead of running seed 0', () => {
    const expected = 'expected a comma-separated list of integers >= 0, such as 1,2,3';
    refused(['toy', '--seeds', ''], invalid('--seeds <list>', '', `${expected}; got an empty list.`));
    refused(['toy', '--seeds', ' '], invalid('--seeds <list>', ' ', `${expected}; got an empty list.`));
    refused(['toy', '--seeds', '1,,2'], invalid('--seeds <list>', '1,,2', `${expected}; "1,,2" has an empty entry.`));
    refused(['toy', '--seeds', '1,-2'], invalid('--seeds <list>', '1,-2', `${expected}; got "-2".`));
    refused(['toy', '--seeds', '0x10'], invalid('--seeds <list>', '0x10', `${expected}; got "0x10".`));
    refused(['toy', '--seeds', '3,3'], invalid('--seeds <list>', '3,3', `${expected}; 3 is listed twice.`));
  });

  it('refuses an empty --optimizers list instead of running nothing', () => {
    const expected = 'expected a comma-separated list of some of adopt, adopt-unclipped, adopt-int8, adopt-int4, adopt-eps-add, adam, adam-eps6, adamw, adamw-int4, amsgrad';
    refused(['toy', '--optimizers', ''], invalid('--optimizers <list>', '', `${expected}; got an empty list.`));
    refused(['mnist', '--optimizers', 'adopt,'], invalid('--optimizers <list>', 'adopt,', `${expected}; "adopt," has an empty entry.`));
    refused(['mnist', '--optimizers', 'adam,adam'], invalid('--optimizers <list>', 'adam,adam', `${expected}; "adam" is listed twice.`));
  });

  it('refuses an optimizer the experiment cannot run before running the others', () => {
    refused(['toy', '--optimizers', 'adopt,adamw'], 'error: toy cannot run adamw; expected some of adopt, adopt-unclipped, adam, amsgrad.');
    refused(['demo', '--optimizers', 'adamw'], 'error: demo: its toy run cannot run adamw; expected some of adopt, adopt-unclipped, adam, amsgrad.');
  });

  it('--ks and --beta2s: a message with the valid range, not a stack trace', () => {
    const ks = 'expected a comma-separated list of numbers > 1, such as 10,50';
    const beta2s = 'expected a comma-separated list of numbers in [0, 1), such as 0.9,0.999';
    refused(['toy', '--ks', 'abc'], invalid('--ks <list>', 'abc', `${ks}; "abc" is not a number.`));
    refused(['toy', '--ks', '10,1'], invalid('--ks <list>', '10,1', `${ks}; 1 is out of range.`));
    refused(['toy', '--ks', ''], invalid('--ks <list>', '', `${ks}; got an empty list.`));
    refused(['toy', '--beta2s', '2'], invalid('--beta2s <list>', '2', `${beta2s}; 2 is out of range.`));
    refused(['toy', '--beta2s', '0.5,1'], invalid('--beta2s <list>', '0.5,1', `${beta2s}; 1 is out of range.`));
    refused(['beta2', '--beta2s', '0.9,x'], invalid('--beta2s <list>', '0.9,x', `${beta2s}; "x" is not a number.`));
    refused(['beta2', '--beta2s', '-0.1'], invalid('--beta2s <list>', '-0.1', `${beta2s}; -0.1 is out of range.`));
  });

  it('the other experiment flags: integers, the learning rate, and the sizes that must fit together', () => {
    refused(['toy', '--steps', '1.5'], invalid('--steps <n>', '1.5', 'expected an integer >= 1, got "1.5".'));
    refused(['toy', '--chains', ''], invalid('--chains <n>', '', 'expected an integer >= 1, got "".'));
    refused(['rl', '--env-steps', 'lots'], invalid('--env-steps <n>', 'lots', 'expected an integer >= 1, got "lots".'));
    refused(['mnist', '--learning-rate', 'abc'], invalid('--learning-rate <x>', 'abc', 'expected a number > 0, such as 1e-3, got "abc".'));
    refused(['mnist', '--learning-rate', '-1'], invalid('--learning-rate <x>', '-1', 'expected a number > 0, such as 1e-3, got "-1".'));
    refused(['mnist', '--train-size', '70000'],
      invalid('--train-size <n>', '70000', 'expected an integer from 1 to 55,000 (MNIST has 60,000 training images; the last 5,000 are held out for validation), got "70000".'));
    refused(['vae', '--train-size', '10'], invalid('--train-size <n>', '10',
      'expected an integer from 128 to 55,000 (one batch of 128 at least; MNIST has 60,000 training images, the last 5,000 held out for validation), got "10".'));
    refused(['mnist', '--batch-size', '5000', '--train-size', '1000'],
      'error: --batch-size 5000 is larger than the 1,000 training images used; expected at most 1000 (or a larger --train-size).');
    refused(['charlm', '--width', '30'], 'error: --width 30 must be a multiple of the 4 attention heads, such as 28.');
  });

  it('checks --out before running: a file in the way is refused at once, nothing is written', () => {
    const file = join(scratch, 'not-a-folder');
    writeFileSync(file, 'x');
    // a full toy run (2,000,000 steps per run) would take far longer than the limit of lab()
    for (const out of [file, join(file, 'sub')]) {
      const r = lab('toy', '--no-progress', '--backend', 'cpu', '--out', out);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^error: cannot write results to the output folder "${out.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}" \\(a file is in the way: (EEXIST|ENOTDIR)\\b`));
      assert.match(r.stderr, /choose a folder that can be created and written with --out\. Nothing was run\.\n$/);
      assert.equal(r.stdout, '');
    }
    assert.equal(readFileSync(file, 'utf8'), 'x');
    refused(['toy', '--out', ''], "error: option '--out <dir>' is empty; expected a folder to write the results to.");
    const missing = join(scratch, 'no-such-results');
    refused(['report', '--out', missing], `error: the output folder "${missing}" does not exist; run an experiment first, or pass the folder with --out.`);
    assert.ok(!existsSync(missing));
  });

  it('all --dry-run lists the committed suite with its seeds and run counts', () => {
    const r = lab('all', '--dry-run');
    assert.equal(r.status, 0, r.stderr);
    for (const label of ['toy', 'mnist', 'mnist-cnn', 'beta2', 'vae', 'charlm', 'rl']) assert.match(r.stdout, new RegExp(`^${label} +\\d+ runs`, 'm'));
    assert.match(r.stdout, /^rl +\d+ runs +seeds 1,2,3,4,5,6,7,8,9,10 /m);
    assert.match(r.stdout, /^vae +\d+ runs +seeds 1,2,3,4,5 /m);
    assert.match(r.stdout, /^total +\d+ runs +~\d+\.\d h one run at a time/m);
    const quick = lab('all', '--dry-run', '--quick', '--only', 'rl');
    assert.match(quick.stdout, /^rl +\d+ runs +seeds 1,2 /m);
    refused(['all', '--only', 'nope'], `error: --only: unknown nope; expected some of ${SUITE.map((e) => e.label).join(', ')}.`);
    assert.match(r.stdout, /^charlm-medium-b4 +\d+ runs +seeds 1,2,3,4,5 /m);
  });
  it('--beta2, --lrs and --jobs are checked', () => {
    refused(['mnist', '--beta2', 'own,1'], invalid('--beta2 <list>', 'own,1', 'expected a comma-separated list of "own" (each optimizer\'s default) and numbers in [0, 1), such as own,0.999,0.9999; got "1".'));
    refused(['rl', '--lrs', '1e-3,0'], invalid('--lrs <list>', '1e-3,0', 'expected a comma-separated list of numbers > 0, such as 3e-4,1e-3,3e-3; 0 is out of range.'));
    refused(['vae', '--jobs', '0'], invalid('--jobs <n>', '0', 'expected an integer >= 1, got "0".'));
  });
  it('says "stand-ins"', () => {
    assert.match(execFileSync(process.execPath, [cli, '--help'], { encoding: 'utf8' }), /stand-ins/);
  });

  it('creates a missing --out folder and writes the results there', () => {
    const out = join(scratch, 'cli-run', 'nested');
    const r = lab('toy', '--steps', '20', '--chains', '2', '--ks', '2', '--beta2s', '0.5', '--optimizers', 'adopt', '--seeds', '4',
      '--no-progress', '--backend', 'cpu', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'toy', 'result.json'), 'utf8')).meta.seeds, [4]);
    assert.ok(existsSync(join(out, 'report.html')));
    assert.deepEqual(readdirSync(out).sort(), ['report.html', 'toy']); // the write probe is gone
    assert.deepEqual(readdirSync(join(out, 'toy', 'runs')), ['adopt-b20.5-lr0.01-k2-seed4.json']);
    const again = lab('toy', '--steps', '20', '--chains', '2', '--ks', '2', '--beta2s', '0.5', '--optimizers', 'adopt', '--seeds', '4',
      '--no-progress', '--backend', 'cpu', '--out', out);
    assert.match(again.stderr, /toy: 1 run\(s\); 1 already saved \(skipped\), 0 to run/);
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /stand-ins/);
  });
});

describe('statistics over seeds (src/stats.ts), against hand-computed values', () => {
  it('t quantiles agree with the printed table (3 decimals) and with closed forms', () => {
    const table: [number, number][] = [[1, 12.706], [2, 4.303], [3, 3.182], [4, 2.776], [9, 2.262], [30, 2.042], [40, 2.021], [60, 2.0], [120, 1.98]];
    for (const [df, t] of table) assert.ok(Math.abs(tQuantile975(df) - t) < 5e-4, `df ${df}: ${tQuantile975(df)}`);
    // df 1 (Cauchy): tan(0.475 pi); df 2: 2q / sqrt(2 (1 - 4 (q - 1/2)^2)) ... at q = 0.975: 4.302653
    assert.ok(Math.abs(tQuantile975(1) - Math.tan(0.475 * Math.PI)) < 1e-9);
    const a = 2 * 0.975 - 1;
    assert.ok(Math.abs(tQuantile975(2) - a * Math.sqrt(2 / (1 - a * a))) < 1e-9);
    assert.ok(Math.abs(tQuantile975(1e9) - 1.959964) < 1e-5);
    assert.throws(() => tQuantile975(0), RangeError);
  });
  it('p-values of the t test against closed forms (df 1 and 2)', () => {
    for (const t of [0.3, 1, 2.5, 8.66, 40]) {
      assert.ok(Math.abs(twoSidedP(t, 1) - (1 - (2 / Math.PI) * Math.atan(t))) < 1e-9, `df 1, t ${t}`);
      assert.ok(Math.abs(twoSidedP(-t, 2) - (1 - t / Math.sqrt(t * t + 2))) < 1e-9, `df 2, t ${t}`);
    }
    assert.equal(twoSidedP(0, 4), 1);
  });
  it('Holm: the i-th smallest p times (m - i + 1), monotone, NaN left out', () => {
    const adj = holm([0.01, 0.04, 0.03, NaN, 0.5]);
    // family of 4: 0.01*4 = 0.04; 0.03*3 = 0.09; 0.04*2 = 0.08 -> 0.09 (monotone); 0.5*1 -> 0.5
    [0.04, 0.09, 0.09, NaN, 0.5].forEach((e, i) => (Number.isNaN(e) ? assert.ok(Number.isNaN(adj[i]!)) : assert.ok(Math.abs(adj[i]! - e) < 1e-12, `${i}: ${adj[i]}`)));
    assert.deepEqual(holm([0.9, 0.8]), [1, 1]); // 0.8 * 2 capped at 1; 0.9 * 1 raised to 1 (monotone)
    assert.ok(Math.abs(holm([0.3, 0.4, 0.5])[0]! - 0.9) < 1e-12);
  });
  it('mean ± t(0.975, n - 1) s / sqrt(n)', () => {
    // 1..5: mean 3, s = sqrt(2.5) = 1.5811, half = 2.776 * 1.5811 / sqrt(5) = 1.9630
    const i = interval95([1, 2, 3, 4, 5]);
    assert.equal(i.mean, 3);
    assert.ok(Math.abs(i.half - 1.963) < 5e-4, String(i.half));
    assert.equal(formatInterval([1, 2, 3, 4, 5], 2), '3.00 ± 1.96');
    // two values 10, 12: s = sqrt(2), half = t(0.975, 1) * sqrt(2) / sqrt(2) = tan(0.475 pi) = 12.7062
    assert.ok(Math.abs(interval95([10, 12]).half - Math.tan(0.475 * Math.PI)) < 1e-9);
    assert.equal(formatInterval([0.5], 1), '0.5 (n = 1)');
    assert.equal(formatInterval([2e19, 4e19], 4), '3.00e+19 ± 1.27e+20'); // a diverged run's loss, readable
  });
  it('paired differences: ADOPT better, worse, no significant difference; the p-value of the paired t test', () => {
    const m = (xs: number[]) => new Map(xs.map((x, i) => [i + 1, x]));
    // differences 0.5, 0.6, 0.4: mean 0.5, s 0.1, half = 4.303 * 0.1 / sqrt(3) = 0.2484
    const d = pairedComparison(m([1, 2, 3]), m([0.5, 1.4, 2.6]), false);
    assert.ok(Math.abs(d.mean - 0.5) < 1e-12 && Math.abs(d.half - 0.24844) < 1e-4);
    assert.equal(d.verdict, 'ADOPT better'); // higher is better (accuracy)
    assert.equal(pairedComparison(m([1, 2, 3]), m([0.5, 1.4, 2.6]), true).verdict, 'ADOPT worse'); // lower is better (loss)
    assert.ok(Math.abs(d.p - (1 - 8.660254037844386 / Math.sqrt(75 + 2))) < 1e-9, String(d.p)); // t = 0.5 / (0.1 / sqrt 3), df 2
    assert.equal(pairedComparison(m([1, -1, 0.5]), m([0, 0, 0]), true).verdict, 'no significant difference');
    // only the seeds both have are paired
    const partial = pairedComparison(new Map([[1, 1], [2, 2], [9, 5]]), new Map([[1, 0], [2, 1], [3, 7]]), false);
    assert.deepEqual(partial.seeds, [1, 2]);
    assert.equal(pairedComparison(m([1]), m([0]), false).verdict, 'n < 2');
  });
  it('a diverged run gives no verdict and is counted, on either side (NaN, +Infinity)', () => {
    const m = (xs: number[]) => new Map(xs.map((x, i) => [i + 1, x]));
    // the baseline diverged in one seed: its loss NaN would otherwise have made ADOPT "better" or "worse"
    const a = pairedComparison(m([0.1, 0.2, 0.3]), m([0.5, NaN, 0.7]), true);
    assert.equal(a.verdict, 'diverged');
    assert.deepEqual(a.diverged, { adopt: 0, baseline: 1 });
    const b = pairedComparison(m([Infinity, 0.2, 0.3]), m([0.5, 0.6, 0.7]), true);
    assert.deepEqual([b.verdict, b.diverged], ['diverged', { adopt: 1, baseline: 0 }]);
    assert.equal(adjustedVerdict(a, 0.001, true), 'diverged');
  });
  it('equivalence: two one-sided tests against the margin; a wide interval is "no significant difference", not equivalence', () => {
    const m = (xs: number[]) => new Map(xs.map((x, i) => [i + 1, x]));
    // differences 0.01, -0.01, 0.02, 0, -0.02: mean 0, s = 0.0158, 90% half = 2.132 * 0.0158 / sqrt 5 = 0.0151
    const tight = pairedComparison(m([1.01, 0.99, 1.02, 1, 0.98]), m([1, 1, 1, 1, 1]), false, { margin: 0.05 });
    assert.deepEqual([tight.verdict, tight.equivalence], ['equivalent', { margin: 0.05, holds: true }]);
    const narrowMargin = pairedComparison(m([1.01, 0.99, 1.02, 1, 0.98]), m([1, 1, 1, 1, 1]), false, { margin: 0.01 });
    assert.deepEqual([narrowMargin.verdict, narrowMargin.equivalence?.holds], ['no significant difference', false]);
    const wide = pairedComparison(m([1.5, 0.5, 1.2, 0.9, 0.7]), m([1, 1, 1, 1, 1]), false, { margin: 0.05 });
    assert.equal(wide.verdict, 'no significant difference');
    // Holm can turn "better" into "no significant difference", and then equivalence may still hold
    const better = pairedComparison(m([1, 2, 3]), m([0.5, 1.4, 2.6]), false);
    assert.equal(adjustedVerdict(better, 0.2, false), 'no significant difference');
    assert.equal(adjustedVerdict(better, 0.01, false), 'ADOPT better');
  });
});

describe('figures: colours, dashes and legends', () => {
  it('every optimizer has its own colour and dash pattern; ADOPT and unclipped ADOPT differ in both', () => {
    const colours = Object.values(STYLES).map((x) => x.color);
    assert.equal(new Set(colours).size, colours.length);
    assert.equal(new Set(Object.values(STYLES).map((x) => x.dash.join(','))).size, Object.keys(STYLES).length - 1); // Adam and ADOPT share solid, nothing else
    assert.notDeepEqual(STYLES['ADOPT']!.dash, STYLES['ADOPT (unclipped)']!.dash);
    for (const a of ['Adam', 'AdamW', 'AMSGrad']) for (const b of ['Adam', 'AdamW', 'AMSGrad']) if (a !== b) assert.notDeepEqual(STYLES[a]!.dash, STYLES[b]!.dash);
  });
  it('the legend lists only the series drawn, and the band is described', async () => {
    const svg = await lineChart([
      { x: 1, y: 1, lower: 0.5, upper: 1.5, series: 'ADOPT' }, { x: 2, y: 2, lower: 1.5, upper: 2.5, series: 'ADOPT' },
      { x: 1, y: 1.2, series: 'AdamW' }, { x: 2, y: 2.2, series: 'AdamW' },
    ], { title: 't', subtitle: 'band: 95% CI', x: 'x', y: 'y' });
    for (const name of ['ADOPT', 'AdamW', 'band: 95% CI']) assert.match(svg, new RegExp(`>${name.replace(/[()]/g, '\\$&')}<`));
    for (const name of ['AMSGrad', '>Adam<', 'unclipped']) assert.doesNotMatch(svg, new RegExp(name));
    assert.match(svg, /stroke-dasharray="8,4"/); // AdamW dashed
  });
});

describe('runs are saved, resumed, compared and run in parallel', () => {
  before(() => useBackend('wasm'));
  const tiny = { trainSize: 256, testSize: 200, validationSize: 100, epochs: 1 };
  const ctx = (outDir: string, seeds: number[], jobs = 1): RunContext => ({
    outDir, seeds, optimizers: ['adopt', 'adam'], backend: 'wasm', quick: true, progress: false, jobs, command: 'test', log: () => {},
  });
  const records = (dir: string) => Object.fromEntries(readdirSync(join(dir, 'mnist', 'runs')).filter((f) => f.endsWith('.json')).map((f) => {
    const r = JSON.parse(readFileSync(join(dir, 'mnist', 'runs', f), 'utf8')) as RunRecord;
    return [f, { curves: r.curves, final: r.final, hash: r.hash }];
  }));
  const one = join(scratch, 'resume-jobs1');
  const two = join(scratch, 'resume-jobs2');

  it('each run is saved with its settings hash, machine and wall time; a rerun skips the finished ones', async () => {
    const first = await EXPERIMENTS.mnist.run(ctx(one, [1, 2]), tiny);
    assert.deepEqual(first.meta.runs, { total: 4, ran: 4, skipped: 0, jobs: 1 });
    const files = readdirSync(join(one, 'mnist', 'runs')).sort();
    assert.deepEqual(files, ['adam-b2own-lr0.001-seed1.json', 'adam-b2own-lr0.001-seed2.json', 'adopt-b2own-lr0.001-seed1.json', 'adopt-b2own-lr0.001-seed2.json']);
    const r = JSON.parse(readFileSync(join(one, 'mnist', 'runs', files[0]!), 'utf8')) as RunRecord;
    assert.match(r.hash, /^[0-9a-f]{16}$/);
    assert.ok(r.seconds > 0 && r.machine.cpus > 0 && r.machine.cpuModel.length > 0 && r.machine.node === process.version && r.machine.backend === 'wasm');
    // one more seed: only its two runs are new
    const more = await EXPERIMENTS.mnist.run(ctx(one, [1, 2, 3]), tiny);
    assert.deepEqual(more.meta.runs, { total: 6, ran: 2, skipped: 4, jobs: 1 });
    // an interrupted sweep: a lost file is run again, the rest are not
    rmSync(join(one, 'mnist', 'runs', 'adam-b2own-lr0.001-seed3.json'));
    writeFileSync(join(one, 'mnist', 'runs', 'adopt-b2own-lr0.001-seed3.json'), '{"trunc');
    const resumed = await EXPERIMENTS.mnist.run(ctx(one, [1, 2, 3]), tiny);
    assert.deepEqual(resumed.meta.runs, { total: 6, ran: 2, skipped: 4, jobs: 1 });
    // other settings (another batch size) do not reuse the saved runs
    const copy = join(scratch, 'resume-other');
    cpSync(one, copy, { recursive: true });
    const other = await EXPERIMENTS.mnist.run(ctx(copy, [1]), { ...tiny, batchSize: 64 });
    assert.deepEqual(other.meta.runs, { total: 2, ran: 2, skipped: 0, jobs: 1 });
  });

  it('--jobs 2 (child processes) gives the same records as --jobs 1', async () => {
    const result = await EXPERIMENTS.mnist.run(ctx(two, [1, 2], 2), tiny);
    assert.deepEqual(result.meta.runs, { total: 4, ran: 4, skipped: 0, jobs: 2 });
    const a = records(one);
    const b = records(two);
    for (const [file, rec] of Object.entries(b)) assert.deepEqual(rec, a[file], file);
    // and the summary over seeds has intervals and a paired comparison
    assert.match(String(result.summary.rows[0]![4]), /^\d+\.\d+ ± \d+\.\d+ %$/);
    const comparison = result.tables!.find((t) => t.title.startsWith('ADOPT minus'))!;
    assert.ok(comparison.rows.every((row) => /^(ADOPT better|ADOPT worse|no significant difference|equivalent within ±0\.25 %|no verdict \(a run diverged\))$/.test(String(row.at(-1)))), JSON.stringify(comparison.rows));
    assert.match(comparison.title, /Holm/);
    assert.ok(result.notes.some((n) => /Student t/.test(n)));
  });

  it('like with like: shared beta2 and a learning-rate sweep chosen on validation', async () => {
    const dir = join(scratch, 'sweep');
    const result = await EXPERIMENTS.mnist.run(ctx(dir, [1, 2]), { ...tiny, beta2: ['own', 0.999], lrs: [1e-3, 3e-3] });
    // Adam at 0.999 is Adam at its own default: run once (2 lrs x 2 seeds fewer)
    assert.equal(result.meta.runs!.total, 2 * 2 * 2 * 2 - 4);
    const labels = result.summary.rows.map((r) => `${r[0]}|${r[1]}|${r[2]}`);
    assert.ok(labels.includes('own defaults|ADOPT|0.001') && labels.includes('0.999 for all|Adam|0.001'));
    assert.ok(labels.some((l) => /^0\.999 for all\|ADOPT\|own best: 0\.00[13]$/.test(l)));
    const sweep = result.tables!.find((t) => t.title.startsWith('Learning-rate sweep'))!;
    assert.match(sweep.title, /validation accuracy \(the last 100 training images, held out; not the test set\)/);
    assert.equal(sweep.rows.filter((r) => r.at(-1) === '←').length, 4); // one per optimizer and beta2 mode
    assert.ok(result.notes.some((n) => /max\(sqrt\(v\), 1e-6\)/.test(n) && /sqrt\(v_hat\) \+ 1e-8/.test(n)));
    assert.ok(!existsSync(join(dir, 'mnist', 'runs', 'adam-b20.999-lr0.001-seed1.json')));
    assert.ok(existsSync(join(dir, 'mnist', 'runs', 'adopt-b20.999-lr0.001-seed1.json')));
    const row = (mode: string) => result.summary.rows.find((r) => r[0] === mode && r[1] === 'Adam' && r[2] === '0.001')!.slice(3);
    assert.deepEqual(row('own defaults'), row('0.999 for all'));
  });

  it('rl: the band is a 95% interval over seeds and says so', async () => {
    const result = await EXPERIMENTS.rl.run({ ...ctx(join(scratch, 'rl2'), [1, 2]), optimizers: ['adopt'] }, { envSteps: 1024 });
    assert.match(result.figures[0]!.caption, /95% CI of the mean \(Student t\), not min-max/);
    assert.match(result.figures[0]!.svg, /not min-max/);
  });
});

describe('language model: whole-tail loss, spike counting, pretraining-only runs', () => {
  before(() => useBackend('wasm'));
  it('countSpikes: a rule checked on hand-made curves', () => {
    const flat = Array.from({ length: 200 }, (_, t) => 2 - t * 0.001);
    assert.deepEqual(countSpikes(flat).spikes, 0);
    const one = [...flat];
    one[120] = 1.4 * one[119]!; // 1.4 x the median of the 50 before it
    one[121] = 1.35 * one[119]!; // the same spike, still high: not counted again
    const r = countSpikes(one);
    assert.equal(r.spikes, 1);
    // the median of the 50 decreasing losses before step 120 is the mean of those at steps 94 and 95
    assert.ok(Math.abs(r.maxRatio - (1.4 * one[119]!) / ((one[94]! + one[95]!) / 2)) < 1e-12);
    const two = [...one];
    two[160] = Number.NaN; // a non-finite loss is a spike too
    assert.equal(countSpikes(two).spikes, 2);
    const below = [...flat];
    below[120] = 1.25 * below[119]!; // under the 1.3 ratio
    assert.equal(countSpikes(below).spikes, 0);
    // isolated outliers each count once (at steps 96 and 193)
    assert.equal(countSpikes(flat.map((x, t) => (t % 97 === 96 ? x * 1.5 : x))).spikes, 2);
  });

  it('fullLoss: every character of the held-out text once, against a per-window reference', async () => {
    const { Gpt } = await import('../src/gpt.js');
    const model = new Gpt({ vocab: 7, width: 8, layers: 1, heads: 2, context: 4 }, 5);
    const ids = Int32Array.from({ length: 23 }, (_, i) => (i * 5 + 3) % 7);
    const T = 4;
    // reference: each window alone, mean of their (equal-length) losses
    const per: number[] = [];
    for (let s = 0; s + T < ids.length; s += T) {
      const x = tf.tensor2d(ids.slice(s, s + T), [1, T], 'int32');
      const y = tf.tensor2d(ids.slice(s + 1, s + T + 1), [1, T], 'int32');
      const l = model.loss(x, y);
      per.push(l.dataSync()[0]!);
      tf.dispose([x, y, l]);
    }
    assert.equal(per.length, 5); // floor(22 / 4)
    const expected = per.reduce((a, b) => a + b, 0) / per.length;
    assert.ok(Math.abs(fullLoss(model, ids, T, 2) - expected) < 1e-5);
    assert.ok(Math.abs(fullLoss(model, ids, T, 32) - expected) < 1e-5);
    model.dispose();
  });

  it('charlm --finetune-steps 0 under --name: pretraining only, spikes reported, its own folder', async () => {
    const out = join(scratch, 'charlm-name');
    const result = await EXPERIMENTS.charlm.run({ outDir: out, seeds: [1], optimizers: ['adopt', 'adopt-int8'], backend: 'wasm', quick: true, progress: false, command: 'test', log: () => {} },
      { steps: 6, finetuneSteps: 0, name: 'charlm-tiny', schedule: 'cosine', warmup: 2 });
    assert.equal(result.name, 'charlm-tiny');
    assert.ok(existsSync(join(out, 'charlm-tiny', 'runs', 'adopt-int8-b2own-lr0.001-seed1.json')));
    assert.ok(!existsSync(join(out, 'charlm')));
    assert.ok(result.summary.columns.some((c) => /loss spikes/.test(c)));
    assert.ok(!result.summary.columns.some((c) => /finetune/.test(c)));
    assert.deepEqual(result.summary.rows.map((r) => r[1]), ['ADOPT', 'ADOPT (8-bit state)']);
    assert.match(result.description, /cosine decay/);
  });

  it('charlm --split three --finetune-from shared: one pretrained model for every optimizer, rates chosen on validation, test reported', async () => {
    const out = join(scratch, 'charlm-shared');
    const result = await EXPERIMENTS.charlm.run({ outDir: out, seeds: [1], optimizers: ['adopt', 'adam'], backend: 'wasm', quick: true, progress: false, command: 'test', log: () => {} },
      { steps: 6, finetuneSteps: 3, name: 'charlm-shared', split: 'three', finetuneFrom: 'shared' });
    const run = (o: string) => JSON.parse(readFileSync(join(out, 'charlm-shared', 'runs', `${o}-b2own-lr0.001-seed1.json`), 'utf8')) as RunRecord;
    const [a, b] = [run('adopt'), run('adam')];
    // the same pretraining (Adam at 1e-3) in both runs, bit for bit; finetuning differs
    for (const key of ['pretrainValidation', 'pretrainTest', 'finetuneBefore']) assert.equal(a.final[key], b.final[key], key);
    assert.notEqual(a.final['finetuneAfter'], b.final['finetuneAfter']);
    assert.notEqual(a.final['pretrainValidation'], a.final['pretrainTest'], 'validation and test are different halves');
    assert.deepEqual([a.base['split'], a.base['finetuneFrom']], ['three', 'shared']);
    assert.match(result.description, /same pretrained model per seed/);
    // nothing to compare before finetuning; the finetuning is compared
    const comparison = result.tables!.find((t) => t.title.startsWith('ADOPT minus'))!;
    assert.deepEqual(comparison.rows.map((r) => r[2]), ['loss spikes (> 1.3 x median of previous 50 steps)', 'finetune validation after']);
    // without the options the resolved settings hold neither key: the saved runs keep their hash
    const plain = resolveCharLm({}, false);
    assert.ok(!('split' in plain) && !('finetuneFrom' in plain));
  });

  it('--name is checked', () => {
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'dist', 'cli.js'), 'charlm', '--quick', '--name', '../x'], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--name.*expected a folder name/s);
  });
});
