// Run by webgpu_node.test.mjs in a child process with Dawn's environment: 8-bit and 4-bit optimizer state on
// tfjs's webgpu backend in Node (Dawn, the `webgpu` package) against the cpu backend's low-bit results (the
// WebAssembly kernels, themselves tested against a float64 reference): parameters, codes and scales after each
// step, the dispatches of a step, the path, tensors, a step refused by a non-finite gradient, and the state moved
// between backends. Prints one JSON line.
import { webgpuOrExit } from '../scripts/dawn.mjs';
import { scoped } from './error_scopes.mjs';

const { adapter, tf } = await webgpuOrExit();
await import('adopt-optim/gpu'); // the webgpu fused kernels and the GPU non-finite check
await import('adopt-optim/lowbit'); // low-bit state
const { adamw, adopt } = await import('adopt-optim');

// partial words, partial groups of 16, partial blocks of 128 / 256, several blocks
const sizes = [5, 37, 300, 4099];
let seed = 11;
const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 4294967296) * 2 - 1;
const start = sizes.map((n) => Float32Array.from({ length: n }, rand));
const grads = Array.from({ length: 6 }, () => sizes.map((n) => Float32Array.from({ length: n }, () => rand() * 0.1)));
const makers = {
  'adopt int8': () => adopt(1e-2, { stateDtype: 'int8' }),
  'adopt int4': () => adopt(1e-2, { stateDtype: 'int4' }),
  'adopt int4 nesterov, decoupled decay': () =>
    adopt(1e-2, { stateDtype: 'int4', nesterov: true, weightDecay: 0.1, decoupled: true }),
  'adamw int8': () => adamw(1e-2, { stateDtype: 'int8' }),
  'adamw int4': () => adamw(1e-2, { stateDtype: 'int4' }),
  'adopt bfloat16': () => adopt(1e-2, { stateDtype: 'bfloat16' }),
  'adamw bfloat16': () => adamw(1e-2, { stateDtype: 'bfloat16' }),
};

const codeNames = /\/(qm4?|qv4?|mbf16|vbf16)$/;
const scaleNames = /\/(mScale|vScale)4?$/;

/**
 * Steps from the same start with the same gradients; after each step, the parameters and the state's codes and scales.
 */
async function trajectory(backend, make, name) {
  await tf.setBackend(backend);
  await tf.ready();
  const vars = start.map((a, i) => tf.variable(tf.tensor1d(a), true, `lowbit_${name}_${i}`));
  const opt = make();
  const steps = [];
  let dispatches = 0;
  let tensorsAfterSecond = 0;
  let tensorsLast = -1;
  for (const [step, g] of grads.entries()) {
    const named = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor1d(g[i]) }));
    const device = backend === 'webgpu' ? tf.backend().device : null;
    const create = device?.createBindGroup;
    if (device && step === grads.length - 1)
      device.createBindGroup = function (...a) {
        dispatches++;
        return create.apply(this, a);
      };
    await scoped(
      tf,
      () => {
        opt.applyGradients(named);
        tf.dispose(named.map((n) => n.tensor));
        // counted right after the step, before any await lets a verdict arrive (its flags are freed then)
        if (step === 1) tensorsAfterSecond = tf.memory().numTensors;
        if (step === grads.length - 1) tensorsLast = tf.memory().numTensors;
      },
      `${backend} step`,
    );
    if (device && step === grads.length - 1) device.createBindGroup = create;
    const weights = await opt.getWeights();
    steps.push({
      p: await Promise.all(vars.map(async (v) => Array.from(await v.data()))),
      codes: Object.fromEntries(
        await Promise.all(
          weights
            .filter((w) => codeNames.test(w.name))
            .map(async (w) => [w.name.replace(`lowbit_${name}_`, ''), Array.from(await w.tensor.data())]),
        ),
      ),
      scales: Object.fromEntries(
        await Promise.all(
          weights
            .filter((w) => scaleNames.test(w.name))
            .map(async (w) => [w.name.replace(`lowbit_${name}_`, ''), Array.from(await w.tensor.data())]),
        ),
      ),
    });
  }
  const tensorsStable = tensorsLast === tensorsAfterSecond; // both right after a step, before getWeights
  const out = { steps, paths: [...opt.lastStepPaths], dispatches, tensorsStable, bytes: opt.lowBit?.bytes?.() };
  opt.dispose();
  tf.dispose(vars);
  return out;
}

