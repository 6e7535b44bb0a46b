/**
 * Builders for VT-d legacy-mode translation structures, written from the spec layouts (VT-d spec §9.1 root entry,
 * §9.3 context entry, §9.8 second-level entries) — not from the model — so tests check the model against the spec.
 */
import type { SparseMemory } from '../../src/core/memory.ts';

export const R = 1n;
export const W = 2n;
export const PS = 1n << 7n;

/** Hands out zeroed 4 KiB pages from `base` upwards. */
export class PageAllocator {
  constructor(private next: number) {}
  page(): number {
    const p = this.next;
    this.next += 0x1000;
    return p;
  }
}

export interface ContextOptions {
  did: number;
  /** AW field: 1 = 3-level, 2 = 4-level, 3 = 5-level. */
  aw: number;
  /** TT field (0 = second-level, 2 = pass-through). */
  tt?: number;
  fpd?: boolean;
  present?: boolean;
  slptptr: number;
}

/** Write the root entry for `bus` (P = 1, CTP = ctxTable) and the context entry for `devfn`. */
export function setContext(m: SparseMemory, rootTable: number, ctxTable: number, sid: number, o: ContextOptions): void {
  m.write64(rootTable + (sid >> 8) * 16, BigInt(ctxTable) | 1n);
  m.write64(rootTable + (sid >> 8) * 16 + 8, 0n);
  const lo = BigInt(o.slptptr) | (BigInt(o.tt ?? 0) << 2n) | (o.fpd ? 2n : 0n) | (o.present === false ? 0n : 1n);
  const hi = BigInt(o.aw) | (BigInt(o.did) << 8n);
  m.write64(ctxTable + (sid & 0xff) * 16, lo);
  m.write64(ctxTable + (sid & 0xff) * 16 + 8, hi);
}

/**
 * Map `iova` → `pa` in a `levels`-level table rooted at `root`, with permission bits `perm` on every level (R/W as
 * the spec requires them on non-leaf entries too). `leafLevel` 2 or 3 makes a 2 MiB / 1 GiB page (PS = 1).
 * Returns the address of the leaf entry.
 */
export function mapPage(m: SparseMemory, alloc: PageAllocator, root: number, levels: number, iova: number, pa: number, perm: bigint, leafLevel = 1): number {
  let table = root;
  for (let level = levels; level > leafLevel; level--) {
    const at = table + (Math.floor(iova / 2 ** (12 + 9 * (level - 1))) % 512) * 8;
    let entry = m.read64(at);
    if ((entry & 3n) === 0n) {
      entry = BigInt(alloc.page()) | R | W;
      m.write64(at, entry);
    }
    table = Number(entry & 0x000f_ffff_ffff_f000n);
  }
  const at = table + (Math.floor(iova / 2 ** (12 + 9 * (leafLevel - 1))) % 512) * 8;
  m.write64(at, BigInt(pa) | perm | (leafLevel > 1 ? PS : 0n));
  return at;
}
