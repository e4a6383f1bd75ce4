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

/**
 * A getter for the module compiled from `base64`, or null where it cannot be compiled (no
 * WebAssembly, no SIMD, or no threads for a shared-memory module): callers then fall back to
 * tfjs ops or JavaScript.
 */
export function lazyWasmModule(base64: string): () => WebAssembly.Module | null {
  let compiled: WebAssembly.Module | null | undefined;
  return () => {
    if (compiled === undefined) {
      try {
        compiled = new WebAssembly.Module(decodeBase64(base64));
      } catch {
        compiled = null;
      }
    }
    return compiled;
  };
}
