/**
 * One way to load the kernel modules that scripts/build-kernels.mjs embeds as base64: decoded and
 * compiled once, on first use, synchronously (so it works in Node and browsers alike).
 */

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text); // in browsers and Node >= 16
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function uleb(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    if (b === undefined) throw new RangeError('adopt-optim: truncated WebAssembly module');
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return [value, at];
  }
}

function ulebBytes(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) b |= 0x80;
    out.push(b);
  } while (value > 0);
  return out;
}

/**
 * The same module importing a shared memory (tfjs's threaded heap): the memory import's limits
 * `{min}` become `{shared, min, max 65536}`, as wabt writes `(memory min 65536 shared)`; every other
 * byte is kept. The package ships only the plain modules; scripts/build-kernels.ts checks, for
 * every one, that this equals wabt's own shared build byte for byte.
 */
export function sharedMemoryVariant(plain: Uint8Array): Uint8Array<ArrayBuffer> {
  const out: number[] = [...plain.subarray(0, 8)]; // magic and version
  let at = 8;
  while (at < plain.length) {
    const id = plain[at]!;
    const [size, start] = uleb(plain, at + 1);
    const end = start + size;
    if (id !== 2) {
      out.push(...plain.subarray(at, end));
      at = end;
      continue;
    }
    const body: number[] = [];
    let [count, p] = uleb(plain, start);
    body.push(...ulebBytes(count));
    for (; count > 0; count--) {
      const from = p;
      for (let k = 0; k < 2; k++) {
        // module and field names
        const [len, q] = uleb(plain, p);
        p = q + len;
      }
      body.push(...plain.subarray(from, p));
      const kind = plain[p++]!;
      body.push(kind);
      if (kind !== 0x02) throw new TypeError('adopt-optim: a kernel module imports something other than its memory');
      const flags = plain[p++]!;
      if (flags !== 0x00)
        throw new TypeError("adopt-optim: a kernel module's memory import is not a plain {min} memory");
      const [min, q] = uleb(plain, p);
      p = q;
      body.push(0x03, ...ulebBytes(min), ...ulebBytes(65536));
    }
    if (p !== end) throw new RangeError('adopt-optim: malformed import section');
    out.push(2, ...ulebBytes(body.length), ...body);
    at = end;
  }
  return Uint8Array.from(out);
}

/**
 * A getter for the module compiled from `base64` (`shared`: its shared-memory variant), or null
 * where it cannot be compiled (no WebAssembly, no SIMD, or no threads for a shared-memory module):
 * callers then fall back to tfjs ops or JavaScript.
 */
export function lazyWasmModule(base64: string, shared = false): () => WebAssembly.Module | null {
  let compiled: WebAssembly.Module | null | undefined;
  return () => {
    if (compiled === undefined) {
      try {
        const plain = decodeBase64(base64);
        compiled = new WebAssembly.Module(shared ? sharedMemoryVariant(plain) : plain);
      } catch {
        compiled = null;
      }
    }
    return compiled;
  };
}
