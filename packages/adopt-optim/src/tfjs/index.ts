/** The TensorFlow.js optimizers: subclasses of tf.Optimizer, registered for serialization. */
export { NamedStateOptimizer, type VariableState } from './named_state_optimizer.js';
export { AdoptOptimizer, adopt } from './adopt.js';
export { AdamFamilyOptimizer } from './adam_family.js';
export { AdamOptimizer, adam } from './adam.js';
export { AdamWOptimizer, adamw } from './adamw.js';
export { AMSGradOptimizer, amsgrad } from './amsgrad.js';
export { registerOptimizers } from './register.js';
