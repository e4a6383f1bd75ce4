// Run by webgpu_node.test.mjs in a child process with Dawn's environment: the optimizers' fused steps on
// tfjs's webgpu backend in Node (Dawn, the `webgpu` package) against the cpu backend, with the dispatches of a
// step counted and the path each step took. Prints one JSON line.
import { webgpuOrExit } from '../scripts/dawn.mjs';
import { scoped } from './error_scopes.mjs';

const { adapter, tf } = await webgpuOrExit();
await import('adopt-optim/gpu'); // the webgpu fused kernels and the GPU non-finite check
await import('adopt-optim/lowbit'); // low-bit state
const { adam, adamw, adopt, amsgrad } = await import('adopt-optim');

const sizes = [5, 1000, 4099];
let seed = 7;
const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 4294967296) * 2 - 1;
const start = sizes.map((n) => Float32Array.from({ length: n }, rand));
const grads = Array.from({ length: 4 }, () => sizes.map((n) => Float32Array.from({ length: n }, () => rand() * 0.1)));
const makers = {
  adopt: () => adopt(1e-2),
  adam: () => adam(1e-2),
  adamw: () => adamw(1e-2),
  amsgrad: () => amsgrad(1e-2),
  'adopt unclipped, L2': () => adopt(1e-2, { clip: null, weightDecay: 0.1 }),
  'adopt, nonFinite off': () => adopt(1e-2, { nonFinite: 'off' }),
};

async function trajectory(backend, make, name) {
  await tf.setBackend(backend);
  await tf.ready();
  const vars = start.map((a, i) => tf.variable(tf.tensor1d(a), true, `${backend}_${name}_${i}`));
  const opt = make();
  let dispatches = 0;
  let tensorsAfterFirst = 0;
  for (const [step, g] of grads.entries()) {
    const named = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor1d(g[i]) }));
    const device = backend === 'webgpu' ? tf.backend().device : null;
    const create = device?.createBindGroup;
    if (device && step === grads.length - 1)
      device.createBindGroup = function (...a) {
        dispatches++;
        return create.apply(this, a);
      };
    await scoped(tf, () => opt.applyGradients(named), `${backend} step`);
    if (device && step === grads.length - 1) device.createBindGroup = create;
    tf.dispose(named.map((n) => n.tensor));
    await opt.checkFinite();
    if (step === 1) tensorsAfterFirst = tf.memory().numTensors;
  }
  const values = await Promise.all(vars.map((v) => v.data()));
  const out = {
    values: values.map((v) => Array.from(v)),
    paths: [...opt.lastStepPaths],
    dispatches,
    tensorsStable: tf.memory().numTensors === tensorsAfterFirst,
  };
  opt.dispose();
  tf.dispose(vars);
  return out;
}

const results = {};
for (const [name, make] of Object.entries(makers)) {
  const gpu = await trajectory('webgpu', make, name.replace(/\W/g, '_'));
  const cpu = await trajectory('cpu', make, name.replace(/\W/g, '_'));
  let worst = 0;
  gpu.values.forEach((v, i) =>
    v.forEach((x, j) => {
      const y = cpu.values[i][j];
      worst = Math.max(worst, Math.abs(x - y) / Math.max(Math.abs(y), 1e-3));
    }),
  );
  results[name] = {
    maxRelativeDifferenceToCpu: worst,
    paths: gpu.paths,
    dispatchesPerStep: gpu.dispatches,
    tensorsStable: gpu.tensorsStable,
  };
}
console.log(JSON.stringify({ adapter, results }));
