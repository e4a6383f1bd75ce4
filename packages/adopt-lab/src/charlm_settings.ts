/**
 * The settings of the character language-model experiments (./charlm.ts): the options a command line gives, the
 * resolved settings a run is hashed by (quick and full sizes), and the shared pretraining.
 */

/** What a command line may set (anything left out takes the quick or the full default). */
export interface CharLmOptions {
  steps?: number;
  finetuneSteps?: number;
  width?: number;
  layers?: number;
  heads?: number;
  context?: number;
  batchSize?: number;
  learningRate?: number;
  warmup?: number;
  schedule?: 'constant' | 'cosine';
  /** 'three': the held-out tail is halved into validation (curves, rate selection) and test (reported). */
  split?: 'two' | 'three';
  /** 'shared': every optimizer finetunes from one pretrained model per seed (pretrained by Adam at 1e-3). */
  finetuneFrom?: 'own' | 'shared';
}

/** The resolved settings, as a run's hash sees them. */
export interface CharLmBase extends Record<string, unknown> {
  steps: number;
  /** 0: no finetuning phase. */
  finetuneSteps: number;
  context: number;
  batchSize: number;
  width: number;
  layers: number;
  heads: number;
  learningRate: number;
  /** 'constant', or 'cosine': linear warm-up for `warmup` steps, then cosine decay to 0.1 x the rate. */
  schedule: 'constant' | 'cosine';
  warmup: number;
  /** Finetuning rate as a fraction of the pretraining rate (default 0.3: 3e-4 after 1e-3). */
  finetuneRatio: number;
  evalEvery: number;
  evalWindows: number;
  /** The final losses are taken over the whole held-out text (fullLoss), not over evalWindows windows. */
  finalEvaluation: 'whole held-out tail';
  /** Present only when not the default ('two'), so that saved runs keep their hash. */
  split?: 'three';
  /** Present only when not the default ('own'). */
  finetuneFrom?: 'shared';
  /** 'halved': split 'three' with finetuning halves the State of the Union tail too (validation, test). */
  finetuneSplit?: 'halved';
}

/** The optimizer and rate of the shared pretraining (finetuneFrom 'shared'): the baseline everyone starts from. */
export const SHARED_PRETRAINING = { optimizer: 'adam', learningRate: 1e-3 } as const;

/** The settings of `o` with every default filled in: the quick sizes when `q`, else the full ones. */
export function resolveCharLm(o: CharLmOptions, q: boolean): CharLmBase {
  const steps = o.steps ?? (q ? 20 : 1200);
  return {
    steps,
    finetuneSteps: o.finetuneSteps ?? (q ? 10 : 300),
    context: o.context ?? (q ? 16 : 32),
    batchSize: o.batchSize ?? (q ? 8 : 32),
    width: o.width ?? (q ? 32 : 64),
    layers: o.layers ?? (q ? 1 : 2),
    heads: o.heads ?? (q ? 2 : 4),
    learningRate: o.learningRate ?? 1e-3,
    schedule: o.schedule ?? 'constant',
    warmup: o.warmup ?? 0,
    finetuneRatio: 0.3,
    evalEvery: Math.max(1, Math.floor(steps / (q ? 2 : 15))),
    evalWindows: q ? 16 : 64,
    finalEvaluation: 'whole held-out tail',
    ...(o.split === 'three' ? { split: 'three' as const } : {}),
    // the State of the Union tail halved too (before, a three-way split left it whole): a key of its own, so that
    // runs saved before keep a hash of their own and are never mixed with these
    ...(o.split === 'three' && (o.finetuneSteps ?? (q ? 10 : 300)) > 0 ? { finetuneSplit: 'halved' as const } : {}),
    ...(o.finetuneFrom === 'shared' ? { finetuneFrom: 'shared' as const } : {}),
  };
}
