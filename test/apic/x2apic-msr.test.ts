/** x2APIC MSR access rules (reference §1.1 "Further rules"; SDM Table 10-6; KVM kvm_lapic_msr_read/write). */
import { describe, expect, test } from 'vitest';
import { GeneralProtectionFault, UsageError } from '../../src/machine/errors.ts';
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

  test('TPR bits 31:8 are ignored', () => {
    const l = x2apicBus().lapics[1];
    l.wrmsr(0x808, 0x1234n);
    expect(l.rdmsr(0x808)).toBe(0x34n);
  });
});
