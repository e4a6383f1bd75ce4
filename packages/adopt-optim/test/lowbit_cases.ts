// The optimizer settings the low-bit kernel tests step against the float64 references (state8.test.ts,
// state4.test.ts): each a core optimizer for a stateDtype and the reference's parameters for the same settings.
import { core } from '../src/index.js';
import { refAdamDefaults, refAdoptDefaults, type RefAdamParams, type RefAdoptParams } from './reference.js';

export const ADOPT_REF = refAdoptDefaults(0.01);
export const ADAMW_REF = refAdamDefaults(0.01, { weightDecay: 0.01, decoupled: true });

/** One setting: a name, the optimizer in `stateDtype`, and the reference's parameters (ADOPT's or Adam's). */
export type LowBitCase = [
  name: string,
  make: (stateDtype: 'int8' | 'int4') => core.CoreOptimizer<any, any>,
  reference: { adopt: RefAdoptParams } | { adam: RefAdamParams },
];

export const LOWBIT_CASES: LowBitCase[] = [
  ['ADOPT', (stateDtype) => core.adopt(0.01, { stateDtype }), { adopt: ADOPT_REF }],
  [
    'ADOPT nesterov, decoupled decay, maximize',
    (stateDtype) => core.adopt(0.01, { stateDtype, nesterov: true, weightDecay: 0.1, decoupled: true, maximize: true }),
    { adopt: { ...ADOPT_REF, nesterov: true, weightDecay: 0.1, decoupled: true, maximize: true } },
  ],
  [
    'ADOPT coupled decay, unclipped',
    (stateDtype) => core.adopt(0.01, { stateDtype, weightDecay: 0.1, clip: null }),
    { adopt: { ...ADOPT_REF, weightDecay: 0.1, clip: null } },
  ],
  [
    "ADOPT epsilonMode 'add'",
    (stateDtype) => core.adopt(0.01, { stateDtype, epsilonMode: 'add' }),
    { adopt: { ...ADOPT_REF, epsilonMode: 'add' } },
  ],
  ['AdamW', (stateDtype) => core.adamw(0.01, { stateDtype }), { adam: ADAMW_REF }],
  [
    'Adam',
    (stateDtype) => core.adam(0.01, { stateDtype }),
    { adam: { ...ADAMW_REF, weightDecay: 0, decoupled: false } },
  ],
];
