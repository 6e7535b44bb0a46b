/**
 * Stress-campaign findings 5, 6 and 9: what the public API accepts and what it throws.
 * 5. Register windows that would overlap are refused when the machine is created, naming both.
 * 6. Only the documented, exported error classes escape (ConfigError, UsageError, GeneralProtectionFault); memory
 *    takes `number | bigint` addresses like the CPU accessors do.
 * 9. A non-finite number in the config is reported as what it is.
 */
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.ts';
import { ConfigError, UsageError, createMachine } from '../../src/index.ts';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('finding 5: overlapping register windows are refused at createMachine', () => {
  it('an Intel IOMMU on the I/O APIC window (0xFEC00000, 4 KiB)', () => {
    const e = configError(() => createMachine({ cpus: 1, iommu: { kind: 'intel', base: 0xfec00000 } }));
    expect(e.field).toBe('iommu.base');
    expect(e.message).toMatch(/I\/O APIC/);
  });

  it('an Intel IOMMU on the interrupt window 0xFEE00000–0xFEEFFFFF', () => {
    const e = configError(() => createMachine({ cpus: 1, iommu: { kind: 'intel', base: 0xfeef0000 } }));
    expect(e.field).toBe('iommu.base');
    expect(e.message).toMatch(/interrupt window/);
  });

  it('an AMD IOMMU (16 KiB window) whose window covers the I/O APIC', () => {
    const e = configError(() => createMachine({ cpus: 1, iommu: { kind: 'amd', base: 0xfec00000 } }));
    expect(e.field).toBe('iommu.base');
    expect(e.message).toMatch(/I\/O APIC/);
  });

  it('an IOMMU on a device BAR names the device and the BAR', () => {
    // Firmware places BARs from 0xC0000000 upwards (machine.ts); the first MSI-X BAR of 00:03.0 starts there.
    const e = configError(() => createMachine({ cpus: 1, devices: [{ bdf: '00:03.0', msix: { entries: 4 } }], iommu: { kind: 'intel', base: 0xc0000000 } }));
    expect(e.field).toBe('iommu.base');
    expect(e.message).toMatch(/devices\[0\] \(00:03\.0\) BAR0/);
  });

  it('two VT-d units whose register windows overlap (256 fault records make the first 8 KiB) name both', () => {
    const e = configError(() => createMachine({ cpus: 1, iommus: [{ kind: 'intel', base: 0xfed90000, faultRecords: 256 }, { kind: 'intel', base: 0xfed91000, includePciAll: false, ioapicScope: false }] }));
    expect(e.field).toMatch(/^iommus\[[01]\]\.base$/);
    expect(e.message).toMatch(/iommus\[0\].*iommus\[1\]|iommus\[1\].*iommus\[0\]/);
  });

  it('windows that only touch are fine', () => {
    expect(() => createMachine({ cpus: 1, iommu: { kind: 'intel', base: 0xfec01000 } })).not.toThrow();
    expect(() => createMachine({ cpus: 1, iommu: { kind: 'amd', base: 0xfebfc000 } })).not.toThrow();
  });
});

describe('finding 6: only documented error classes escape; memory takes number | bigint', () => {
  it('exports every error class the API throws', () => {
    expect(Object.keys(api)).toEqual(expect.arrayContaining(['ConfigError', 'UsageError', 'GeneralProtectionFault']));
  });

  it('memory beyond 2^52 is a UsageError naming the 52-bit space', () => {
    const m = createMachine({ cpus: 1 });
    expect(() => m.memory.read32(2 ** 52)).toThrow(UsageError);
    expect(() => m.memory.read32(2 ** 52)).toThrow(/52-bit/);
    expect(() => m.memory.write8(-1, 0)).toThrow(UsageError);
    expect(() => m.memory.read64(1.5)).toThrow(UsageError);
  });

  it('a bad value is a UsageError, not a TypeError', () => {
    const m = createMachine({ cpus: 1 });
    expect(() => m.memory.write32(0x5000, 2 ** 32)).toThrow(UsageError);
    expect(() => m.memory.write32(0x5000, 1.5)).toThrow(UsageError);
    expect(() => m.memory.write64(0x5000, -1n)).toThrow(UsageError);
    expect(() => m.memory.write64(0x5000, 'x' as unknown as bigint)).toThrow(UsageError);
  });

  it('write64 takes a number like the CPU accessors do', () => {
    const m = createMachine({ cpus: 1 });
    m.memory.write64(0x5000, 5);
    expect(m.memory.read64(0x5000)).toBe(5n);
  });

  it('bigint addresses work, and an out-of-range bigint says so', () => {
    const m = createMachine({ cpus: 1 });
    m.memory.write32(0x1_2345_6000n, 0xabcd);
    expect(m.memory.read32(0x1_2345_6000n)).toBe(0xabcd);
    expect(m.memory.read32(0x1_2345_6000)).toBe(0xabcd);
    m.memory.write64(0x7000n, 9n);
    expect(m.memory.read64(0x7000n)).toBe(9n);
    expect(() => m.memory.read32(1n << 52n)).toThrow(/0x10000000000000 .*is outside the 52-bit/);
  });

  it('m.device() with a non-string is a UsageError', () => {
    const m = createMachine({ cpus: 1, devices: [{ bdf: '00:03.0', msi: { vectors: 1 } }] });
    expect(() => m.device(3 as unknown as string)).toThrow(UsageError);
    expect(() => m.device(3 as unknown as string)).toThrow(/"00:03\.0"/);
  });
});

