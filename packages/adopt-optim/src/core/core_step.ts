/**
 * The `step` every core optimizer shares (./optimizers.ts makes them): on one Float32Array, or on a tree of them
 * (./tree.ts) with a state per leaf. Every check (lengths, structure, finite gradients, the state) runs on every
 * leaf before anything changes; then the fused kernels step all float32 leaves in one call of the table kernel
 * per pack (src/kernels/array_kernels.ts runMany), the others one by one, or the chain (the reference) does.
 */
import { clipInto, clips, normScales, sumOfSquares, type GradientClipping } from '../gradient_clipping.js';
import { gradientInRange, NonFiniteGradientError, OptimizerArgumentError } from '../validate.js';
import { ArrayKernels, type ArrayEntry } from '../kernels/array_kernels.js';
import { applyUpdates, checkFloat32Array, type GradientTransformation } from './transform.js';
import { leaves, mapLeaves, sameStructure, type Leaf, type ParamTree, type StateTree, type TreeState } from './tree.js';
import { threadHooks } from '../kernels/thread_hooks.js'; // threads (core/threads.ts)

/**
 * A core optimizer: a GradientTransformation with its resolved hyperparameters and `step`, which updates params
 * in place (fused where it can).
 */
export interface CoreOptimizer<H, S> extends GradientTransformation<S> {
  /** The resolved hyperparameters. */
  readonly hyperparams: H;
  /** Fresh state for one parameter array. */
  init(params: Float32Array): S;
  /** Fresh state for a list or record of parameter arrays (nested as you like): one state per array, same structure. */
  init<T extends ParamTree>(params: T): TreeState<T, S>;
  /**
   * One step in place on `params`; `grads` is not modified. Checks the lengths and, unless
   * `nonFinite` is 'off', that every gradient is finite, before changing anything.
   * Returns false when the step was skipped (`nonFinite: 'skip'` and a non-finite gradient).
   *
   * `params` may also be a tree of arrays (as `init` took it), with grads and state of the same structure:
   * every array is checked first (a missing or extra key or index is refused, naming it; nothing changes), then
   * all are stepped, the fused float32 ones in one kernel call per pack. A non-finite gradient anywhere skips (or
   * refuses) the whole step; globalClipnorm clips by the norm over all arrays. (One signature, not overloads, so
   * that a union of optimizers stays callable.)
   */
  step(params: ParamTree, grads: ParamTree, state: S | StateTree<S>): boolean;
}

/** A single-pass step with the same effect on params and state as the chain; false if unavailable. */
export type FusedStep<S> = (params: Float32Array, grads: Float32Array, state: S) => boolean;

/**
 * The fused step as a table row (float32 state): the leaf's kernel call, and `done` to advance its counters
 * once the kernel has run. Null where it cannot run so (the leaf then takes FusedStep).
 */
export type FusedEntry<S> = (
  params: Float32Array,
  grads: Float32Array,
  state: S,
) => { entry: ArrayEntry; done(): void } | null;

/** The clipping options of resolved hyperparameters (src/gradient_clipping.ts). */
function clippingOf(h: object): Required<GradientClipping> {
  const o = h as GradientClipping;
  return { clipnorm: o.clipnorm ?? null, clipvalue: o.clipvalue ?? null, globalClipnorm: o.globalClipnorm ?? null };
}

