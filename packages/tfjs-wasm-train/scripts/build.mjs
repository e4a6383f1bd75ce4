// Builds the package twice from one source: ES modules into dist/esm and CommonJS into dist/cjs,
// each with its own .d.ts files, so `import` and `require` both get code and types of their own
// module system (the same layout as adopt-optim, checked by @arethetypeswrong/cli and publint).
// dist/cjs/package.json marks that folder CommonJS for Node and for TypeScript.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', join(root, project)], { stdio: 'inherit' });
}
writeFileSync(join(root, 'dist', 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
console.log('tfjs-wasm-train: built dist/esm (import) and dist/cjs (require)');
