/**
 * Trees of parameter arrays for the core (as optax takes a pytree): a Float32Array, or a list or record of
 * trees. `init` makes one state per leaf, in a tree of the same structure; `step` walks params, grads and
 * state together and refuses, naming the key or index, any place where their structures differ.
 */
import { OptimizerArgumentError } from '../validate.js';
import { checkFloat32Array } from './transform.js';

/** Parameters (or gradients) the core steps: one Float32Array, or a list or record of them, nested as you like. */
export type ParamTree = Float32Array | readonly ParamTree[] | { readonly [key: string]: ParamTree };

/** The state of a tree: the per-array state `S` at each leaf of `T`, in the same structure. */
export type TreeState<T, S> = T extends Float32Array
  ? S
  : T extends readonly unknown[]
    ? { -readonly [K in keyof T]: TreeState<T[K], S> }
    : { -readonly [K in keyof T]: TreeState<T[K], S> };

/** A tree of per-array states `S`, of any structure (what `step` accepts; `TreeState` is the one init made). */
export type StateTree<S> = S | readonly StateTree<S>[] | { readonly [key: string]: StateTree<S> };

/** One leaf: where it is (`["w"][0]`, for messages), its array. */
export interface Leaf {
  readonly path: string;
  readonly array: Float32Array;
}

/** `["w"]` or `[0]`: a key or index as it reads in a message. */
const step = (key: string | number): string => (typeof key === 'number' ? `[${key}]` : `[${JSON.stringify(key)}]`);

/** Whether `value` is a record node of a tree: a plain object (not an array, typed array, Map, class instance). */
function isRecord(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Whether `value` is one array (not a tree of them): checked by checkFloat32Array with its own hints. */
export function isLeafLike(value: unknown): boolean {
  return (
    value instanceof Float32Array ||
    ArrayBuffer.isView(value) ||
    (Array.isArray(value) && value.length > 0 && value.every((x) => typeof x === 'number'))
  );
}

/**
 * The leaves of a tree of Float32Arrays, in order (lists by index, records by their keys' order), each with
 * its path; a leaf that is no Float32Array, an empty list or record, or anything else is refused, naming it.
 */
export function leaves(owner: string, what: string, tree: unknown): Leaf[] {
  const out: Leaf[] = [];
  const visit = (node: unknown, path: string, depth: number): void => {
    if (depth > 64) throw new OptimizerArgumentError(`${owner}: ${what}${path} nests deeper than 64 levels.`);
    if (isLeafLike(node) || (!Array.isArray(node) && !isRecord(node))) {
      out.push({ path, array: checkFloat32Array(owner, `${what}${path}`, node) });
      return;
    }
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) {
      throw new OptimizerArgumentError(
        `${owner}: ${what}${path} is an empty ${Array.isArray(node) ? 'list' : 'record'}; ` +
          'expected Float32Arrays in it.',
      );
    }
    for (const key of keys) visit((node as Record<string | number, unknown>)[key], `${path}${step(key)}`, depth + 1);
  };
  visit(tree, '', 0);
  return out;
}

/**
 * The value at each of `paths` (the leaves of `params`) in `tree`, which must have the same structure: a
 * missing key or index, an extra one, or a leaf where a list or record is expected (or the reverse) is refused,
 * naming it and what was expected. Leaves are returned unchecked (the caller checks them).
 */
export function sameStructure(owner: string, what: string, params: unknown, tree: unknown): unknown[] {
  const out: unknown[] = [];
  const visit = (shape: unknown, node: unknown, path: string): void => {
    if (isLeafLike(shape) || (!Array.isArray(shape) && !isRecord(shape))) {
      out.push(node);
      return;
    }
    if (Array.isArray(shape)) {
      if (!Array.isArray(node) || node.length !== shape.length) {
        throw new OptimizerArgumentError(
          `${owner}: ${what}${path} is ${describeNode(node)}; params${path} is a list of ${shape.length}, ` +
            `so ${what}${path} must be one too. Nothing was changed.`,
        );
      }
      shape.forEach((s, i) => visit(s, node[i], `${path}${step(i)}`));
      return;
    }
    const keys = Object.keys(shape);
    if (!isRecord(node)) {
      throw new OptimizerArgumentError(
        `${owner}: ${what}${path} is ${describeNode(node)}; params${path} is a record with keys ` +
          `${keys.join(', ')}, so ${what}${path} must be one too. Nothing was changed.`,
      );
    }
    const extra = Object.keys(node).filter((k) => !Object.hasOwn(shape, k));
    if (extra.length > 0) {
      throw new OptimizerArgumentError(
        `${owner}: ${what}${path}${step(extra[0]!)} has no counterpart in params${path} ` +
          `(its keys: ${keys.join(', ')}). Nothing was changed.`,
      );
    }
    for (const key of keys) {
      if (!Object.hasOwn(node, key)) {
        throw new OptimizerArgumentError(
          `${owner}: ${what}${path}${step(key)} is missing; params${path}${step(key)} is there. Nothing was changed.`,
        );
      }
      visit(shape[key], node[key], `${path}${step(key)}`);
    }
  };
  visit(params, tree, '');
  return out;
}

/** A tree of the same structure as `params`, with `make(leaf)` at each leaf. */
export function mapLeaves(params: unknown, make: (leaf: Float32Array) => unknown): unknown {
  if (params instanceof Float32Array) return make(params);
  if (Array.isArray(params)) return params.map((p) => mapLeaves(p, make));
  return Object.fromEntries(Object.entries(params as object).map(([k, p]) => [k, mapLeaves(p, make)]));
}

function describeNode(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (isRecord(value)) return `a record with keys ${Object.keys(value).join(', ') || '(none)'}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
