// tools/api-docs-check.mjs finds what it is meant to: a link to a missing page or anchor, prose that points outside
// the reference, a module named after a file; and passes a reference without them. Built on a tiny fake reference.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkReference, MODULES, PENDING } from './api-docs-check.mjs';

function reference(pages) {
  const dir = mkdtempSync(join(tmpdir(), 'api-docs-check-'));
  const all = {
    'index.html': `<p>${MODULES.join(', ')}</p>`,
    ...Object.fromEntries(MODULES.map((m) => [`modules/${m.replace(/\//g, '_')}.html`, '<h1 id="top">m</h1>'])),
    // the pending pages, so that their entries still match
    ...Object.fromEntries(
      PENDING.map((p) => [p.page, `<p>${p.text.replace(/"/g, '&quot;').replace(/'/g, '&#39;')}</p>`]),
    ),
    ...pages,
  };
  for (const [path, html] of Object.entries(all)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), `<html><body>${html}</body></html>`);
  }
  return dir;
}

describe('the API reference check', () => {
  it('passes a reference whose links resolve, and reports the pending findings without failing', () => {
    const dir = reference({
      'functions/a.html': '<a href="../modules/adopt-optim.html#top">m</a> <a href="https://x.org">x</a>',
    });
    const { problems, pending } = checkReference(dir);
    rmSync(dir, { recursive: true });
    assert.deepEqual(problems, []);
    assert.equal(pending.length, PENDING.length);
  });

  it('fails on a missing page or anchor, a dangling "see the module comment", and a module named "index"', () => {
    const dir = reference({
      'functions/a.html': '<a href="../modules/gone.html">x</a> <a href="../modules/adopt-optim.html#nowhere">y</a>',
      'functions/b.html': '<p>Does it (see the module comment).</p>',
      'modules/index.html': '<h1>index</h1>',
    });
    const { problems } = checkReference(dir);
    rmSync(dir, { recursive: true });
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems.join('\n'), /missing page.*gone\.html/);
    assert.match(problems.join('\n'), /missing anchor.*#nowhere/);
    assert.match(problems.join('\n'), /functions\/b\.html.*see the module comment/);
    assert.match(problems.join('\n'), /not named after an entry point: index\.html/);
  });
});
