// WebGPU in Node through Dawn (the `webgpu` npm package), for the bench and the tests that run tfjs's webgpu
// backend outside a browser. On a machine with a GPU Dawn finds it through the system's Vulkan loader; without
// one, `swiftshaderEnv()` points the loader at the SwiftShader Vulkan driver Debian's chromium ships (CPU-emulated:
// compare ratios and dispatch counts there, not times). The loader reads these variables when the process
// starts, so they go into the environment of a child process (`withDawn`).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'];

/** The environment that makes Dawn use Chromium's SwiftShader Vulkan driver, or null where there is none. */
export function swiftshaderEnv() {
  const icd = process.env.SWIFTSHADER_ICD ?? ICDS.find((p) => existsSync(p));
  if (icd === undefined || !existsSync(icd)) return null;
  const dir = dirname(icd);
  return { VK_ICD_FILENAMES: icd, LD_LIBRARY_PATH: [dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
}

/**
 * Runs `node [nodeArgs] script args` with Dawn's environment (SwiftShader when asked for); returns spawnSync's result.
 */
export function withDawn(script, args, { swiftshader = false, nodeArgs = [], stdio = 'pipe' } = {}) {
  const extra = swiftshader ? swiftshaderEnv() : {};
  if (extra === null)
    throw new Error('no SwiftShader Vulkan driver found (Debian: apt-get install chromium; or set SWIFTSHADER_ICD)');
  return spawnSync(process.execPath, [...nodeArgs, script, ...args], {
    env: { ...process.env, ...extra },
    encoding: 'utf8',
    stdio,
    maxBuffer: 64 << 20,
  });
}

/**
 * Installs navigator.gpu and the WebGPU globals in this process (call before importing
 * @tensorflow/tfjs-backend-webgpu).
 */
export async function installWebGPU(flags = []) {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const gpu = create(flags);
  Object.defineProperty(globalThis, 'navigator', {
    value: { ...(globalThis.navigator ?? {}), gpu },
    configurable: true,
    writable: true,
  });
  const adapter = await gpu.requestAdapter();
  return adapter === null
    ? null
    : {
        vendor: adapter.info?.vendor,
        architecture: adapter.info?.architecture,
        description: adapter.info?.description,
      };
}

/**
 * For a check run in a child process (test/webgpu_*_check.mjs): WebGPU installed and tfjs with its webgpu backend
 * loaded; without an adapter, prints `{"adapter":null}` (the test then skips) and ends the process.
 */
export async function webgpuOrExit() {
  const adapter = await installWebGPU();
  if (adapter === null) {
    console.log(JSON.stringify({ adapter: null }));
    process.exit(0);
  }
  const tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-webgpu');
  return { adapter, tf };
}

export const scriptsDir = dirname(new URL(import.meta.url).pathname);
export const playgroundDir = join(scriptsDir, '..');
