/**
 * A child process of `--jobs N`: takes units from its parent one at a time, runs each with its own
 * TensorFlow.js and saves its record (src/runs.ts), then says so.
 */
import { useBackend } from './common.js';
import { executeUnit, resultsFolder, type WorkerTask } from './runs.js';
import { UNIT_EXPERIMENTS } from './units.js';

let backend: string | undefined;

// the parent is gone (killed without passing a signal on): stop, rather than run and write on alone
process.on('disconnect', () => process.exit(1));

process.on('message', (m: WorkerTask | 'exit') => {
  if (m === 'exit') {
    process.exit(0);
  }
  void (async () => {
    try {
      if (backend !== m.backend) {
        await useBackend(m.backend);
        backend = m.backend;
      }
      const exp = UNIT_EXPERIMENTS[m.experiment as keyof typeof UNIT_EXPERIMENTS];
      const folder = resultsFolder(exp, m.options);
      await executeUnit(exp, folder, exp.resolve(m.options, m.quick), m.unit, m.outDir);
      process.send!({ done: m.unit.id });
    } catch (e) {
      process.send!({ error: (e as Error).stack ?? String(e) });
    }
  })();
});
