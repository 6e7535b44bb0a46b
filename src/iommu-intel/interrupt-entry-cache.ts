/**
 * The interrupt entry cache (IEC): IRTEs the unit has read, kept by index until software invalidates them
 * (an IEC descriptor through the invalidation queue, or SIRTP). A changed IRTE in memory does not take effect before
 * that, exactly as on hardware — the bug class "forgot the IEC flush after modify_irte" must be reproducible.
 *
 * Storage is flat typed arrays over the whole 16-bit index space (1 MiB + 64 KiB), so a hit is four array reads and
 * never allocates.
 */
export const IEC_ENTRIES = 0x10000;

export class InterruptEntryCache {
  private readonly valid = new Uint8Array(IEC_ENTRIES);
  private readonly words = new Uint32Array(IEC_ENTRIES * 4);
  private count = 0;

  has(index: number): boolean {
    return this.valid[index] === 1;
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
    if (this.valid[index] === 0) {
      this.valid[index] = 1;
      this.count++;
    }
  }

  invalidateAll(): void {
    if (this.count === 0) return;
    this.valid.fill(0);
    this.count = 0;
  }

  /** Drop entries [first, first + count) (clipped to the index space). */
  invalidateRange(first: number, count: number): void {
    const end = Math.min(IEC_ENTRIES, first + count);
    for (let i = Math.max(0, first); i < end; i++) {
      if (this.valid[i] === 1) {
        this.valid[i] = 0;
        this.count--;
      }
    }
  }

  get size(): number {
    return this.count;
  }

  /** Valid entries as [index, w0, w1, w2, w3] (save()). */
  entries(): number[][] {
    const out: number[][] = [];
    for (let i = 0; i < IEC_ENTRIES && out.length < this.count; i++) {
      if (this.valid[i] === 1) out.push([i, this.word(i, 0), this.word(i, 1), this.word(i, 2), this.word(i, 3)]);
    }
    return out;
  }
}
