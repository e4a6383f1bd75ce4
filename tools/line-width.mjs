// The line-width check: no hand-written .ts/.mts/.mjs/.cjs line over 120 columns (Biome's formatter cannot wrap
// comments and strings). Reports by default; `--strict` fails on any (switch it on in the root "lint" script once
// the code is reformatted).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const LIMIT = 120;
const strict = process.argv.includes('--strict');
const files = execFileSync('git', ['ls-files', '*.ts', '*.mts', '*.mjs', '*.cjs'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '' && !f.includes('/generated/') && !f.includes('/dist/') && !f.startsWith('docs/'));
const long = [];
for (const file of files) {
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      // columns as an editor counts them: code points, not UTF-16 units
      const width = [...line].length;
      if (width > LIMIT) long.push({ file, line: i + 1, width });
    });
}
const byFile = new Map();
for (const l of long) byFile.set(l.file, (byFile.get(l.file) ?? 0) + 1);
if (long.length === 0) {
  console.log(`line width: every line of ${files.length} files is within ${LIMIT} columns`);
} else {
  const widest = long.reduce((a, b) => (b.width > a.width ? b : a));
  console.log(
    `line width: ${long.length} lines over ${LIMIT} columns in ${byFile.size} of ${files.length} files ` +
      `(widest ${widest.width}, ${widest.file}:${widest.line})${strict ? '' : '; report only (--strict fails)'}`,
  );
  if (strict) {
    for (const l of long) console.log(`  ${l.file}:${l.line}: ${l.width} columns`);
    process.exitCode = 1;
  }
}
