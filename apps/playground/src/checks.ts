// GPU-backend checks run in a real browser (playground/checks.html): ADOPT on webgl agrees with
// the cpu backend when textures are float32, and stays finite with float16 textures (where an
// epsilon of 1e-6 would flush to zero and give 0 / 0). ?f16=1 forces float16 textures.
import * as tf from '@tensorflow/tfjs';
import 'adopt-optim/gpu'; // the webgl and webgpu fused kernels and the GPU non-finite check
import 'adopt-optim/lowbit'; // int8, int4 and bfloat16 state
import { adopt } from 'adopt-optim';

const f16 = new URLSearchParams(location.search).get('f16') === '1';
if (f16) tf.env().set('WEBGL_FORCE_F16_TEXTURES', true);

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296) * 2 - 1;
}

async function run(backend: string, zeros: boolean): Promise<{ initial: Float32Array; final: Float32Array }> {
  await tf.setBackend(backend);
  await tf.ready();
  const next = lcg(7);
  const n = 1000;
  const p = tf.variable(tf.tensor1d(Float32Array.from({ length: n }, () => next())));
  const initial = (await p.data()) as Float32Array; // as stored by this backend (rounded to float16 there)
  const opt = adopt(1e-2);
  for (let step = 0; step < 30; step++) {
    // with `zeros`, the first 100 elements always get a zero gradient: v stays 0 there
    const g = tf.tensor1d(Float32Array.from({ length: n }, (_, i) => (zeros && i < 100 ? 0 : next())));
    opt.applyGradients({ [p.name]: g });
    g.dispose();
  }
  const final = (await p.data()) as Float32Array;
  opt.dispose();
  p.dispose();
  return { initial, final };
}

async function main(): Promise<Record<string, unknown>> {
  const webglReady = await tf.setBackend('webgl').catch(() => false);
  if (!webglReady) return { webgl: false };
  const floatPrecision = tf.backend().floatPrecision();
  // what the textures really hold: 1e-6 survives float32, and flushes or loses precision in float16
  const roundTrip = tf.tidy(() => tf.add(tf.fill([1024], 1e-6), tf.zeros([1024])).dataSync()[0]);
  const { initial, final: gpu } = await run('webgl', true);
  const finite = gpu.every((x) => Number.isFinite(x));
  // a parameter whose gradient is always 0 must not move (0 / max(sqrt(0), eps) = 0, not 0 / 0);
  // with float16 textures its stored value is rounded to float16 (about 3 significant digits)
  const tolerance = f16 ? 2e-3 : 0;
  const zeroGradientUnchanged = gpu
    .slice(0, 100)
    .every((x, i) => Math.abs(x - initial[i]!) <= tolerance * Math.max(1, Math.abs(initial[i]!)));
  const result: Record<string, unknown> = {
    webgl: true,
    f16Textures: tf.env().getBool('WEBGL_FORCE_F16_TEXTURES'),
    floatPrecision,
    roundTrip,
    finite,
    zeroGradientUnchanged,
  };
  if (!f16) {
    const { final: cpu } = await run('cpu', true);
    let worst = 0;
    for (let i = 0; i < cpu.length; i++)
      worst = Math.max(worst, Math.abs(gpu[i]! - cpu[i]!) / Math.max(Math.abs(cpu[i]!), 1e-2));
    result['maxRelativeDifferenceToCpu'] = worst;
  }
  return result;
}

main()
  .then((r) => {
    document.getElementById('result')!.textContent = JSON.stringify(r);
  })
  .catch((e: Error) => {
    document.getElementById('result')!.textContent = JSON.stringify({ error: e.message });
  });