/** The core optimizer of a transformation and its fused step(s). */
export function buildCoreOptimizer<H extends { nonFinite: string; fused: boolean }, S>(
  name: string,
  hyperparams: H,
  transform: GradientTransformation<S>,
  fusedStep: FusedStep<S>,
  fusedEntry?: FusedEntry<S>,
): CoreOptimizer<H, S> {
  let scratch = new Float32Array(0); // grown once, reused: no allocation per step
  let clipScratch = new Float32Array(0);
  let steps = 0;
  const clipping = clippingOf(hyperparams);

  /** Throws (or returns false: skip) at the first non-finite gradient of any leaf; true when all are finite. */
  const finite = (kernels: ArrayKernels | null, grads: Float32Array[], paths: string[]): boolean => {
    if (hyperparams.nonFinite === 'off') return true;
    for (let l = 0; l < grads.length; l++) {
      const g = grads[l]!;
      if (threadHooks.current?.allFinite(g) ?? kernels?.allFinite(g)) continue; // threads: across them
      for (let i = 0; i < g.length; i++) {
        if (!gradientInRange(g[i]!)) {
          if (hyperparams.nonFinite === 'skip') return false;
          throw new NonFiniteGradientError(
            `${name}.step: the gradient${paths[l] === '' ? '' : ` grads${paths[l]}`} holds ${g[i]} at index ${i} ` +
              `(step ${steps}); parameters and state were left unchanged. Pass nonFinite: 'skip' to skip such steps.`,
            'params',
            steps,
          );
        }
      }
    }
    return true;
  };

  /** The gradients clipped (into scratch of our own: grads are never written), or as given. */
  const clipped = (grads: Float32Array[]): Float32Array[] => {
    if (!clips(clipping)) return grads;
    const total = grads.reduce((n, g) => n + g.length, 0);
    if (clipScratch.length < total) clipScratch = new Float32Array(total);
    const scales = normScales(clipping, grads.map(sumOfSquares));
    let at = 0;
    return grads.map((g, l) => {
      const out = clipScratch.subarray(at, at + g.length);
      at += g.length;
      clipInto(out, g, clipping, scales[l]!);
      return out;
    });
  };

  /** The steps of every leaf after every check: fused (one table call for the float32 ones), else the chain. */
  const run = (kernels: ArrayKernels | null, ps: Float32Array[], gs: Float32Array[], states: S[]): void => {
    let chain = ps.map((_, l) => l);
    if (kernels !== null) {
      const rows = fusedEntry === undefined ? [] : ps.map((p, l) => fusedEntry(p, gs[l]!, states[l]!));
      const many = rows.filter((r) => r !== null);
      if (many.length > 0) {
        kernels.runMany(many.map((r) => r.entry));
        for (const r of many) r.done();
      }
      chain = chain.filter((l) => rows[l] == null && !fusedStep(ps[l]!, gs[l]!, states[l]!));
    }
    if (chain.length === 0) return;
    // the chain's update runs the same checks on every member before any changes its state
    const longest = Math.max(...chain.map((l) => gs[l]!.length));
    if (scratch.length < longest) scratch = new Float32Array(longest);
    for (const l of chain) {
      const updates = scratch.subarray(0, gs[l]!.length);
      updates.set(gs[l]!);
      transform.update(updates, states[l]!, ps[l]!, { noUpdate: false });
      applyUpdates(ps[l]!, updates);
    }
  };

  /** A leaf's state check; in a tree its refusal names the leaf (the check itself knows only its own part). */
  const checkLeaf = (
    check: NonNullable<typeof transform.check>,
    s: S,
    p: Float32Array,
    g: Float32Array,
    at: string,
  ) => {
    try {
      check(s, p, g);
    } catch (e) {
      if (at === '' || !(e instanceof OptimizerArgumentError)) throw e;
      throw new OptimizerArgumentError(`${name}.step: state${at}: ${e.message}`);
    }
  };

  const stepLeaves = (ps: Float32Array[], gs: Float32Array[], states: S[], paths: string[]): boolean => {
    const kernels = hyperparams.fused ? ArrayKernels.get() : null;
    if (!finite(kernels, gs, paths)) return false;
    const g = clipped(gs);
    // a state made for other params, a bad schedule value: refused before anything changes
    if (transform.check !== undefined)
      states.forEach((s, l) => checkLeaf(transform.check!, s, ps[l]!, g[l]!, paths[l]!));
    // threads: threadBuffers swapped or sliced are refused here, not half-way through the leaves of a tree
    const hooks = threadHooks.current;
    if (hooks !== null) ps.forEach((p, l) => hooks.checkPlacement(p, g[l]!));
    run(kernels, ps, g, states);
    steps++;
    return true;
  };

  const stepTree = (params: unknown, grads: unknown, state: unknown): boolean => {
    const owner = `${name}.step`;
    const ls = leaves(owner, 'params', params);
    const paths = ls.map((l) => l.path);
    const gs = sameStructure(owner, 'grads', params, grads).map((g, l) =>
      checkFloat32Array(owner, `grads${paths[l]}`, g),
    );
    const states = sameStructure(owner, 'state', params, state) as S[];
    const seenArrays = new Map<Float32Array, string>();
    const seenStates = new Map<unknown, string>();
    ls.forEach(({ path, array }, l) => {
      if (gs[l]!.length !== array.length) {
        throw new OptimizerArgumentError(
          `${owner}: grads${path} has length ${gs[l]!.length} but params${path} has length ${array.length}. ` +
            'Nothing was changed.',
        );
      }
      const s = states[l];
      if (s === null || typeof s !== 'object') {
        throw new OptimizerArgumentError(
          `${owner}: state${path} is ${String(s)}; expected the state init made for params${path}. ` +
            'Nothing was changed.',
        );
      }
      // one array or state at two places would be stepped twice
      const twiceArray = seenArrays.get(array);
      const twiceState = seenStates.get(s);
      if (twiceArray !== undefined || twiceState !== undefined) {
        const [what, other] = twiceArray !== undefined ? ['params', twiceArray] : ['state', twiceState!];
        throw new OptimizerArgumentError(
          `${owner}: ${what}${path} is the same object as ${what}${other}; each array needs its own. ` +
            'Nothing was changed.',
        );
      }
      seenArrays.set(array, path);
      seenStates.set(s, path);
    });
    refuseSharedMemory(owner, ls, gs);
    return stepLeaves(
      ls.map((l) => l.array),
      gs,
      states,
      paths,
    );
  };

  return {
    hyperparams,
    init: ((params: unknown) => {
      if (params instanceof Float32Array) return transform.init(params);
      leaves(`${name}.init`, 'params', params); // every leaf checked before any state is made
      return mapLeaves(params, (p) => transform.init(p));
    }) as never,
    update: transform.update,
    ...(transform.check ? { check: transform.check } : {}),
    step(params: unknown, grads: unknown, state: unknown) {
      if (!(params instanceof Float32Array)) return stepTree(params, grads, state);
      checkFloat32Array(`${name}.step`, 'grads', grads);
      const g = grads as Float32Array;
      if (params.length !== g.length) {
        throw new OptimizerArgumentError(
          `${name}.step: grads has length ${g.length} but params has length ${params.length}.`,
        );
      }
      return stepLeaves([params], [g], [state as S], ['']);
    },
  } as CoreOptimizer<H, S>;
}

