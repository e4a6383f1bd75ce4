/**
 * Matching saved model variables to live ones by name, never by position (issue 21: two same-shaped
 * layers whose explicit names were swapped were restored into each other, without a warning).
 *
 * tfjs-layers numbers names per process, so the same model built in another process, or a second
 * time in this one, names its variables differently: an automatic layer name counts the layers of its
 * class made so far (`dense_Dense1`, then `dense_Dense3` in a process that built two before), and a
 * variable whose name is taken gets a suffix (`dense/kernel_1`). Names are compared in a canonical
 * form that removes exactly that numbering:
 * - a path segment that is an automatic layer name, `<snake_case(Class)>_<Class><N>`, becomes
 *   `<snake>_<Class>#<k>`, k its order among the automatic names of that class in the model;
 * - the `_<N>` uniquifier of the last segment is dropped where that leaves the name unique.
 * Explicit names are kept as they are: they are what the user chose to identify a layer.
 */

/** tfjs-layers' generic_utils.toSnakeCase, which makes the automatic layer names. */
function toSnakeCase(name: string): string {
  const intermediate = name.replace(/(.)([A-Z][a-z0-9]+)/g, '$1_$2');
  const insecure = intermediate.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  return insecure.startsWith('_') ? `private${insecure}` : insecure;
}

/** `[Class, N]` when a segment is an automatic layer name `<snake(Class)>_<Class><N>`, else null. */
function automatic(segment: string): [string, string] | null {
  const cut = segment.indexOf('_');
  for (let i = cut; i > 0 && i < segment.length; i = segment.indexOf('_', i + 1)) {
    const prefix = segment.slice(0, i);
    const m = /^([A-Z][A-Za-z0-9]*?)(\d+)$/.exec(segment.slice(i + 1));
    if (m === null) continue;
    // the class may itself end in digits (Conv2D1 is Conv2D + 1): try every split of the digits
    for (let d = m[1]!.length; d < segment.length - i - 1; d++) {
      const cls = segment.slice(i + 1, i + 1 + d);
      const n = segment.slice(i + 1 + d);
      if (/^\d+$/.test(n) && toSnakeCase(cls) === prefix) return [cls, n];
    }
  }
  return null;
}

/** The canonical form of every name of one model's variables (in the model's order). */
export function canonicalNames(names: readonly string[]): string[] {
  const rank = new Map<string, number>(); // automatic segment -> its order within its class
  const perClass = new Map<string, number>();
  const split = names.map((name) => name.split('/'));
  for (const segments of split) {
    for (const segment of segments) {
      const auto = automatic(segment);
      if (auto === null || rank.has(segment)) continue;
      const k = (perClass.get(auto[0]) ?? 0) + 1;
      perClass.set(auto[0], k);
      rank.set(segment, k);
    }
  }
  const ranked = split.map((segments) =>
    segments
      .map((s) => {
        const k = rank.get(s);
        return k === undefined ? s : `${s.slice(0, s.length - automatic(s)![1].length)}#${k}`;
      })
      .join('/'),
  );
  const stripped = ranked.map((n) => n.replace(/_\d+$/, ''));
  const count = new Map<string, number>();
  for (const n of stripped) count.set(n, (count.get(n) ?? 0) + 1);
  return ranked.map((n, i) => (count.get(stripped[i]!) === 1 ? stripped[i]! : n));
}

/**
 * For each saved name, the index of the live variable of the same canonical name. Throws an Error
 * naming both sides where the sets differ (a saved variable with no live one, or the reverse).
 */
export function matchByName(saved: readonly string[], live: readonly string[]): number[] {
  const s = canonicalNames(saved);
  const l = canonicalNames(live);
  const index = new Map(l.map((n, i) => [n, i]));
  const unmatchedSaved = saved.filter((_, i) => !index.has(s[i]!));
  const savedSet = new Set(s);
  const unmatchedLive = live.filter((_, i) => !savedSet.has(l[i]!));
  if (
    unmatchedSaved.length > 0 ||
    unmatchedLive.length > 0 ||
    new Set(s).size !== s.length ||
    index.size !== l.length
  ) {
    const list = (xs: readonly string[]) =>
      xs
        .slice(0, 6)
        .map((x) => `"${x}"`)
        .join(', ') + (xs.length > 6 ? `, ... (${xs.length})` : '');
    throw new Error(
      `its model variables do not match this model's by name (restored by name, never by position): ` +
        `saved ${unmatchedSaved.length > 0 ? list(unmatchedSaved) : 'nothing else'} where this model has ` +
        `${unmatchedLive.length > 0 ? list(unmatchedLive) : 'nothing else'}` +
        `${new Set(s).size !== s.length || index.size !== l.length ? ' (two variables share a name)' : ''}.`,
    );
  }
  return s.map((n) => index.get(n)!);
}
