/** x2APIC MSR access rules (SDM 10.12.1.2, Table 10-6; KVM kvm_lapic_msr_read/write). */
import { describe, expect, test } from 'vitest';
import { GeneralProtectionFault, UsageError } from '../../src/core/errors.ts';
import { cpusWithIrr, enterX2apic, hasVector, makeBus, softwareEnable } from './helpers.ts';

function x2apicBus() {
  const { bus } = makeBus([0, 0x123]);
  for (const l of bus.lapics) {
    enterX2apic(l);
    softwareEnable(l);
  }
  return bus;
}

describe('mode', () => {
  test('x2APIC MSRs raise #GP while the APIC is in xAPIC mode', () => {
    const { bus } = makeBus([0, 1]);
    expect(() => bus.lapics[1].rdmsr(0x802)).toThrow(GeneralProtectionFault);
    expect(() => bus.lapics[1].wrmsr(0x808, 0n)).toThrow(GeneralProtectionFault);
  });

  test('x2APIC MSRs raise #GP while the APIC is disabled', () => {
    const { bus } = makeBus([0, 1]);
    bus.lapics[1].wrmsr(0x1b, 0xfee00000n);
    expect(() => bus.lapics[1].rdmsr(0x803)).toThrow(GeneralProtectionFault);
  });

  test('an MSR outside IA32_APIC_BASE and 0x800-0xBFF is not the LAPIC\'s (usage error)', () => {
    const bus = x2apicBus();
    expect(() => bus.lapics[1].rdmsr(0x10)).toThrow(UsageError);
  });
});

describe('reads', () => {
  test('ID reads the 32-bit x2APIC ID and version reads 0x01050014', () => {
    const l = x2apicBus().lapics[1];
    expect(l.rdmsr(0x802)).toBe(0x123n);
    // version 0x14, max LVT index 5 (6 LVTs) in 23:16, directed EOI in bit 24
    expect(l.rdmsr(0x803)).toBe(0x01050014n);
  });

  for (const msr of [0x80b, 0x83f]) {
    test(`read of write-only MSR 0x${msr.toString(16)} raises #GP`, () => {
      expect(() => x2apicBus().lapics[1].rdmsr(msr)).toThrow(GeneralProtectionFault);
    });
  }

  for (const msr of [0x800, 0x801, 0x804, 0x809, 0x80c, 0x80e, 0x82f, 0x831, 0x83a, 0x83d, 0x840, 0x8ff, 0x900, 0xbff]) {
    test(`absent MSR 0x${msr.toString(16)} raises #GP on read and write`, () => {
      const l = x2apicBus().lapics[1];
      expect(() => l.rdmsr(msr)).toThrow(GeneralProtectionFault);
      expect(() => l.wrmsr(msr, 0n)).toThrow(GeneralProtectionFault);
    });
  }
});

