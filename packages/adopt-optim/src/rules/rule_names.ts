/**
 * The rules defined in this process, by name, and how a saved name is found again: tfjs-layers
 * camel-cases every string and key of a training config when it loads a model
 * (convertPythonicToTs: `sgd_momentum` comes back `sgdMomentum`, `{weight_decay: 0.1}` as
 * `{weightDecay: 0.1}`), so a name or hyperparameter key is looked up as given, else by its
 * camel-cased form, which defineRule keeps unambiguous.
 */

/** tfjs-layers' toCamelCase (utils/generic_utils): `a_b` → `aB`, `a__b` → `aB`, `a_` → `a`. */
export function layersCamelCase(identifier: string): string {
  if (identifier.length <= 1 || !identifier.includes('_')) return identifier;
  return identifier.replace(/[_]+(\w|$)/g, (_m, c: string) => c.toUpperCase());
}

/** The first two of `names` that differ but camel-case alike, or undefined. */
export function camelCaseClash(names: readonly string[]): [string, string] | undefined {
  const seen = new Map<string, string>();
  for (const n of names) {
    const other = seen.get(layersCamelCase(n));
    if (other !== undefined && other !== n) return [other, n];
    seen.set(layersCamelCase(n), n);
  }
  return undefined;
}

/** Each defined rule under its name (the latest of a name wins): what a saved RuleOptimizer config is restored with. */
export class RuleRegistry<T> {
  private readonly byName = new Map<string, T>();

  /**
   * Another defined rule's name that camel-cases like `name` (a model saved with one could not be
   * told from the other when loaded), or undefined.
   */
  clashOf(name: string): string | undefined {
    const camel = layersCamelCase(name);
    for (const other of this.byName.keys()) if (other !== name && layersCamelCase(other) === camel) return other;
    return undefined;
  }

  set(name: string, rule: T): void {
    this.byName.set(name, rule);
  }

  /** The rule defined under `name`, or under the name that camel-cases to it (a config tfjs-layers loaded). */
  get(name: string): T | undefined {
    const exact = this.byName.get(name);
    if (exact !== undefined) return exact;
    for (const [other, rule] of this.byName) if (layersCamelCase(other) === name) return rule;
    return undefined;
  }
}

/**
 * Hyperparameters from a config, with keys tfjs-layers may have camel-cased mapped back to the
 * rule's own (`weightDecay` → `weight_decay`); keys that are neither are kept for the caller to refuse.
 */
export function restoreKeys(given: unknown, known: readonly string[]): unknown {
  if (typeof given !== 'object' || given === null || Array.isArray(given)) return given;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(given)) {
    const own = known.includes(k) ? k : known.find((n) => layersCamelCase(n) === k);
    out[own ?? k] = v;
  }
  return out;
}
