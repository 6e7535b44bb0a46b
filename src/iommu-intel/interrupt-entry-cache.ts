/**
 * The interrupt entry cache (IEC): IRTEs the unit has read, kept by index until software invalidates them
 * (an IEC descriptor through the invalidation queue, or SIRTP). A changed IRTE in memory does not take effect before
 * that, exactly as on hardware — the bug class "forgot the IEC flush after modify_irte" must be reproducible.
 *
 * Storage is flat typed arrays over the whole 16-bit index space (1 MiB + 64 KiB), so a hit is four array reads and
 * never allocates. The valid indices are also kept in a dense list (with each index's position in it), so that an
 * invalidation costs what the cache holds or what the range covers, whichever is smaller: an index-selective
 * descriptor may name 2^IM = 65536 entries, and a queue of 32768 of them must not walk 2^31 slots.
 */
export const IEC_ENTRIES = 0x10000;

export class InterruptEntryCache {
  private readonly words = new Uint32Array(IEC_ENTRIES * 4);
  /** Position of each valid index in `list`, -1 when the index is not cached. */
  private readonly position = new Int32Array(IEC_ENTRIES).fill(-1);
  /** The valid indices, densely packed in list[0 .. count). */
  private readonly list = new Uint16Array(IEC_ENTRIES);
  private count = 0;
  /**
   * Slots the invalidations have examined since the cache was made (range indices or cached entries, whichever
   * walk was taken): the work an invalidation costs, which tests bound instead of timing it. One addition per
   * invalidation, none per interrupt.
   */
  invalidationVisits = 0;

  has(index: number): boolean {
    return this.position[index] >= 0;
  }

  /** Dword `i` (0..3) of the cached IRTE at `index`. */
  word(index: number, i: number): number {
    return this.words[index * 4 + i];
  }

  fill(index: number, w0: number, w1: number, w2: number, w3: number): void {
    const at = index * 4;
    this.words[at] = w0;
    this.words[at + 1] = w1;
    this.words[at + 2] = w2;
    this.words[at + 3] = w3;
    if (this.position[index] < 0) {
      this.position[index] = this.count;
      this.list[this.count++] = index;
    }
  }

  invalidateAll(): void {
    this.invalidationVisits += this.count;
    for (let k = 0; k < this.count; k++) this.position[this.list[k]] = -1;
    this.count = 0;
  }

  /** Drop entries [first, first + count) (clipped to the index space). */
  invalidateRange(first: number, count: number): void {
    const start = Math.max(0, first);
    const end = Math.min(IEC_ENTRIES, first + count);
    if (end - start <= this.count) {
      this.invalidationVisits += Math.max(0, end - start);
      for (let i = start; i < end; i++) this.remove(i);
      return;
    }
    // Fewer cached entries than indices in the range: walk the cache instead (backwards, as remove() moves the last
    // entry into the freed position).
    this.invalidationVisits += this.count;
    for (let k = this.count - 1; k >= 0; k--) {
      const index = this.list[k];
      if (index >= start && index < end) this.remove(index);
    }
  }

  private remove(index: number): void {
    const at = this.position[index];
    if (at < 0) return;
    const last = this.list[--this.count];
    this.list[at] = last;
    this.position[last] = at;
    this.position[index] = -1;
  }

  get size(): number {
    return this.count;
  }

  /** Valid entries as [index, w0, w1, w2, w3], in index order so that a snapshot is canonical (save()). */
  entries(): number[][] {
    const indices = Array.from(this.list.subarray(0, this.count)).sort((a, b) => a - b);
    return indices.map((i) => [i, this.word(i, 0), this.word(i, 1), this.word(i, 2), this.word(i, 3)]);
  }
}
