// Mutations of the rules, each in the one place the rule is written (src/rules): applied to the source,
// the kernels rebuilt, then every Node path (test/paths.ts) run against the float64 reference of the
// variant; a mutation is caught on a path when that path's error exceeds the tests' tolerance. The 8-bit
// paths are checked against their 0.2 recordings (test/trajectories.test.ts). The source
// is restored (and the kernels rebuilt) after each. Prints a table and writes out/mutation-check.json.
// Run: node --import tsx scripts/mutation-check.ts   (about a minute per mutation)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MUTATIONS = [
  {
    name: 'ADOPT without its clamp',
    file: 'src/rules/adopt.ts',
    variant: 'ADOPT default (clip t^0.25)',
    from: "const n = clamp(div(gp, scale), neg(s('clip')), s('clip'));",
    to: 'const n = div(gp, scale);',
  },
  {
    name: "ADOPT normalising by the new v (v's update before its use)",
    file: 'src/rules/adopt.ts',
    variant: 'ADOPT default (clip t^0.25)',
    from: "max(sqrt(v), s('epsilon')); // §10.4",
    to: "max(sqrt(add(mul(v, s('beta2')), mul(mul(gp, gp), s('oneMinusBeta2')))), s('epsilon')); // §10.4",
  },
  {
    name: 'Adam without bias correction',
    file: 'src/rules/scalars.ts',
    variant: 'Adam',
    from: 'return { bc1: 1 - beta1 ** t, sqrtBc2: Math.sqrt(1 - beta2 ** t) };',
    to: 'return { bc1: 1, sqrtBc2: 1 };',
  },
];

const rebuild = (): void => {
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build-kernels.ts'], { cwd: root, stdio: 'ignore' });
};
/** Each path's error for one variant, measured in a fresh process (the kernels are modules). */
const measure = (variant: string): Record<string, number> =>
  JSON.parse(
    execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `
  const { PATHS, data, errorAgainst } = await import('./test/paths.ts');
  const { VARIANTS } = await import('./test/variants.ts');
  const v = VARIANTS.find((x) => x.name === ${JSON.stringify(variant)});
  const { p0, grads } = data(5);
  const out = {};
  for (const path of PATHS) out[path.name] = errorAgainst(await path.run(v, p0, grads), p0, grads, v.reference);
  console.log(JSON.stringify(out));
`,
      ],
      { cwd: root, encoding: 'utf8' },
    )
      .trim()
      .split('\n')
      .at(-1)!,
  );

/** The int8 paths (8-bit state: core, tfjs cpu, tfjs wasm) whose 0.2 trajectories no longer reproduce, for one variant. */
const int8Caught = (variant: string): string[] => {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-reporter=spec',
      '--test-name-pattern',
      variant.replace(/[()^$.*+?[\]{}|\\]/g, '\\$&'),
      'test/trajectories.test.ts',
    ],
    { cwd: root, encoding: 'utf8' },
  );
  return [...r.stdout.matchAll(/✖ (\S+(?: \S+)* int8) reproduces the 0\.2 trajectories/g)].map((m) => m[1]!);
};

const { TOLERANCE } = await import('../test/paths.js');
const results: {
  mutation: string;
  variant: string;
  errors: Record<string, number>;
  baseline: Record<string, number>;
  int8: string[];
}[] = [];
for (const m of MUTATIONS) {
  const path = join(root, m.file);
  const original = readFileSync(path, 'utf8');
  const baseline = measure(m.variant);
  const mutated = original.replace(m.from, m.to);
  if (mutated === original || !original.includes(m.from))
    throw new Error(`${m.name}: the text to mutate is not in ${m.file}`);
  try {
    writeFileSync(path, mutated);
    rebuild();
    const errors = measure(m.variant);
    const int8 = int8Caught(m.variant);
    results.push({ mutation: m.name, variant: m.variant, errors, baseline, int8 });
    console.log(
      `${m.name.padEnd(58)} 8-bit paths whose 0.2 trajectory no longer reproduces: ${int8.join(', ') || 'none'}`,
    );
    for (const [p, e] of Object.entries(errors)) {
      console.log(
        `${m.name.padEnd(58)} ${p.padEnd(16)} ${e.toExponential(2)} (unmutated ${baseline[p]!.toExponential(2)}) ${e > TOLERANCE ? 'caught' : 'NOT CAUGHT'}`,
      );
    }
  } finally {
    writeFileSync(path, original);
    rebuild();
  }
}
mkdirSync(join(root, 'out'), { recursive: true });
writeFileSync(
  join(root, 'out', 'mutation-check.json'),
  `${JSON.stringify({ tolerance: TOLERANCE, results }, null, 2)}\n`,
);