const results = {};
for (const [name, make] of Object.entries(makers)) {
  const key = name.replace(/\W/g, '_');
  const gpu = await trajectory('webgpu', make, key);
  const cpu = await trajectory('cpu', make, key);
  let worstP = 0;
  let worstScale = 0;
  let codeMax = 0;
  let codesDiffer = 0;
  let codes = 0;
  gpu.steps.forEach((s, k) => {
    const c = cpu.steps[k];
    s.p.forEach((v, i) =>
      v.forEach((x, j) => {
        worstP = Math.max(worstP, Math.abs(x - c.p[i][j]) / Math.max(Math.abs(c.p[i][j]), 1e-3));
      }),
    );
    for (const [n, v] of Object.entries(s.codes)) {
      v.forEach((x, j) => {
        const d = Math.abs(x - c.codes[n][j]);
        codeMax = Math.max(codeMax, d);
        if (d) codesDiffer++;
        codes++;
      });
    }
    for (const [n, v] of Object.entries(s.scales)) {
      v.forEach((x, j) => {
        worstScale = Math.max(worstScale, Math.abs(x - c.scales[n][j]) / Math.max(Math.abs(c.scales[n][j]), 1e-30));
      });
    }
  });
  results[name] = {
    maxRelativeDifferenceToCpu: worstP,
    codesAtMostApart: codeMax,
    codesDifferShare: codesDiffer / codes,
    maxScaleRelativeDifference: worstScale,
    paths: gpu.paths,
    dispatchesPerStep: gpu.dispatches,
    tensorsStable: gpu.tensorsStable,
    gpuStateBytes: gpu.bytes?.gpu,
  };
}

// a non-finite gradient under nonFinite 'skip': nothing changes on the GPU (parameters, codes, scales; the
// counters follow §6.3 for every state dtype)
await tf.setBackend('webgpu');
const v = tf.variable(tf.tensor1d(start[2]), true, 'lowbit_skip');
const opt = adopt(1e-2, { stateDtype: 'int4', nonFinite: 'skip' });
await scoped(tf, () => opt.applyGradients({ [v.name]: tf.tensor1d(grads[0][2]) }));
await scoped(tf, () => opt.applyGradients({ [v.name]: tf.tensor1d(grads[1][2]) }));
const snapshot = async () => ({
  p: Array.from(await v.data()),
  w: await Promise.all(
    (await opt.getWeights())
      .filter((w) => codeNames.test(w.name) || scaleNames.test(w.name))
      .map(async (w) => [w.name, Array.from(await w.tensor.data())]),
  ),
});
const before = await snapshot();
const bad = Float32Array.from(grads[2][2]);
bad[7] = NaN;
await scoped(tf, () => opt.applyGradients({ [v.name]: tf.tensor1d(bad) }));
const skipUnchanged = JSON.stringify(before) === JSON.stringify(await snapshot());

// state saved on webgpu (getWeights) and restored on cpu: the next step equals the same step on webgpu
const saved = (await opt.getWeights()).map((w) => ({ name: w.name, tensor: w.tensor.clone() }));
const g = tf.tensor1d(grads[3][2]);
const p0 = Array.from(await v.data());
await scoped(tf, () => opt.applyGradients({ [v.name]: g }));
const onGpu = Array.from(await v.data());
await tf.setBackend('cpu');
const w = tf.variable(tf.tensor1d(p0), true, 'lowbit_moved');
const twin = adopt(1e-2, { stateDtype: 'int4', nonFinite: 'skip' });
await twin.setWeights(saved.map((x) => ({ name: x.name.replace('lowbit_skip', 'lowbit_moved'), tensor: x.tensor })));
twin.applyGradients({ [w.name]: tf.tensor1d(grads[3][2]) });
const onCpu = Array.from(await w.data());
let movedMaxDifference = 0;
onGpu.forEach((x, j) => {
  movedMaxDifference = Math.max(movedMaxDifference, Math.abs(x - onCpu[j]) / Math.max(Math.abs(onCpu[j]), 1e-3));
});
// a zero-size variable beside others: nothing to dispatch, no error
await tf.setBackend('webgpu');
const z = tf.variable(tf.zeros([0, 3]), true, 'lowbit_empty');
const y = tf.variable(tf.ones([20]), true, 'lowbit_beside');
const zopt = adopt(1e-2, { stateDtype: 'int4' });
let zeroSize = 'ok';
try {
  for (let i = 0; i < 2; i++) {
    await scoped(tf, () => zopt.applyGradients({ [z.name]: tf.zeros([0, 3]), [y.name]: tf.ones([20]) }));
  }
  await y.data();
} catch (e) {
  zeroSize = e.message;
}

// state on the GPU stepped on another backend: here (Node) it cannot be read back synchronously, so the step is
// refused before anything changes, saying how to move it
const before2 = Array.from(await y.data());
await tf.setBackend('cpu');
let offGpu = '';
try {
  zopt.applyGradients({ [y.name]: tf.ones([20]) });
} catch (e) {
  offGpu = e.message;
}
const offGpuUnchanged =
  JSON.stringify(Array.from(await y.data())) === JSON.stringify(before2) && zopt.stepOf(y.name) === 2;
console.log(JSON.stringify({ adapter, results, skipUnchanged, movedMaxDifference, zeroSize, offGpu, offGpuUnchanged }));
