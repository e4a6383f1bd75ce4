// Checks the links of Markdown files: every relative link names a file that exists (in a tarball's file
// list or on disk), and every #fragment names a heading of its target as GitHub and npm render it
// (github-slugger's ids). Links are found by markdown-it, so text inside code blocks is not mistaken for one.
import { posix } from 'node:path';
import MarkdownIt from 'markdown-it';
import GithubSlugger from 'github-slugger';

const md = new MarkdownIt({ html: true });

/** The href of every link in `markdown` (in order, duplicates kept). */
export function links(markdown) {
  const out = [];
  const walk = (tokens) => {
    for (const t of tokens) {
      if (t.type === 'link_open') out.push(t.attrGet('href'));
      if (t.children) walk(t.children);
    }
  };
  walk(md.parse(markdown, {}));
  return out;
}

/** The ids GitHub gives the headings of `markdown`. */
export function anchors(markdown) {
  const slugger = new GithubSlugger();
  const ids = new Set();
  const tokens = md.parse(markdown, {});
  tokens.forEach((t, i) => {
    if (t.type === 'heading_open') ids.add(slugger.slug(tokens[i + 1].children.map((c) => c.content).join('')));
  });
  return ids;
}

/**
 * The broken links of the Markdown file `path`, as messages. `read(p)` returns a file's text, or undefined when
 * the file does not exist; paths are POSIX paths relative to one root (a tarball's `package/`, a repository).
 */
export function brokenLinks(path, read) {
  const text = read(path);
  if (text === undefined) return [`${path} does not exist`];
  const broken = [];
  for (const href of links(text)) {
    if (/^(https?:|mailto:)/.test(href)) continue;
    const [file, fragment] = href.split('#');
    const target = file === '' ? path : posix.normalize(posix.join(posix.dirname(path), decodeURI(file)));
    const body = target.startsWith('..') ? undefined : read(target);
    if (body === undefined) {
      broken.push(`${path}: link to ${href}: ${target} does not exist`);
    } else if (fragment !== undefined && target.endsWith('.md') && !anchors(body).has(decodeURI(fragment))) {
      broken.push(`${path}: link to ${href}: ${target} has no heading #${fragment}`);
    }
  }
  return broken;
}
