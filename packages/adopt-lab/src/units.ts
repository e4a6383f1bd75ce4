/** Every experiment as units that are saved and resumed (src/runs.ts), by command name. */
import { beta2Units } from './beta2.js';
import { charlmUnits } from './charlm.js';
import { mnistUnits } from './mnist.js';
import { rlUnits } from './rl.js';
import type { UnitExperiment } from './runs.js';
import { toyUnits } from './toy.js';
import { vaeUnits } from './vae.js';

export const UNIT_EXPERIMENTS = {
  toy: toyUnits,
  mnist: mnistUnits,
  beta2: beta2Units,
  vae: vaeUnits,
  charlm: charlmUnits,
  rl: rlUnits,
} as unknown as Record<'toy' | 'mnist' | 'beta2' | 'vae' | 'charlm' | 'rl', UnitExperiment>;
