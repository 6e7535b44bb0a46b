/**
 * Register-state diffs: one entry per leaf that differs between two state trees (device states from `save()`, plain
 * data). The walk compares the two trees directly, descending only where both sides are objects or both arrays, and
 * shares nothing with the interrupt hot path.
 *
 * Not immer: immer can only record the mutations a recipe makes on a draft, so a diff of two finished trees with it
 * still needs this walk to make them, and the drafts it builds along the way cost about 100× the walk itself (the
 * snapshots of a booted 1024-CPU machine before and after one MSI-X: 450–780 ms a diff through produceWithPatches,
 * 4–15 ms direct, on a loaded two-core machine). docs/architecture.md, "State", says what immer does instead.
 */
import { bytesToBase64 } from '../core/byte-text.ts';
import type { MemoryImage } from '../core/memory.ts';

export interface StateChange {
  /** Dotted path, e.g. "cpus.3.irr.1". */
  path: string;
  /** The leaf before; undefined where the key was added. */
  before: unknown;
  /** The leaf after; undefined where the key was removed. */
  after: unknown;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function walk(before: unknown, after: unknown, path: (string | number)[], out: StateChange[]): void {
  if (before === after) return; // shared subtrees (unchanged LAPIC states, frozen snapshot parts) cost nothing
  if (Array.isArray(before) && Array.isArray(after)) {
    const n = Math.max(before.length, after.length);
    for (let i = 0; i < n; i++) {
      if (i >= after.length) out.push({ path: [...path, i].join('.'), before: before[i], after: undefined });
      else if (i >= before.length) out.push({ path: [...path, i].join('.'), before: undefined, after: after[i] });
      else walk(before[i], after[i], [...path, i], out);
    }
    return;
  }
  if (isPlainObject(before) && isPlainObject(after)) {
    for (const key of Object.keys(before)) {
      if (!(key in after)) out.push({ path: [...path, key].join('.'), before: before[key], after: undefined });
      else walk(before[key], after[key], [...path, key], out);
    }
    for (const key of Object.keys(after)) if (!(key in before)) out.push({ path: [...path, key].join('.'), before: undefined, after: after[key] });
    return;
  }
  out.push({ path: path.join('.'), before, after });
}

/** Readable changes between two state trees: one entry per changed leaf, in the trees' key order. */
export function diffStates<T>(before: T, after: T): StateChange[] {
  const out: StateChange[] = [];
  walk(before, after, [], out);
  return out;
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
