/**
 * Language-model pretraining and finetuning, the paper's GPT-2 experiments at the scale of two CPU
 * cores: a small GPT-style decoder (causal self-attention, written with tfjs ops) trained on the
 * characters of Moby Dick with a held-out tail for validation; then, from the pretrained
 * checkpoint, finetuned on State of the Union addresses (a different corpus), with validation loss
 * on that corpus before and after.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { cosineDecay } from 'adopt-optim';
import { readCheckpoint, type TensorValues } from 'adopt-optim/train';
import { Trainer } from 'adopt-optim/train';
import { loadMobyDick, loadStateOfTheUnion, splitTail, Vocabulary } from './data/text.js';
import { LABELS, packageVersion, Random, trainerOptimizer, type LabOptimizer } from './common.js';
import {
  countSpikes,
  fullLoss,
  gptParameters,
  SPIKE_RULE,
  type TextWindow,
  validationLoss,
  windows,
} from './charlm_metrics.js';
import { lineChart } from './plot.js';
import { once } from './once.js';
import type { Row, UnitExperiment } from './runs.js';
import { Gpt, type GptConfig } from './gpt.js';
import { resolveCharLm, SHARED_PRETRAINING, type CharLmBase, type CharLmOptions } from './charlm_settings.js';
import {
  bandText,
  figureRecords,
  meanCurves,
  seedCount,
  standardTables,
  type SummarySpec,
  curveRows,
} from './summary.js';

export { countSpikes, fullLoss, gptParameters, SPIKE_RULE } from './charlm_metrics.js';

export {
  resolveCharLm,
  SHARED_PRETRAINING,
  type CharLmBase,
  type CharLmOptions,
} from './charlm_settings.js';

let corpora:
  | {
      pre: { train: Int32Array; validation: Int32Array };
      fine: { train: Int32Array; validation: Int32Array };
      vocab: number;
    }
  | undefined;

function loadCorpora() {
  if (!corpora) {
    const moby = loadMobyDick();
    const sotu = loadStateOfTheUnion();
    const vocab = new Vocabulary([moby, sotu], 20);
    corpora = { pre: splitTail(vocab.encode(moby), 0.1), fine: splitTail(vocab.encode(sotu), 0.1), vocab: vocab.size };
  }
  return corpora;
}

/** Moby Dick's held-out tail as validation and (split 'three') a separate test half. */
function heldOut(b: CharLmBase, validation: Int32Array): { validation: Int32Array; test: Int32Array } {
  if (b.split !== 'three') return { validation, test: validation };
  const half = Math.floor(validation.length / 2);
  return { validation: validation.subarray(0, half), test: validation.subarray(half) };
}

