// tools/release.mjs on a clone of this repository (--skip-checks: the checks it runs are npm test's own):
// what it refuses, and what a release commits and tags.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'adopt-release-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const env = {
  ...process.env,
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@example.com',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@example.com',
};

describe('npm run release (tools/release.mjs)', () => {
  const clone = join(scratch, 'repo');
  execFileSync('git', ['clone', '-q', root, clone], { env });
  const release = (...a) =>
    spawnSync(process.execPath, [join(root, 'tools', 'release.mjs'), ...a, '--skip-checks'], {
      env: { ...env, RELEASE_ROOT: clone },
      encoding: 'utf8',
    });
  const version = (p) => JSON.parse(readFileSync(join(clone, 'packages', p, 'package.json'), 'utf8')).version;
  const git = (...a) => execFileSync('git', a, { cwd: clone, env, encoding: 'utf8' }).trim();

  it('refuses a bad version, one not above the current, and a dirty tree, changing nothing', () => {
    const current = version('adopt-optim');
    for (const [a, message] of [
      ['v1', /usage: npm run release -- <version>/],
      [current, /is not above adopt-optim's current version/],
      ['0.0.1', /is not above/],
    ]) {
      const r = release(a);
      assert.equal(r.status, 1);
      assert.match(r.stderr, message);
    }
    writeFileSync(join(clone, 'stray.txt'), 'x');
    assert.match(release('9.0.0').stderr, /uncommitted changes/);
    rmSync(join(clone, 'stray.txt'));
    assert.equal(git('status', '--porcelain'), '');
    assert.equal(version('adopt-optim'), current);
  });

  it('refuses a release while a manifest lacks repository, homepage or bugs', () => {
    const r = release('9.1.0');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /package\.json has no repository, homepage, bugs: set them/);
    assert.equal(git('status', '--porcelain'), '');
  });

  it('sets the versions, dates the Unreleased sections, commits and tags; refuses the same tag again', () => {
    // the addresses a public repository would have (example.org: the test invents nothing it publishes)
    for (const p of ['adopt-optim', 'tfjs-wasm-train', 'adopt-lab']) {
      const path = join(clone, 'packages', p, 'package.json');
      const json = JSON.parse(readFileSync(path, 'utf8'));
      Object.assign(json, {
        repository: { type: 'git', url: 'git+https://example.org/adopt.git', directory: `packages/${p}` },
        homepage: 'https://example.org/adopt',
        bugs: { url: 'https://example.org/adopt/issues' },
      });
      writeFileSync(path, `${JSON.stringify(json, null, 2)}\n`);
    }
    git('commit', '-qam', 'addresses');
    const r = release('9.1.0');
    assert.equal(r.status, 0, r.stderr);
    for (const p of ['adopt-optim', 'tfjs-wasm-train', 'adopt-lab']) {
      assert.equal(version(p), '9.1.0', p);
      const log = readFileSync(join(clone, 'packages', p, 'CHANGELOG.md'), 'utf8');
      assert.match(log, /## \[Unreleased\]\n\n## \[9\.1\.0\] — \d{4}-\d{2}-\d{2}\n/);
    }
    assert.equal(
      JSON.parse(readFileSync(join(clone, 'packages', 'adopt-lab', 'package.json'), 'utf8')).dependencies[
        'adopt-optim'
      ],
      '^9.1.0',
    );
    assert.equal(git('tag', '--list', 'v9.1.0'), 'v9.1.0');
    assert.equal(git('log', '-1', '--format=%s'), 'Release 9.1.0');
    assert.match(r.stdout, /npm publish -w adopt-optim/);
    assert.match(release('9.1.0').stderr, /the tag v9\.1\.0 exists already/);
    // the next release finds its Unreleased sections empty
    assert.match(release('9.2.0').stderr, /the Unreleased section is empty/);
  });
});
