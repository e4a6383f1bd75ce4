/** The framework-free core: optimizers and their composable pieces on Float32Arrays. */
export * from './transform.js';
export * from './optimizers.js';
