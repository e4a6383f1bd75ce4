// One optimizer step (applyGradients on 100 variables), timed in the browser on webgl, webgpu and
// wasm (src/step_bench.ts). Driven by scripts/bench-browser.mjs through window.stepBench.
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { OPTIMIZERS, runStepBench } from './step_bench';

setWasmPaths(new URL('./tfjs-wasm/', location.href).href);

async function adapter() {
  const gpu = (
    navigator as unknown as {
      gpu?: { requestAdapter(): Promise<{ info?: { architecture?: string; vendor?: string } } | null> };
    }
  ).gpu;
  const a = await gpu?.requestAdapter();
  return a == null ? null : { vendor: a.info?.vendor, architecture: a.info?.architecture };
}

function webglRenderer(): string | null {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (gl === null) return null;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

(window as unknown as Record<string, unknown>)['stepBench'] = {
  run: runStepBench,
  adapter,
  webglRenderer,
  optimizers: OPTIMIZERS,
  userAgent: navigator.userAgent,
};
document.getElementById('status')!.textContent = 'ready';
