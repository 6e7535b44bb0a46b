import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/machine/config.ts';
import { ConfigError } from '../../src/core/errors.ts';
import type { MachineConfig } from '../../src/core/config-types.ts';

function errorOf(config: unknown): ConfigError {
  try {
    resolveConfig(config as MachineConfig);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('config was accepted');
}

describe('machine config validation', () => {
  it('fills defaults: APIC ID i for CPU i, Intel CPU, 24-pin I/O APIC version 0x20, bare-metal hypervisor options', () => {
    const c = resolveConfig({ cpus: 3 });
    expect(c.apicIds).toEqual([0, 1, 2]);
    expect(c.cpuVendor).toBe('intel');
    expect(c.ioapic).toEqual({ pins: 24, version: 0x20, id: 0 });
    expect(Object.values(c.hypervisor).every((v) => v === false)).toBe(true);
    expect(c.iommu).toBeNull();
  });

  it.each([
    [{ cpus: 0 }, 'cpus', 'between 1 and 32768'],
    [{ cpus: 32769 }, 'cpus', 'between 1 and 32768'],
    [{ cpus: 1.5 }, 'cpus', 'integer'],
    [{ cpus: 2, apicIds: [0] }, 'apicIds', 'has 1 entries but cpus is 2'],
    [{ cpus: 2, apicIds: [4, 4] }, 'apicIds[1]', 'already used by apicIds[0]'],
    [{ cpus: 1, apicIds: [0xffffffff] }, 'apicIds[0]', 'between 0 and 4294967294'],
    [{ cpus: 1, cpuVendor: 'via' }, 'cpuVendor', 'must be "intel" or "amd"'],
    [{ cpus: 1, ioapic: { pins: 121 } }, 'ioapic.pins', 'between 1 and 120'],
    [{ cpus: 1, ioapic: { version: 0x21 } }, 'ioapic.version', '0x11 or 0x20'],
    [{ cpus: 1, hypervisor: { extDestID: true } }, 'hypervisor.extDestID', 'unknown field'],
    [{ cpus: 1, hypervisor: { xenPirq: 'yes' } }, 'hypervisor.xenPirq', 'true or false'],
    [{ cpus: 1, hypervisor: { x2apicApi: true, windowsHighAddressBits: true } }, 'hypervisor.windowsHighAddressBits', 'cannot be combined'],
    [{ cpus: 1, devices: [{ bdf: '00:33.0' }] }, 'devices[0].bdf', 'device number'],
    [{ cpus: 1, devices: [{ bdf: 'nope' }] }, 'devices[0].bdf', 'bb:dd.f'],
    [{ cpus: 1, devices: [{ bdf: '00:03.0' }, { bdf: '00:03.0' }] }, 'devices[1].bdf', 'already used by devices[0]'],
    [{ cpus: 1, devices: [{ bdf: '00:03.0', msi: { vectors: 3 } }] }, 'devices[0].msi.vectors', 'power of two'],
    [{ cpus: 1, devices: [{ bdf: '00:03.0', msi: { vectors: 64 } }] }, 'devices[0].msi.vectors', 'between 1 and 32'],
    [{ cpus: 1, devices: [{ bdf: '00:03.0', msix: { entries: 4096 } }] }, 'devices[0].msix.entries', 'between 1 and 2048'],
    [{ cpus: 1, devices: [{ bdf: '00:03.0', msix: { entries: 4, tableOffset: 4 } }] }, 'devices[0].msix.tableOffset', '8-byte aligned'],
    [{ cpus: 1, devices: [{ bdf: '00:03.0', msix: { entries: 8, tableOffset: 0, pbaOffset: 0x40 } }] }, 'devices[0].msix.pbaOffset', 'overlaps the table'],
    [{ cpus: 1, iommu: { kind: 'arm' } }, 'iommu.kind', '"intel" or "amd"'],
    [{ cpus: 1, iommu: { kind: 'amd' }, devices: [{ bdf: '00:02.0' }] }, 'devices[0].bdf', 'AMD IOMMU'],
    [{ cpus: 1, hypervisor: { intelIrAcceptsAmdFormat: true } }, 'hypervisor.intelIrAcceptsAmdFormat', 'needs iommu.kind "intel"'],
    [{ cpus: 1, lowestPriority: 'random' }, 'lowestPriority', 'must be'],
  ])('rejects %j at %s', (config, field, reason) => {
    const e = errorOf(config);
    expect(e.field).toBe(field);
    expect(e.reason).toContain(reason);
    expect(e.message).toContain(field);
  });

  it('reports every shape problem at once, each with its path, in the order the schema declares the fields', () => {
    const e = errorOf({ cpus: 0, ioapic: { pins: 121 }, devices: [{ bdf: '00:03.0', msi: { vectors: 3 } }], legacy: { hpetTimers: 2 }, hypervisor: { extDestID: true } });
    expect(e.problems).toEqual([
      { field: 'cpus', reason: 'must be between 1 and 32768, got 0' },
      { field: 'ioapic.pins', reason: 'must be between 1 and 120, got 121' },
      { field: 'hypervisor.extDestID', reason: 'unknown field (allowed: extDestId, xenPirq, x2apicApi, windowsHighAddressBits, intelIrAcceptsAmdFormat)' },
      { field: 'devices[0].msi.vectors', reason: 'must be a power of two (1, 2, 4, 8, 16 or 32), got 3' },
      { field: 'legacy.hpetTimers', reason: 'must be between 3 and 32, got 2' },
    ]);
    expect(e.field).toBe('cpus');
    for (const p of e.problems) expect(e.message).toContain(`${p.field}: ${p.reason}`);
  });

  it('reads an empty ioapic or hypervisor block (YAML null: every line under it commented out) as the defaults', () => {
    const c = resolveConfig({ cpus: 1, ioapic: null, hypervisor: null });
    expect(c.ioapic).toEqual({ pins: 24, version: 0x20, id: 0 });
    expect(Object.values(c.hypervisor).every((v) => v === false)).toBe(true);
  });

  it('names a missing field with what it must be, and a value that is not a configuration', () => {
    expect(errorOf({}).problems).toEqual([{ field: 'cpus', reason: 'must be an integer, got undefined' }]);
    expect(errorOf([1]).problems).toEqual([{ field: 'config', reason: 'must be an object' }]);
  });

  it('checks an IOMMU by its kind: the Intel and AMD units each have their own fields', () => {
    expect(errorOf({ cpus: 1, iommu: { kind: 'intel', faultRecords: 0, xt: true } }).problems.map((p) => p.field)).toEqual(['iommu.faultRecords', 'iommu.xt']);
    expect(errorOf({ cpus: 1, iommu: { kind: 'amd', base: 0xfed80001, awBits: 48 } }).problems.map((p) => p.field)).toEqual(['iommu.base', 'iommu.awBits']);
    expect(errorOf({ cpus: 1, iommus: [{ kind: 'intel' }, { kind: 'amd' }] }).problems).toEqual([
      { field: 'iommus[1].kind', reason: 'several units are modelled for Intel VT-d only (kind "intel"), got "amd"' },
    ]);
  });
});
