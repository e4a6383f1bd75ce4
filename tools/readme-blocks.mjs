// Extracts the TypeScript code blocks of a Markdown file, so that `npm test` can type-check every
// one of them against the packed packages (tools/package.test.mjs).
//
// A block is a fence opened by ```ts or ```typescript. A block that continues an earlier example
// (it uses a `model` or `xs` defined there) may be preceded by an HTML comment that declares
// what it assumes, invisible on the rendered page:
//
//   <!-- readme-check: context
//   declare const model: tf.LayersModel;
//   -->
//
// The context is prepended to the block; everything else is compiled exactly as the reader sees it.
import { readFileSync } from 'node:fs';

/** @returns {{ line: number, code: string, context: string }[]} */
export function typeScriptBlocks(markdownPath) {
  const lines = readFileSync(markdownPath, 'utf8').split('\n');
  const blocks = [];
  let context = '';
  for (let i = 0; i < lines.length; i++) {
    const comment = /^<!-- readme-check: context\s*$/.exec(lines[i]);
    if (comment) {
      const body = [];
      for (i++; i < lines.length && !/^-->\s*$/.test(lines[i]); i++) body.push(lines[i]);
      context = body.join('\n');
      continue;
    }
    const fence = /^```(ts|typescript)\s*$/.exec(lines[i]);
    if (fence) {
      const start = i + 1;
      const body = [];
      for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
      if (i >= lines.length) throw new Error(`${markdownPath}:${start}: code block never closed`);
      blocks.push({ line: start, code: body.join('\n'), context });
      context = '';
    } else if (lines[i].trim() !== '') {
      context = ''; // a context comment applies only to the block right after it
    }
  }
  return blocks;
}
