import { describe, expect, test } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { decodeKvmX2apicApi, encodeKvmX2apicApi } from '../../../src/msi/formats/kvm-x2apic-api.ts';
import { bit, u8, validDeliveryMode, reencodesWhenNothingIsReported } from './bit-flips.ts';

describe('KVM x2APIC MSI API', () => {
  test('address_hi 0x100 supplies destination bits 31:8 = 0x1, so dest 0x23 becomes 0x123', () => {
    // address_hi[31:8] = 0x100 >> 8 = 0x1 -> dest[31:8] = 0x1; dest[7:0] = addr 19:12 = 0x23 -> 0x123.
    const decoded = decodeKvmX2apicApi(0x100_fee23000n, 0x31);
    expect(decoded.destination).toBe(0x123);
    expect(decoded.rejected).toBe(false);
    expect(decoded.reserved).toEqual([]);
  });

  test('address_hi 0x1 is rejected: bits 7:0 must be zero', () => {
    const decoded = decodeKvmX2apicApi(0x1_fee23000n, 0x31);
    expect(decoded.rejected).toBe(true);
    expect(decoded.destination).toBe(0x23);
    expect(decoded.reserved).toEqual(['addr[39:32] = 0x1 must be 0 (address_hi[7:0]): KVM rejects the route with -EINVAL']);
  });

  test('a 32-bit destination encodes its high 24 bits into address_hi[31:8]', () => {
    // 0x12345678: bits 31:8 -> address_hi = 0x12345600; bits 7:0 = 0x78 -> addr 19:12.
    expect(encodeKvmX2apicApi({ destination: 0x12345678, vector: 0x31 })).toEqual({ addr: 0x12345600_fee78000n, data: 0x31 });
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

  fcTest.prop([fields])('decode inverts encode for every 32-bit destination', (f) => {
    const { addr, data } = encodeKvmX2apicApi(f);
    expect(decodeKvmX2apicApi(addr, data)).toEqual({ ...f, rejected: false, reserved: [] });
  });

  reencodesWhenNothingIsReported(fields, encodeKvmX2apicApi, decodeKvmX2apicApi);
});
