// `npm run release -- <version> [--skip-checks]`: everything a release needs short of publishing.
// 1. refuses a dirty working tree, a version that is not semver or not above the current one, an existing tag,
//    a package.json without `repository`, `homepage` and `bugs` (left out of the manifests until the project has
//    a public address: they are not invented), and a CHANGELOG without an "## [Unreleased]" section with entries;
// 2. runs the checks (the build, and the packed tarballs installed and imported in empty projects:
//    `npm run test:package`), unless --skip-checks (used by its own test);
// 3. sets the version in the three packages (and adopt-lab's dependency on adopt-optim), turns each
//    CHANGELOG's Unreleased section into "## [<version>] — <date>" under a fresh empty Unreleased;
// 4. commits "Release <version>" and tags v<version>; then prints the `npm publish` commands, which it
//    does not run.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.env.RELEASE_ROOT ?? join(fileURLToPath(import.meta.url), '..', '..');
const PACKAGES = ['adopt-optim', 'tfjs-wasm-train', 'adopt-lab'];
const args = process.argv.slice(2);
const version = args.find((a) => !a.startsWith('--'));
const skipChecks = args.includes('--skip-checks');

const git = (...a) => execFileSync('git', a, { cwd: root, encoding: 'utf8' }).trim();
function fail(message) {
  console.error(`release: ${message}`);
  process.exit(1);
}
const parse = (v) => /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$/.exec(v);
function above(a, b) {
  const [x, y] = [parse(a), parse(b)];
  for (let i = 1; i <= 3; i++) if (Number(x[i]) !== Number(y[i])) return Number(x[i]) > Number(y[i]);
  return (x[4] === undefined) !== (y[4] === undefined) ? x[4] === undefined : (x[4] ?? '') > (y[4] ?? '');
}

if (version === undefined || parse(version) === null)
  fail(`usage: npm run release -- <version> (semver, e.g. 0.3.0); got ${JSON.stringify(version)}`);
if (git('status', '--porcelain') !== '') fail('the working tree has uncommitted changes; commit or stash them first');
if (git('tag', '--list', `v${version}`) !== '') fail(`the tag v${version} exists already`);
const manifests = PACKAGES.map((p) => {
  const path = join(root, 'packages', p, 'package.json');
  return { p, path, json: JSON.parse(readFileSync(path, 'utf8')) };
});
for (const m of manifests)
  if (!above(version, m.json.version)) fail(`${version} is not above ${m.p}'s current version ${m.json.version}`);
for (const m of manifests) {
  const missing = [
    ['repository', m.json.repository?.url ?? m.json.repository],
    ['homepage', m.json.homepage],
    ['bugs', m.json.bugs?.url ?? m.json.bugs],
  ]
    .filter(([, v]) => typeof v !== 'string' || v === '')
    .map(([k]) => k);
  if (missing.length)
    fail(
      `packages/${m.p}/package.json has no ${missing.join(', ')}: set them to the public repository's addresses ` +
        'before a release',
    );
}
const date = new Date().toISOString().slice(0, 10);
const changelogs = PACKAGES.map((p) => {
  const path = join(root, 'packages', p, 'CHANGELOG.md');
  const text = readFileSync(path, 'utf8');
  const at = text.indexOf('## [Unreleased]');
  if (at < 0) fail(`${p}/CHANGELOG.md has no "## [Unreleased]" section`);
  const next = text.indexOf('\n## [', at + 1);
  const body = text.slice(at + '## [Unreleased]'.length, next < 0 ? undefined : next).trim();
  if (body === '') fail(`${p}/CHANGELOG.md: the Unreleased section is empty; say what changed`);
  return {
    p,
    path,
    text:
      `${text.slice(0, at)}## [Unreleased]\n\n## [${version}] — ` +
      `${date}${text.slice(at + '## [Unreleased]'.length)}`,
  };
});

if (!skipChecks) {
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  execFileSync('npm', ['run', 'test:package'], { cwd: root, stdio: 'inherit' });
}

for (const m of manifests) {
  m.json.version = version;
  for (const deps of [m.json.dependencies, m.json.peerDependencies]) {
    for (const name of PACKAGES) if (deps?.[name] !== undefined) deps[name] = `^${version}`;
  }
  writeFileSync(m.path, `${JSON.stringify(m.json, null, 2)}\n`);
}
for (const c of changelogs) writeFileSync(c.path, c.text);
const lock = join(root, 'package-lock.json');
if (!skipChecks)
  execFileSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: 'inherit',
  });
git('add', ...manifests.map((m) => m.path), ...changelogs.map((c) => c.path), lock);
git('commit', '-q', '-m', `Release ${version}`);
git('tag', '-a', `v${version}`, '-m', `Release ${version}`);
console.log(`release: ${version} committed and tagged v${version}. To publish (not done here):`);
for (const p of PACKAGES) console.log(`  npm publish -w ${p}`);
console.log('  git push --follow-tags');
