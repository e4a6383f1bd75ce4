// Records test/fixtures/trajectories-v0.2.json (see test/trajectories.ts). Run once, on the code whose
// behaviour is to be kept: `node --import tsx scripts/record-trajectories.ts`.
import { writeFileSync } from 'node:fs';
import { recordAll, N, STEPS } from '../test/trajectories.js';

const trajectories = await recordAll();
const out = new URL('../test/fixtures/trajectories-v0.2.json', import.meta.url);
writeFileSync(out, `${JSON.stringify({ n: N, steps: STEPS, trajectories }, null, 0)}\n`);
const refused = trajectories.filter((t) => t.steps === null);
console.log(
  `${trajectories.length} trajectories (${refused.length} refused) -> ${out.pathname.split('/').slice(-3).join('/')}`,
);
for (const r of refused) console.log(`  refused: ${r.path} / ${r.variant}: ${r.refused}`);
