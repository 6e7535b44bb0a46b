/**
 * Register-state diffs with immer: a diff between two snapshots is the list of immer patches that turns the first
 * into the second, produced by assigning only the leaves that differ (so the patches name exactly the registers that
 * changed, not whole subtrees). Used per scenario step — never on the interrupt hot path (immer's drafts cost far more
 * than plain mutation).
 */
import { enablePatches, produceWithPatches, type Patch } from 'immer';
import { bytesToBase64 } from '../core/byte-text.ts';
import type { MemoryImage } from '../core/memory.ts';

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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * RAM changes between two images, one entry per page that differs (`memory.<page frame in hex>`, the page as base64
 * before and after, undefined where it was not touched). Pages an image shares with the other are the same object,
 * so an unchanged page costs one comparison of references, not of bytes.
 */
export function diffMemory(before: MemoryImage, after: MemoryImage): StateChange[] {
  const differ: number[] = [];
  for (const [pfn, a] of before.pages) {
    const b = after.pages.get(pfn);
    if (a !== b && (b === undefined || !sameBytes(a, b))) differ.push(pfn);
  }
  for (const pfn of after.pages.keys()) if (!before.pages.has(pfn)) differ.push(pfn);
  return differ.sort((x, y) => x - y).map((pfn) => {
    const a = before.pages.get(pfn);
    const b = after.pages.get(pfn);
    return { path: `memory.${pfn.toString(16)}`, before: a && bytesToBase64(a), after: b && bytesToBase64(b) };
  });
}
