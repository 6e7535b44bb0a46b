/**
 * An IOTLB: the leaf translations a DMA-remapping unit has cached, tagged by domain (VT-d DID, AMD DomainID) and
 * input page. Both IOMMU models use it, because the rule is the same on both: a translation is cached when a request
 * uses it, and a later change of the page tables is seen only after software invalidates it (VT-d spec §6.5.1 IOTLB
 * invalidation; AMD IOMMU spec §2.4 INVALIDATE_IOMMU_PAGES). Only successful translations are cached: a request
 * that faulted leaves nothing behind, so software may fix a not-present entry without invalidating (VT-d with
 * CAP.CM = 0: "not-present and erroneous entries are not cached").
 *
 * Shape for the hot path: one Map per domain and page size, keyed by the input frame number; a lookup is two Map
 * reads for a 4 KiB mapping and allocates nothing. Fills allocate (a walk already cost far more).
 *
 * Capacity: real IOTLBs are small and evict at will, which the rule above allows; this one holds up to
 * {@link IOTLB_CAPACITY} entries and starts empty again when a fill would exceed that.
 */

export const IOTLB_CAPACITY = 4096;

/** One cached leaf translation: `pageSize` bytes at input `inBase` map to `outBase`. */
export interface IotlbEntry {
  readonly inBase: number;
  readonly outBase: number;
  readonly pageSize: number;
  readonly read: boolean;
  readonly write: boolean;
}

class DomainTlb {
  /** Page sizes in use, smallest first, with one map of input frame number → entry each. */
  readonly sizes: number[] = [];
  readonly maps: Map<number, IotlbEntry>[] = [];

  mapFor(pageSize: number): Map<number, IotlbEntry> {
    let i = this.sizes.indexOf(pageSize);
    if (i < 0) {
      i = this.sizes.findIndex((s) => s > pageSize);
      if (i < 0) i = this.sizes.length;
      this.sizes.splice(i, 0, pageSize);
      this.maps.splice(i, 0, new Map());
    }
    return this.maps[i];
  }
}

export class Iotlb {
  private readonly domains = new Map<number, DomainTlb>();
  private entryCount = 0;

  get size(): number {
    return this.entryCount;
  }

  /** The cached translation covering `addr` in `domain`, or undefined. */
  lookup(domain: number, addr: number): IotlbEntry | undefined {
    const d = this.domains.get(domain);
    if (d === undefined) return undefined;
    const sizes = d.sizes;
    for (let i = 0; i < sizes.length; i++) {
      const e = d.maps[i].get(Math.floor(addr / sizes[i]));
      if (e !== undefined) return e;
    }
    return undefined;
  }

  fill(domain: number, inBase: number, outBase: number, pageSize: number, read: boolean, write: boolean): IotlbEntry {
    if (this.entryCount >= IOTLB_CAPACITY) this.invalidateAll();
    let d = this.domains.get(domain);
    if (d === undefined) {
      d = new DomainTlb();
      this.domains.set(domain, d);
    }
    const map = d.mapFor(pageSize);
    const key = Math.floor(inBase / pageSize);
    if (!map.has(key)) this.entryCount++;
    const entry: IotlbEntry = { inBase, outBase, pageSize, read, write };
    map.set(key, entry);
    return entry;
  }

  /** Drop one entry (a cached translation that no longer serves: the request re-walks the tables). */
  drop(domain: number, entry: IotlbEntry): void {
    const d = this.domains.get(domain);
    const i = d?.sizes.indexOf(entry.pageSize) ?? -1;
    if (d !== undefined && i >= 0 && d.maps[i].delete(Math.floor(entry.inBase / entry.pageSize))) this.entryCount--;
  }

  invalidateAll(): void {
    this.domains.clear();
    this.entryCount = 0;
  }

  invalidateDomain(domain: number): void {
    const d = this.domains.get(domain);
    if (d === undefined) return;
    for (const m of d.maps) this.entryCount -= m.size;
    this.domains.delete(domain);
  }

  /** Drop every entry of `domain` whose page overlaps [addr, addr + length). */
  invalidateRange(domain: number, addr: number, length: number): void {
    const d = this.domains.get(domain);
    if (d === undefined) return;
    const end = addr + length;
    for (const m of d.maps) {
      for (const [key, e] of m) {
        if (e.inBase < end && e.inBase + e.pageSize > addr) {
          m.delete(key);
          this.entryCount--;
        }
      }
    }
  }

  /** Every cached entry with its domain (reports, snapshots). */
  entries(): { domain: number; entry: IotlbEntry }[] {
    const list: { domain: number; entry: IotlbEntry }[] = [];
    for (const [domain, d] of this.domains) for (const m of d.maps) for (const entry of m.values()) list.push({ domain, entry });
    return list;
  }
}
