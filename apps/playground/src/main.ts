// The playground's page: the tabs and the convex counterexample (the MNIST view is ./mnist.ts).
import { startMnist } from './mnist';
import type { ToyOptimizer } from 'adopt-lab/toy';
import { LiveChart, type Point } from './chart';
import type { ToyMessage, ToyRequest } from './toy.worker';
import { outcomeClass, outcomeText, toyOutcome, warmUpText } from './toy_outcome';

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
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft')
      select(tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length]!);
  });
});

// ---- the convex counterexample ----
const TOY_LABELS: Record<ToyOptimizer, string> = {
  adam: 'Adam',
  amsgrad: 'AMSGrad',
  adopt: 'ADOPT',
  'adopt-unclipped': 'ADOPT (unclipped)',
};
const toyChart = new LiveChart($('toy-chart'), {
  x: 'step t',
  y: 'theta (median, quartile band)',
  logX: true,
  band: true,
  yDomain: [-1, 1],
});
let worker: Worker | null = null;
const showWarmUp = () => {
  $('toy-warmup').textContent = warmUpText(Number($<HTMLSelectElement>('toy-k').value));
};
$('toy-k').addEventListener('change', showWarmUp);
showWarmUp();

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
    k: Number(form.get('k')),
    beta1: Number(form.get('beta1')),
    beta2: Number(form.get('beta2')),
    steps: Number(form.get('steps')),
    chains: Number(form.get('chains')),
    optimizers: form.getAll('optimizer') as ToyOptimizer[],
    seed: 1,
  };
  if (request.optimizers.length === 0) {
    $('toy-status').textContent = 'Choose at least one optimizer.';
    return;
  }
  stopToy('Running…');
  $<HTMLButtonElement>('toy-run').disabled = true;
  $<HTMLButtonElement>('toy-stop').disabled = false;
  $('toy-results').replaceChildren();
  await toyChart.clear(request.steps);
  const points: Point[] = [];
  worker = new Worker(new URL('./toy.worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = async (e: MessageEvent<ToyMessage>) => {
    const m = e.data;
    if (m.type === 'points') {
      for (const p of m.points)
        if (p.t > 0) points.push({ x: p.t, y: p.median, lower: p.q1, upper: p.q3, series: TOY_LABELS[m.optimizer] });
      await toyChart.set(points);
      $('toy-status').textContent =
        `Running ${TOY_LABELS[m.optimizer]}: step ${m.points.at(-1)!.t.toLocaleString('en')} of ` +
        `${request.steps.toLocaleString('en')}…`;
    } else if (m.type === 'done') {
      const track = points.filter((p) => p.series === TOY_LABELS[m.optimizer]).map((p) => ({ t: p.x, median: p.y }));
      track.push({ t: request.steps, median: m.median });
      const outcome = toyOutcome(m.optimizer, request.k, request.steps, track);
      const li = document.createElement('li');
      li.id = `toy-result-${m.optimizer}`;
      li.dataset['median'] = String(m.median);
      li.dataset['outcome'] = outcome;
      li.className = outcomeClass(outcome);
      li.textContent =
        `${TOY_LABELS[m.optimizer]}: median theta ${m.median.toFixed(3)} after ` +
        `${request.steps.toLocaleString('en')} steps — ${outcomeText(outcome, request.k)} (${m.seconds.toFixed(1)} s)`;
      $('toy-results').append(li);
    } else {
      stopToy(`Done: k = ${request.k}, beta2 = ${request.beta2}, ${request.chains} chains.`);
    }
  };
  worker.postMessage(request);
});
$('toy-stop').addEventListener('click', () => stopToy('Stopped.'));

// ---- MNIST ----
startMnist();
