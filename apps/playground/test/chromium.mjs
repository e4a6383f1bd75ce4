// The Chromium the browser tests drive (Debian's package, or CHROMIUM_PATH) and the flags that give it
// WebGL and WebGPU without a GPU.
import { existsSync } from 'node:fs';

export const executablePath =
  process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
export const skip =
  executablePath === undefined ? 'no Chromium installed (apt-get install chromium, or set CHROMIUM_PATH)' : false;

/** Chromium flags that give WebGL (ANGLE on SwiftShader) and WebGPU (SwiftShader adapter) without a GPU. */
export const GPU_FLAGS = [
  '--no-sandbox',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