/** A leaf's array as a byte range of its buffer, for refuseSharedMemory. */
interface Span {
  readonly what: 'params' | 'grads';
  readonly path: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Refuses params that overlap other params, or grads other than their own leaf's params exactly (views of one
 * buffer): stepping one leaf would change what another reads, in an order the caller cannot see. Grads may
 * share memory with grads (they are only read), and a leaf's grads may be its own params array.
 */
function refuseSharedMemory(owner: string, ps: readonly Leaf[], gs: readonly Float32Array[]): void {
  const byBuffer = new Map<ArrayBufferLike, Span[]>();
  const add = (what: Span['what'], path: string, a: Float32Array) => {
    const span = { what, path, start: a.byteOffset, end: a.byteOffset + a.byteLength };
    const spans = byBuffer.get(a.buffer);
    if (spans === undefined) byBuffer.set(a.buffer, [span]);
    else spans.push(span);
  };
  ps.forEach(({ path, array }, l) => {
    add('params', path, array);
    const g = gs[l]!;
    const ownParams = g.buffer === array.buffer && g.byteOffset === array.byteOffset && g.length === array.length;
    if (!ownParams) add('grads', path, g);
  });
  for (const spans of byBuffer.values()) {
    if (spans.length < 2) continue;
    spans.sort((a, b) => a.start - b.start || (a.what === b.what ? 0 : a.what === 'params' ? -1 : 1));
    let reachParams: Span | null = null; // the params span reaching furthest so far
    let reachAny: Span | null = null;
    for (const span of spans) {
      const other = span.what === 'params' ? reachAny : reachParams;
      if (other !== null && other.end > span.start) {
        throw new OptimizerArgumentError(
          `${owner}: ${other.what}${other.path} and ${span.what}${span.path} overlap in memory (views of one ` +
            'buffer); stepping one would change what the other reads. Give each its own array. Nothing was changed.',
        );
      }
      if (span.what === 'params' && (reachParams === null || span.end > reachParams.end)) reachParams = span;
      if (reachAny === null || span.end > reachAny.end) reachAny = span;
    }
  }
}
