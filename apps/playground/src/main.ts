import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { adam, adopt } from 'adopt-optim';
import type { ToyOptimizer } from 'adopt-lab/toy';
import { LiveChart, type Point } from './chart';
import type { ToyMessage, ToyRequest } from './toy.worker';

setWasmPaths(new URL('./tfjs-wasm/', document.baseURI).href);
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

// ---- tabs (arrow keys move between them, as the ARIA tabs pattern expects) ----
const tabs = [$('tab-toy'), $('tab-mnist')];
function select(tab: HTMLElement): void {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')!).hidden = !on;
  }
  tab.focus();
}
tabs.forEach((t, i) => {
  t.addEventListener('click', () => select(t));
  t.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') select(tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length]!);
  });
});

// ---- the convex counterexample ----
const TOY_LABELS: Record<ToyOptimizer, string> = { adam: 'Adam', amsgrad: 'AMSGrad', adopt: 'ADOPT', 'adopt-unclipped': 'ADOPT (unclipped)' };
const toyChart = new LiveChart($('toy-chart'), { x: 'step t', y: 'theta (median, quartile band)', logX: true, band: true, yDomain: [-1, 1] });
let worker: Worker | null = null;

function stopToy(message: string): void {
  worker?.terminate();
  worker = null;
  $<HTMLButtonElement>('toy-run').disabled = false;
  $<HTMLButtonElement>('toy-stop').disabled = true;
  $('toy-status').textContent = message;
}

$('toy-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target as HTMLFormElement);
  const request: ToyRequest = {
    k: Number(form.get('k')), beta1: Number(form.get('beta1')), beta2: Number(form.get('beta2')),
    steps: Number(form.get('steps')), chains: Number(form.get('chains')),
    optimizers: form.getAll('optimizer') as ToyOptimizer[], seed: 1,
  };
  if (request.optimizers.length === 0) {
    $('toy-status').textContent = 'Choose at least one optimizer.';
    return;
  }
  stopToy('Running…');
  $<HTMLButtonElement>('toy-run').disabled = true;
  $<HTMLButtonElement>('toy-stop').disabled = false;
  $('toy-results').replaceChildren();
  await toyChart.clear();
  const points: Point[] = [];
  worker = new Worker(new URL('./toy.worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = async (e: MessageEvent<ToyMessage>) => {
    const m = e.data;
    if (m.type === 'points') {
      for (const p of m.points) if (p.t > 0) points.push({ x: p.t, y: p.median, lower: p.q1, upper: p.q3, series: TOY_LABELS[m.optimizer] });
      await toyChart.set(points);
      $('toy-status').textContent = `Running ${TOY_LABELS[m.optimizer]}: step ${m.points.at(-1)!.t.toLocaleString('en')} of ${request.steps.toLocaleString('en')}…`;
    } else if (m.type === 'done') {
      const reached = m.median < -0.9;
      const li = document.createElement('li');
      li.id = `toy-result-${m.optimizer}`;
      li.dataset['median'] = String(m.median);
      li.className = reached ? 'good' : 'bad';
      li.textContent = `${TOY_LABELS[m.optimizer]}: median theta ${m.median.toFixed(3)} after ${request.steps.toLocaleString('en')} steps — ` +
        (reached ? 'reached the optimum (-1).' : m.median > 0.9 ? 'went to the wrong end (+1).' : 'has not reached the optimum.') +
        ` (${m.seconds.toFixed(1)} s)`;
      $('toy-results').append(li);
    } else {
      stopToy(`Done: k = ${request.k}, beta2 = ${request.beta2}, ${request.chains} chains.`);
    }
  };
  worker.postMessage(request);
});
$('toy-stop').addEventListener('click', () => stopToy('Stopped.'));

// ---- MNIST ----
interface Data { trainX: Float32Array; trainY: Uint8Array; testX: Float32Array; testY: Uint8Array; train: number; test: number }

async function loadData(): Promise<Data> {
  const bytes = new Uint8Array(await (await fetch(new URL('./mnist-subset.bin', document.baseURI))).arrayBuffer());
  const view = new DataView(bytes.buffer);
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== 'MNST') throw new Error('mnist-subset.bin is not the packed MNIST subset');
  const train = view.getUint32(4, true);
  const test = view.getUint32(8, true);
  let at = 12;
  const take = (n: number) => bytes.subarray(at, (at += n));
  const pixels = (b: Uint8Array) => Float32Array.from(b, (x) => x / 255);
  return { train, test, trainX: pixels(take(train * 784)), trainY: take(train).slice(), testX: pixels(take(test * 784)), testY: take(test).slice() };
}

const BATCH = 64;
const EVAL_EVERY = 50;
const lossChart = new LiveChart($('mnist-loss-chart'), { x: 'step', y: 'training loss (mean of the last 50 steps)' });
const accChart = new LiveChart($('mnist-acc-chart'), { x: 'step', y: 'test accuracy' });

interface Runner { name: 'ADOPT' | 'Adam'; model: tf.Sequential; losses: number[] }
let data: Data | null = null;
let runners: Runner[] = [];
let running = false;
let step = 0;
let order: Int32Array = new Int32Array(0);
let random = 1;

function nextRandom(): number {
  random = (random * 1103515245 + 12345) >>> 0;
  return random / 4294967296;
}

function makeModel(): tf.Sequential {
  const model = tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [784], units: 128, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 1 }) }),
    tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
  ] });
  return model;
}

