import { describe, expect, test } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { decodeXenPirq, encodeXenPirq } from '../../../src/msi/formats/xen-pirq.ts';
import { validDeliveryMode, reencodesWhenNothingIsReported } from './bit-flips.ts';

describe('Xen PIRQ format', () => {
  test('PIRQ 4166 is addr 0x1000_FEE46000 with vector 0', () => {
    // 4166 = 0x1046: bits 7:0 = 0x46 -> addr 19:12 (0xFEE46000); bits 31:8 = 0x10 -> addr 63:40 = 0x10 << 40 = 0x1000_0000_0000.
    // Data: vector 0, delivery mode ExtINT (7 << 8 = 0x700) as current Linux writes it.
    expect(encodeXenPirq({ pirq: 4166 })).toEqual({ addr: 0x1000_fee46000n, data: 0x700 });
    expect(decodeXenPirq(0x1000_fee46000n, 0x700)).toEqual({ pirq: 4166, deliveryMode: 7, isPirq: true, reserved: [] });
  });

  test('a non-zero vector is not a PIRQ message', () => {
    const decoded = decodeXenPirq(0xfee46000n, 0x31);
    expect(decoded.isPirq).toBe(false);
    expect(decoded.reserved).toEqual(['data[7:0] = 0x31 is a vector: a PIRQ message needs vector 0']);
  });

  test('addr[39:32] and addr[11:4] are reserved', () => {
    // addr_hi = 0x1001: bits 7:0 = 0x01 (reserved), bits 31:8 = 0x10 (PIRQ bits 31:8).
    expect(decodeXenPirq(0x1001_fee46010n, 0).reserved).toEqual([
      'addr[39:32] = 0x1 is reserved in Xen PIRQ format',
      'addr[11:4] = 0x1 is reserved in Xen PIRQ format',
    ]);
  });

  test('a PIRQ wider than 32 bits is a usage error', () => {
    expect(() => encodeXenPirq({ pirq: 2 ** 32 })).toThrow(/Xen PIRQ format: pirq = 4294967296 is out of range/);
  });

  const fields = fc.record({ pirq: fc.nat({ max: 0xffffffff }), deliveryMode: validDeliveryMode });

  fcTest.prop([fields])('decode inverts encode', (f) => {
    const { addr, data } = encodeXenPirq(f);
    expect(decodeXenPirq(addr, data)).toEqual({ ...f, isPirq: true, reserved: [] });
  });

  reencodesWhenNothingIsReported(fields, encodeXenPirq, decodeXenPirq);
});
