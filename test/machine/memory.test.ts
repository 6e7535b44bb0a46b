import { describe, expect, it } from 'vitest';
import { SparseMemory } from '../../src/core/memory.ts';
import { UsageError } from '../../src/core/errors.ts';

describe('sparse guest memory', () => {
  it('reads zero where nothing was written, and allocates nothing for reads', () => {
    const m = new SparseMemory();
    expect(m.read32(0x1234_5678_9000)).toBe(0);
    expect(m.read64(0x10)).toBe(0n);
    expect(m.touchedPages()).toEqual([]);
  });

  it('stores little-endian values anywhere in the 52-bit space, e.g. a stray MSI at 0x123_FEE45000', () => {
    const m = new SparseMemory();
    m.write32(0x123_fee4_5000, 0x0000_0041);
    expect(m.read32(0x123_fee4_5000)).toBe(0x41);
    expect(m.read8(0x123_fee4_5000)).toBe(0x41);
    expect(m.isTouched(0x123_fee4_5000)).toBe(true);
  });

  it('joins accesses that straddle a page boundary', () => {
    const m = new SparseMemory();
    m.write64(0xffc, 0x1122334455667788n);
    expect(m.read64(0xffc)).toBe(0x1122334455667788n);
    expect(m.read32(0x1000)).toBe(0x11223344);
    expect(m.read32(0xffc)).toBe(0x55667788);
  });

  it('refuses addresses outside the physical address space', () => {
    const m = new SparseMemory();
    expect(() => m.write32(2 ** 52 - 2, 1)).toThrow(UsageError);
    expect(() => m.read32(-4)).toThrow(UsageError);
  });
});
