/**
 * The XT interrupt control register the IOMMU reads for its own interrupts when Control.IntCapXTEn = 1 (AMD IOMMU spec
 * §3.4; Linux union intcapxt): DestMode in bit 2, destination[23:0] in 31:8, vector in 39:32, IntType in 40,
 * destination[31:24] in 63:56. Expected values are worked out from that layout by hand.
 */
import { describe, expect, test } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { composeXtInterruptControl, decodeXtInterruptControl } from '../../src/iommu-amd/xt-interrupt-control.ts';
import { DeliveryMode, newApicMessage } from '../../src/msi/interrupt.ts';

const dwords = (v: bigint): [number, number] => [Number(v & 0xffffffffn), Number(v >> 32n)];

describe('AMD XT interrupt control register', () => {
  test('layout: dest[23:0] in 31:8, DM in 2, vector in 39:32, IntType in 40, dest[31:24] in 63:56', () => {
    // dest 0x12345678, logical, vector 0x41, IntType 0:
    //   low  = 0x345678 << 8 | 1 << 2 = 0x34567804
    //   high = 0x12 << 24 | 0x41      = 0x12000041
    expect(composeXtInterruptControl(0x12345678, 0x41, 1)).toBe(0x12000041_34567804n);
    // IntType = 1 sets bit 40 = high-dword bit 8.
    expect(composeXtInterruptControl(0x12345678, 0x41, 1, 1)).toBe(0x12000141_34567804n);
  });

  test('the IOMMU reads it as a 32-bit-destination edge message', () => {
    const msg = decodeXtInterruptControl(0x34567804, 0x12000041, newApicMessage());
    expect(msg).toEqual({ dest: 0x12345678, destWidth: 32, destMode: 1, deliveryMode: DeliveryMode.Fixed, vector: 0x41, trigger: 0, level: 1, redirectionHint: 0 });
  });

  test('reserved bits 1:0, 7:3 and 55:41 do not change the message', () => {
    const [lo, hi] = dwords(0x12000041_34567804n | (1n << 41n) | (1n << 3n) | 1n);
    expect(decodeXtInterruptControl(lo, hi, newApicMessage())).toEqual(decodeXtInterruptControl(0x34567804, 0x12000041, newApicMessage()));
  });

  fcTest.prop([fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xff }), fc.nat({ max: 1 }), fc.nat({ max: 1 })])(
    'decode inverts compose',
    (dest, vector, destMode, intType) => {
      const [lo, hi] = dwords(composeXtInterruptControl(dest, vector, destMode, intType));
      const msg = decodeXtInterruptControl(lo, hi, newApicMessage());
      expect([msg.dest, msg.vector, msg.destMode, msg.deliveryMode]).toEqual([dest, vector, destMode, intType]);
    },
  );
});
