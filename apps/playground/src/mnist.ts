// The MNIST view: a perceptron trained by the optimizers the visitor picks, side by side on the same
// batches, with β1, β2, the learning rate and the state dtype as controls, a preset that shows Adam
// diverge at β2 = 0.5 while ADOPT trains, and per optimizer the path its steps run on, its steps per
// second and the bytes of optimizer state it holds.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import 'adopt-optim/gpu'; // the webgl and webgpu fused kernels and the GPU non-finite check
import 'adopt-optim/lowbit'; // int8, int4 and bfloat16 state
import { adam, adamw, adopt, amsgrad, type NamedStateOptimizer, type StepPath } from 'adopt-optim';
import { LiveChart, type Point } from './chart';

setWasmPaths(new URL('./tfjs-wasm/', document.baseURI).href);
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

type Key = 'adopt' | 'adam' | 'adamw' | 'amsgrad';
const NAMES: Record<Key, string> = { adopt: 'ADOPT', adam: 'Adam', adamw: 'AdamW', amsgrad: 'AMSGrad' };
const PATHS: Record<StepPath, string> = {
  webgpu: 'fused WebGPU',
  webgl: 'fused WebGL',
  wasm: 'fused WebAssembly (in place)',
  cpu: 'fused WebAssembly (cpu arrays)',
  int8: '8-bit state, fused kernels',
  int4: '4-bit state, fused kernels',
  bfloat16: 'bfloat16 state, fused kernels',
  ops: 'tfjs ops',
};
/** Backends whose optimizers keep 8-bit state (adopt-optim refuses it elsewhere). */
const LOW_BIT_BACKENDS = ['wasm', 'cpu', 'webgpu'];
/**
 * A run has diverged when its training loss, averaged over the last DIVERGE_WINDOW steps, is above
 * twice that of guessing uniformly (2 ln 10 = 4.6), or not finite, or the optimizer refused a step.
 */
const DIVERGE_LOSS = 2 * Math.log(10);
const DIVERGE_WINDOW = 20;

interface Data {
  trainX: Float32Array;
  trainY: Uint8Array;
  testX: Float32Array;
  testY: Uint8Array;
  train: number;
  test: number;
}

async function loadData(): Promise<Data> {
  const bytes = new Uint8Array(await (await fetch(new URL('./mnist-subset.bin', document.baseURI))).arrayBuffer());
  const view = new DataView(bytes.buffer);
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== 'MNST')
    throw new Error('mnist-subset.bin is not the packed MNIST subset');
  const train = view.getUint32(4, true);
  const test = view.getUint32(8, true);
  let at = 12;
  const take = (n: number) => bytes.subarray(at, (at += n));
  const pixels = (b: Uint8Array) => Float32Array.from(b, (x) => x / 255);
  return {
    train,
    test,
    trainX: pixels(take(train * 784)),
    trainY: take(train).slice(),
    testX: pixels(take(test * 784)),
    testY: take(test).slice(),
  };
}

const BATCH = 64;
const SPS_NOTE =
  'One step of the page trains every chosen optimizer in turn on the same batch, and every 25 steps ' +
  "evaluates them and redraws the charts, so the whole page is slower than any one optimizer. Each optimizer's own " +
  'rate, in the table, counts only the time inside its training step.';
const PRESET_NOTE =
  'With β2 = 0.5 the second-moment estimate forgets within a few steps. Adam divides the momentum ' +
  'of the raw gradients by it, and the two are correlated: a rare large gradient inflates both at once, and the ' +
  'steps that follow are too large. Expect Adam to diverge within a few hundred steps (its loss climbs past that of ' +
  'guessing, and it is stopped) while ADOPT, which normalises each gradient by the estimate from before it, trains ' +
  "on. This holds with float32 state, which the preset chooses. (The repository's beta2 experiment: Adam diverges " +
  'in 5 of 5 seeds at β2 = 0.5 on a larger MLP, ADOPT reaches 97.3%.)';
const EVAL_EVERY = 25;
/** The training loop yields to the browser (one animation frame) at least this often, in milliseconds. */
const YIELD_MS = 50;