async function chooseBackend(): Promise<void> {
  const wanted = $<HTMLSelectElement>('mnist-backend').value;
  if (wanted === 'auto') {
    for (const name of ['webgpu', 'webgl', 'wasm', 'cpu']) {
      try {
        if (await tf.setBackend(name)) break;
      } catch { /* try the next one */ }
    }
  } else if (!(await tf.setBackend(wanted))) {
    throw new Error(`the ${wanted} backend is not available in this browser`);
  }
  await tf.ready();
  $('mnist-active-backend').textContent = tf.getBackend();
}

async function reset(): Promise<void> {
  running = false;
  for (const r of runners) r.model.dispose();
  runners = [];
  step = 0;
  random = 1;
  $('mnist-steps').textContent = '0';
  $('mnist-sps').textContent = '–';
  for (const n of ['adopt', 'adam']) $(`mnist-loss-${n}`).textContent = $(`mnist-acc-${n}`).textContent = '–';
  await lossChart.clear();
  await accChart.clear();
  $<HTMLButtonElement>('mnist-start').disabled = false;
  $<HTMLButtonElement>('mnist-pause').disabled = true;
  $('mnist-status').textContent = data ? 'Ready.' : 'Loading data…';
}

function evaluate(model: tf.Sequential, d: Data): number {
  return tf.tidy(() => {
    const logits = model.predict(tf.tensor2d(d.testX, [d.test, 784])) as tf.Tensor;
    const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.tensor1d(d.testY, 'int32')), 'float32'));
    return hits.dataSync()[0]! / d.test;
  });
}

async function train(): Promise<void> {
  if (!data) return;
  const d = data;
  if (runners.length === 0) {
    await chooseBackend();
    const lr = Number($<HTMLInputElement>('mnist-lr').value);
    runners = (['ADOPT', 'Adam'] as const).map((name) => {
      const model = makeModel();
      model.compile({ optimizer: name === 'ADOPT' ? adopt(lr) : adam(lr), loss: 'categoricalCrossentropy' });
      return { name, model, losses: [] };
    });
  }
  running = true;
  $<HTMLButtonElement>('mnist-start').disabled = true;
  $<HTMLButtonElement>('mnist-pause').disabled = false;
  $('mnist-status').textContent = `Training on ${tf.getBackend()}…`;
  let windowStart = performance.now();
  let windowSteps = 0;
  while (running) {
    if (step % Math.floor(d.train / BATCH) === 0) {
      order = Int32Array.from({ length: d.train }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(nextRandom() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    const start = (step % Math.floor(d.train / BATCH)) * BATCH;
    const xs = new Float32Array(BATCH * 784);
    const labels = new Int32Array(BATCH);
    for (let i = 0; i < BATCH; i++) {
      const j = order[start + i]!;
      xs.set(d.trainX.subarray(j * 784, (j + 1) * 784), i * 784);
      labels[i] = d.trainY[j]!;
    }
    const x = tf.tensor2d(xs, [BATCH, 784]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 10));
    for (const r of runners) r.losses.push((await r.model.trainOnBatch(x, y)) as number);
    tf.dispose([x, y]);
    step++;
    windowSteps++;
    $('mnist-steps').textContent = String(step);
    if (step % EVAL_EVERY === 0) {
      const seconds = (performance.now() - windowStart) / 1000;
      $('mnist-sps').textContent = (windowSteps / seconds).toFixed(1);
      $('mnist-sps').dataset['value'] = String(windowSteps / seconds);
      windowStart = performance.now();
      windowSteps = 0;
      const lossPoints: Point[] = [];
      const accPoints: Point[] = [];
      for (const r of runners) {
        const recent = r.losses.slice(-EVAL_EVERY);
        const loss = recent.reduce((a, b) => a + b, 0) / recent.length;
        const acc = evaluate(r.model, d);
        const key = r.name === 'ADOPT' ? 'adopt' : 'adam';
        $(`mnist-loss-${key}`).textContent = loss.toFixed(4);
        $(`mnist-acc-${key}`).textContent = `${(100 * acc).toFixed(1)} %`;
        $(`mnist-acc-${key}`).dataset['value'] = String(acc);
        lossPoints.push({ x: step, y: loss, series: r.name });
        accPoints.push({ x: step, y: acc, series: r.name });
      }
      await lossChart.add(lossPoints);
      await accChart.add(accPoints);
    }
    await tf.nextFrame(); // keep the page responsive
  }
}

$('mnist-start').addEventListener('click', () => {
  train().catch((e: Error) => {
    running = false;
    $('mnist-status').textContent = `Error: ${e.message}`;
  });
});
$('mnist-pause').addEventListener('click', () => {
  running = false;
  $<HTMLButtonElement>('mnist-start').disabled = false;
  $<HTMLButtonElement>('mnist-pause').disabled = true;
  $('mnist-status').textContent = `Paused after ${step} steps.`;
});
$('mnist-reset').addEventListener('click', () => void reset());
$('mnist-backend').addEventListener('change', () => void reset());

loadData().then(async (d) => {
  data = d;
  await reset();
  await chooseBackend();
  $('mnist-status').textContent = `Ready: ${d.train.toLocaleString('en')} training and ${d.test.toLocaleString('en')} test images.`;
  document.body.dataset['ready'] = 'true';
}).catch((e: Error) => {
  $('mnist-status').textContent = `Could not load the MNIST subset: ${e.message}`;
});