describe('writes', () => {
  for (const msr of [0x802, 0x803, 0x80a, 0x80d, 0x810, 0x817, 0x818, 0x820, 0x827, 0x839]) {
    test(`write of read-only MSR 0x${msr.toString(16)} raises #GP`, () => {
      expect(() => x2apicBus().lapics[1].wrmsr(msr, 0n)).toThrow(GeneralProtectionFault);
    });
  }

  test('EOI accepts only 0', () => {
    const l = x2apicBus().lapics[1];
    expect(() => l.wrmsr(0x80b, 1n)).toThrow(GeneralProtectionFault);
    expect(() => l.wrmsr(0x80b, 0n)).not.toThrow();
  });

  test('ESR accepts only 0 (non-zero raises #GP)', () => {
    const l = x2apicBus().lapics[1];
    expect(() => l.wrmsr(0x828, 0x40n)).toThrow(GeneralProtectionFault);
    expect(() => l.wrmsr(0x828, 0n)).not.toThrow();
  });

  test('reserved bits 63:32 of a non-ICR MSR raise #GP', () => {
    const l = x2apicBus().lapics[1];
    expect(() => l.wrmsr(0x808, 1n << 32n)).toThrow(GeneralProtectionFault);
    expect(l.rdmsr(0x808)).toBe(0n);
  });

  test('SELF IPI with a bit above 7 raises #GP (0x1F1)', () => {
    const bus = x2apicBus();
    expect(() => bus.lapics[1].wrmsr(0x83f, 0x1f1n)).toThrow(GeneralProtectionFault);
    expect(cpusWithIrr(bus, 0xf1)).toEqual([]);
  });

  test('SELF IPI 0xF1 sets vector 0xF1 in the sender\'s IRR only, edge (TMR clear)', () => {
    const bus = x2apicBus();
    bus.lapics[1].wrmsr(0x83f, 0xf1n);
    expect(cpusWithIrr(bus, 0xf1)).toEqual([1]);
    expect(hasVector(bus.lapics[1].tmr, 0xf1)).toBe(false);
  });

  for (const bit of [13, 16, 17, 20, 31]) {
    test(`ICR reserved bit ${bit} raises #GP and sends nothing`, () => {
      const bus = x2apicBus();
      // Fixed, physical, vector 0x40 to x2APIC ID 0, plus the reserved bit.
      expect(() => bus.lapics[1].wrmsr(0x830, 0x40n | (1n << BigInt(bit)))).toThrow(GeneralProtectionFault);
      expect(cpusWithIrr(bus, 0x40)).toEqual([]);
    });
  }

  test('ICR is one 64-bit MSR: destination 63:32, delivery status reads 0', () => {
    const bus = x2apicBus();
    // Fixed, physical, edge, assert (bit 14), vector 0x41, to x2APIC ID 0x123; bit 12 written as 1 is dropped.
    const icr = (0x123n << 32n) | 0x4000n | 0x1000n | 0x41n;
    bus.lapics[0].wrmsr(0x830, icr);
    expect(bus.lapics[0].rdmsr(0x830)).toBe((0x123n << 32n) | 0x4041n);
    expect(cpusWithIrr(bus, 0x41)).toEqual([1]);
  });

  // SDM 10.12.1.3 "Reserved Bit Checking": in x2APIC mode a WRMSR that sets a reserved bit raises #GP (reads return
  // zeros there). KVM masks these bits instead; irqpath models the SDM. Reserved bits per SDM figures: TPR 31:8
  // (Fig. 10-18); SVR 11:10 and 31:13 (Fig. 10-23); LVT timer 11:8, 13, 14, 15, 31:19, LVT error the same plus
  // 18:17, LVT thermal 13..15 and 31:17, LINT0 31:17 (Fig. 10-8); divide configuration bit 2 and 31:4 (Fig. 10-10).
  const reservedWrites: [string, number, bigint][] = [
    ['TPR bit 8', 0x808, 0x134n],
    ['SVR bit 10', 0x80f, 0x5ffn],
    ['SVR bit 13', 0x80f, 0x21ffn],
    ['LVT timer delivery mode (bits 10:8 do not exist)', 0x832, 0x10400n],
    ['LVT timer bit 19', 0x832, 0x90000n],
    ['LVT thermal polarity (bit 13 exists only on LINT0/1)', 0x833, 0x12000n],
    ['LVT LINT0 bit 17', 0x835, 0x30000n],
    ['LVT error timer-mode bit 17', 0x837, 0x30000n],
    ['TDCR bit 2', 0x83e, 0x4n],
    ['TDCR bit 4', 0x83e, 0x10n],
  ];
  for (const [name, msr, value] of reservedWrites) {
    test(`reserved bit: ${name} raises #GP and changes nothing`, () => {
      const l = x2apicBus().lapics[1];
      const before = l.rdmsr(msr);
      expect(() => l.wrmsr(msr, value)).toThrow(GeneralProtectionFault);
      expect(l.rdmsr(msr)).toBe(before);
    });
  }

  test('defined fields are accepted: TPR 0xFF, SVR 0x13FF, LINT0 0x1A7FF, TDCR 0xB, TMICT 0xFFFFFFFF', () => {
    const l = x2apicBus().lapics[1];
    l.wrmsr(0x808, 0xffn);
    expect(l.rdmsr(0x808)).toBe(0xffn);
    l.wrmsr(0x80f, 0x13ffn);
    expect(l.rdmsr(0x80f)).toBe(0x13ffn);
    l.wrmsr(0x835, 0x1a7ffn); // vector, delivery mode, polarity, trigger, mask (Fig. 10-8)
    expect(l.rdmsr(0x835)).toBe(0x1a7ffn);
    l.wrmsr(0x83e, 0xbn);
    expect(l.rdmsr(0x83e)).toBe(0xbn);
    l.wrmsr(0x838, 0xffffffffn);
    expect(l.rdmsr(0x838)).toBe(0xffffffffn);
  });

  test('LVT delivery status and LINT remote IRR are read-only fields, not reserved: written 1s are ignored', () => {
    const l = x2apicBus().lapics[1];
    l.wrmsr(0x835, 0x5030n); // LINT0: vector 0x30, delivery status (12) and remote IRR (14) written as 1
    expect(l.rdmsr(0x835)).toBe(0x30n);
    l.wrmsr(0x837, 0x1031n); // error: vector 0x31, delivery status written as 1
    expect(l.rdmsr(0x837)).toBe(0x31n);
  });
});

describe('splitting a 64-bit MSR value (the ICR: destination in 63:32, command in 31:0)', () => {
  test('gives the same halves on either side of 2^53, where the split stops using numbers', async () => {
    const { low32, high32 } = await import('../../src/apic/x2apic-msr.ts');
    const cases: [bigint, number, number][] = [
      [0n, 0, 0],
      [0xffff_ffffn, 0, 0xffff_ffff],
      [0x1_0000_0000n, 1, 0],
      [0x0001_2345_89ab_cdefn, 0x12345, 0x89abcdef],
      [(1n << 53n) - 1n, 0x1f_ffff, 0xffff_ffff],
      [1n << 53n, 0x20_0000, 0],
      [0xffff_ffff_0000_04fen, 0xffff_ffff, 0x4fe],
      [0xffff_ffff_ffff_ffffn, 0xffff_ffff, 0xffff_ffff],
    ];
    for (const [value, hi, lo] of cases) expect([high32(value), low32(value)], `0x${value.toString(16)}`).toEqual([hi, lo]);
  });
});