interface Runner {
  key: Key;
  name: string;
  model: tf.Sequential;
  optimizer: NamedStateOptimizer;
  losses: number[];
  diverged: string | null;
  seconds: number;
  steps: number;
}

interface Settings {
  keys: Key[];
  beta1: number;
  beta2: number | null;
  lr: number;
  stateDtype: 'float32' | 'int8' | 'int4';
}

function makeModel(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [784],
        units: 128,
        activation: 'relu',
        kernelInitializer: tf.initializers.heNormal({ seed: 1 }),
      }),
      tf.layers.dense({
        units: 10,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
      }),
    ],
  });
}

function makeOptimizer(key: Key, s: Settings): NamedStateOptimizer {
  const options = { beta1: s.beta1, ...(s.beta2 === null ? {} : { beta2: s.beta2 }), stateDtype: s.stateDtype };
  if (key === 'adopt') return adopt(s.lr, options);
  if (key === 'adam') return adam(s.lr, options);
  if (key === 'adamw') return adamw(s.lr, options);
  // float32 only (the form says so)
  return amsgrad(s.lr, { beta1: s.beta1, ...(s.beta2 === null ? {} : { beta2: s.beta2 }) });
}

function bytesText(bytes: number, params: number): string {
  const size = bytes >= 1e6 ? `${(bytes / 1e6).toFixed(2)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
  return `${size} (${(bytes / params).toFixed(2)} B/param)`;
}

export function startMnist(): void {
  const lossChart = new LiveChart($('mnist-loss-chart'), {
    x: 'step',
    y: 'training loss (mean of the last 25 steps, log scale)',
    logY: true,
  });
  const accChart = new LiveChart($('mnist-acc-chart'), { x: 'step', y: 'test accuracy' });
  let data: Data | null = null;
  let runners: Runner[] = [];
  let running = false;
  let step = 0;
  /** Seconds the page has spent training (pauses excluded), for the whole page's steps per second. */
  let activeSeconds = 0;
  let order: Int32Array = new Int32Array(0);
  let random = 1;

  const nextRandom = (): number => {
    random = (random * 1103515245 + 12345) >>> 0;
    return random / 4294967296;
  };

  function settings(): Settings {
    const keys = [...document.querySelectorAll<HTMLInputElement>('input[name=mnist-optimizer]:checked')].map(
      (i) => i.value as Key,
    );
    const beta2 = $<HTMLInputElement>('mnist-beta2').value.trim();
    return {
      keys,
      beta1: Number($<HTMLInputElement>('mnist-beta1').value),
      beta2: beta2 === '' ? null : Number(beta2),
      lr: Number($<HTMLInputElement>('mnist-lr').value),
      stateDtype: $<HTMLSelectElement>('mnist-dtype').value as Settings['stateDtype'],
    };
  }

  let choosing: Promise<void> = Promise.resolve();
  /**
   * One backend choice at a time. tfjs abandons a backend's pending initialisation when another one starts (its
   * setBackend then resolves false): choosing wasm and pressing Start at once started two and failed one of them.
   */
  function chooseBackend(): Promise<void> {
    const next = choosing.catch(() => undefined).then(chooseBackendNow);
    choosing = next;
    return next;
  }

  async function chooseBackendNow(): Promise<void> {
    const wanted = $<HTMLSelectElement>('mnist-backend').value;
    const missing: string[] = [];
    if (wanted === 'auto') {
      for (const name of ['webgpu', 'webgl', 'wasm', 'cpu']) {
        let ok = false;
        try {
          ok = await tf.setBackend(name);
        } catch {
          /* try the next one */
        }
        if (ok) break;
        missing.push(name);
      }
    } else if (!(await tf.setBackend(wanted))) {
      throw new Error(`the ${wanted} backend is not available in this browser`);
    }
    await tf.ready();
    const backend = tf.getBackend();
    $('mnist-active-backend').textContent = backend;
    $('mnist-fallback').textContent = missing.length
      ? `${missing.join(' and ')} not available here: fell back to ${backend}.`
      : '';
    // low-bit state: where the backend keeps it, else a clear note and float32
    const lowBit = LOW_BIT_BACKENDS.includes(backend);
    const dtype = $<HTMLSelectElement>('mnist-dtype');
    for (const value of ['int8', 'int4'])
      dtype.querySelector<HTMLOptionElement>(`option[value=${value}]`)!.disabled = !lowBit;
    if (!lowBit && dtype.value !== 'float32') dtype.value = 'float32';
    $('mnist-dtype-note').textContent = lowBit
      ? '8-bit / 4-bit state: ADOPT, Adam and AdamW keep m and √v as block-wise codes (AMSGrad stays float32).'
      : `8-bit and 4-bit state run on the wasm, cpu and webgpu backends; on ${backend} adopt-optim refuses it, so ` +
        'the runs here use float32 state.';
  }

  function table(rs: Runner[]): void {
    $('mnist-runs').replaceChildren(
      ...rs.map((r) => {
        const tr = document.createElement('tr');
        tr.id = `mnist-row-${r.key}`;
        const th = document.createElement('th');
        th.scope = 'row';
        th.textContent = r.name;
        const labels: Record<string, string> = {
          loss: 'Training loss',
          acc: 'Test accuracy',
          state: 'State',
          path: 'Path',
          sps: 'Steps/s (own training time)',
          bytes: 'Optimizer state memory',
        };
        tr.append(
          th,
          ...['loss', 'acc', 'state', 'path', 'sps', 'bytes'].map((c) => {
            const td = document.createElement('td');
            td.id = `mnist-${c}-${r.key}`;
            td.dataset['label'] = labels[c]!; // shown beside the value where the table is stacked (narrow screens)
            td.textContent = c === 'state' ? 'ready' : '–';
            return td;
          }),
        );
        return tr;
      }),
    );
  }

  async function reset(): Promise<void> {
    running = false;
    for (const r of runners) r.model.dispose();
    runners = [];
    step = 0;
    activeSeconds = 0;
    random = 1;
    $('mnist-steps').textContent = '0';
    $('mnist-sps').textContent = '–';
    delete $('mnist-sps').dataset['value'];
    $('mnist-sps-note').textContent = SPS_NOTE;
    explain();
    table([]);
    $('mnist-verdict').textContent = '';
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

  /** Runs that diverged in this step: their last loss and accuracy are drawn, so the line shows where it went. */
  let justDiverged: Runner[] = [];

  function diverge(r: Runner, why: string): void {
    justDiverged.push(r);
    r.diverged = `diverged at step ${step}`;
    const cell = $(`mnist-state-${r.key}`);
    cell.textContent = `${r.diverged}: ${why}`;
    cell.dataset['diverged'] = String(step);
    cell.className = 'bad';
    lossChart.note(r.name, `${r.diverged} (its line ends there)`);
    accChart.note(r.name, `${r.diverged} (its line ends there)`);
    verdict();
  }

  function verdict(): void {
    const done = runners.filter((r) => r.diverged !== null).map((r) => `${r.name} ${r.diverged}`);
    const alive = runners.filter((r) => r.diverged === null).map((r) => r.name);
    $('mnist-verdict').textContent =
      done.length === 0
        ? ''
        : `${done.join('; ')} — its training loss rose above twice that of guessing uniformly (2 ln 10 ≈ 4.6) or ` +
          `became non-finite, so it was stopped. ${alive.length ? `${alive.join(', ')} kept training.` : ''}`;
  }

  /** A run's loss and accuracy cells: the values its chart lines end at (a diverged run's say so). */
  function showReadings(r: Runner, loss: number, acc: number, when = ''): void {
    const suffix = when ? ` (${when})` : '';
    $(`mnist-loss-${r.key}`).textContent = (Number.isFinite(loss) ? loss.toFixed(4) : 'not finite') + suffix;
    $(`mnist-loss-${r.key}`).dataset['value'] = String(loss);
    $(`mnist-acc-${r.key}`).textContent = `${(100 * acc).toFixed(1)} %${suffix}`;
    $(`mnist-acc-${r.key}`).dataset['value'] = String(acc);
  }

  /**
   * The whole page's steps per second beside the rate its training steps alone would allow (each optimizer's
   * own time per step, summed over those still training), so the table's faster per-optimizer rates add up.
   */
  function showSpeed(): void {
    const page = step / activeSeconds;
    const alive = runners.filter((r) => r.diverged === null && r.steps > 0);
    const trainingOnly = 1 / alive.reduce((sum, r) => sum + r.seconds / r.steps, 0);
    $('mnist-sps').textContent = page.toFixed(1);
    $('mnist-sps').dataset['value'] = String(page);
    const note = $('mnist-sps-note');
    note.dataset['trainingOnly'] = String(trainingOnly);
    note.textContent =
      `${SPS_NOTE} Their training steps alone, one after another, would run at ` +
      `${trainingOnly.toFixed(1)} steps/s; the page reaches ${page.toFixed(1)}: the rest of its time goes to ` +
      'evaluation, drawing and the browser.';
  }

  /** The note under the controls: what to expect with these settings. */
  function explain(): void {
    const s = settings();
    let text =
      s.beta2 === 0.5 && s.lr === 0.003 && s.beta1 === 0.9
        ? PRESET_NOTE
        : s.beta2 === null
          ? 'Each optimizer runs with its own default β2 (ADOPT 0.9999, the others 0.999).'
          : `Each optimizer runs with β2 = ${s.beta2} (their defaults: ADOPT 0.9999, the others 0.999).`;
    if (s.beta2 !== null && s.beta2 <= 0.5 && s.stateDtype !== 'float32') {
      text +=
        ` With ${s.stateDtype === 'int8' ? '8-bit' : '4-bit'} state Adam did not diverge at β2 = 0.5 in our ` +
        'tries (it reached about 90% after 600–775 steps): the preset and its expectation are for float32 state.';
    }
    $('mnist-explain').textContent = text;
  }

  async function train(): Promise<void> {
    if (!data) return;
    const d = data;
    if (runners.length === 0) {
      await chooseBackend();
      const s = settings();
      if (s.keys.length === 0) throw new Error('choose at least one optimizer');
      runners = s.keys.map((key) => {
        const model = makeModel();
        const optimizer = makeOptimizer(key, s); // a bad β or learning rate throws here, naming it
        model.compile({ optimizer, loss: 'categoricalCrossentropy' });
        return { key, name: NAMES[key], model, optimizer, losses: [], diverged: null, seconds: 0, steps: 0 };
      });
      table(runners);
    }
    running = true;
    $<HTMLButtonElement>('mnist-start').disabled = true;
    $<HTMLButtonElement>('mnist-pause').disabled = false;
    $('mnist-status').textContent = `Training on ${tf.getBackend()}…`;
    const params = runners[0]!.model.countParams();
    let lastYield = performance.now();
    while (running && runners.some((r) => r.diverged === null)) {
      if (step % Math.floor(d.train / BATCH) === 0) {
        order = Int32Array.from({ length: d.train }, (_, i) => i);
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(nextRandom() * (i + 1));
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
      }
      const stepStarted = performance.now();
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
      step++;
      for (const r of runners) {
        if (r.diverged !== null) continue;
        const t0 = performance.now();
        let loss: number;
        try {
          loss = (await r.model.trainOnBatch(x, y)) as number;
        } catch (e) {
          diverge(r, `the optimizer refused a step (${(e as Error).message.split(';')[0]})`);
          continue;
        }
        r.seconds += (performance.now() - t0) / 1000;
        r.steps++;
        r.losses.push(loss);
        const recent = r.losses.slice(-DIVERGE_WINDOW);
        const mean = recent.reduce((a, b) => a + b, 0) / recent.length;
        if (!Number.isFinite(loss)) diverge(r, `the loss became ${loss}`);
        else if (recent.length === DIVERGE_WINDOW && mean > DIVERGE_LOSS)
          diverge(r, `mean loss ${mean.toFixed(1)} over the last ${DIVERGE_WINDOW} steps`);
      }
      tf.dispose([x, y]);
      if (justDiverged.length) {
        // the row and the charts end at the same readings: the mean loss of its last steps and a fresh evaluation
        const last = justDiverged.map((r) => {
          const recent = r.losses.slice(-EVAL_EVERY);
          return { r, loss: recent.reduce((a, b) => a + b, 0) / recent.length, acc: evaluate(r.model, d) };
        });
        justDiverged = [];
        for (const e of last) showReadings(e.r, e.loss, e.acc, `last, at step ${step}`);
        const finite = last.filter((e) => Number.isFinite(e.loss));
        await lossChart.add(finite.map((e) => ({ x: step, y: e.loss, series: e.r.name })));
        await accChart.add(last.map((e) => ({ x: step, y: e.acc, series: e.r.name })));
      }
      $('mnist-steps').textContent = String(step);
      if (step % EVAL_EVERY === 0) {
        const lossPoints: Point[] = [];
        const accPoints: Point[] = [];
        for (const r of runners) {
          if (r.diverged !== null) continue; // drawn up to its last evaluation before it diverged
          const recent = r.losses.slice(-EVAL_EVERY);
          const loss = recent.reduce((a, b) => a + b, 0) / recent.length;
          const acc = evaluate(r.model, d);
          showReadings(r, loss, acc);
          $(`mnist-state-${r.key}`).textContent = 'training';
          $(`mnist-path-${r.key}`).textContent = r.optimizer.lastStepPaths.map((p) => PATHS[p]).join(' + ');
          $(`mnist-path-${r.key}`).dataset['paths'] = r.optimizer.lastStepPaths.join(',');
          $(`mnist-sps-${r.key}`).textContent = (r.steps / r.seconds).toFixed(1);
          $(`mnist-sps-${r.key}`).dataset['value'] = String(r.steps / r.seconds);
          $(`mnist-bytes-${r.key}`).textContent = bytesText(r.optimizer.stateBytes, params);
          $(`mnist-bytes-${r.key}`).dataset['value'] = String(r.optimizer.stateBytes);
          lossPoints.push({ x: step, y: loss, series: r.name });
          accPoints.push({ x: step, y: acc, series: r.name });
        }
        if (lossPoints.length) {
          await lossChart.add(lossPoints);
          await accChart.add(accPoints);
        }
      }
      if (performance.now() - lastYield > YIELD_MS) {
        // keep the page responsive, without waiting a frame every step
        await tf.nextFrame();
        lastYield = performance.now();
      }
      activeSeconds += (performance.now() - stepStarted) / 1000;
      if (step % EVAL_EVERY === 0) showSpeed();
    }
    if (running) {
      running = false;
      $<HTMLButtonElement>('mnist-pause').disabled = true;
      $('mnist-status').textContent = `Every run has diverged or stopped (step ${step}). Reset to start again.`;
    }
  }

  $('mnist-start').addEventListener('click', () => {
    train().catch((e: Error) => {
      running = false;
      $<HTMLButtonElement>('mnist-start').disabled = false;
      $<HTMLButtonElement>('mnist-pause').disabled = true;
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
  $('mnist-backend').addEventListener('change', () => void reset().then(chooseBackend));
  for (const id of ['mnist-beta1', 'mnist-beta2', 'mnist-lr', 'mnist-dtype'])
    $(id).addEventListener('change', () => void reset());
  for (const box of document.querySelectorAll('input[name=mnist-optimizer]'))
    box.addEventListener('change', () => void reset());
  $('mnist-preset-beta2').addEventListener('click', () => {
    for (const box of document.querySelectorAll<HTMLInputElement>('input[name=mnist-optimizer]'))
      box.checked = box.value === 'adopt' || box.value === 'adam';
    $<HTMLInputElement>('mnist-beta1').value = '0.9';
    $<HTMLInputElement>('mnist-beta2').value = '0.5';
    $<HTMLInputElement>('mnist-lr').value = '0.003';
    // float32 state: with 8-bit or 4-bit state Adam does not diverge here, and the preset would contradict itself
    $<HTMLSelectElement>('mnist-dtype').value = 'float32';
    void reset().then(() => {
      $('mnist-status').textContent = 'Preset β2 = 0.5 for both, float32 state: press Start.';
    });
  });

  loadData()
    .then(async (d) => {
      data = d;
      await reset();
      await chooseBackend();
      $('mnist-status').textContent =
        `Ready: ${d.train.toLocaleString('en')} training and ${d.test.toLocaleString('en')} test images.`;
      document.body.dataset['ready'] = 'true';
    })
    .catch((e: Error) => {
      $('mnist-status').textContent = `Could not load the MNIST subset: ${e.message}`;
    });
}
