/**
 * The interrupt entry cache (IEC): IRTEs the unit has read, kept by index until software invalidates them
 * (an IEC descriptor through the invalidation queue, or SIRTP). A changed IRTE in memory does not take effect before
 * that, exactly as on hardware — the bug class "forgot the IEC flush after modify_irte" must be reproducible.
 *
 * Storage covers the whole 16-bit index space, so a hit is a few array reads and never allocates: the IRTE words in
 * blocks of 256 entries (4 KiB), each made when an entry in it is first cached, and each index's position in a dense
 * list of the valid indices (made on the first fill), so that an invalidation costs what the cache holds or what
 * the range covers, whichever is smaller: an index-selective descriptor may name 2^IM = 65536 entries, and a queue
 * of 32768 of them must not walk 2^31 slots. A unit that caches a handful of entries — as every matrix cell does,
 * thousands of times over — allocates a few KiB of words, not the 1 MiB the whole space would take.
 */
export const IEC_ENTRIES = 0x10000;

const BLOCK_SHIFT = 8;
const BLOCK_ENTRIES = 1 << BLOCK_SHIFT;
const BLOCK_MASK = BLOCK_ENTRIES - 1;
/** Shared by every cache that has never been filled: no index cached. Never written (fill() replaces it first). */
const NOTHING_CACHED = new Int32Array(IEC_ENTRIES);
const NO_WORDS = new Uint32Array(0);

export class InterruptEntryCache {
  /** The cached IRTEs, four dwords each, one block per 256 indices (NO_WORDS until an entry in the block is cached). */
  private readonly blocks: Uint32Array[] = new Array<Uint32Array>(IEC_ENTRIES >>> BLOCK_SHIFT).fill(NO_WORDS);
  /** 1 + the position of each valid index in `list`; 0 when the index is not cached. */
  private slot = NOTHING_CACHED;
  /** The valid indices, densely packed in list[0 .. count). */
  private list = new Uint16Array(0);
  private count = 0;
  /**
   * Slots the invalidations have examined since the cache was made (range indices or cached entries, whichever
   * walk was taken): the work an invalidation costs, which tests bound instead of timing it. One addition per
   * invalidation, none per interrupt.
   */
  invalidationVisits = 0;

  has(index: number): boolean {
    return this.slot[index] !== 0;
  }

  /** Dword `i` (0..3) of the cached IRTE at `index`. */
  word(index: number, i: number): number {
    return this.blocks[index >>> BLOCK_SHIFT][(index & BLOCK_MASK) * 4 + i];
  }

  fill(index: number, w0: number, w1: number, w2: number, w3: number): void {
    let block = this.blocks[index >>> BLOCK_SHIFT];
    if (block === NO_WORDS) this.blocks[index >>> BLOCK_SHIFT] = block = new Uint32Array(BLOCK_ENTRIES * 4);
    const at = (index & BLOCK_MASK) * 4;
    block[at] = w0;
    block[at + 1] = w1;
    block[at + 2] = w2;
    block[at + 3] = w3;
    if (this.slot === NOTHING_CACHED) {
      this.slot = new Int32Array(IEC_ENTRIES);
      this.list = new Uint16Array(IEC_ENTRIES);
    }
    if (this.slot[index] === 0) {
      this.list[this.count++] = index;
      this.slot[index] = this.count;
    }
  }

  invalidateAll(): void {
    this.invalidationVisits += this.count;
    for (let k = 0; k < this.count; k++) this.slot[this.list[k]] = 0;
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
    const at = this.slot[index] - 1;
    if (at < 0) return;
    const last = this.list[--this.count];
    this.list[at] = last;
    this.slot[last] = at + 1;
    this.slot[index] = 0;
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
