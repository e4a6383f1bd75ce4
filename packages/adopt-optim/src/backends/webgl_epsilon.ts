/**
 * epsilon as WebGL may use it (docs/ALGORITHM.md §7.1), apart from the fused kernels: the ops path reads it on any
 * webgl backend, with or without `import 'adopt-optim/gpu'` (which brings ./webgl_fused.ts).
 */
import * as tf from '@tensorflow/tfjs-core';

/** The least epsilon that survives float16 storage and arithmetic (§7.1): 1e-6 flushes to 0, g / 1e-6 overflows. */
export const FLOAT16_EPSILON_FLOOR = 1e-4;

/** epsilon as WebGL may use it (§7.1): raised to the float16 floor where textures are float16; 0 is left as asked. */
export function webglEpsilon(epsilon: number): number {
  const float32 = tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED');
  return float32 || epsilon === 0 ? epsilon : Math.max(epsilon, FLOAT16_EPSILON_FLOOR);
}
