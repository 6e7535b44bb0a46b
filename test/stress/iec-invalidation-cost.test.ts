/**
 * Stress-campaign finding 2 (issue 10): an index-selective IEC invalidation covers 2^IM indices (VT-d 6.5.2.7,
 * IM 31:27, "invalidate 2^IM entries"), but its cost must follow what the cache holds, not the size of
 * the range: one IQT write publishing a full queue of IM = 15/16 descriptors took seconds when each walked all of
 * its 32768/65536 indices.
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

/** Publish a full 32768-descriptor queue of IEC descriptors with mask `im` in one IQT write; returns its milliseconds. */
function timeFullQueue(im: number): number {
  const { unit, host } = makeUnit();
  // QS = 7: 2^(7+8) = 32768 descriptors of 16 bytes. The queue holds at most size - 1 descriptors (head = tail
  // means empty), so the tail goes at the last slot.
  const entries = 2 ** 15;
  unit.write(IQA, 8, BigInt(QUEUE) | 7n);
  unit.write(IQT, 8, 0n);
  unit.write(GCMD, 4, BigInt(QIE));
  expect(Number(unit.read(GSTS, 4)) & QIE).toBe(QIE);
  for (let i = 0; i < entries - 1; i++) host.memory.write128(QUEUE + 16 * i, iecDescriptor((i * 7) & 0xffff, im), 0n);
  const start = performance.now();
  unit.write(IQT, 4, BigInt((entries - 1) * 16));
  const elapsed = performance.now() - start;
  expect(Number(unit.read(FSTS, 4)) & 0x10).toBe(0); // no IQE: every descriptor was valid
  expect(Number(unit.read(IQH, 4))).toBe((entries - 1) * 16);
  return elapsed;
}

describe('finding 2: IEC invalidation cost follows the cache, not 2^IM', () => {
  for (const im of [15, 16, 31]) {
    it(`a full queue of IM = ${im} descriptors costs about what a queue of IM = 0 descriptors costs`, () => {
      // Compared with the same queue of single-entry invalidations, timed in the same test, so the bound holds on a
      // loaded machine too. Before the fix each IM >= 15 descriptor walked 2^15..2^16 indices: thousands of times
      // the IM = 0 queue (1.4–3.3 s per queue here, up to 27 s in the campaign); after it the two cost the same.
      // The fastest of three runs each, so that one garbage collection or JIT pause on a loaded machine does not
      // decide the ratio.
      const fastest = (mask: number): number => Math.min(timeFullQueue(mask), timeFullQueue(mask), timeFullQueue(mask));
      const baseline = Math.max(fastest(0), 5);
      const masked = fastest(im);
      // After the fix the ratio is about 1 on an idle machine and has reached 10.5 under a load average of 15 on two
      // cores; with the old code reverted it measured 29–150. 20 separates the two.
      expect(masked / baseline).toBeLessThan(20);
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
