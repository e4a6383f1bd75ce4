/**
 * Issue 21's adopt-lab findings: a corrupt result.json is named (and the other results are still
 * reported), an output folder under /proc is refused at once (Node's recursive mkdir never returned
 * there), and a signal to the parent of `--jobs 2` stops its child processes.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TINY_TOY } from './tiny_run.js';

const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
const scratch = mkdtempSync(join(tmpdir(), 'adopt-lab-robust-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** pids of the live processes whose parent is `pid` (Linux: /proc/<pid>/stat). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('adopt-lab fails clearly and stops cleanly (issue 21, item 8)', () => {
  it('report over a corrupt result.json names the file, reports the rest, and exits 1', () => {
    const out = join(scratch, 'corrupt');
    execFileSync(process.execPath, [cli, ...TINY_TOY, '--out', out, '--no-progress'], {
      encoding: 'utf8',
      stdio: 'pipe',
    });
    const good = readFileSync(join(out, 'toy', 'result.json'), 'utf8');
    // a second experiment's result, truncated
    execFileSync('cp', ['-r', join(out, 'toy'), join(out, 'mnist')]);
    writeFileSync(join(out, 'mnist', 'result.json'), good.slice(0, 40));
    const r = spawnSync(process.execPath, [cli, 'report', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /mnist\/result\.json cannot be read as a result \(.*JSON.*\); run that experiment again, or delete its folder\./,
    );
    assert.doesNotMatch(r.stderr, /SyntaxError\n\s+at /, 'no stack trace');
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /id="toy"/);
    assert.match(html, /Not shown:.*mnist\/result\.json/);
    // not a result at all
    writeFileSync(join(out, 'mnist', 'result.json'), '[1, 2]');
    assert.match(
      spawnSync(process.execPath, [cli, 'report', '--out', out], { encoding: 'utf8' }).stderr,
      /not an experiment result/,
    );
  });

  it('--out under /proc is refused at once, nothing run', () => {
    const r = spawnSync(process.execPath, [cli, 'toy', '--out', '/proc/adopt-lab-test/out', '--no-progress'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.notEqual(r.signal, 'SIGTERM', 'it hung');
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /cannot write results to the output folder "\/proc\/adopt-lab-test\/out" \(ENOENT.*Nothing was run\./,
    );
  });

  it('SIGTERM to the parent of --jobs 2 stops the children; nothing is written afterwards', async () => {
    const out = join(scratch, 'signal');
    const parent = spawn(
      process.execPath,
      [cli, 'mnist', '--quick', '--jobs', '2', '--seeds', '1,2,3,4,5,6', '--out', out, '--no-progress'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    parent.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => parent.on('exit', (code) => resolve(code)));
    let kids: number[] = [];
    for (let i = 0; i < 600 && kids.length < 2; i++) {
      await sleep(100);
      kids = childrenOf(parent.pid!);
    }
    assert.equal(kids.length, 2, `two children started: ${stderr}`);
    parent.kill('SIGTERM');
    assert.equal(await exited, 128 + 15, stderr);
    assert.match(stderr, /SIGTERM: stopped 2 child process\(es\); finished runs are saved/);
    for (
      let i = 0;
      i < 50 && kids.some((k) => existsSync(`/proc/${k}`) && !readFileSync(`/proc/${k}/stat`, 'utf8').includes(') Z '));
      i++
    )
      await sleep(100);
    const alive = kids.filter(
      (k) => existsSync(`/proc/${k}`) && !readFileSync(`/proc/${k}/stat`, 'utf8').includes(') Z '),
    );
    assert.deepEqual(alive, [], 'children still running');
    const runs = join(out, 'mnist', 'runs');
    const before = existsSync(runs) ? readdirSync(runs).sort() : [];
    await sleep(3000);
    assert.deepEqual(existsSync(runs) ? readdirSync(runs).sort() : [], before, 'written after the signal');
  });
});