describe('finding 6: junk arguments anywhere in the public API raise only the exported error classes', () => {
  it('CPU accessors and MSRs, devices, memory, I/O APIC, the translation core, machine lookups', () => {
    const m = createMachine({ cpus: 2, iommu: { kind: 'intel' }, devices: [{ bdf: '00:03.0', msix: { entries: 2 } }, { bdf: '00:04.0', msi: { vectors: 2 } }] });
    const junk: unknown[] = [undefined, null, 'x', '0x10', 1.5, -1, NaN, 2 ** 60, -1n, 1n << 70n, {}, [], true, Symbol('s')];
    const calls: [string, (a: unknown, b: unknown) => unknown][] = [
      ['cpu.read32', (a) => m.cpu(0).read32(a as number)],
      ['cpu.write8', (a, b) => m.cpu(0).write8(a as number, b as number)],
      ['cpu.write32', (a, b) => m.cpu(0).write32(0x5000, b as number) ?? m.cpu(0).write32(a as number, 0)],
      ['cpu.write64', (a, b) => m.cpu(0).write64(0x5000, b as bigint) ?? m.cpu(0).write64(a as number, 0n)],
      ['cpu.rdmsr', (a) => m.cpu(0).rdmsr(a as number)],
      ['cpu.wrmsr', (a, b) => m.cpu(0).wrmsr(0x80f, b as bigint) ?? m.cpu(0).wrmsr(a as number, 0n)],
      ['device.signal', (a) => m.device('00:03.0').signal(a as number)],
      ['msi.signal', (a) => m.device('00:04.0').signal(a as number)],
      ['device.dmaWrite', (a, b) => m.device('00:03.0').dmaWrite(a as number, b as number)],
      ['device.configWrite', (a, b) => m.device('00:03.0').configWrite(a as number, 4, b as number)],
      ['memory.write32', (a, b) => m.memory.write32(a as number, b as number)],
      ['memory.write128', (a, b) => m.memory.write128(0x5000, a as bigint, b as bigint)],
      ['ioapic.setLine', (a, b) => m.ioapic.setLine(a as number, b as boolean)],
      ['core.translateMessage', (a, b) => m.core.translateMessage(a as never, b as never)],
      ['core.translateMessage fields', (a, b) => m.core.translateMessage({ sourceId: a as number, addr: b as bigint, data: 0 }, { deliverNow: false })],
      ['machine.cpu', (a) => m.cpu(a as number)],
      ['machine.device', (a) => m.device(a as string)],
      ['machine.diff', (a, b) => m.diff(a as never, b as never)],
    ];
    const escaped: string[] = [];
    for (const [name, call] of calls) {
      for (const a of junk) {
        for (const b of [0, ...junk]) {
          try {
            call(a, b);
          } catch (e) {
            if (!(e instanceof UsageError || e instanceof api.ConfigError || e instanceof api.GeneralProtectionFault)) escaped.push(`${name}: ${(e as Error).name}: ${(e as Error).message}`);
          }
        }
      }
    }
    expect([...new Set(escaped)]).toEqual([]);
  });
});

describe('finding 9: non-finite numbers in the config are named as such', () => {
  for (const [value, text] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity']] as const) {
    it(`cpus: ${text}`, () => {
      const e = configError(() => createMachine({ cpus: value }));
      expect(e.field).toBe('cpus');
      expect(e.message).toMatch(new RegExp(`got ${text}`));
      expect(e.message).not.toMatch(/null/);
    });
  }

  it('a non-finite number deeper in the config too', () => {
    const e = configError(() => createMachine({ cpus: 1, devices: [{ bdf: '00:03.0', msi: { vectors: NaN } }] }));
    expect(e.field).toBe('devices[0].msi.vectors');
    expect(e.message).toMatch(/got NaN/);
  });
});
