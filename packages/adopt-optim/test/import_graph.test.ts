// The import-graph check (.dependency-cruiser.cjs): src/ passes it, and a planted circle or upward arrow fails it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CONFIG = join(PACKAGE, '.dependency-cruiser.cjs');

/** The depcruise command line (a devDependency of the workspace root, hoisted to some node_modules above). */
function depcruiseBin(): string {
  for (let dir = PACKAGE; ; dir = dirname(dir)) {
    const bin = join(dir, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
    if (existsSync(bin)) return bin;
    if (dirname(dir) === dir) throw new Error('dependency-cruiser is not installed: run npm ci at the workspace root');
  }
}

function cruise(cwd: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [depcruiseBin(), '--config', CONFIG, 'src'], { cwd, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** A throw-away tree of src/ files: name -> the modules it imports. */
function plant(files: Record<string, string[]>): string {
  const root = mkdtempSync(join(tmpdir(), 'adopt-import-graph-'));
  for (const [name, imports] of Object.entries(files)) {
    const path = join(root, name);
    mkdirSync(dirname(path), { recursive: true });
    const lines = imports.map((target, i) => `import { x as x${i} } from '${target}';`);
    writeFileSync(path, `${lines.join('\n')}\nexport const x = ${imports.map((_, i) => `x${i}`).join(' + ') || 0};\n`);
  }
  return root;
}

describe('import graph of src/', () => {
  it('has no circle and no arrow up a layer (open exceptions aside, each named in the config)', () => {
    const { status, output } = cruise(PACKAGE);
    assert.equal(status, 0, output);
    assert.match(output, /no dependency violations found/);
  });

  it('a planted circle, an arrow up a layer and an unresolved import each fail it', () => {
    const root = plant({
      'src/validate.ts': [],
      'src/core/a.ts': ['./b.js'],
      'src/core/b.ts': ['./a.js', '../validate.js'],
      'src/rules/r.ts': ['../codegen/g.js'],
      'src/codegen/g.ts': ['../rules/missing.js'],
    });
    try {
      const { status, output } = cruise(root);
      assert.notEqual(status, 0, output);
      assert.match(output, /no-circular: src\/core\/a\.ts/);
      assert.match(output, /no-import-up-from-rules: src\/rules\/r\.ts → src\/codegen\/g\.ts/);
      assert.match(output, /no-unresolvable: src\/codegen\/g\.ts/);
      assert.doesNotMatch(output, /src\/core\/b\.ts → src\/validate\.ts/, 'a downward arrow is allowed');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
