/**
 * JSON.parse that refuses an object naming one key twice: JSON.parse keeps the last, another reader may keep the
 * first, so a file with duplicate keys means two things (a safetensors header, exportState's state dict).
 */

/** The parsed value of `text`; throws a SyntaxError naming the first key that appears twice in one object. */
export function parseJsonStrict(text: string): unknown {
  const value = JSON.parse(text) as unknown; // the syntax is checked first: the scan below assumes valid JSON
  const keys: (Set<string> | null)[] = []; // per open bracket: the keys of an object, null for an array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = keys[keys.length - 1];
      if (expectKey && top) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.has(key)) throw new SyntaxError(`the key ${JSON.stringify(key)} appears twice in one object`);
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{') {
      keys.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      keys.push(null);
    } else if (c === '}' || c === ']') {
      keys.pop();
    } else if (c === ',') {
      expectKey = keys[keys.length - 1] !== null;
    }
  }
  return value;
}
