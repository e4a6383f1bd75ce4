// What `import { adopt } from 'adopt-optim'` adds to a browser bundle: the packed package installed
// into an empty project (as users get it), then a Vite production build (the workspace's Vite) of
// two entries, one empty and one that imports adopt, @tensorflow/tfjs-core external in both; the
// gzipped difference is held to BUDGET_GZIP. A second build with one chunk per module lists the
// largest contributors (printed, and checked to hold no prebuilt kernel binaries).
//
// Measured (0.3, Vite 7, esbuild minify): 135 kB minified, 41.6 kB gzipped (0.2.x main: 174 kB,
// 47.5 kB; the kernels are now assembled at run time instead of shipped as 74 kB of base64). The curated root
// (0.3) left it unchanged (136 724 / 42 184: the bundler dropped the unused names before too). A third set of
// builds prints the bundle plan (tools/bundle-plan.mjs): what is left of each optional piece in the root's bundle.
// Issue 36: low-bit state, the fused GPU kernels and the custom-rule optimizer's registration now come from their
// entry points ('adopt-optim/lowbit', 'adopt-optim/gpu', 'adopt-optim/rules'): 24 298 gzipped for `import { adopt }`;
// the sizes with each entry imported are printed, and a bundle that imports an entry is checked to keep it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';
import { added as addedWithout, SCENARIOS } from './bundle-plan.mjs';

/**
 * The gzipped bytes `import { adopt }` may add to a bundle: measured 41 620 with the kernels assembled at run time,
 * 42 095 after the attack round's rule checks (the 0.2 goal of 25 kB is not met); 42 591 after one clipping by norm
 * (issue 33: the Trainer's scaled norm on the ops path; 42 506 without it, on the same tree); 43 943 after issue 33's
 * merge (the state-format table with bfloat16, the rule-built optimizer class, the dispatcher's table); 24 298 once
 * low-bit state, the GPU kernels and the rule optimizer's registration load from their entry points (issue 36:
 * 30 814 without low-bit alone, 24 298 without the GPU pieces too); 26 546 with one kernel call for all variables
 * (issue 34 item 3: the table kernels' text, runMany on wasm and cpu, the cpu pack; +2 250). Budget: that plus about 1%.
 */
const BUDGET_GZIP = 26_820;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const scratch = mkdtempSync(join(tmpdir(), 'adopt-bundle-'));
const project = join(scratch, 'app');

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/** The minified output of each entry (or, `perModule`, of each module) of a Vite build of the project. */
async function bundle(entries, perModule = false) {
  const input = {};
  for (const [name, code] of Object.entries(entries)) {
    writeFileSync(join(project, 'src', `${name}.js`), code);
    input[name] = join(project, 'src', `${name}.js`);
  }
  const out = await build({
    configFile: false,
    logLevel: 'silent',
    root: project,
    build: {
      write: false,
      minify: true,
      target: 'es2022',
      rollupOptions: {
        input,
        external: [/^@tensorflow\//],
        output: perModule ? { manualChunks: (id) => id.replace(/^.*node_modules\//, '') } : {},
      },
    },
  });
  return (Array.isArray(out) ? out : [out])
    .flatMap((o) => o.output)
    .filter((o) => o.type === 'chunk')
    .map((c) => ({ name: c.name, code: c.code, min: c.code.length, gzip: gzipSync(c.code, { level: 9 }).length }));
}

const ENTRIES = {
  empty: "console.log('empty');\n",
  adopt: "import { adopt } from 'adopt-optim';\nconsole.log(adopt);\n",
};

/** `import { adopt }` with the optional entry points imported beside it. */
const WITH_ENTRIES = {
  lowbit: `import 'adopt-optim/lowbit';\n${ENTRIES.adopt}`,
  gpu: `import 'adopt-optim/gpu';\n${ENTRIES.adopt}`,
  both: `import 'adopt-optim/lowbit';\nimport 'adopt-optim/gpu';\n${ENTRIES.adopt}`,
};

before(() => {
  mkdirSync(join(project, 'src'), { recursive: true });
  const manifest = { name: 'app', version: '1.0.0', private: true, type: 'module' };
  writeFileSync(join(project, 'package.json'), JSON.stringify(manifest));
  const [packed] = JSON.parse(
    run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch, '-w', 'adopt-optim'], root),
  );
  run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      join(scratch, packed.filename),
      '@tensorflow/tfjs-core@^4.22.0',
    ],
    project,
  );
});

after(() => rmSync(scratch, { recursive: true, force: true }));

