import { describe, expect, test } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { decodeAmdXtIntCap, decodeAmdXtIntCapInto, encodeAmdXtIntCap } from '../../../src/msi/formats/amd-xt-intcap.ts';
import { DeliveryMode, newApicMessage } from '../../../src/msi/interrupt.ts';
import { bit, u8 } from './bit-flips.ts';

describe('AMD XT interrupt control register', () => {
  test('layout: dest[23:0] in 31:8, DM in 2, vector in 39:32, IntType in 40, dest[31:24] in 63:56', () => {
    // dest 0x12345678, logical, vector 0x41, IntType 0:
    //   low  = 0x345678 << 8 | 1 << 2 = 0x34567804
    //   high = 0x12 << 24 | 0x41      = 0x12000041
    expect(encodeAmdXtIntCap({ destination: 0x12345678, destMode: 1, vector: 0x41 })).toBe(0x12000041_34567804n);
    // IntType = 1 sets bit 40 = high-dword bit 8.
    expect(encodeAmdXtIntCap({ destination: 0x12345678, destMode: 1, vector: 0x41, intType: 1 })).toBe(0x12000141_34567804n);
    expect(decodeAmdXtIntCap(0x12000141_34567804n)).toEqual({ destination: 0x12345678, destMode: 1, vector: 0x41, intType: 1, reserved: [] });
  });

  test('reserved bits 1:0, 7:3 and 55:41 are reported', () => {
    // bit 0, bit 3 and bit 41 set: each field reads as 0x1.
    const value = (1n << 41n) | (1n << 3n) | 1n;
    expect(decodeAmdXtIntCap(value).reserved).toEqual([
      'bits[1:0] = 0x1 are reserved in the AMD XT interrupt control register',
      'bits[7:3] = 0x1 are reserved in the AMD XT interrupt control register',
      'bits[55:41] = 0x1 are reserved in the AMD XT interrupt control register',
    ]);
  });

  test('the hot-path reader yields a 32-bit-destination edge message', () => {
    const msg = decodeAmdXtIntCapInto(0x34567804, 0x12000041, newApicMessage());
    expect(msg).toEqual({ dest: 0x12345678, destWidth: 32, destMode: 1, deliveryMode: DeliveryMode.Fixed, vector: 0x41, trigger: 0, level: 1, redirectionHint: 0 });
  });

  test('a vector above 0xFF is a usage error', () => {
    expect(() => encodeAmdXtIntCap({ destination: 0, vector: 0x100 })).toThrow(/AMD XT interrupt control register: vector = 256 is out of range 0..255/);
  });

  const fields = fc.record({ destination: fc.nat({ max: 0xffffffff }), destMode: bit, vector: u8, intType: bit });

  fcTest.prop([fields])('decode inverts encode', (f) => {
    expect(decodeAmdXtIntCap(encodeAmdXtIntCap(f))).toEqual({ ...f, reserved: [] });
  });

  fcTest.prop([fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })])('a value with no reported bits re-encodes to itself', (value) => {
    const decoded = decodeAmdXtIntCap(value);
    if (decoded.reserved.length === 0) expect(encodeAmdXtIntCap(decoded)).toBe(value);
    else expect(encodeAmdXtIntCap(decoded)).not.toBe(value);
  });
});
