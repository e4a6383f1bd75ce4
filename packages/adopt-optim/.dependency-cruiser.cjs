// The import graph of src/: its layers (bottom to top), no arrow up a layer, no circle. Run by `npm run lint:imports`.
'use strict';
const path = require('node:path');

// Bottom to top. A module may import its own layer and any layer below it, never one above.
// Patterns are matched against the path from where depcruise runs, so each starts at a `src/` folder.
const LAYERS = [
  // Leaf utilities: argument validation, seeded randomness, learning-rate schedules, ADOPT's clip schedule and the
  // Keras-style gradient-clipping options. They know nothing of rules or kernels.
  ['base', ['src/validate\\.ts$', 'src/random\\.ts$', 'src/schedules\\.ts$', 'src/clip_schedule\\.ts$',
    'src/gradient_clipping\\.ts$']],
  // The rule data: each family's options, checks, capabilities and element-wise update as an expression graph, and
  // the state-format table (float32, int8, int4...). Pure data and its checks: what every generator reads.
  ['rules', ['src/rules/', 'src/formats/']],
  // Options resolved against the rules' declared defaults (`hyperparams.ts`), for the optimizers above.
  ['options', ['src/hyperparams\\.ts$']],
  // Code generation: the rule's graph written as WAT, JS, GLSL, WGSL and tf ops. Text from data; it runs nothing.
  ['codegen', ['src/codegen/']],
  // Kernels: the generated modules, the wasm module loader and the typed-array kernels that run generated code.
  ['kernels', ['src/kernels/']],
  // The run-time compiler of user rules (`defineRule`): codegen plus the kernel registry, at run time.
  ['compiler', ['src/compiler/']],
  // Backends: how a kernel runs on wasm (heap), cpu (arrays), WebGL and WebGPU.
  ['backends', ['src/backends/']],
  // The dispatcher: chooses (rule, options, format, backend) -> kernel or ops.
  ['dispatch', ['src/dispatch\\.ts$']],
  // The optimizers: tfjs `tf.Optimizer`s and the framework-free core chain. Neither imports the other.
  ['optimizers', ['src/tfjs/', 'src/core/']],
  // Built on the optimizers: optimizers by name (browser-safe), the Trainer and its checkpoints, and
  // PyTorch/safetensors interop (reads train's names).
  ['applications', ['src/registry/', 'src/train/', 'src/interop/']],
  // The package's entry points (the root and each subpath's index.ts): re-exports only, above everything they name;
  // src/lowbit/index.ts and src/gpu/index.ts register their optional pieces when imported (issue 36).
  ['root', ['src/index\\.ts$', 'src/[^/]+/index\\.ts$']],
];

// Open violations that other work in flight removes; each names its owner. Delete an entry when its fix lands:
// the check then guards the fix.
const UP_EXCEPTIONS = [
];
// Circles still open, each { members: a pattern every module of the circle matches, owner }. None now: family's
// merge removed gpu_fused <-> webgl/webgpu_fused and state8 <-> named_state_optimizer <-> lowbit_weights.
const CIRCLE_EXCEPTIONS = [];

const anchored = (pattern) => `(^|/)${pattern}`;
// An entry point belongs to the root layer, whatever folder it sits in.
const ENTRY_POINTS = LAYERS.at(-1)[1].map(anchored);
// A file ('src/a.ts') or a folder ('src/codegen/') as a pattern.
const file = (name) => anchored(`${name.replace(/[.]/g, '\\.')}${name.endsWith('/') ? '' : '$'}`);
const layerPaths = (layers) => layers.flatMap(([, patterns]) => patterns.map(anchored));

/** One rule per layer: nothing in it imports a layer above; an excepted source file gets its own rule. */
function upRules() {
  const rules = [];
  const excepted = [...new Set(UP_EXCEPTIONS.map((e) => e.from))];
  const inLayer = (name, patterns) => patterns.some((p) => new RegExp(anchored(p)).test(name));
  LAYERS.forEach(([name, patterns], index) => {
    const above = layerPaths(LAYERS.slice(index + 1));
    if (above.length === 0) return;
    const own = patterns.map(anchored);
    rules.push({
      name: `no-import-up-from-${name}`,
      comment: `${name} is below ${LAYERS.slice(index + 1).map(([n]) => n).join(', ')}: it must not import them`,
      severity: 'error',
      from: { path: own, pathNot: [...excepted.map(file), ...ENTRY_POINTS] },
      to: { path: above },
    });
    for (const source of excepted.filter((name) => inLayer(name, patterns))) {
      const allowed = UP_EXCEPTIONS.filter((e) => e.from === source);
      rules.push({
        name: `no-import-up-from-${name}`,
        comment: `as above, less the open exceptions of ${allowed.map((e) => e.owner).join(', ')}`,
        severity: 'error',
        from: { path: file(source) },
        to: { path: above, pathNot: allowed.map((e) => file(e.to)) },
      });
    }
  });
  return rules;
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import circle makes load order matter and hides which module owns what.',
      severity: 'error',
      from: {},
      // A circle wholly inside one excepted group is still open (see CIRCLE_EXCEPTIONS); any other is an error.
      to: {
        circular: true,
        ...(CIRCLE_EXCEPTIONS.length > 0 ? { viaSomeNot: CIRCLE_EXCEPTIONS.map((e) => anchored(e.members)) } : {}),
      },
    },
    ...upRules(),
    {
      name: 'no-unresolvable',
      comment: 'An import that does not resolve is a typo or a missing build step.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['node_modules', '(^|/)dist/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: path.join(__dirname, 'tsconfig.json') },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.cjs'] },
  },
};
