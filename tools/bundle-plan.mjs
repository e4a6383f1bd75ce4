// The bundle plan's measurement (issue 36): which pieces make what `import { adopt } from 'adopt-optim'` adds to a
// Vite bundle. The optional pieces now load from side-effect entry points (`import 'adopt-optim/lowbit'`,
// `import 'adopt-optim/gpu'`; the rule optimizer's registration from 'adopt-optim/rules'), so each cut below shows
// what is left of that piece in the root's bundle (before: 43 943 B gzipped as built, 30 814 without low-bit, 24 884
// without low-bit and GPU). Each piece is cut by replacing its modules with stubs that export the same names.
// Reads the built package (packages/adopt-optim/dist/esm); run `npm run build` first.
// Usage: node tools/bundle-plan.mjs [--json]
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';

/** The optional pieces: the modules (under dist/esm) that load when their entry point is imported. */
export const PIECES = {
  // low-bit state (int8, int4, bfloat16): the tfjs storage, the kernels' JS glue, the WAT and WGSL codecs
  lowbit: [
    'tfjs/lowbit_store',
    'tfjs/lowbit_weights',
    'kernels/lowbit_arrays',
    'backends/wasm_heap_lowbit',
    'backends/webgpu_lowbit',
    'codegen/wgsl_lowbit',
    'codegen/wat8',
    'codegen/wat_codec',
  ],
  // the fused webgl and webgpu kernels (with their shader generators), the GPU-side checks and state moves (the
  // moves off webgpu and the GPU reductions stay in the root: the ops path on any webgpu backend needs them)
  gpu: [
    'backends/webgl_fused',
    'backends/webgpu_fused',
    'backends/gpu_kernels',
    'backends/gpu_reduce',
    'backends/webgpu_moves',
    'tfjs/gpu_nonfinite',
    'tfjs/gpu_first_steps',
    'codegen/glsl',
    'codegen/wgsl',
    'codegen/shader',
  ],
  // the custom-rule optimizer (experimental): registered for serialization by 'adopt-optim/rules'
  rules: ['tfjs/rule_optimizer'],
};
const inPiece = (piece, id) => PIECES[piece].some((m) => id.replace(/\\/g, '/').endsWith(`/dist/esm/${m}.js`));
export const SCENARIOS = [[], ['lowbit'], ['gpu'], ['rules'], ['lowbit', 'gpu'], ['lowbit', 'gpu', 'rules']];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The names a built ES module exports (declarations and export lists; enough for our tsc output). */
function exportNames(code) {
  const names = new Set();
  for (const m of code.matchAll(/export\s+(?:async\s+)?(?:function\*?|const|let|var|class)\s+([A-Za-z_$][\w$]*)/g)) {
    names.add(m[1]);
  }
  for (const m of code.matchAll(/export\s*\{([^}]*)\}/g)) {
    for (const part of m[1].split(',')) {
      const name = part
        .trim()
        .split(/\s+as\s+/)
        .pop();
      if (name) names.add(name);
    }
  }
  return [...names];
}

/**
 * Bytes `import { adopt }` adds (minified, gzipped) with the modules of `cut` replaced by stubs; `input` names the
 * two entries, `empty` and `adopt`, of a project whose node_modules (or workspace) holds adopt-optim.
 */
export async function added(project, input, cut) {
  const stub = {
    name: 'cut',
    enforce: 'pre',
    load(id) {
      if (!cut.some((piece) => inPiece(piece, id))) return null;
      return exportNames(readFileSync(id, 'utf8'))
        .map((n) => `export const ${n} = undefined;`)
        .join('\n');
    },
  };
  const out = await build({
    configFile: false,
    logLevel: 'silent',
    root: project,
    plugins: [stub],
    build: { write: false, minify: true, target: 'es2022', rollupOptions: { input, external: [/^@tensorflow\//] } },
  });
  const chunks = (Array.isArray(out) ? out : [out]).flatMap((o) => o.output).filter((o) => o.type === 'chunk');
  const of = (name) => chunks.find((c) => c.name === name).code;
  return {
    min: of('adopt').length - of('empty').length,
    gzip: gzipSync(of('adopt'), { level: 9 }).length - gzipSync(of('empty'), { level: 9 }).length,
  };
}

export async function measure() {
  // a scratch project inside the repository (gitignored out/), so that 'adopt-optim' resolves to the workspace's
  const project = join(root, 'out', 'bundle-plan');
  rmSync(project, { recursive: true, force: true });
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, 'package.json'), '{ "name": "bundle-plan", "private": true, "type": "module" }\n');
  writeFileSync(join(project, 'empty.js'), "console.log('empty');\n");
  writeFileSync(join(project, 'adopt.js'), "import { adopt } from 'adopt-optim';\nconsole.log(adopt);\n");
  try {
    const rows = [];
    const input = { empty: join(project, 'empty.js'), adopt: join(project, 'adopt.js') };
    for (const cut of SCENARIOS) rows.push({ cut, ...(await added(project, input, cut)) });
    return rows;
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await measure();
  if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
  else {
    for (const r of rows) {
      const name = r.cut.length ? `without ${r.cut.join(' + ')}` : 'as built';
      console.log(`${name.padEnd(28)} ${String(r.min).padStart(7)} B minified ${String(r.gzip).padStart(6)} B gzipped`);
    }
  }
}
