// Every link of every Markdown file committed to the repository resolves: the file exists and, for a
// #fragment, the heading does (the packed READMEs and pages are checked inside their tarballs by
// package.test.mjs).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { anchors, brokenLinks, links } from './markdown-links.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readFrom = (files) => (p) => files[p];
const readDisk = (p) => {
  try {
    return statSync(join(root, p)).isDirectory() ? '' : readFileSync(join(root, p), 'utf8');
  } catch {
    return undefined;
  }
};

describe('Markdown links', () => {
  it('every relative link of every committed Markdown file resolves, #fragments included', () => {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.md'], {
      cwd: root,
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .filter((f) => !f.startsWith('docs/api/'));
    assert.ok(files.length >= 10, `${files.length} files`);
    const broken = files.flatMap((f) => brokenLinks(f, readDisk));
    assert.deepEqual(broken, []);
  });

  it("finds links outside code only, and headings with GitHub's ids", () => {
    assert.deepEqual(links('[a](x.md) `[b](y.md)`\n\n```\n[c](z.md)\n```\n<https://e.org>'), ['x.md', 'https://e.org']);
    assert.deepEqual(
      [
        ...anchors(
          '# API overview\n## Your own rule (experimental)\n## 8-bit state\n## `core` and more\n## 8-bit state',
        ),
      ],
      ['api-overview', 'your-own-rule-experimental', '8-bit-state', 'core-and-more', '8-bit-state-1'],
    );
  });

  it('reports a missing file, a missing heading and a link out of the root (negative control)', () => {
    const files = {
      'README.md':
        '# Top\n[ok](docs/a.md#part-one) [self](#top) [gone](docs/b.md) [no heading](docs/a.md#part-two) ' +
        '[out](../x.md)',
      'docs/a.md': '# A\n## Part one\n[back](../README.md#top) [up](../LICENSE)',
      LICENSE: 'MIT',
    };
    assert.deepEqual(brokenLinks('README.md', readFrom(files)), [
      'README.md: link to docs/b.md: docs/b.md does not exist',
      'README.md: link to docs/a.md#part-two: docs/a.md has no heading #part-two',
      'README.md: link to ../x.md: ../x.md does not exist',
    ]);
    assert.deepEqual(brokenLinks('docs/a.md', readFrom(files)), []);
  });
});
