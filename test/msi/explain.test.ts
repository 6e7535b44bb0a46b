import { describe, expect, test } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { explain, isInterruptAddress } from '../../src/msi/explain.ts';
import { UsageError } from '../../src/core/errors.ts';

describe('explain', () => {
  test('a compatibility message in the window is an interrupt, read as compatibility format', () => {
    // addr 0xFEE01000: dest 0x01, physical; data 0x0031: vector 0x31, fixed, edge.
    const e = explain(0xfee01000n, 0x31);
    expect(e.interrupt).toBe(true);
    expect(e.formats.compat.applies).toBe(true);
    expect(e.formats.compat.summary).toBe('compatibility: physical dest 0x01, vector 0x31, fixed, edge');
    expect(e.formats.intelRemappable.applies).toBe(false);
    expect(e.verdict).toBe(
      'reaches the APIC window: a write at 0x00000000_fee01000 is an interrupt message (compatibility format: physical dest 0x01, vector 0x31, fixed, edge)',
    );
  });

  test('ath11k: addr 0xFEE00578 data 0 reads as Intel remappable IRTE 43, not compatibility format', () => {
    const e = explain(0xfee00578n, 0);
    expect(e.interrupt).toBe(true);
    expect(e.formats.intelRemappable).toMatchObject({ applies: true, handle: 0x2b, shv: 1, subhandle: 0, index: 43 });
    expect(e.formats.compat.applies).toBe(false);
    expect(e.formats.extDestId.applies).toBe(false);
    expect(e.formats.kvmX2apicApi.applies).toBe(false);
    expect(e.verdict).toMatch(/^reaches the APIC window: .*Intel remappable format \(IRTE 43\)/);
  });

  test('an address above 4 GiB misses the APIC', () => {
    const e = explain(0x1ff_fee00000n, 0x31);
    expect(e.interrupt).toBe(false);
    expect(e.verdict.startsWith('misses the APIC: a memory write at 0x000001ff_fee00000')).toBe(true);
    expect(e.formats.compat.applies).toBe(false);
    expect(e.formats.compat.reserved).toContain('addr[63:32] = 0x1ff must be 0 in compatibility format: the write misses the APIC window');
    // address_hi 0x1FF: bits 7:0 = 0xFF, so KVM rejects it; bits 63:56 = 0 and 55:32 != 0, so it is the Windows layout.
    expect(e.formats.kvmX2apicApi.applies).toBe(false);
    expect(e.formats.kvmX2apicApi.rejected).toBe(true);
    expect(e.formats.windowsHighBits.applies).toBe(true);
    expect(e.formats.windowsHighBits.destination).toBe(0x1ff00);
  });

  test('the window is exactly 0x00000000_FEE00000..0x00000000_FEEFFFFF', () => {
    expect(isInterruptAddress(0xfee00000n)).toBe(true);
    expect(isInterruptAddress(0xfeeffffcn)).toBe(true);
    expect(isInterruptAddress(0xfedffffcn)).toBe(false);
    expect(isInterruptAddress(0xfef00000n)).toBe(false);
    expect(isInterruptAddress(0x1_fee00000n)).toBe(false);
    expect(explain(0xfef00000n, 0x31).verdict).toBe('misses the APIC: a memory write at 0x00000000_fef00000');
  });

  test('Xen PIRQ is read only when the vector is 0', () => {
    expect(explain(0xfee01000n, 0x31).formats.xenPirq).toBeUndefined();
    const e = explain(0x1000_fee46000n, 0x700);
    expect(e.formats.xenPirq).toMatchObject({ applies: true, pirq: 4166 });
    expect(e.interrupt).toBe(false);
    expect(e.verdict).toMatch(/^misses the APIC: a memory write at 0x00001000_fee46000; only a hypervisor would read it as an interrupt \(Xen PIRQ 4166/);
  });

  test('KVM x2APIC API: address_hi 0x100 gives dest 0x1xx, address_hi 0x1 is rejected', () => {
    const ok = explain(0x100_fee23000n, 0x31).formats.kvmX2apicApi;
    expect([ok.applies, ok.destination]).toEqual([true, 0x123]);
    const bad = explain(0x1_fee23000n, 0x31).formats.kvmX2apicApi;
    expect([bad.applies, bad.rejected]).toEqual([false, true]);
    expect(bad.summary).toBe('KVM x2APIC API: rejected (-EINVAL), address_hi[7:0] = 0x01');
  });

  test('Windows layout applies only when addr 63:56 = 0 and 55:32 != 0', () => {
    expect(explain(0x123_fee45000n, 0x31).formats.windowsHighBits).toMatchObject({ applies: true, destination: 0x12345 });
    expect(explain(0xfee45000n, 0x31).formats.windowsHighBits.applies).toBe(false);
    expect(explain(0x01000123_fee45000n, 0x31).formats.windowsHighBits.applies).toBe(false);
  });

  test('15-bit extension reading differs from compatibility only through addr 11:5', () => {
    const e = explain(0xfee34240n, 0x40);
    expect(e.formats.extDestId.destination).toBe(0x1234);
    expect(e.formats.compat.destination).toBe(0x34);
    expect(e.formats.extDestId.summary).toBe('15-bit ext dest: physical dest 0x1234, vector 0x40, fixed, edge');
  });

  test('bad input is a usage error', () => {
    expect(() => explain(-1n, 0)).toThrow(UsageError);
    expect(() => explain(0xfee00000n, -1)).toThrow(UsageError);
  });

  // Half the addresses near the window (0xFEE00000 with a few low/high bits disturbed), half anywhere.
  const nearWindow = fc.bigInt({ min: 0n, max: 0xfffffn }).chain((low) =>
    fc.constantFrom(0n, 1n << 20n, 1n << 32n, 1n << 63n).map((disturb) => (0xfee00000n | low) ^ disturb),
  );
  const anyAddr = fc.oneof(nearWindow, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));

  fcTest.prop([anyAddr, fc.nat({ max: 0xffffffff })])(
    'every explanation is JSON-serialisable and interrupt matches the window',
    (addr, data) => {
      const e = explain(addr, data);
      expect(() => JSON.stringify(e.formats)).not.toThrow();
      expect(e.interrupt).toBe(addr >= 0xfee00000n && addr <= 0xfeefffffn);
      expect(e.verdict.startsWith(e.interrupt ? 'reaches the APIC window' : 'misses the APIC')).toBe(true);
    },
  );
});
