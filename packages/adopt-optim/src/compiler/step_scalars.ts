/**
 * A custom rule's scalars for one step of one variable (src/compiler/define_rule.ts): scalars() is called
 * once, each scalar the update reads is read from its result exactly once into a plain snapshot,
 * and the snapshot is checked (finite numbers, and every uniform argument of the kernels that will
 * run finite in float32) before anything is written. The kernels then run with the snapshot only:
 * a getter or Proxy cannot answer one value to the check and another to the step.
 */
import type { RuleDefinition } from '../rules/custom.js';
import type { KernelPlan } from '../codegen/modules.js';
import { evaluateUniform, scalarsRead, type Node, type Value } from '../rules/expr.js';
import type { Signature } from '../codegen/signature.js';
import { OptimizerArgumentError } from '../validate.js';

/** What a step's scalars are read from: a rule made by defineRule (a CustomRule, ./define_rule.ts). */
export interface ScalarSource {
  readonly plan: KernelPlan;
  readonly scalarNames: readonly string[];
  readonly definition: Pick<RuleDefinition, 'scalars'>;
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));
const message = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : show(e));

function hasMean(n: Node): boolean {
  if (n.kind === 'mean') return true;
  if (n.kind === 'array' || n.kind === 'scalar' || n.kind === 'const') return false;
  const kids: Node[] =
    n.kind === 'binary' || n.kind === 'compare' || n.kind === 'samesign'
      ? [n.a, n.b]
      : n.kind === 'unary'
        ? [n.a]
        : n.kind === 'clamp'
          ? [n.a, n.lo, n.hi]
          : [n.cond, n.a, n.b];
  return kids.some(hasMean);
}

/** The signatures of the kernels a step at `t` (1, 2, ...) runs: its phase and that phase's counting pass. */
function signaturesAt(custom: ScalarSource, t: number): Signature[] {
  const plan = custom.plan;
  const init = t === 1 && plan.init !== undefined;
  const part = init ? plan.init! : plan.step;
  const count = init ? plan.initCount : plan.count;
  return [part.sig, ...(count !== undefined ? [count.sig] : [])];
}

/**
 * The step's scalars, checked: a null-prototype snapshot of every scalar the update reads, each a
 * finite number, each uniform argument finite in float32. `where` names the variable, if any.
 * Optimizers call this for every variable of a step before any is written; a refusal changes nothing.
 */
export function stepScalars(
  owner: string,
  custom: ScalarSource,
  lr: number,
  t: number,
  h: Record<string, number>,
  where = '',
): Record<string, number> {
  const at = `${where === '' ? '' : ` for ${where}`} at step ${t}`;
  const refuse = (what: string): never => {
    throw new OptimizerArgumentError(
      `${owner}: scalars() returned ${what}${at}; expected a finite number. Nothing was changed.`,
    );
  };
  const threw = (e: unknown, what: string): never => {
    throw new OptimizerArgumentError(
      `${owner}: scalars() ${what}${at}: ${message(e)}; expected scalars() to ` +
        'return an object of finite numbers. Nothing was changed.',
    );
  };
  let s: unknown;
  try {
    s = custom.definition.scalars(lr, t, h);
  } catch (e) {
    threw(e, 'threw');
  }
  if (typeof s !== 'object' || s === null) refuse(`${show(s)} instead of an object of scalars, each`);
  const given = s as Record<string, unknown>;
  const snapshot = Object.create(null) as Record<string, number>;
  for (const k of custom.scalarNames) {
    let v: unknown;
    try {
      if (!(k in given)) refuse(`no "${k}" (which the update reads)`);
      v = given[k];
    } catch (e) {
      if (e instanceof OptimizerArgumentError) throw e;
      threw(e, `threw when "${k}" was read`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) refuse(`${show(v)} for "${k}"`);
    snapshot[k] = v as number;
  }
  for (const sig of signaturesAt(custom, t)) {
    for (const u of sig.uniforms as Value[]) {
      if (hasMean(u)) continue; // known only once the counting pass has run
      const v = evaluateUniform(u, snapshot);
      if (Number.isFinite(Math.fround(v))) continue;
      const names = scalarsRead([u])
        .map((n) => `"${n}" = ${snapshot[n]}`)
        .join(', ');
      throw new OptimizerArgumentError(
        `${owner}: the scalars ${names} returned by scalars()${at} make a kernel argument of ${v}, which is not ` +
          'finite in float32 (the kernels compute in float32); expected scalars whose values and products are ' +
          'within ±3.4028234663852886e38. Nothing was changed.',
      );
    }
  }
  return snapshot;
}
