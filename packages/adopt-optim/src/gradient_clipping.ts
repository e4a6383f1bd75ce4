/**
 * Gradient clipping as Keras's optimizers do it (`clipnorm`, `clipvalue`, `global_clipnorm`), applied to
 * the raw gradient before the rule (before maximize's sign and coupled weight decay), as
 * `torch.nn.utils.clip_grad_norm_` before `optimizer.step()` and optax's `chain(clip_by_global_norm(c), ...)`:
 *
 *   clipnorm c:        g ← g · c / max(‖g‖₂, c)          per variable   (clipFactor below, ε = 0)
 *   globalClipnorm c:  g ← g · c / max(‖(g₁, …, gₙ)‖₂, c)  over the variables of one applyGradients call
 *   clipvalue c:       g ← clamp(g, −c, c)               per element
 *
 * At most one of them, as Keras. The norms are taken in float64. Where a step runs fused on cpu, wasm or
 * the core, a norm's scale is folded into the rule's `sign` scalar (the rules read g only as sign · g), so
 * clipping by norm costs one read of g and no pass of its own; on webgl and webgpu, and for clipvalue, the
 * gradient is clipped with tfjs ops (or into the core's scratch array) before the rule.
 */
import { OptimizerArgumentError } from './validate.js';

export interface GradientClipping {
  /** Scale each variable's gradient to an L2 norm of at most this. Default null (off). */
  clipnorm?: number | null;
  /** Clip each gradient element to [-clipvalue, clipvalue]. Default null (off). */
  clipvalue?: number | null;
  /** Scale all gradients of a step together to a global L2 norm of at most this. Default null (off). */
  globalClipnorm?: number | null;
}

function checkBound(owner: string, name: string, value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new OptimizerArgumentError(
      `${owner}: invalid ${name} ${typeof value === 'string' ? JSON.stringify(value) : String(value)}; ` +
        'expected a finite number > 0, or null for no clipping.',
    );
  }
  return value;
}

/** The clipping options of every optimizer of the package (Keras's names, camelCase); an OptionSpecs table. */
export const GRADIENT_CLIP_OPTIONS = {
  clipnorm: { default: null, check: checkBound },
  clipvalue: { default: null, check: checkBound },
  globalClipnorm: { default: null, check: checkBound },
} as const;

/** At most one kind of clipping, as Keras: the order in which two would apply is not obvious. */
export function checkGradientClipping(owner: string, h: Required<GradientClipping>): void {
  const set = (['clipnorm', 'clipvalue', 'globalClipnorm'] as const).filter((k) => h[k] !== null);
  if (set.length > 1) {
    throw new OptimizerArgumentError(
      `${owner}: only one of clipnorm, clipvalue and globalClipnorm can be set (as in Keras); ` +
        `got ${set.map((k) => `${k}: ${h[k]}`).join(', ')}.`,
    );
  }
}

/** Whether any clipping is on. */
export const clips = (h: Required<GradientClipping>): boolean =>
  h.clipnorm !== null || h.clipvalue !== null || h.globalClipnorm !== null;

/**
 * The one formula of clipping by norm: g ← g · min(1, c / (‖g‖₂ + ε)). With ε = 0 it is Keras's c / max(‖g‖, c)
 * (the optimizers' clipnorm and globalClipnorm), bit for bit; with ε = 1e-6, PyTorch's `clip_grad_norm_` (the
 * Trainer's clipGradNorm, adopt-lab's PPO). NaN where the norm is NaN, 0 where it is Infinity. The same formula
 * on tensors is ./tfjs/clip_ops.ts `clipFactorOf`, with the norm computed scaled so that it cannot overflow.
 */
export function clipFactor(c: number, norm: number, epsilon = 0): number {
  return Math.min(1, c / (norm + epsilon));
}

/**
 * The factor each gradient is multiplied by, from the sums of their squares (float64): clipFactor(c, norm),
 * per variable for clipnorm, one for all for globalClipnorm; 1 without clipping by norm. NaN where a
 * norm is NaN (a non-finite gradient with nonFinite: 'off'), as Keras.
 */
export function normScales(h: Required<GradientClipping>, sumsOfSquares: readonly number[]): number[] {
  if (h.clipnorm !== null) {
    const c = h.clipnorm;
    return sumsOfSquares.map((s) => clipFactor(c, Math.sqrt(s)));
  }
  if (h.globalClipnorm !== null) {
    const c = h.globalClipnorm;
    const scale = clipFactor(c, Math.sqrt(sumsOfSquares.reduce((a, b) => a + b, 0)));
    return sumsOfSquares.map(() => scale);
  }
  return sumsOfSquares.map(() => 1);
}

/** Σ g² in float64. */
export function sumOfSquares(g: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
  return s;
}

/** The clipped gradient into `out` (float32, as the rule will read it): g · scale, or clamped by clipvalue. */
export function clipInto(out: Float32Array, g: Float32Array, h: Required<GradientClipping>, scale: number): void {
  if (h.clipvalue !== null) {
    const c = h.clipvalue;
    for (let i = 0; i < g.length; i++) out[i] = Math.min(c, Math.max(-c, g[i]!));
  } else {
    for (let i = 0; i < g.length; i++) out[i] = g[i]! * scale;
  }
}
