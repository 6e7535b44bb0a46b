/**
 * Register-state diffs with immer: a diff between two snapshots is the list of immer patches that turns the first
 * into the second, produced by assigning only the leaves that differ (so the patches name exactly the registers that
 * changed, not whole subtrees). Used per scenario step — never on the interrupt hot path (immer's drafts cost far more
 * than plain mutation).
 */
import { enablePatches, produceWithPatches, type Patch } from 'immer';

enablePatches();

export interface StateChange {
  /** Dotted path, e.g. "cpus.3.irr.1". */
  path: string;
  before: unknown;
  after: unknown;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Recursively make `draft` equal to `target`, touching only differing leaves. */
function assignDeep(draft: Record<string, unknown> | unknown[], target: Record<string, unknown> | unknown[]): void {
  if (Array.isArray(draft) && Array.isArray(target)) {
    for (let i = 0; i < target.length; i++) assignLeaf(draft as unknown[], i, draft[i], target[i]);
    if (draft.length > target.length) draft.length = target.length;
    return;
  }
  const d = draft as Record<string, unknown>;
  const t = target as Record<string, unknown>;
  for (const key of Object.keys(d)) if (!(key in t)) delete d[key];
  for (const key of Object.keys(t)) assignLeaf(d, key, d[key], t[key]);
}

function assignLeaf(container: Record<string, unknown> | unknown[], key: string | number, current: unknown, next: unknown): void {
  const bothArrays = Array.isArray(current) && Array.isArray(next);
  const bothObjects = isPlainObject(current) && isPlainObject(next);
  if (bothArrays || bothObjects) {
    assignDeep(current as Record<string, unknown>, next as Record<string, unknown>);
  } else if (current !== next) {
    (container as Record<string | number, unknown>)[key] = next;
  }
}

/** The immer patches that turn `before` into `after`. */
export function diffPatches<T>(before: T, after: T): Patch[] {
  const [, patches] = produceWithPatches(before as object, (draft) => {
    assignDeep(draft as Record<string, unknown>, after as Record<string, unknown>);
  });
  return patches;
}

function valueAt(tree: unknown, path: (string | number)[]): unknown {
  let node = tree as Record<string | number, unknown> | undefined;
  for (const key of path) {
    if (node === undefined || node === null) return undefined;
    node = node[key] as Record<string | number, unknown> | undefined;
  }
  return node;
}

/** Readable changes between two state trees: one entry per changed leaf. */
export function diffStates<T>(before: T, after: T): StateChange[] {
  return diffPatches(before, after).map((p) => ({
    path: p.path.join('.'),
    before: valueAt(before, p.path),
    after: p.op === 'remove' ? undefined : p.value,
  }));
}
