/**
 * Stress-campaign finding 2: an index-selective IEC invalidation covers 2^IM indices (VT-d 6.5.2.7, IM 31:27,
 * "invalidate 2^IM entries"), but its cost must follow what the cache holds, not the size of the range: one IQT write
 * publishing a full queue of IM = 15/16 descriptors took seconds when each walked all of its 32768/65536 indices.
 * The cost is counted, not timed: the cache reports how many slots its invalidations examined.
 */
import { describe, expect, it } from 'vitest';
import { InterruptEntryCache, IEC_ENTRIES } from '../../src/iommu-intel/interrupt-entry-cache.ts';
import { makeUnit } from '../iommu-intel/helpers.ts';

const GCMD = 0x18;
const GSTS = 0x1c;
const FSTS = 0x34;
const IQH = 0x80;
const IQT = 0x88;
const IQA = 0x90;
const QIE = 1 << 26;
const QUEUE = 0x100000;

/** IEC descriptor qw0: type 4, G (bit 4) = 1 index-selective, IM in 31:27, IIDX in 47:32 (VT-d 6.5.2.7). */
function iecDescriptor(index: number, im: number): bigint {
  return 4n | (1n << 4n) | (BigInt(im) << 27n) | (BigInt(index) << 32n);
}

/** Eight cached IRTEs, all in the lower half of the index space (indices 0x10, 0x20, ..., 0x80). */
const CACHED = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80];

/**
 * Publish a full 32768-descriptor queue of IEC descriptors with mask `im` in one IQT write, with CACHED in the
 * cache; returns the slots the invalidations examined and the entries left in the cache.
 */
function fullQueue(im: number): { visits: number; left: number } {
  const { unit, host } = makeUnit();
  for (const i of CACHED) unit.iec.fill(i, 1, 0, 0, 0);
  // QS = 7: 2^(7+8) = 32768 descriptors of 16 bytes. The queue holds at most size - 1 descriptors (head = tail
  // means empty), so the tail goes at the last slot.
  const entries = 2 ** 15;
  unit.write(IQA, 8, BigInt(QUEUE) | 7n);
  unit.write(IQT, 8, 0n);
  unit.write(GCMD, 4, BigInt(QIE));
  expect(Number(unit.read(GSTS, 4)) & QIE).toBe(QIE);
  for (let i = 0; i < entries - 1; i++) host.memory.write128(QUEUE + 16 * i, iecDescriptor((i * 7) & 0xffff, im), 0n);
  const before = unit.iec.invalidationVisits;
  unit.write(IQT, 4, BigInt((entries - 1) * 16));
  expect(Number(unit.read(FSTS, 4)) & 0x10).toBe(0); // no IQE: every descriptor was valid
  expect(Number(unit.read(IQH, 4))).toBe((entries - 1) * 16);
  return { visits: unit.iec.invalidationVisits - before, left: unit.iec.size };
}

describe('finding 2: IEC invalidation cost follows the cache, not 2^IM', () => {
  it('a queue of IM = 0 descriptors examines one index each: 32767 in all', () => {
    // IIDX = 7i (mod 2^16): a range of one index is smaller than the cache (8), so each walks its range.
    expect(fullQueue(0).visits).toBe(32767);
  });

  for (const im of [15, 16, 31]) {
    it(`a full queue of IM = ${im} descriptors examines the cached entries once, not 2^IM indices per descriptor`, () => {
      // Descriptor 0 (IIDX 0) covers indices 0..2^IM - 1 (all of them for IM >= 16; IM 31 is clipped to the index
      // space): its range is larger than the cache, so it walks the 8 cached entries and drops them all. Every later
      // descriptor walks an empty cache. Before the fix each walked its 2^15..2^16 indices: over 10^9 slots a queue.
      expect(fullQueue(im)).toEqual({ visits: CACHED.length, left: 0 });
    });
  }
});

describe('finding 2: the IEC drops exactly the entries in the range', () => {
  it('invalidateRange removes cached entries inside [first, first + count) and keeps the rest, whichever way it walks', () => {
    const iec = new InterruptEntryCache();
    const cached = [0, 1, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff];
    for (const i of cached) iec.fill(i, i, 0, 0, 0);
    iec.invalidateRange(0x8000, 0x8000); // 2^15 entries from 0x8000: the upper half
    expect(cached.filter((i) => iec.has(i))).toEqual([0, 1, 0x7fff]);
    expect(iec.size).toBe(3);
    iec.invalidateRange(1, 1); // a range smaller than the cache
    expect(cached.filter((i) => iec.has(i))).toEqual([0, 0x7fff]);
    iec.fill(0x8001, 9, 9, 9, 9);
    expect(iec.word(0x8001, 0)).toBe(9);
    iec.invalidateRange(0, IEC_ENTRIES);
    expect(iec.size).toBe(0);
    expect(cached.some((i) => iec.has(i))).toBe(false);
  });

  it('lists its entries in index order (snapshots are canonical)', () => {
    const iec = new InterruptEntryCache();
    for (const i of [9, 3, 0x8000, 1]) iec.fill(i, i, 0, 0, 0);
    iec.invalidateRange(3, 1);
    expect(iec.entries().map((e) => e[0])).toEqual([1, 9, 0x8000]);
  });
});
