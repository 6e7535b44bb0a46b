import { describe, expect, test } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { decodeExtDestId, encodeExtDestId } from '../../../src/msi/formats/ext-dest-id.ts';
import { decodeCompat } from '../../../src/msi/formats/compat.ts';
import { bit, u8, validDeliveryMode, reencodesWhenNothingIsReported } from './bit-flips.ts';

describe('15-bit extended destination ID', () => {
  test('dest 0x1234: bits 7:0 in addr 19:12, bits 14:8 in addr 11:5', () => {
    // addr = 0xFEE00000 | 0x34 << 12 | 0x12 << 5 = 0xFEE34000 | 0x240 = 0xFEE34240.
    const addr = 0xfee00000n | (0x34n << 12n) | (0x12n << 5n);
    expect(addr).toBe(0xfee34240n);
    expect(decodeExtDestId(addr, 0x40).destination).toBe(0x1234);
    expect(encodeExtDestId({ destination: 0x1234, vector: 0x40 })).toEqual({ addr: 0xfee34240n, data: 0x40 });
  });

  test('the same address is reserved-bit noise to a compatibility-format reader', () => {
    expect(decodeCompat(0xfee34240n, 0x40).destination).toBe(0x34);
    expect(decodeCompat(0xfee34240n, 0x40).reserved).toHaveLength(1);
    expect(decodeExtDestId(0xfee34240n, 0x40).reserved).toEqual([]);
  });

  test('with addr[4] = 1 the extension is off and bits 11:5 are not a destination', () => {
    // QEMU's swizzle leaves a remappable-format address alone, so only dest[7:0] = 0x34 remains.
    const decoded = decodeExtDestId(0xfee34250n, 0x40);
    expect(decoded.destination).toBe(0x34);
    expect(decoded.reserved[0]).toBe('addr[11:5] = 0x12 is not a destination: addr[4] = 1 marks Intel remappable format');
  });

  test('a destination wider than 15 bits is a usage error', () => {
    expect(() => encodeExtDestId({ destination: 0x8000, vector: 0 })).toThrow(/destination = 32768 is out of range 0..32767/);
  });

  const fields = fc.record({
    destination: fc.integer({ min: 0, max: 0x7fff }),
    destMode: bit,
    redirectionHint: bit,
    vector: u8,
    deliveryMode: validDeliveryMode,
    triggerMode: bit,
    level: bit,
  });

  fcTest.prop([fields])('decode inverts encode for every 15-bit destination', (f) => {
    const { addr, data } = encodeExtDestId(f);
    expect(decodeExtDestId(addr, data)).toEqual({ ...f, reserved: [] });
  });

  reencodesWhenNothingIsReported(fields, encodeExtDestId, decodeExtDestId);
});
