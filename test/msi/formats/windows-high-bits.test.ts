import { describe, expect, test } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { decodeWindowsHighBits, encodeWindowsHighBits } from '../../../src/msi/formats/windows-high-bits.ts';
import { bit, u8, validDeliveryMode, reencodesWhenNothingIsReported } from './bit-flips.ts';

describe('Windows high-bits layout', () => {
  test('dest 0x12345 goes to addr 0x00000123_FEE45000', () => {
    // dest[31:8] = 0x123 -> addr 55:32 (address_hi 23:0); dest[7:0] = 0x45 -> addr 19:12.
    expect(encodeWindowsHighBits({ destination: 0x12345, vector: 0x31 })).toEqual({ addr: 0x00000123_fee45000n, data: 0x31 });
    expect(decodeWindowsHighBits(0x00000123_fee45000n, 0x31).destination).toBe(0x12345);
  });

  test('addr[63:56] must be zero in this layout', () => {
    expect(decodeWindowsHighBits(0x01000123_fee45000n, 0x31).reserved).toEqual(['addr[63:56] = 0x1 must be 0 in the Windows high-bits layout']);
  });

  test('the largest destination fits: 0xFFFFFFFF -> address_hi 0x00FFFFFF', () => {
    expect(encodeWindowsHighBits({ destination: 0xffffffff, vector: 0 }).addr).toBe(0x00ffffff_feeff000n);
  });

  const fields = fc.record({
    destination: fc.nat({ max: 0xffffffff }),
    destMode: bit,
    redirectionHint: bit,
    vector: u8,
    deliveryMode: validDeliveryMode,
    triggerMode: bit,
    level: bit,
  });

  fcTest.prop([fields])('decode inverts encode', (f) => {
    const { addr, data } = encodeWindowsHighBits(f);
    expect(decodeWindowsHighBits(addr, data)).toEqual({ ...f, reserved: [] });
  });

  reencodesWhenNothingIsReported(fields, encodeWindowsHighBits, decodeWindowsHighBits);
});