export const charlmUnits: UnitExperiment<CharLmBase> = {
  folder: () => 'charlm',
  ownBeta2: true,
  resolve: (o, q) => resolveCharLm(o as CharLmOptions, q),
  async run(b, unit, env) {
    const { pre: corpus, fine, vocab } = loadCorpora();
    const held = heldOut(b, corpus.validation);
    const pre = { train: corpus.train, validation: held.validation };
    const fineHeld =
      b.finetuneSplit === 'halved'
        ? heldOut(b, fine.validation)
        : { validation: fine.validation, test: fine.validation };
    const T = b.context;
    const shared = b.finetuneFrom === 'shared';
    const config: GptConfig = { vocab, width: b.width, layers: b.layers, heads: b.heads, context: T };
    const { optimizer, seed } = unit;
    const lr = unit.setting.learningRate;
    const curves: Row[] = [];
    const extra = unit.setting.beta2 === 'own' ? {} : { beta2: unit.setting.beta2 };
    const run = (
      model: Gpt,
      ids: Int32Array,
      total: number,
      rate: number,
      dataSeed: number,
      phase: string,
      offset: number,
      by: LabOptimizer = optimizer,
      byOptions = extra,
    ) =>
      new Trainer<TextWindow>({
        model: model.variables,
        loss: (w) => model.loss(w.x, w.y),
        data: (epoch) => {
          const random = new Random(dataSeed * 1_000_003 + epoch);
          return Array.from({ length: b.evalEvery }, () => windows(ids, b.batchSize, T, random));
        },
        ...trainerOptimizer(by, byOptions),
        learningRate:
          b.schedule === 'cosine'
            ? cosineDecay({
                peak: rate,
                totalSteps: total,
                warmupSteps: Math.min(b.warmup, total - 1),
                final: rate / 10,
              })
            : rate,
        clipGradNorm: 1,
        steps: total,
        seed,
        progress: false,
        evaluate: {
          every: b.evalEvery,
          run: (step) => {
            const validation = validationLoss(
              model,
              phase === 'pretrain' ? pre.validation : fineHeld.validation,
              b.evalWindows,
              T,
            );
            curves.push({ phase, step: offset + step, validationLoss: validation });
            return { validationLoss: validation };
          },
        },
      });
    // the pretraining phase: its curves, its final measures, and (when there is finetuning) its checkpoint
    const pretrainPhase = async (
      by: LabOptimizer,
      byOptions: typeof extra,
      rate: number,
      checkpoint: string | undefined,
    ) => {
      const pretrained = new Gpt(config, seed);
      const trainer = run(pretrained, pre.train, b.steps, rate, seed, 'pretrain', 0, by, byOptions);
      await trainer.fit();
      const phaseCurves: Row[] = curves.splice(0);
      for (const l of trainer.losses) phaseCurves.push({ phase: 'pretrain', step: l.step + 1, trainLoss: l.loss });
      const pretrainValidation = fullLoss(pretrained, pre.validation, T);
      const testLoss: Record<string, number> =
        b.split === 'three' ? { pretrainTest: fullLoss(pretrained, held.test, T) } : {};
      const trainLosses = trainer.losses.map((l) => l.loss);
      const { spikes, maxRatio } = countSpikes(trainLosses);
      const tail = trainLosses.slice(Math.floor(trainLosses.length * 0.95));
      const final: Record<string, number> = {
        pretrainValidation,
        ...testLoss,
        spikes,
        maxSpikeRatio: maxRatio,
        finalTrainLoss: tail.reduce((x, y) => x + y, 0) / tail.length,
      };
      if (checkpoint !== undefined) await trainer.save(checkpoint);
      trainer.optimizers.forEach((o) => o.dispose());
      pretrained.dispose();
      return { curves: phaseCurves, final };
    };
    // shared: the same pretraining (Adam at 1e-3, this seed) in every optimizer's run, bit for bit, so
    // that the finetuning comparison starts from one model and measures finetuning alone; done once per
    // seed and kept in the experiment's cache (a sweep over finetuning rates would repeat it otherwise)
    // The cache key holds everything the pretraining depends on: the settings, the seed, the shared optimizer and
    // rate (never the unit's options: Adam's own β2 and ε), the backend and the versions of the code.
    let pretraining: { curves: Row[]; final: Record<string, number> };
    let model: TensorValues[];
    const pretrainedModel = async (dir: string) => (await readCheckpoint(dir, { onWarning: () => {} })).values('model');
    if (shared) {
      const key = createHash('sha256')
        .update(
          JSON.stringify({
            b,
            seed,
            SHARED_PRETRAINING,
            backend: tf.getBackend(),
            versions: [packageVersion('adopt-lab'), packageVersion('adopt-optim')],
          }),
        )
        .digest('hex')
        .slice(0, 16);
      ({ pretraining, model } = await once(
        env.cacheDir,
        `pretrained-seed${seed}-${key}`,
        async (building) => {
          const made = await pretrainPhase(
            SHARED_PRETRAINING.optimizer,
            {},
            SHARED_PRETRAINING.learningRate,
            join(building, 'checkpoint'),
          );
          writeFileSync(join(building, 'pretraining.json'), JSON.stringify(made));
        },
        async (cached) => ({
          pretraining: JSON.parse(readFileSync(join(cached, 'pretraining.json'), 'utf8')) as typeof pretraining,
          model: await pretrainedModel(join(cached, 'checkpoint')), // verified (checksums): a broken cache is rebuilt
        }),
      ));
    } else {
      const dir = join(env.scratchDir, 'checkpoint');
      rmSync(dir, { recursive: true, force: true });
      pretraining = await pretrainPhase(optimizer, extra, lr, b.finetuneSteps === 0 ? undefined : dir);
      model = b.finetuneSteps === 0 ? [] : await pretrainedModel(dir);
      rmSync(env.scratchDir, { recursive: true, force: true });
    }
    curves.push(...pretraining.curves);
    const pretrainFinal = pretraining.final;
    if (b.finetuneSteps === 0) return { curves, final: pretrainFinal };

    // finetuning starts from the pretrained checkpoint, in a fresh model with fresh optimizer state
    const tuned = new Gpt(config, seed + 1);
    model.forEach((w, i) => tf.tidy(() => tuned.variables[i]!.assign(tf.tensor(w.values, w.shape, w.dtype))));
    const before = fullLoss(tuned, fineHeld.validation, T);
    curves.push({ phase: 'finetune', step: b.steps, validationLoss: before });
    const finetuning = run(tuned, fine.train, b.finetuneSteps, lr * b.finetuneRatio, seed + 17, 'finetune', b.steps);
    await finetuning.fit();
    const after = fullLoss(tuned, fineHeld.validation, T);
    const fineTest: Record<string, number> =
      b.finetuneSplit === 'halved' ? { finetuneTest: fullLoss(tuned, fineHeld.test, T) } : {};
    finetuning.optimizers.forEach((o) => o.dispose());
    tuned.dispose();
    return { curves, final: { ...pretrainFinal, finetuneBefore: before, finetuneAfter: after, ...fineTest } };
  },
  async summarize(b, records) {
    const bits = 1 / Math.LN2;
    const shared = b.finetuneFrom === 'shared';
    const spec: SummarySpec = {
      metrics: [
        // shared pretraining: the same model for every optimizer, nothing to compare before finetuning
        {
          key: 'pretrainValidation',
          label: 'pretrain validation (bits/char)',
          digits: 3,
          scale: bits,
          lowerIsBetter: true,
          compare: b.split !== 'three' && !shared,
          margin: 0.02,
        },
        ...(b.split === 'three'
          ? [
              {
                key: 'pretrainTest',
                label: 'pretrain test (bits/char, second half of the held-out tail)',
                digits: 3,
                scale: bits,
                lowerIsBetter: true,
                compare: !shared,
                margin: 0.02,
              },
            ]
          : []),
        {
          key: 'finalTrainLoss',
          label: 'final training loss (bits/char, last 5% of steps)',
          digits: 3,
          scale: bits,
          lowerIsBetter: true,
        },
        {
          key: 'spikes',
          label: `loss spikes (> ${SPIKE_RULE.ratio} x median of previous ${SPIKE_RULE.window} steps)`,
          digits: 1,
          lowerIsBetter: true,
          compare: true,
        },
        { key: 'maxSpikeRatio', label: 'largest loss / running median', digits: 2, lowerIsBetter: true },
        ...(b.finetuneSteps > 0
          ? [
              {
                key: 'finetuneBefore',
                label: 'finetune validation before',
                digits: 3,
                scale: bits,
                lowerIsBetter: true,
              },
              {
                key: 'finetuneAfter',
                label: 'finetune validation after',
                digits: 3,
                scale: bits,
                lowerIsBetter: true,
                compare: b.finetuneSplit !== 'halved',
              },
              ...(b.finetuneSplit === 'halved'
                ? [
                    {
                      key: 'finetuneTest',
                      label: 'finetune test after (bits/char, second half of the held-out tail)',
                      digits: 3,
                      scale: bits,
                      lowerIsBetter: true,
                      compare: true,
                      margin: 0.02,
                    },
                  ]
                : []),
            ]
          : []),
      ],
      defaultLr: b.learningRate,
      // shared pretraining: the rate is the finetuning rate (x finetuneRatio), chosen on finetuning
      select: shared
        ? b.finetuneSplit === 'halved'
          ? {
              key: 'finetuneAfter',
              lowerIsBetter: true,
              on:
                'the finetuning validation loss on the first half of the State of the Union held-out tail (the ' +
                'test loss reported is the second half)',
            }
          : {
              key: 'finetuneAfter',
              lowerIsBetter: true,
              on:
                'the finetuning validation loss (the held-out tail of the State of the Union text; no separate ' +
                'test text, so a chosen rate is selected on the set it reports)',
            }
        : b.split === 'three'
          ? {
              key: 'pretrainValidation',
              lowerIsBetter: true,
              on:
                "the pretraining validation loss on the first half of Moby Dick's held-out tail (the test loss " +
                'reported is the second half)',
            }
          : {
              key: 'pretrainValidation',
              lowerIsBetter: true,
              on:
                'the pretraining validation loss (the held-out tail of Moby Dick; there is no separate test text, ' +
                'so the chosen rate is selected on the set it reports)',
            },
    };
    const t = standardTables(records, spec);
    const shown = figureRecords(records, spec, t.selection);
    const band = bandText(seedCount(records));
    const every = Math.max(1, Math.floor(b.steps / 100));
    const trainShown = shown.map((r) => ({
      ...r,
      curves: r.curves.filter((c) => c['trainLoss'] !== undefined && (c['step'] as number) % every === 0),
    }));
    const { vocab } = loadCorpora();
    return {
      name: 'charlm',
      title:
        b.finetuneSteps > 0
          ? 'Character-level language model: pretraining on Moby Dick, finetuning on State of the Union addresses'
          : 'Character-level language model: pretraining on Moby Dick',
      description:
        `GPT-style decoder (${b.layers} layer(s), ${b.heads} heads, width ${b.width}, context ${b.context}, ${vocab} ` +
        `characters, ${gptParameters(b, vocab).toLocaleString('en')} parameters) trained on Moby Dick for ${b.steps} ` +
        `steps (batch ${b.batchSize}, learning rate ` +
        (shared ? `${SHARED_PRETRAINING.learningRate} for every run` : t.selection.lrs.join(', ')) +
        (b.schedule === 'cosine' ? ` with ${b.warmup} warm-up steps and cosine decay to a tenth` : ', constant') +
        ', ' +
        'gradient clipping at norm 1); ' +
        (b.split === 'three'
          ? 'The held-out last 10% is halved: the first half is validation (the curves, and the choice of each ' +
            "optimizer's rate), the second is the test set the final loss is reported on (consecutive windows over " +
            'all of it). '
          : 'the final validation loss is taken over the whole held-out last 10% (consecutive windows; the curves ' +
            'use 64 fixed random windows). ') +
        (shared
          ? 'Every optimizer finetunes from the same pretrained model per seed (pretrained by ' +
            `${LABELS[SHARED_PRETRAINING.optimizer]} at ${SHARED_PRETRAINING.learningRate}), so the finetuning ` +
            'comparison measures finetuning alone. '
          : '') +
        `A loss spike is a step whose training loss exceeds ${SPIKE_RULE.ratio} x the median of the ` +
        `${SPIKE_RULE.window} steps before it (a run of such steps counts once). ` +
        (b.finetuneSteps > 0
          ? `Then finetuned from the pretrained checkpoint for ${b.finetuneSteps} steps (learning rate ` +
            `${b.finetuneRatio} x ` +
            (shared
              ? 'the rate in the tables, i.e. ' +
                `${t.selection.lrs.map((x) => Number((x * b.finetuneRatio).toPrecision(3))).join(', ')}, `
              : 'the pretraining rate, ') +
            'fresh optimizer state) on State of the Union addresses since 1990, with validation on ' +
            (b.finetuneSplit === 'halved'
              ? 'the first half of their last 10% and the test loss on the second'
              : 'the whole of their last 10%') +
            '. '
          : '') +
        'Losses in bits per character.',
      summary: t.summary,
      tables: [
        ...t.tables,
        {
          title:
            `Loss spikes of every run (a step whose training loss exceeds ${SPIKE_RULE.ratio} x the median of ` +
            `the ${SPIKE_RULE.window} steps before it; a run of such steps counts once)`,
          columns: ['optimizer', 'beta2', 'learning rate', 'seed', 'spikes', 'largest loss / running median'],
          rows: [...records]
            .sort(
              (a, b) =>
                a.optimizer.localeCompare(b.optimizer) ||
                String(a.setting.beta2).localeCompare(String(b.setting.beta2)) ||
                a.setting.learningRate - b.setting.learningRate ||
                a.seed - b.seed,
            )
            .map((r) => [
              LABELS[r.optimizer],
              String(r.setting.beta2),
              r.setting.learningRate,
              r.seed,
              r.final['spikes']!,
              r.final['maxSpikeRatio']!.toFixed(2),
            ]),
        },
      ],
      figures: [
        {
          file: 'pretrain-train-loss.svg',
          caption: `Pretraining loss on Moby Dick (training batches, every ${every} steps); ${band}.`,
          svg: await lineChart(meanCurves(trainShown, 'trainLoss', 'step', { scale: bits }), {
            title: 'Pretraining: training loss',
            subtitle: band,
            x: 'step',
            y: 'bits per character',
          }),
        },
        {
          file: 'pretrain-validation.svg',
          caption: `Pretraining: validation loss on the held-out tail of Moby Dick; ${band}.`,
          svg: await lineChart(
            meanCurves(shown, 'validationLoss', 'step', { scale: bits, filter: (c) => c['phase'] === 'pretrain' }),
            { title: 'Pretraining: validation loss', subtitle: band, x: 'step', y: 'bits per character', points: true },
          ),
        },
        ...(b.finetuneSteps === 0
          ? []
          : [
              {
                file: 'finetune-validation.svg',
                caption:
                  'Finetuning: validation loss on held-out State of the Union text, from the pretrained ' +
                  `checkpoint; ${band}.`,
                svg: await lineChart(
                  meanCurves(shown, 'validationLoss', 'step', {
                    scale: bits,
                    filter: (c) => c['phase'] === 'finetune',
                  }),
                  {
                    title: 'Finetuning: validation loss',
                    subtitle: band,
                    x: 'step',
                    y: 'bits per character',
                    points: true,
                  },
                ),
              },
            ]),
      ],
      curves: curveRows(records),
      notes: t.notes,
      meta: undefined as never,
    };
  },
};
