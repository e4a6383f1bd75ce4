// The adopt-lab command line: help, version, and every flag checked before anything runs.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TINY_TOY } from './tiny_run.js';
import { SUITE } from '../src/suite.js';

const scratch = mkdtempSync(join(tmpdir(), 'adopt-lab-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

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
    assert.match(
      r.stderr,
      /unknown optimizer "lion"; expected some of adopt, adopt-unclipped, adopt-int8, adopt-int4, adopt-eps-add, adam, adam-eps6, adamw, adamw-int4, adopt-bf16, adamw-bf16, amsgrad/,
    );
  });

  /**
   * Runs the CLI. The limit (generous: a refusal takes about a second, but the machine may be
   * busy) only stops a run that was not refused: a full toy run takes far longer.
   */
  const lab = (...args: string[]) =>
    spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 180_000 });
  /**
   * Refused with exactly this message (commander's, or ours), no stack trace, and nothing run (no summary on stdout).
   */
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
    const expected =
      'expected a comma-separated list of some of adopt, adopt-unclipped, adopt-int8, adopt-int4, adopt-eps-add, ' +
      'adam, adam-eps6, adamw, adamw-int4, adopt-bf16, adamw-bf16, amsgrad';
    refused(['toy', '--optimizers', ''], invalid('--optimizers <list>', '', `${expected}; got an empty list.`));
    refused(
      ['mnist', '--optimizers', 'adopt,'],
      invalid('--optimizers <list>', 'adopt,', `${expected}; "adopt," has an empty entry.`),
    );
    refused(
      ['mnist', '--optimizers', 'adam,adam'],
      invalid('--optimizers <list>', 'adam,adam', `${expected}; "adam" is listed twice.`),
    );
  });

  it('refuses an optimizer the experiment cannot run before running the others', () => {
    refused(
      ['toy', '--optimizers', 'adopt,adamw'],
      'error: toy cannot run adamw; expected some of adopt, adopt-unclipped, adam, amsgrad.',
    );
    refused(
      ['demo', '--optimizers', 'adamw'],
      'error: demo: its toy run cannot run adamw; expected some of adopt, adopt-unclipped, adam, amsgrad.',
    );
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
    refused(
      ['mnist', '--learning-rate', 'abc'],
      invalid('--learning-rate <x>', 'abc', 'expected a number > 0, such as 1e-3, got "abc".'),
    );
    refused(
      ['mnist', '--learning-rate', '-1'],
      invalid('--learning-rate <x>', '-1', 'expected a number > 0, such as 1e-3, got "-1".'),
    );
    refused(
      ['mnist', '--train-size', '70000'],
      invalid(
        '--train-size <n>',
        '70000',
        'expected an integer from 1 to 55,000 (MNIST has 60,000 training images; the last 5,000 are held out for ' +
          'validation), got "70000".',
      ),
    );
    refused(
      ['vae', '--train-size', '10'],
      invalid(
        '--train-size <n>',
        '10',
        'expected an integer from 128 to 55,000 (one batch of 128 at least; MNIST has 60,000 training images, the ' +
          'last 5,000 held out for validation), got "10".',
      ),
    );
    refused(
      ['mnist', '--batch-size', '5000', '--train-size', '1000'],
      'error: --batch-size 5000 is larger than the 1,000 training images used; expected at most 1000 (or a larger ' +
        '--train-size).',
    );
    refused(['charlm', '--width', '30'], 'error: --width 30 must be a multiple of the 4 attention heads, such as 28.');
  });

  it('checks --out before running: a file in the way is refused at once, nothing is written', () => {
    const file = join(scratch, 'not-a-folder');
    writeFileSync(file, 'x');
    // a full toy run (2,000,000 steps per run) would take far longer than the limit of lab()
    for (const out of [file, join(file, 'sub')]) {
      const r = lab('toy', '--no-progress', '--backend', 'cpu', '--out', out);
      assert.equal(r.status, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `^error: cannot write results to the output folder "${out.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}" \\(a ` +
            'file is in the way: (EEXIST|ENOTDIR)\\b',
        ),
      );
      assert.match(r.stderr, /choose a folder that can be created and written with --out\. Nothing was run\.\n$/);
      assert.equal(r.stdout, '');
    }
    assert.equal(readFileSync(file, 'utf8'), 'x');
    refused(['toy', '--out', ''], "error: option '--out <dir>' is empty; expected a folder to write the results to.");
    const missing = join(scratch, 'no-such-results');
    refused(
      ['report', '--out', missing],
      `error: the output folder "${missing}" does not exist; run an experiment first, or pass the folder with --out.`,
    );
    assert.ok(!existsSync(missing));
  });

  it('all --dry-run lists the committed suite with its seeds and run counts', () => {
    const r = lab('all', '--dry-run');
    assert.equal(r.status, 0, r.stderr);
    for (const label of ['toy', 'mnist', 'mnist-cnn', 'beta2', 'vae', 'charlm', 'rl'])
      assert.match(r.stdout, new RegExp(`^${label} +\\d+ runs`, 'm'));
    assert.match(r.stdout, /^rl +\d+ runs +seeds 1,2,3,4,5,6,7,8,9,10 /m);
    assert.match(r.stdout, /^vae +\d+ runs +seeds 1,2,3,4,5 /m);
    assert.match(r.stdout, /^total +\d+ runs +~\d+\.\d h one run at a time/m);
    const quick = lab('all', '--dry-run', '--quick', '--only', 'rl');
    assert.match(quick.stdout, /^rl +\d+ runs +seeds 1,2 /m);
    refused(
      ['all', '--only', 'nope'],
      `error: --only: unknown nope; expected some of ${SUITE.map((e) => e.label).join(', ')}.`,
    );
    assert.match(r.stdout, /^charlm-medium-b4 +\d+ runs +seeds 1,2,3,4,5 /m);
  });
  it('--beta2, --lrs and --jobs are checked', () => {
    refused(
      ['mnist', '--beta2', 'own,1'],
      invalid(
        '--beta2 <list>',
        'own,1',
        'expected a comma-separated list of "own" (each optimizer\'s default) and numbers in [0, 1), such as ' +
          'own,0.999,0.9999; got "1".',
      ),
    );
    refused(
      ['rl', '--lrs', '1e-3,0'],
      invalid(
        '--lrs <list>',
        '1e-3,0',
        'expected a comma-separated list of numbers > 0, such as 3e-4,1e-3,3e-3; 0 is out of range.',
      ),
    );
    refused(['vae', '--jobs', '0'], invalid('--jobs <n>', '0', 'expected an integer >= 1, got "0".'));
  });
  it('says "stand-ins"', () => {
    assert.match(execFileSync(process.execPath, [cli, '--help'], { encoding: 'utf8' }), /stand-ins/);
  });

  it('creates a missing --out folder and writes the results there', () => {
    const out = join(scratch, 'cli-run', 'nested');
    const r = lab(...TINY_TOY, '--no-progress', '--backend', 'cpu', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'toy', 'result.json'), 'utf8')).meta.seeds, [4]);
    assert.ok(existsSync(join(out, 'report.html')));
    assert.deepEqual(readdirSync(out).sort(), ['report.html', 'toy']); // the write probe is gone
    assert.deepEqual(readdirSync(join(out, 'toy', 'runs')), ['adopt-b20.5-lr0.01-k2-seed4.json']);
    const again = lab(...TINY_TOY, '--no-progress', '--backend', 'cpu', '--out', out);
    assert.match(again.stderr, /toy: 1 run\(s\); 1 already saved \(skipped\), 0 to run/);
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /stand-ins/);
  });
});
