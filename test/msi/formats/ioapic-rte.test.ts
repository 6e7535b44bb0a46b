import { describe, expect, test } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import {
  decodeRteCompat,
  decodeRteExtDest,
  decodeRteRemappable,
  encodeRteCompat,
  encodeRteExtDest,
  encodeRteRemappable,
  messageToRte,
  rteToMessage,
} from '../../../src/msi/formats/ioapic-rte.ts';
import { decodeCompat } from '../../../src/msi/formats/compat.ts';
import { decodeExtDestId } from '../../../src/msi/formats/ext-dest-id.ts';
import { decodeIntelRemappable } from '../../../src/msi/formats/intel-remappable.ts';
import { UsageError } from '../../../src/core/errors.ts';
import { bit, u8, validDeliveryMode } from './bit-flips.ts';

describe('I/O APIC RTE layouts', () => {
  test('compatibility RTE: every field in its bit', () => {
    // vector 0x31 | lowest priority 1 << 8 | logical 1 << 11 | active low 1 << 13 | level 1 << 15 | masked 1 << 16
    //   = 0x31 + 0x100 + 0x800 + 0x2000 + 0x8000 + 0x10000 = 0x1A931; destination 0x12 in 63:56.
    const rte = encodeRteCompat({ vector: 0x31, deliveryMode: 1, destMode: 1, polarity: 1, triggerMode: 1, mask: 1, destination: 0x12 });
    expect(rte).toBe(0x12000000_0001a931n);
    expect(decodeRteCompat(rte)).toEqual({
      vector: 0x31,
      deliveryMode: 1,
      destMode: 1,
      destination: 0x12,
      deliveryStatus: 0,
      polarity: 1,
      remoteIrr: 0,
      triggerMode: 1,
      mask: 1,
      reserved: [],
    });
  });

  test('high dword (0x12 << 24) | (0x01 << 17) sends addr 0xFEE12020: extended destination 0x112', () => {
    // RTE[63:48] = 0x1202 -> addr 19:4 = 0x12020 -> 0xFEE12020. addr 19:12 = 0x12, addr 11:5 = 0x020 >> 5 = 0x1, so the
    // 15-bit reading is 0x1 << 8 | 0x12 = 0x112 and the RTE's own 55:49 field says the same.
    const rte = (BigInt((0x12 << 24) | (0x01 << 17)) << 32n) | 0x31n;
    const { addr, data } = rteToMessage(rte);
    expect(addr).toBe(0xfee12020n);
    expect(data).toBe(0x31);
    expect(decodeExtDestId(addr, data).destination).toBe(0x112);
    expect(decodeRteExtDest(rte).destination).toBe(0x112);
    expect(encodeRteExtDest({ vector: 0x31, destination: 0x112 })).toBe(rte);
    // A compatibility reader sees dest 0x12 and flags bits 55:49.
    expect(decodeRteCompat(rte).destination).toBe(0x12);
    expect(decodeRteCompat(rte).reserved).toEqual([
      'rte[55:49] = 0x1 is reserved in a compatibility RTE (the 15-bit extension reads it as destination[14:8])',
    ]);
  });

  test('Intel remappable RTE: index 0x8001, pin 5, level = 0x0003000000008805 -> MSI address 0xFEE00034', () => {
    // index[14:0] = 1 -> bit 49 (0x0002_0000_0000_0000); format bit 48 (0x0001_0000_0000_0000);
    // index[15] -> bit 11 (0x800); level -> bit 15 (0x8000); pin 5 in the vector field -> 0x0003000000008805.
    const rte = encodeRteRemappable({ index: 0x8001, vector: 5, triggerMode: 1 });
    expect(rte).toBe(0x0003000000008805n);
    expect(decodeRteRemappable(rte)).toEqual({
      index: 0x8001,
      vector: 5,
      deliveryStatus: 0,
      polarity: 0,
      remoteIrr: 0,
      triggerMode: 1,
      mask: 0,
      reserved: [],
    });
    // addr = 0xFEE00000 | RTE[63:48] (0x0003) << 4 | RTE[11] << 2 = 0xFEE00034; data = 5 | 1 << 15 = 0x8005.
    const { addr, data } = rteToMessage(rte);
    expect({ addr, data }).toEqual({ addr: 0xfee00034n, data: 0x8005 });
    // The I/O APIC never sets SHV, so the IOMMU uses the handle alone.
    const remap = decodeIntelRemappable(addr, data);
    expect([remap.handle, remap.shv, remap.index]).toEqual([0x8001, 0, 0x8001]);
  });

  test('polarity, mask and the read-only bits are pin state, not message content', () => {
    const quiet = encodeRteCompat({ vector: 0x40, destination: 3 });
    const busy = encodeRteCompat({ vector: 0x40, destination: 3, polarity: 1, mask: 1, remoteIrr: 1, deliveryStatus: 1 });
    expect(rteToMessage(busy)).toEqual(rteToMessage(quiet));
  });

  test('reserved RTE bits are reported per layout', () => {
    expect(decodeRteCompat((1n << 20n) | 0x31n).reserved).toEqual(['rte[47:17] = 0x8 is reserved in a compatibility RTE']);
    expect(decodeRteCompat(1n << 48n).reserved).toEqual(['rte[48] = 0x1 is the Intel remappable-format flag: not a compatibility RTE']);
    expect(decodeRteCompat(0x631n).reserved).toEqual(['rte[10:8] = 0x6 (StartUp) is a reserved delivery mode in a compatibility RTE']);
    expect(decodeRteRemappable(0x0003000000008105n).reserved).toEqual(['rte[10:8] = 0x1 must be 000 in an Intel remappable RTE']);
    expect(decodeRteRemappable(0x31n).reserved).toEqual(['rte[48] = 0x0 selects compatibility format; an Intel remappable RTE needs 1']);
  });

  test('out-of-range RTE fields are usage errors', () => {
    expect(() => encodeRteCompat({ vector: 0, destination: 0x100 })).toThrow('compatibility RTE: destination = 256 is out of range 0..255 (0xff, 8 bits)');
    expect(() => encodeRteExtDest({ vector: 0, destination: 0x8000 })).toThrow(/destination = 32768 is out of range 0..32767/);
    expect(() => encodeRteRemappable({ index: 0x10000, vector: 0 })).toThrow(/index = 65536/);
    expect(() => encodeRteCompat({ vector: 0, destination: 0, deliveryMode: 6 })).toThrow(/StartUp\) is reserved in an RTE/);
  });

  test('messageToRte is the inverse the OS uses (Linux ioapic_setup_msg_from_msi)', () => {
    expect(messageToRte(0xfee00034n, 0x8005)).toBe(0x0003000000008805n);
    expect(messageToRte(0xfee12020n, 0x31, { mask: 1 })).toBe((BigInt((0x12 << 24) | (0x01 << 17)) << 32n) | 0x10031n);
  });

  test('a message an I/O APIC cannot send is a usage error', () => {
    expect(() => messageToRte(0xfee00578n, 0)).toThrow(UsageError);
    expect(() => messageToRte(0xfee00578n, 0)).toThrow(/addr\[3\] = 0x1 \(RH \/ SHV\) cannot be expressed in an RTE/);
    expect(() => messageToRte(0x1_fee00000n, 0)).toThrow(/addr\[63:32\]/);
    expect(() => messageToRte(0xfee00000n, 0x4031)).toThrow(/data\[14:11\]/);
  });

  const pin = { polarity: bit, mask: bit, triggerMode: bit };

  fcTest.prop([fc.record({ vector: u8, deliveryMode: validDeliveryMode, destMode: bit, destination: fc.integer({ min: 0, max: 0x7fff }), ...pin })])(
    'an extended-destination RTE sends the 15-bit message with the same fields, and back',
    (f) => {
      const rte = encodeRteExtDest(f);
      expect(decodeRteExtDest(rte)).toEqual({ ...f, deliveryStatus: 0, remoteIrr: 0, reserved: [] });
      const { addr, data } = rteToMessage(rte);
      const msg = decodeExtDestId(addr, data);
      expect([msg.destination, msg.vector, msg.deliveryMode, msg.destMode, msg.triggerMode, msg.reserved]).toEqual([
        f.destination,
        f.vector,
        f.deliveryMode,
        f.destMode,
        f.triggerMode,
        [],
      ]);
      expect(messageToRte(addr, data, { polarity: f.polarity, mask: f.mask })).toBe(rte);
    },
  );

  fcTest.prop([fc.record({ vector: u8, deliveryMode: validDeliveryMode, destMode: bit, destination: u8, ...pin })])(
    'a compatibility RTE sends a clean compatibility-format message',
    (f) => {
      const { addr, data } = rteToMessage(encodeRteCompat(f));
      const msg = decodeCompat(addr, data);
      expect([msg.destination, msg.vector, msg.deliveryMode, msg.destMode, msg.triggerMode, msg.reserved]).toEqual([
        f.destination,
        f.vector,
        f.deliveryMode,
        f.destMode,
        f.triggerMode,
        [],
      ]);
    },
  );

  fcTest.prop([fc.record({ index: fc.integer({ min: 0, max: 0xffff }), vector: u8, ...pin })])(
    'a remappable RTE sends a remappable request for its index',
    (f) => {
      const rte = encodeRteRemappable(f);
      expect(decodeRteRemappable(rte)).toEqual({ ...f, deliveryStatus: 0, remoteIrr: 0, reserved: [] });
      const { addr, data } = rteToMessage(rte);
      const msg = decodeIntelRemappable(addr, data);
      expect([msg.index, msg.shv, msg.reserved]).toEqual([f.index, 0, []]);
    },
  );

  fcTest.prop([fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })])('any RTE: addr 19:4 = RTE 63:48, addr 2 = RTE 11, data = vector | mode | trigger', (rte) => {
    // The one rule of QEMU ioapic_entry_parse, written out independently with bigints.
    const addr = 0xfee00000n | ((rte >> 48n) << 4n) | (((rte >> 11n) & 1n) << 2n);
    const data = Number((rte & 0x7ffn) | (rte & 0x8000n));
    expect(rteToMessage(rte)).toEqual({ addr, data });
  });
});
