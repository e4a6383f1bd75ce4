// The cache of work shared by an experiment's runs (src/once.ts): built once, read back verified, rebuilt when broken.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once, processSpace, sweepLeftovers } from '../src/once.js';

const scratch = mkdtempSync(join(tmpdir(), 'adopt-lab-once-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A cache entry holding one number; `made` counts the builds. */
function entry(value: number) {
  const counter = { made: 0 };
  const make = async (dir: string) => {
    counter.made++;
    await new Promise((r) => setTimeout(r, 5));
    writeFileSync(join(dir, 'value.json'), JSON.stringify({ value }));
  };
  const load = async (dir: string) =>
    (JSON.parse(readFileSync(join(dir, 'value.json'), 'utf8')) as { value: number }).value;
  return { counter, make, load };
}

describe('once: work shared by the runs of an experiment', () => {
  it('builds once; a later call reads what was built', async () => {
    const cache = join(scratch, 'a', 'cache');
    const e = entry(7);
    assert.equal(await once(cache, 'k', e.make, e.load), 7);
    assert.equal(await once(cache, 'k', e.make, e.load), 7);
    assert.equal(e.counter.made, 1);
    assert.deepEqual(readdirSync(cache), ['k'], 'no temporary folder left');
  });

  it('a folder without its completion mark (a crash mid-build or mid-delete) is built again', async () => {
    const cache = join(scratch, 'b');
    mkdirSync(join(cache, 'k'), { recursive: true });
    writeFileSync(join(cache, 'k', 'value.json'), '{"value": 1}'); // a stale value, never marked complete
    const e = entry(8);
    assert.equal(await once(cache, 'k', e.make, e.load), 8);
    assert.equal(e.counter.made, 1);
    assert.deepEqual(readdirSync(cache), ['k']);
  });

  it('a complete entry that cannot be read is moved aside and built again, not misread', async () => {
    const cache = join(scratch, 'c');
    const e = entry(9);
    await once(cache, 'k', e.make, e.load);
    writeFileSync(join(cache, 'k', 'value.json'), '{"val');
    assert.equal(await once(cache, 'k', e.make, e.load), 9);
    assert.equal(e.counter.made, 2);
    assert.deepEqual(readdirSync(cache), ['k']);
  });

  it('racing builders agree and leave one entry; a failed build leaves nothing under the key', async () => {
    const cache = join(scratch, 'd');
    const e = entry(10);
    assert.deepEqual(await Promise.all([1, 2, 3].map(() => once(cache, 'k', e.make, e.load))), [10, 10, 10]);
    assert.deepEqual(readdirSync(cache), ['k']);
    await assert.rejects(
      once(
        cache,
        'broken',
        async () => {
          throw new Error('out of memory');
        },
        e.load,
      ),
      /out of memory/,
    );
    assert.ok(!existsSync(join(cache, 'broken')));
    assert.deepEqual(readdirSync(cache), ['k'], 'the failed build removed its temporary folder');
  });

  it("sweeps the folders of builds and deletes whose process is gone; a running one's and another machine's stay", async () => {
    const cache = join(scratch, 'e');
    const host = processSpace();
    const dead = spawnSync(process.execPath, ['-e', '']).pid; // has exited by now
    const left = [`k.tmp-${host}-${dead}-0a1b2c3d`, `k.del-${host}-${dead}-0a1b2c3d`];
    const kept = [`k.tmp-${host}-${process.pid}-0a1b2c3d`, `k.tmp-00000000-${dead}-0a1b2c3d`, 'k.tmp-12345-0a1b2c3d'];
    for (const name of [...left, ...kept]) mkdirSync(join(cache, name), { recursive: true });
    const e = entry(11);
    assert.equal(await once(cache, 'k', e.make, e.load), 11);
    assert.deepEqual(
      readdirSync(cache).sort(),
      ['k', ...kept].sort(),
      "the dead process's folders are gone, the others kept",
    );
    assert.deepEqual(sweepLeftovers(cache), [], 'nothing more to sweep');
    assert.deepEqual(sweepLeftovers(join(scratch, 'no-such-cache')), []);
  });

  it('names the process space by machine, boot and pid namespace where the system has them', () => {
    const parts = [hostname()];
    if (existsSync('/proc/sys/kernel/random/boot_id'))
      parts.push(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), readlinkSync('/proc/self/ns/pid'));
    assert.equal(processSpace(), createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 8));
    if (parts.length > 1)
      assert.notEqual(
        processSpace(),
        createHash('sha256').update(hostname()).digest('hex').slice(0, 8),
        'more than the name',
      );
  });

  it('refuses a key that is not a plain folder name or looks like a temporary folder, building nothing', async () => {
    const cache = join(scratch, 'f');
    const e = entry(12);
    for (const key of ['', '.', '..', 'a/b', '../k', `k.tmp-${processSpace()}-99999999-ab`, 'k.del-x']) {
      await assert.rejects(once(cache, key, e.make, e.load), /must be a plain folder name/, key);
    }
    assert.equal(e.counter.made, 0);
    assert.ok(!existsSync(cache));
  });

  it('a leftover it cannot remove (owned by another user, busy) stays for a later sweep; the sweep does not throw', () => {
    const cache = join(scratch, 'g');
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const name = `k.tmp-${processSpace()}-${dead}-0a1b2c3d`;
    mkdirSync(join(cache, name), { recursive: true });
    const refuse = () => {
      throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
    };
    assert.deepEqual(sweepLeftovers(cache, refuse), []);
    assert.ok(existsSync(join(cache, name)));
    assert.deepEqual(sweepLeftovers(cache), [name], 'a later sweep that can remove it does');
  });
});
