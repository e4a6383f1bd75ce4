/**
 * Errors and warnings that come early (issue 23): an unsaveable learning-rate or clip function is
 * reported when it is set, not only when saving fails; a saved model names the optimizer class a
 * loader must register, and registerOptimizers() registers it.
 */
import '../src/lowbit/index.js'; // the optional entry points, as a user imports them
import '../src/gpu/index.js';
import '../src/rules/index.js'; // adds the rule optimizer to registerOptimizers (as importing 'adopt-optim/rules' does)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { adam, adopt, cosineDecay, powerClip, registerOptimizers } from '../src/index.js';

function warnings(f: () => void): string[] {
  const seen: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => {
    seen.push(args.map(String).join(' '));
  };
  try {
    f();
  } finally {
    console.warn = original;
  }
  return seen;
}

describe('an unsaveable function is reported when it is set', () => {
  it('a custom learning-rate function: warned once, saying what to use; schedules and numbers are not', () => {
    assert.deepEqual(
      warnings(() => {
        adopt(cosineDecay({ peak: 0.01, totalSteps: 10 })).dispose();
        adam(0.01).dispose();
      }),
      [],
    );
    const first = warnings(() => adopt((t) => 0.01 / (1 + t)).dispose());
    assert.equal(first.length, 1);
    assert.match(
      first[0]!,
      /a custom learning-rate function cannot be saved with the optimizer .*use constant, linearWarmup, cosineDecay or stepDecay/,
    );
    assert.deepEqual(
      warnings(() => {
        const o = adam(0.01);
        o.learningRate = (t: number) => 0.01 * t;
        o.dispose();
      }),
      [],
      'once per process',
    );
    // it still refuses to save, as before
    const o = adopt((t) => 0.01 / (1 + t));
    assert.throws(() => o.getConfig(), /a custom learning-rate function cannot be saved/);
    o.dispose();
  });

  it('a custom clip function: warned once; powerClip and null are not', () => {
    assert.deepEqual(
      warnings(() => {
        adopt(0.01, { clip: powerClip(0.5) }).dispose();
        adopt(0.01, { clip: null }).dispose();
      }),
      [],
    );
    const first = warnings(() => adopt(0.01, { clip: (t) => Math.log(1 + t) }).dispose());
    assert.equal(first.length, 1);
    assert.match(first[0]!, /custom clip function cannot be saved .*use powerClip\(exponent\)/);
  });
});

describe('loading a model saved with its optimizer', () => {
  it("registerOptimizers() registers every class, into another tfjs-core's serialization too", () => {
    const into: string[] = [];
    const names = registerOptimizers({
      registerClass: (cls) => {
        into.push((cls as unknown as { className: string }).className);
      },
    });
    assert.deepEqual(names, [
      'adopt-optim/ADOPT',
      'adopt-optim/Adam',
      'adopt-optim/AdamW',
      'adopt-optim/AMSGrad',
      'adopt-optim/Rule',
    ]);
    assert.deepEqual(into, names);
    assert.deepEqual(registerOptimizers(), names);
  });

  it('a process that did not import adopt-optim cannot load it, and says which class is missing; one that did, can', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'adopt-register-'));
    try {
      await tf.setBackend('cpu');
      const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
      model.compile({ optimizer: adopt(0.01), loss: 'meanSquaredError' });
      await model.fit(tf.ones([4, 2]), tf.ones([4, 1]), { epochs: 1, verbose: 0 });
      const saved = await model.save(
        tf.io.withSaveHandler(async (a) => {
          const { writeFileSync } = await import('node:fs');
          writeFileSync(
            join(dir, 'model.json'),
            JSON.stringify({ ...a, weightData: Buffer.from(a.weightData as ArrayBuffer).toString('base64') }),
          );
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
        { includeOptimizer: true },
      );
      assert.ok(saved);
      const load = (withPackage: boolean) => `
        import * as tf from '@tensorflow/tfjs';
        ${withPackage ? `import '${fileURLToPath(new URL('../src/index.ts', import.meta.url))}';` : ''}
        import { readFileSync } from 'node:fs';
        await tf.setBackend('cpu');
        const a = JSON.parse(readFileSync(${JSON.stringify(join(dir, 'model.json'))}, 'utf8'));
        a.weightData = new Uint8Array(Buffer.from(a.weightData, 'base64')).buffer;
        try {
          const m = await tf.loadLayersModel(tf.io.fromMemory(a));
          console.log(JSON.stringify({ ok: m.optimizer.getClassName() }));
        } catch (e) {
          console.log(JSON.stringify({ error: e.message }));
        }`;
      const run = (withPackage: boolean) =>
        JSON.parse(
          execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', load(withPackage)], {
            encoding: 'utf8',
            cwd: fileURLToPath(new URL('..', import.meta.url)),
          })
            .trim()
            .split('\n')
            .pop()!,
        ) as { ok?: string; error?: string };
      const without = run(false);
      assert.match(without.error ?? '', /adopt-optim\/ADOPT/, JSON.stringify(without));
      assert.deepEqual(run(true), { ok: 'adopt-optim/ADOPT' });
      model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
