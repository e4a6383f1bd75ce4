// Builds each package whose inputs changed since its last build, and skips the others: `npm run demo`
// and `npm run lab` reuse a current build (the full build was ~2 min of the demo's ~3 on a fresh clone).
// With --all (`npm run build`, `npm test`) every package is built. A package's inputs are the files under
// its src/ and scripts/, its package.json and tsconfig files, the lock file and (adopt-optim) the spec;
// their SHA-256 is kept in dist/.inputs after a build that succeeded. adopt-lab, built on the other two,
// is rebuilt whenever one of them is.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const PACKAGES = [
  { name: 'adopt-optim', extra: ['docs/ALGORITHM.md'], on: [] },
  { name: 'tfjs-wasm-train', extra: [], on: [] },
  { name: 'adopt-lab', extra: [], on: ['adopt-optim', 'tfjs-wasm-train'] }, // built last: it imports the others' dist
];
const all = process.argv.includes('--all');

function files(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : files(path); // generated kernels: outputs of the build
    return e.isFile() ? [path] : [];
  });
}

function inputsHash(pkg) {
  const dir = join(root, 'packages', pkg.name);
  const paths = [
    ...files(join(dir, 'src')),
    ...files(join(dir, 'scripts')),
    ...readdirSync(dir)
      .filter((f) => f === 'package.json' || /^tsconfig.*\.json$/.test(f))
      .map((f) => join(dir, f)),
    join(root, 'package-lock.json'),
    ...pkg.extra.map((f) => join(root, f)),
  ]
    .filter((p) => existsSync(p) && statSync(p).isFile())
    .sort();
  const hash = createHash('sha256');
  for (const p of paths) hash.update(relative(root, p)).update('\0').update(readFileSync(p)).update('\0');
  return hash.digest('hex');
}

const rebuilt = new Set();
for (const pkg of PACKAGES) {
  const stamp = join(root, 'packages', pkg.name, 'dist', '.inputs');
  const want = inputsHash(pkg);
  const current =
    !all && existsSync(stamp) && readFileSync(stamp, 'utf8') === want && !pkg.on.some((d) => rebuilt.has(d));
  if (current) {
    console.log(`${pkg.name}: build is current (inputs unchanged), reused`);
    continue;
  }
  execFileSync('npm', ['run', 'build', '-w', pkg.name], { cwd: root, stdio: 'inherit' });
  writeFileSync(stamp, want);
  rebuilt.add(pkg.name);
}
