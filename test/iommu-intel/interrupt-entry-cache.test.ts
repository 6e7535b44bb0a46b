/**
 * The IEC's storage: entries anywhere in the 16-bit index space, on either side of a storage block's edge, are kept
 * and dropped one by one (VT-d §6.5.2.7: an index-selective invalidation names 2^IM entries from IIDX).
 */
import { describe, expect, it } from 'vitest';
import { InterruptEntryCache } from '../../src/iommu-intel/interrupt-entry-cache.ts';

describe('InterruptEntryCache', () => {
  it('a new cache holds nothing', () => {
    const iec = new InterruptEntryCache();
    expect(iec.size).toBe(0);
    expect(iec.has(0)).toBe(false);
    expect(iec.has(0xffff)).toBe(false);
    expect(iec.entries()).toEqual([]);
  });

  it('keeps entries at 0, 255, 256 and 65535 apart and drops exactly the invalidated range', () => {
    const iec = new InterruptEntryCache();
    for (const index of [0, 255, 256, 0xffff]) iec.fill(index, index, index + 1, index + 2, index + 3);
    expect(iec.size).toBe(4);
    expect(iec.word(255, 0)).toBe(255);
    expect(iec.word(256, 3)).toBe(259);
    expect(iec.word(0xffff, 1)).toBe(0x10000);
    // IIDX 254, IM 2: entries 254..257.
    iec.invalidateRange(254, 4);
    expect([0, 255, 256, 0xffff].map((i) => iec.has(i))).toEqual([true, false, false, true]);
    expect(iec.entries()).toEqual([[0, 0, 1, 2, 3], [0xffff, 0xffff, 0x10000, 0x10001, 0x10002]]);
    // A refill after invalidation holds the new value.
    iec.fill(256, 7, 8, 9, 10);
    expect(iec.word(256, 0)).toBe(7);
    iec.invalidateAll();
    expect(iec.size).toBe(0);
    expect(iec.has(256)).toBe(false);
  });

  it('filling an index twice keeps one entry with the last value', () => {
    const iec = new InterruptEntryCache();
    iec.fill(300, 1, 2, 3, 4);
    iec.fill(300, 5, 6, 7, 8);
    expect(iec.size).toBe(1);
    expect(iec.entries()).toEqual([[300, 5, 6, 7, 8]]);
  });
});
