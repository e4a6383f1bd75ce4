/**
 * adopt-optim/gpu: the fused kernels of tfjs's webgl and webgpu backends (generated GLSL and WGSL, one program or
 * dispatch per variable) and their GPU-side non-finite check (docs/ALGORITHM.md §6.3). Import it once, for its
 * effect, beside your tfjs backend import: `import 'adopt-optim/gpu';`. Without it those backends run every step
 * as tfjs ops (`lastStepPaths` says 'ops') and say so once per backend in a console warning naming this import; on
 * webgl the non-finite check then reads its flags back synchronously, and on webgpu (where a synchronous read is
 * not reliable) a step with `nonFinite` other than 'off' is refused. Low-bit state on webgpu needs this entry and
 * 'adopt-optim/lowbit'.
 *
 * @module adopt-optim/gpu
 */
import { registerBackendKernels } from '../dispatch.js';
import { webglFusedKernels } from '../backends/webgl_fused.js';
import { webgpuFusedKernels } from '../backends/webgpu_fused.js';
import { registerGpuPieces } from '../tfjs/extensions.js';
import { GpuFiniteGuard } from '../tfjs/gpu_nonfinite.js';
import { FirstSteps } from '../tfjs/gpu_first_steps.js';

registerBackendKernels('webgl', webglFusedKernels);
registerBackendKernels('webgpu', webgpuFusedKernels);
registerGpuPieces({
  guard: (policy, target) => new GpuFiniteGuard(policy, target),
  firstSteps: () => new FirstSteps(),
});

/** The backends whose fused kernels this entry point brings. */
export const GPU_BACKENDS = ['webgl', 'webgpu'] as const;
