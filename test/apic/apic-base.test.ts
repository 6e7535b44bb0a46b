/**
 * IA32_APIC_BASE (MSR 0x1B): reset value, reserved bits and the SDM 10.12.5 transition matrix
 * (SDM 10.12.5; kvm-unit-tests test_enable_x2apic / test_apicbase).
 */
import { describe, expect, test } from 'vitest';
import { GeneralProtectionFault } from '../../src/core/errors.ts';
import { APIC_BASE_MSR, BSP, DEFAULT_BASE, EN, EXTD, makeBus, mmioRead } from './helpers.ts';

const DISABLED = DEFAULT_BASE;
const XAPIC = DEFAULT_BASE | EN;
const X2APIC = DEFAULT_BASE | EN | EXTD;
const INVALID = DEFAULT_BASE | EXTD;

/** A non-BSP LAPIC (CPU 1, APIC ID 0x123) put in the given mode through legal transitions. */
function apIn(mode: 'disabled' | 'xapic' | 'x2apic') {
  const { bus } = makeBus([0, 0x123]);
  const lapic = bus.lapics[1];
  if (mode === 'x2apic') lapic.wrmsr(APIC_BASE_MSR, X2APIC);
  if (mode === 'disabled') lapic.wrmsr(APIC_BASE_MSR, DISABLED);
  return lapic;
}

describe('reset value', () => {
  test('BSP reads 0xFEE00900 (base, EN, BSP) and an AP reads 0xFEE00800', () => {
    const { bus } = makeBus([0, 1]);
    expect(bus.lapics[0].rdmsr(APIC_BASE_MSR)).toBe(0xfee00900n);
    expect(bus.lapics[1].rdmsr(APIC_BASE_MSR)).toBe(0xfee00800n);
    expect(bus.lapics[1].mode).toBe('xapic');
    expect(bus.lapics[1].baseAddress).toBe(0xfee00000);
  });
});

describe('allowed transitions', () => {
  test('xAPIC -> x2APIC: ID becomes the 32-bit initial APIC ID and hardware computes the LDR', () => {
    const lapic = apIn('xapic');
    lapic.wrmsr(APIC_BASE_MSR, X2APIC);
    expect(lapic.mode).toBe('x2apic');
    expect(lapic.rdmsr(APIC_BASE_MSR)).toBe(X2APIC);
    expect(lapic.rdmsr(0x802)).toBe(0x123n);
    // LDR = ((0x123 >> 4) << 16) | (1 << (0x123 & 0xF)) = (0x12 << 16) | (1 << 3)
    expect(lapic.rdmsr(0x80d)).toBe(0x00120008n);
  });

  test('xAPIC -> disabled clears EN and the software enable', () => {
    const lapic = apIn('xapic');
    lapic.write(0xf0, 4, 0x1ffn);
    lapic.wrmsr(APIC_BASE_MSR, DISABLED);
    expect(lapic.mode).toBe('disabled');
    expect(lapic.rdmsr(APIC_BASE_MSR) & EN).toBe(0n);
    expect(lapic.softwareEnabled).toBe(false);
  });

  test('x2APIC -> disabled keeps the x2APIC ID', () => {
    const lapic = apIn('x2apic');
    lapic.wrmsr(APIC_BASE_MSR, DISABLED);
    expect(lapic.mode).toBe('disabled');
    expect(lapic.id).toBe(0x123);
  });

  test('disabled -> xAPIC gives the xAPIC view of the initial APIC ID again (ID 0x123 -> 0x23 in 31:24)', () => {
    const lapic = apIn('x2apic');
    lapic.wrmsr(APIC_BASE_MSR, DISABLED);
    lapic.wrmsr(APIC_BASE_MSR, XAPIC);
    expect(lapic.mode).toBe('xapic');
    expect(mmioRead(lapic, 0x20)).toBe(0x23000000);
    expect(mmioRead(lapic, 0xd0)).toBe(0); // LDR back to its power-up value
    expect(mmioRead(lapic, 0xe0) >>> 0).toBe(0xffffffff); // DFR flat
  });

  test('the base may be relocated (kvm-unit-tests test_apicbase: 0xFED40000)', () => {
    const lapic = apIn('xapic');
    lapic.wrmsr(APIC_BASE_MSR, 0xfed40000n | EN);
    expect(lapic.baseAddress).toBe(0xfed40000);
    expect(mmioRead(lapic, 0x30) & 0xff).toBe(0x14);
  });

  test('base bit 51 (below MAXPHYADDR = 52) is accepted', () => {
    const lapic = apIn('xapic');
    lapic.wrmsr(APIC_BASE_MSR, (1n << 51n) | DEFAULT_BASE | EN);
    expect(lapic.rdmsr(APIC_BASE_MSR)).toBe((1n << 51n) | DEFAULT_BASE | EN);
  });

  test('the BSP bit is fixed by hardware: writes neither set nor clear it', () => {
    const { bus } = makeBus([0, 1]);
    bus.lapics[1].wrmsr(APIC_BASE_MSR, XAPIC | BSP);
    expect(bus.lapics[1].rdmsr(APIC_BASE_MSR) & BSP).toBe(0n);
    bus.lapics[0].wrmsr(APIC_BASE_MSR, XAPIC);
    expect(bus.lapics[0].rdmsr(APIC_BASE_MSR) & BSP).toBe(BSP);
  });
});

describe('#GP transitions leave the MSR unchanged', () => {
  const cases: [string, 'disabled' | 'xapic' | 'x2apic', bigint][] = [
    ['disabled -> x2APIC ("only valid transition from disabled is to xAPIC")', 'disabled', X2APIC],
    ['disabled -> invalid', 'disabled', INVALID],
    ['xAPIC -> invalid', 'xapic', INVALID],
    ['x2APIC -> xAPIC ("not valid")', 'x2apic', XAPIC],
    ['x2APIC -> invalid', 'x2apic', INVALID],
  ];
  for (const [name, from, value] of cases) {
    test(name, () => {
      const lapic = apIn(from);
      const before = lapic.rdmsr(APIC_BASE_MSR);
      expect(() => lapic.wrmsr(APIC_BASE_MSR, value)).toThrow(GeneralProtectionFault);
      expect(lapic.rdmsr(APIC_BASE_MSR)).toBe(before);
      expect(lapic.mode).toBe(from);
    });
  }
});

describe('reserved bits raise #GP', () => {
  for (const bit of [0n, 7n, 9n, 52n, 63n]) {
    test(`bit ${bit}`, () => {
      const lapic = apIn('xapic');
      expect(() => lapic.wrmsr(APIC_BASE_MSR, XAPIC | (1n << bit))).toThrow(GeneralProtectionFault);
      expect(lapic.rdmsr(APIC_BASE_MSR)).toBe(XAPIC);
    });
  }
});
