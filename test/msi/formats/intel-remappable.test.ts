import { describe, expect, test } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { decodeIntelRemappable, encodeIntelRemappable, intelRemappableIndex } from '../../../src/msi/formats/intel-remappable.ts';
import { bit, reencodesWhenNothingIsReported } from './bit-flips.ts';

const u16 = fc.integer({ min: 0, max: 0xffff });

describe('Intel remappable format', () => {
  test('ath11k example: addr 0xFEE00578 data 0 is SHV=1, handle 0x2B, IRTE index 43', () => {
    // 0x578 = 0b0101_0111_1000: bit 4 = 1 (remappable), bit 3 = 1 (SHV), bit 2 = 0 (handle[15]);
    // handle[14:0] = 0x578 >> 5 = 0x2B; subhandle = data[15:0] = 0, so index = 0x2B + 0 = 43.
    expect(decodeIntelRemappable(0xfee00578n, 0)).toEqual({ handle: 0x2b, shv: 1, subhandle: 0, index: 43, reserved: [] });
  });

  test('handle bit 15 lives in addr bit 2', () => {
    // handle 0x8001: bits 14:0 = 1 -> addr 19:5 = 1 << 5 = 0x20; bit 15 -> addr bit 2 = 0x4; format bit 0x10.
    // addr = 0xFEE00000 | 0x20 | 0x10 | 0x4 = 0xFEE00034 (the same address the I/O APIC example produces).
    expect(encodeIntelRemappable({ handle: 0x8001 })).toEqual({ addr: 0xfee00034n, data: 0 });
    expect(decodeIntelRemappable(0xfee00034n, 0).handle).toBe(0x8001);
  });

  test('with SHV = 1 the subhandle is added to the handle', () => {
    // Multi-message MSI: vector i of a block writes data = i; handle 0x10 + subhandle 3 = IRTE 0x13.
    const { addr, data } = encodeIntelRemappable({ handle: 0x10, shv: 1, subhandle: 3 });
    expect(decodeIntelRemappable(addr, data).index).toBe(0x13);
  });

  test('the index wraps modulo 65536', () => {
    // 0xFFFF + 2 = 0x10001, truncated to 16 bits = 0x0001 (QEMU and VirtualBox add in uint16_t).
    expect(intelRemappableIndex(0xffff, 1, 2)).toBe(1);
    const { addr, data } = encodeIntelRemappable({ handle: 0xffff, shv: 1, subhandle: 2 });
    expect(decodeIntelRemappable(addr, data).index).toBe(1);
  });

  test('with SHV = 0 the data bits are ignored for the index', () => {
    // An I/O APIC message carries vector and trigger in the data (0x8031); SHV = 0 so the index is the handle, 5.
    const { addr } = encodeIntelRemappable({ handle: 5 });
    const decoded = decodeIntelRemappable(addr, 0x8031);
    expect(decoded.index).toBe(5);
    expect(decoded.subhandle).toBe(0x8031);
    expect(decoded.reserved).toEqual([]);
  });

  test('data[31:16], addr[1:0], addr[63:32] and a clear format bit are reported', () => {
    expect(decodeIntelRemappable(0xfee00578n, 0x12340000).reserved).toEqual(['data[31:16] = 0x1234 is reserved in Intel remappable format']);
    expect(decodeIntelRemappable(0xfee0057bn, 0).reserved).toEqual(["addr[1:0] = 0x3 is don't-care in Intel remappable format (ignored)"]);
    expect(decodeIntelRemappable(0xfee01000n, 0).reserved).toEqual(['addr[4] = 0x0 selects compatibility format; Intel remappable format needs 1']);
    expect(decodeIntelRemappable(0x1_fee00578n, 0).reserved).toEqual([
      'addr[63:32] = 0x1 must be 0 in Intel remappable format: the write misses the interrupt window',
    ]);
  });

  test('out-of-range handle and subhandle are usage errors', () => {
    expect(() => encodeIntelRemappable({ handle: 0x10000 })).toThrow('Intel remappable format: handle = 65536 is out of range 0..65535 (0xffff, 16 bits)');
    expect(() => encodeIntelRemappable({ handle: 0, shv: 1, subhandle: -1 })).toThrow(/subhandle = -1/);
  });

  const fields = fc.record({ handle: u16, shv: bit, subhandle: u16 });

  fcTest.prop([fields])('decode inverts encode', (f) => {
    const { addr, data } = encodeIntelRemappable(f);
    expect(decodeIntelRemappable(addr, data)).toEqual({ ...f, index: f.shv ? (f.handle + f.subhandle) % 65536 : f.handle, reserved: [] });
  });

  reencodesWhenNothingIsReported(fields, encodeIntelRemappable, decodeIntelRemappable);
});
