/** The experiment suite behind `adopt-lab`, for use from code. Node only. */
export { EXPERIMENTS, type ExperimentName, type ExperimentSpec } from './registry.js';
export { writeReport } from './report.js';
export {
  LAB_OPTIMIZERS,
  makeOptimizer,
  writeResult,
  readResult,
  type ExperimentResult,
  type RunContext,
  type LabOptimizer,
} from './common.js';
export { parseIdx, DataFormatError } from './data/idx.js';
export { loadMnist, readMnistSplit } from './data/mnist.js';
export { loadMobyDick, loadStateOfTheUnion, Vocabulary } from './data/text.js';
export { simulateToy, TOY_OPTIMIZERS, type ToySettings, type ToyPoint } from './toy_problem.js';
export {
  runExperiment,
  readRun,
  unitHash,
  type RunRecord,
  type Unit,
  type UnitExperiment,
  type UnitSetting,
  type Beta2Mode,
} from './runs.js';
export {
  interval95,
  formatInterval,
  pairedComparison,
  tQuantile975,
  type Interval,
  type PairedComparison,
  type Verdict,
} from './stats.js';
export { SUITE, STAND_INS, type SuiteEntry } from './suite.js';
