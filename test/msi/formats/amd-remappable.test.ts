import { describe, expect, test } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { amdRemappableIndex2k, decodeAmdRemappable, encodeAmdRemappable } from '../../../src/msi/formats/amd-remappable.ts';
import { bit, reencodesWhenNothingIsReported } from './bit-flips.ts';

describe('AMD remappable format', () => {
  test('the index is data[10:0] and the address carries nothing but 0xFEE', () => {
    expect(encodeAmdRemappable({ index: 0x31 })).toEqual({ addr: 0xfee00000n, data: 0x31 });
    const decoded = decodeAmdRemappable(0xfee00000n, 0x31);
    expect(decoded.index).toBe(0x31);
    expect(decoded.messageType).toBe(0);
    expect(decoded.remapped).toBe(true);
    expect(decoded.reserved).toEqual([]);
  });

  test('data[10:8] doubles as the message type', () => {
    // 0x105: index 0x105 = 261, bits 10:8 = 001 (arbitrated): still remapped.
    const arbitrated = decodeAmdRemappable(0xfee00000n, 0x105);
    expect([arbitrated.index, arbitrated.messageType, arbitrated.messageTypeName, arbitrated.remapped]).toEqual([0x105, 1, 'Arbitrated', true]);
    // 0x431: bits 10:8 = 100 (NMI): passed through or aborted per DTE.NMIPass, never looked up.
    const nmi = decodeAmdRemappable(0xfee00000n, 0x431);
    expect([nmi.messageType, nmi.messageTypeName, nmi.remapped]).toEqual([4, 'NMI', false]);
  });

  test('2K mode: DM = 0 uses data[8:0], DM = 1 uses data[10:0]', () => {
    // data 0x7FF: data[8:0] = 0x1FF, data[10:0] = 0x7FF; DM is addr bit 2 (0xFEE00004).
    expect(decodeAmdRemappable(0xfee00000n, 0x7ff).index2k).toBe(0x1ff);
    expect(decodeAmdRemappable(0xfee00004n, 0x7ff).index2k).toBe(0x7ff);
    expect(amdRemappableIndex2k(0xfee00004, 0x7ff)).toBe(0x7ff);
    expect(encodeAmdRemappable({ index: 0x7ff, destMode: 1 })).toEqual({ addr: 0xfee00004n, data: 0x7ff });
  });

  test('bits the IOMMU does not interpret are reported', () => {
    // data 0x8031: the I/O APIC's trigger bit 15 -> data[31:11] = 0x8000 >> 11 = 0x10. addr 0xFEE12000: 19:3 = 0x2400.
    expect(decodeAmdRemappable(0xfee12000n, 0x8031).reserved).toEqual([
      'addr[19:3] = 0x2400 is not interpreted in AMD remappable format',
      'data[31:11] = 0x10 is not interpreted in AMD remappable format',
    ]);
    expect(decodeAmdRemappable(0xfed00000n, 0).reserved).toEqual(['addr[31:20] = 0xfed is not 0xfee: outside the interrupt range (AMD remappable format)']);
  });

  test('an index above 2047 is a usage error', () => {
    expect(() => encodeAmdRemappable({ index: 2048 })).toThrow('AMD remappable format: index = 2048 is out of range 0..2047 (0x7ff, 11 bits)');
  });

  const fields = fc.record({ index: fc.integer({ min: 0, max: 0x7ff }), destMode: bit });

  fcTest.prop([fields])('decode inverts encode', (f) => {
    const { addr, data } = encodeAmdRemappable(f);
    const decoded = decodeAmdRemappable(addr, data);
    expect({ index: decoded.index, destMode: decoded.destMode, reserved: decoded.reserved }).toEqual({ ...f, reserved: [] });
  });

  reencodesWhenNothingIsReported(fields, encodeAmdRemappable, decodeAmdRemappable);
});
