// The smallest toy run the command-line tests start: 20 steps, 2 chains, one k, beta2, optimizer and seed.
export const TINY_TOY: readonly string[] = [
  'toy',
  '--steps',
  '20',
  '--chains',
  '2',
  '--ks',
  '2',
  '--beta2s',
  '0.5',
  '--optimizers',
  'adopt',
  '--seeds',
  '4',
];
