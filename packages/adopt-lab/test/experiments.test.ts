// Every experiment end to end at tiny sizes: results, reports, resumed and parallel runs, the language model's
// measures.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnist } from '../src/data/mnist.js';
import { useBackend, writeResult, type RunContext } from '../src/common.js';
import { EXPERIMENTS } from '../src/registry.js';
import { writeReport } from '../src/report.js';
import { binarise } from '../src/data/mnist.js';
import type { RunRecord } from '../src/runs.js';
import { countSpikes, fullLoss, resolveCharLm } from '../src/charlm.js';
import * as tf from '@tensorflow/tfjs';

const scratch = mkdtempSync(join(tmpdir(), 'adopt-lab-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('every experiment runs a few steps and writes curves, figures and a report', () => {
  const out = join(scratch, 'lab');
  before(() => useBackend('wasm'));
  const ctx = (optimizers: RunContext['optimizers']): RunContext => ({
    outDir: out,
    seeds: [3],
    optimizers,
    backend: 'wasm',
    quick: true,
    progress: false,
    command: 'test',
    log: () => {},
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
    const result = await EXPERIMENTS.mnist.run(ctx(['adopt']), {
      model: 'cnn',
      trainSize: 128,
      testSize: 100,
      epochs: 1,
    });
    assert.equal(result.name, 'mnist-cnn');
    writeResult(out, result);
  });
  it('the same seed gives the same curves (separate folders, so nothing is resumed)', async () => {
    const a = await EXPERIMENTS.mnist.run(
      { ...ctx(['adopt']), outDir: join(scratch, 'same-a') },
      { trainSize: 256, testSize: 200, epochs: 1 },
    );
    const b = await EXPERIMENTS.mnist.run(
      { ...ctx(['adopt']), outDir: join(scratch, 'same-b') },
      { trainSize: 256, testSize: 200, epochs: 1 },
    );
    assert.equal(b.meta.runs!.ran, 1);
    assert.deepEqual(a.curves, b.curves);
    const c = await EXPERIMENTS.toy.run(
      { ...ctx(['adopt']), outDir: join(scratch, 'same-c') },
      { steps: 200, chains: 4, beta2s: [0.5] },
    );
    const d = await EXPERIMENTS.toy.run(
      { ...ctx(['adopt']), outDir: join(scratch, 'same-d') },
      { steps: 200, chains: 4, beta2s: [0.5] },
    );
    assert.deepEqual(c.curves, d.curves);
  });
  it('vae: binarised data and an importance-weighted bound below the ELBO', () => {
    const runs = readdirSync(join(out, 'vae', 'runs')).map(
      (f) => JSON.parse(readFileSync(join(out, 'vae', 'runs', f), 'utf8')) as RunRecord,
    );
    assert.equal(runs.length, 2);
    for (const r of runs) {
      // log p(x) >= IW bound (k = 100) >= ELBO in expectation: the IW negative log-likelihood is the smaller
      assert.ok(
        r.final['testIwNll']! < r.final['testNelbo']!,
        `${r.optimizer}: IW ${r.final['testIwNll']} vs ELBO ${r.final['testNelbo']}`,
      );
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
    for (const name of ['toy', 'mnist', 'mnist-cnn', 'beta2', 'vae', 'charlm', 'rl'])
      assert.match(html, new RegExp(`<section id="${name}">`));
    assert.ok((html.match(/<svg/g) ?? []).length >= 12);
    assert.match(
      html,
      /<h2>Paper experiment → stand-in<\/h2><table><thead><tr><th>paper experiment<\/th><th>what we run<\/th><th>scale ratio<\/th><th>what the real one would need<\/th>/,
    );
    assert.match(html, /mean ± 95% CI/);
    assert.ok(!existsSync(join(out, 'charlm', 'scratch')), 'checkpoints of finished runs are removed');
  });
});

describe('runs are saved, resumed, compared and run in parallel', () => {
  before(() => useBackend('wasm'));
  const tiny = { trainSize: 256, testSize: 200, validationSize: 100, epochs: 1 };
  const ctx = (outDir: string, seeds: number[], jobs = 1): RunContext => ({
    outDir,
    seeds,
    optimizers: ['adopt', 'adam'],
    backend: 'wasm',
    quick: true,
    progress: false,
    jobs,
    command: 'test',
    log: () => {},
  });
  const records = (dir: string) =>
    Object.fromEntries(
      readdirSync(join(dir, 'mnist', 'runs'))
        .filter((f) => f.endsWith('.json'))
        .map((f) => {
          const r = JSON.parse(readFileSync(join(dir, 'mnist', 'runs', f), 'utf8')) as RunRecord;
          return [f, { curves: r.curves, final: r.final, hash: r.hash }];
        }),
    );
  const one = join(scratch, 'resume-jobs1');
  const two = join(scratch, 'resume-jobs2');

  it('each run is saved with its settings hash, machine and wall time; a rerun skips the finished ones', async () => {
    const first = await EXPERIMENTS.mnist.run(ctx(one, [1, 2]), tiny);
    assert.deepEqual(first.meta.runs, { total: 4, ran: 4, skipped: 0, jobs: 1 });
    const files = readdirSync(join(one, 'mnist', 'runs')).sort();
    assert.deepEqual(files, [
      'adam-b2own-lr0.001-seed1.json',
      'adam-b2own-lr0.001-seed2.json',
      'adopt-b2own-lr0.001-seed1.json',
      'adopt-b2own-lr0.001-seed2.json',
    ]);
    const r = JSON.parse(readFileSync(join(one, 'mnist', 'runs', files[0]!), 'utf8')) as RunRecord;
    assert.match(r.hash, /^[0-9a-f]{16}$/);
    assert.ok(
      r.seconds > 0 &&
        r.machine.cpus > 0 &&
        r.machine.cpuModel.length > 0 &&
        r.machine.node === process.version &&
        r.machine.backend === 'wasm',
    );
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
    assert.ok(
      comparison.rows.every((row) =>
        /^(ADOPT better|ADOPT worse|no significant difference|equivalent within ±0\.25 %|no verdict \(a run diverged\)|no test \(the same difference in every seed\))$/.test(
          String(row.at(-1)),
        ),
      ),
      JSON.stringify(comparison.rows),
    );
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
    const row = (mode: string) =>
      result.summary.rows.find((r) => r[0] === mode && r[1] === 'Adam' && r[2] === '0.001')!.slice(3);
    assert.deepEqual(row('own defaults'), row('0.999 for all'));
  });

  it('rl: the band is a 95% interval over seeds and says so', async () => {
    const result = await EXPERIMENTS.rl.run(
      { ...ctx(join(scratch, 'rl2'), [1, 2]), optimizers: ['adopt'] },
      { envSteps: 1024 },
    );
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
    const result = await EXPERIMENTS.charlm.run(
      {
        outDir: out,
        seeds: [1],
        optimizers: ['adopt', 'adopt-int8'],
        backend: 'wasm',
        quick: true,
        progress: false,
        command: 'test',
        log: () => {},
      },
      { steps: 6, finetuneSteps: 0, name: 'charlm-tiny', schedule: 'cosine', warmup: 2 },
    );
    assert.equal(result.name, 'charlm-tiny');
    assert.ok(existsSync(join(out, 'charlm-tiny', 'runs', 'adopt-int8-b2own-lr0.001-seed1.json')));
    assert.ok(!existsSync(join(out, 'charlm')));
    assert.ok(result.summary.columns.some((c) => /loss spikes/.test(c)));
    assert.ok(!result.summary.columns.some((c) => /finetune/.test(c)));
    assert.deepEqual(
      result.summary.rows.map((r) => r[1]),
      ['ADOPT', 'ADOPT (8-bit state)'],
    );
    assert.match(result.description, /cosine decay/);
  });

  it('charlm --split three --finetune-from shared: one pretrained model for every optimizer, rates chosen on validation, test reported', async () => {
    const out = join(scratch, 'charlm-shared');
    const result = await EXPERIMENTS.charlm.run(
      {
        outDir: out,
        seeds: [1],
        optimizers: ['adopt', 'adam'],
        backend: 'wasm',
        quick: true,
        progress: false,
        command: 'test',
        log: () => {},
      },
      { steps: 6, finetuneSteps: 3, name: 'charlm-shared', split: 'three', finetuneFrom: 'shared' },
    );
    const run = (o: string) =>
      JSON.parse(
        readFileSync(join(out, 'charlm-shared', 'runs', `${o}-b2own-lr0.001-seed1.json`), 'utf8'),
      ) as RunRecord;
    const [a, b] = [run('adopt'), run('adam')];
    // the same pretraining (Adam at 1e-3) in both runs, bit for bit; finetuning differs
    for (const key of ['pretrainValidation', 'pretrainTest', 'finetuneBefore'])
      assert.equal(a.final[key], b.final[key], key);
    assert.notEqual(a.final['finetuneAfter'], b.final['finetuneAfter']);
    assert.notEqual(a.final['pretrainValidation'], a.final['pretrainTest'], 'validation and test are different halves');
    assert.deepEqual([a.base['split'], a.base['finetuneFrom'], a.base['finetuneSplit']], ['three', 'shared', 'halved']);
    assert.match(result.description, /same pretrained model per seed/);
    // nothing to compare before finetuning; the finetuning is compared on its test half
    assert.notEqual(
      a.final['finetuneAfter'],
      a.final['finetuneTest'],
      'finetuning validation and test are different halves',
    );
    const comparison = result.tables!.find((t) => t.title.startsWith('ADOPT minus'))!;
    assert.deepEqual(
      comparison.rows.map((r) => r[2]),
      [
        'loss spikes (> 1.3 x median of previous 50 steps)',
        'finetune test after (bits/char, second half of the held-out tail)',
      ],
    );
    // the shared pretraining is done once per seed and kept: a run that finds it equals one that builds it
    const cache = join(out, 'charlm-shared', 'cache');
    assert.equal(readdirSync(cache).filter((f) => f.startsWith('pretrained-')).length, 1, 'one pretraining for seed 1');
    const fresh = join(scratch, 'charlm-shared-fresh');
    await EXPERIMENTS.charlm.run(
      {
        outDir: fresh,
        seeds: [1],
        optimizers: ['adam'],
        backend: 'wasm',
        quick: true,
        progress: false,
        command: 'test',
        log: () => {},
      },
      { steps: 6, finetuneSteps: 3, name: 'charlm-shared', split: 'three', finetuneFrom: 'shared' },
    );
    const built = JSON.parse(
      readFileSync(join(fresh, 'charlm-shared', 'runs', 'adam-b2own-lr0.001-seed1.json'), 'utf8'),
    ) as RunRecord;
    assert.deepEqual([built.curves, built.final], [b.curves, b.final]);
    // a cache that cannot be read is built again, not misread
    const [entry] = readdirSync(join(fresh, 'charlm-shared', 'cache'));
    writeFileSync(join(fresh, 'charlm-shared', 'cache', entry!, 'pretraining.json'), '{"curves": [');
    rmSync(join(fresh, 'charlm-shared', 'runs'), { recursive: true });
    await EXPERIMENTS.charlm.run(
      {
        outDir: fresh,
        seeds: [1],
        optimizers: ['adam'],
        backend: 'wasm',
        quick: true,
        progress: false,
        command: 'test',
        log: () => {},
      },
      { steps: 6, finetuneSteps: 3, name: 'charlm-shared', split: 'three', finetuneFrom: 'shared' },
    );
    const rebuilt = JSON.parse(
      readFileSync(join(fresh, 'charlm-shared', 'runs', 'adam-b2own-lr0.001-seed1.json'), 'utf8'),
    ) as RunRecord;
    assert.deepEqual([rebuilt.curves, rebuilt.final], [b.curves, b.final]);
    // without the options the resolved settings hold neither key: the saved runs keep their hash
    const plain = resolveCharLm({}, false);
    assert.ok(!('split' in plain) && !('finetuneFrom' in plain));
  });

  it('--name is checked', () => {
    const r = spawnSync(
      process.execPath,
      [join(import.meta.dirname, '..', 'dist', 'cli.js'), 'charlm', '--quick', '--name', '../x'],
      { encoding: 'utf8' },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--name.*expected a folder name/s);
  });
});