describe("the browser bundle of `import { adopt } from 'adopt-optim'` (Vite, tfjs-core external)", () => {
  it('registers every built-in optimizer class for tf.loadLayersModel, as importing it in Node does', async () => {
    // a bundler drops modules it is not told have side effects: re-exporting each optimizer module from the root
    // instead of through tfjs/index.js (a side-effect module) left a bundle that imports adopt registering only ADOPT
    const code =
      "import * as tf from '@tensorflow/tfjs-core';\nimport { adopt } from 'adopt-optim';\n" +
      'const map = tf.serialization.SerializationMap.getMap().classNameMap;\n' +
      "const ours = Object.keys(map).filter((k) => k.startsWith('adopt-optim/')).sort();\n" +
      'console.log(JSON.stringify([typeof adopt, ours]));\n';
    const [chunk] = await bundle({ registered: code });
    writeFileSync(join(project, 'registered.mjs'), chunk.code);
    const [kind, names] = JSON.parse(run(process.execPath, ['registered.mjs'], project));
    assert.equal(kind, 'function');
    for (const name of ['ADOPT', 'Adam', 'AdamW', 'AMSGrad']) {
      assert.ok(names.includes(`adopt-optim/${name}`), `${name} is not registered: ${names}`);
    }
  });

  it("keeps an entry point imported for its effect: low-bit state is refused without 'adopt-optim/lowbit', made with it", async () => {
    // the package's sideEffects must name the entries, or a bundler drops `import 'adopt-optim/lowbit'`
    const make =
      "const made = (() => { try { adopt(1e-3, { stateDtype: 'int8' }); return 'made'; } " +
      'catch (e) { return e.message; } })();\nconsole.log(JSON.stringify(made));\n';
    const code = (lowBit) =>
      `${lowBit ? "import 'adopt-optim/lowbit';\n" : ''}import { adopt } from 'adopt-optim';\n${make}`;
    const outcome = async (name) => {
      const [chunk] = await bundle({ [name]: code(name === 'with') }); // one build each: no chunk shared
      writeFileSync(join(project, `${name}.mjs`), chunk.code);
      return JSON.parse(run(process.execPath, [`${name}.mjs`], project));
    };
    assert.match(await outcome('without'), /needs the low-bit state, which comes with import 'adopt-optim\/lowbit'/);
    assert.equal(await outcome('with'), 'made');
  });

  it(`adds at most ${BUDGET_GZIP} bytes gzipped; its largest modules hold no kernel binary`, async (t) => {
    const chunks = await bundle(ENTRIES);
    const of = (name) => chunks.find((c) => c.name === name);
    const added = { min: of('adopt').min - of('empty').min, gzip: of('adopt').gzip - of('empty').gzip };
    t.diagnostic(`adds ${added.min} bytes minified, ${added.gzip} gzipped (budget ${BUDGET_GZIP})`);
    // not vacuous: the optimizer is in the bundle, tfjs-core is not
    assert.ok(added.min > 20_000 && of('adopt').code.includes('adopt-optim/ADOPT'), 'the optimizer is bundled');
    assert.ok(!of('adopt').code.includes('tfjs-core/dist'), 'tfjs-core stays external');
    assert.ok(added.gzip <= BUDGET_GZIP, `${added.gzip} gzipped bytes > ${BUDGET_GZIP}`);

    const modules = (await bundle({ adopt: ENTRIES.adopt }, true)).sort((a, b) => b.gzip - a.gzip);
    for (const m of modules.slice(0, 12)) {
      t.diagnostic(`${String(m.min).padStart(6)} ${String(m.gzip).padStart(5)}  ${m.name}`);
    }
    // a base64 run of 1 kB or more: a prebuilt module shipped, not assembled (the finiteness check is 0.4 kB)
    for (const m of modules) assert.doesNotMatch(m.code, /[A-Za-z0-9+/]{1024,}/, `${m.name} ships a binary`);

    // with the entry points imported (measurements, not checks)
    for (const [name, code] of Object.entries(WITH_ENTRIES)) {
      const entries = await bundle({ empty: ENTRIES.empty, [name]: code }); // one build each: no chunk shared
      const c = entries.find((e) => e.name === name);
      const base = entries.find((e) => e.name === 'empty');
      t.diagnostic(`with ${name}: adds ${c.min - base.min} minified, ${c.gzip - base.gzip} gzipped`);
    }
    // what is left of each optional piece in the root's bundle (tools/bundle-plan.mjs)
    const input = { empty: join(project, 'src', 'empty.js'), adopt: join(project, 'src', 'adopt.js') };
    for (const cut of SCENARIOS.filter((c) => c.length)) {
      const size = await addedWithout(project, input, cut);
      t.diagnostic(`plan: without ${cut.join(' + ')}: adds ${size.min} minified, ${size.gzip} gzipped`);
    }
  });
});
