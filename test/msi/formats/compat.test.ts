import { describe, expect, test } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { decodeCompat, decodeCompatInto, encodeCompat } from '../../../src/msi/formats/compat.ts';
import { newApicMessage } from '../../../src/msi/interrupt.ts';
import { UsageError } from '../../../src/core/errors.ts';
import { bit, u8, validDeliveryMode, reencodesWhenNothingIsReported } from './bit-flips.ts';

const compatFields = fc.record({
  destination: u8,
  destMode: bit,
  redirectionHint: bit,
  vector: u8,
  deliveryMode: validDeliveryMode,
  triggerMode: bit,
  level: bit,
});

describe('compatibility format', () => {
  test('dest 0x01 vector 0x31 fixed edge encodes to 0xFEE01000 / 0x4031 with the level bit', () => {
    // addr = 0xFEE00000 | 0x01 << 12 = 0xFEE01000; data = 0x31 | 0 << 8 | 1 << 14 = 0x4031.
    expect(encodeCompat({ destination: 0x01, vector: 0x31, level: 1 })).toEqual({ addr: 0xfee01000n, data: 0x4031 });
  });

  test('logical, redirection hint, lowest priority, level', () => {
    // addr = 0xFEE00000 | 0x0F << 12 | RH 1 << 3 | DM 1 << 2 = 0xFEE0F00C; data = 0x31 | 1 << 8 | 1 << 15 = 0x8131.
    const msg = encodeCompat({ destination: 0x0f, vector: 0x31, destMode: 1, redirectionHint: 1, deliveryMode: 1, triggerMode: 1 });
    expect(msg).toEqual({ addr: 0xfee0f00cn, data: 0x8131 });
    expect(decodeCompat(msg.addr, msg.data)).toEqual({
      destination: 0x0f,
      destMode: 1,
      redirectionHint: 1,
      vector: 0x31,
      deliveryMode: 1,
      triggerMode: 1,
      level: 0,
      reserved: [],
    });
  });

  test('data[31:16] is reserved and reported', () => {
    expect(decodeCompat(0xfee01000n, 0x12340031).reserved).toEqual(['data[31:16] = 0x1234 is reserved in compatibility format']);
  });

  test('data[13:11], addr[11:5], addr[4] and addr[1:0] are reported', () => {
    // addr 0xFEE01033: bits 11:5 = 0x033 >> 5 = 1, bit 4 = 1, bits 1:0 = 3. data 0x1831: bits 13:11 = 0x1800 >> 11 = 3.
    const { reserved, destination, vector } = decodeCompat(0xfee01033n, 0x1831);
    expect(destination).toBe(0x01);
    expect(vector).toBe(0x31);
    expect(reserved).toEqual([
      'addr[11:5] = 0x1 is reserved in compatibility format (the 15-bit extended destination ID reads it as dest[14:8])',
      'addr[4] = 0x1 is reserved in compatibility format (it is the Intel remappable-format flag)',
      "addr[1:0] = 0x3 is don't-care in compatibility format (ignored)",
      'data[13:11] = 0x3 is reserved in compatibility format',
    ]);
  });

  test('an address above 4 GiB or outside 0xFEE is reported, not dropped', () => {
    expect(decodeCompat(0x1ff_fee00000n, 0x31).reserved).toEqual([
      'addr[63:32] = 0x1ff must be 0 in compatibility format: the write misses the APIC window',
    ]);
    expect(decodeCompat(0xfed00000n, 0x31).reserved).toEqual(['addr[31:20] = 0xfed is not 0xfee: not an interrupt message (compatibility format)']);
  });

  test('StartUp and remote-read delivery modes are invalid in an MSI', () => {
    expect(decodeCompat(0xfee00000n, 0x631).reserved).toEqual(['data[10:8] = 0x6 (StartUp) is not a valid MSI delivery mode (SDM 10.11.2)']);
    expect(() => encodeCompat({ destination: 0, vector: 0x31, deliveryMode: 3 })).toThrow(/deliveryMode = 3 \(RemoteRead\) is not valid in an MSI/);
  });

  test('out-of-range fields are usage errors naming the field and range', () => {
    expect(() => encodeCompat({ destination: 256, vector: 0 })).toThrow(UsageError);
    expect(() => encodeCompat({ destination: 256, vector: 0 })).toThrow('compatibility format: destination = 256 is out of range 0..255 (0xff, 8 bits)');
    expect(() => encodeCompat({ destination: 0, vector: 1.5 })).toThrow(/vector = 1.5 is out of range 0..255/);
    expect(() => encodeCompat({ destination: 0, vector: 0, destMode: 2 })).toThrow(/destMode = 2 is out of range 0..1/);
  });

  test('a decoder rejects an address wider than 64 bits or data wider than 32', () => {
    expect(() => decodeCompat(1n << 64n, 0)).toThrow(UsageError);
    expect(() => decodeCompat(0xfee00000n, 0x1_0000_0000)).toThrow(/data = 4294967296/);
  });

  fcTest.prop([compatFields])('decode inverts encode', (fields) => {
    const { addr, data } = encodeCompat(fields);
    expect(decodeCompat(addr, data)).toEqual({ ...fields, reserved: [] });
  });

  reencodesWhenNothingIsReported(compatFields, encodeCompat, decodeCompat);

  fcTest.prop([fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.nat({ max: 0xffffffff })])(
    'the rich decoder agrees with the hot-path reader',
    (addr, data) => {
      const rich = decodeCompat(addr, data);
      const hot = decodeCompatInto(Number(addr & 0xffffffffn), data, newApicMessage());
      expect([hot.dest, hot.destMode, hot.redirectionHint, hot.vector, hot.deliveryMode, hot.trigger]).toEqual([
        rich.destination,
        rich.destMode,
        rich.redirectionHint,
        rich.vector,
        rich.deliveryMode,
        rich.triggerMode,
      ]);
    },
  );
});
