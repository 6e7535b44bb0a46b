/**
 * The Linux model's interrupt-remapping decisions against Linux's own code paths (expected lines are Linux's format
 * strings filled in by hand):
 * - drivers/iommu/intel/irq_remapping.c intel_prepare_irq_remapping / parse_ioapics_under_ir /
 *   ir_parse_ioapic_hpet_scope;
 * - drivers/iommu/amd/init.c check_ioapic_information and the guest-IR (vAPIC) choice;
 * - arch/x86/kernel/apic/apic.c try_to_enable_x2apic (bare metal vs hypervisor).
 */
import { describe, expect, it } from 'vitest';
import { createGuest } from '../../src/guest/create-guest.ts';
import { createMachine } from '../../src/machine/machine.ts';
import type { MachineConfig } from '../../src/core/config-types.ts';

const DEV = '00:03.0';
function boot(config: Partial<MachineConfig>, version?: string) {
  const m = createMachine({ cpus: 4, devices: [{ bdf: DEV, msix: { entries: 4 } }], ...config });
  const g = createGuest(m, version ? { os: 'linux', version } : { os: 'linux' });
  g.boot();
  return { m, g };
}

describe('Intel: DMAR flags and unit capabilities', () => {
  it('X2APIC_OPT_OUT: the two DMAR-IR lines, remapping in xapic mode; on bare metal x2APIC is then refused', () => {
    const { g } = boot({ bareMetal: true, iommu: { kind: 'intel' }, dmar: { x2apicOptOut: true } });
    const l = g.log.lines;
    const i = l.indexOf('DMAR-IR: x2apic is disabled because BIOS sets x2apic opt out bit.');
    expect(i).toBeGreaterThan(0);
    expect(l[i + 1]).toBe("DMAR-IR: Use 'intremap=no_x2apic_optout' to override the BIOS setting.");
    expect(l[i + 2]).toBe('DMAR-IR: Enabled IRQ remapping in xapic mode');
    expect(l[i + 3]).toBe("x2apic: IRQ remapping doesn't support X2APIC mode");
    expect(g.log.has('Queued invalidation will be enabled')).toBe(false);
    expect(g.log.decisions.x2apic).toBe(false);
    expect(g.log.decisions.interruptRemapping).toBe('intel-xapic');
  });

  it('the same opt-out in a VM keeps x2APIC (physical, limit 255) without the bare-metal line', () => {
    const { g } = boot({ iommu: { kind: 'intel' }, dmar: { x2apicOptOut: true } });
    expect(g.log.has("IRQ remapping doesn't support X2APIC mode")).toBe(false);
    expect(g.log.decisions.apicRouting).toBe('physical x2apic');
    expect(g.log.decisions.apicLimit).toBe(255);
  });

  it('a unit without EIM: "dmar0 does not support EIM", xapic mode', () => {
    const { g } = boot({ bareMetal: true, iommu: { kind: 'intel', eim: false } });
    expect(g.log.has('DMAR-IR: dmar0 does not support EIM')).toBe(true);
    expect(g.log.has('DMAR-IR: Enabled IRQ remapping in xapic mode')).toBe(true);
    expect(g.log.has("x2apic: IRQ remapping doesn't support X2APIC mode")).toBe(true);
  });

  it('an MSI-X in xAPIC mode still goes through the IRTE with an 8-bit destination and reaches its CPU', () => {
    const { m, g } = boot({ bareMetal: true, iommu: { kind: 'intel', eim: false } });
    const p = g.setupInterrupt({ id: 'q', kind: 'msix', device: DEV, vector: 1, cpu: 3 });
    expect(p.encoding).toBe('intel-remappable');
    const got: number[] = [];
    m.events.on('apic_accept', (e) => got.push(e.cpu));
    m.device(DEV).signal(1);
    expect(got).toEqual([3]);
  });

  it('an I/O APIC under no DRHD: the [Firmware Bug] line and no remapping', () => {
    const { g } = boot({ iommu: { kind: 'intel', ioapicScope: false } });
    expect(g.log.has('DMAR-IR: [Firmware Bug]: ioapic 0 has no mapping iommu, interrupt remapping will be disabled')).toBe(true);
    expect(g.log.has('DMAR-IR: Not enabling interrupt remapping')).toBe(true);
    expect(g.log.decisions.interruptRemapping).toBe('off');
  });

  it('INTR_REMAP flag clear: no remapping, and no DMAR-IR lines at all', () => {
    const { g } = boot({ iommu: { kind: 'intel' }, dmar: { intrRemap: false } });
    expect(g.log.lines.some((l) => l.startsWith('DMAR-IR:'))).toBe(false);
    expect(g.log.decisions.interruptRemapping).toBe('off');
  });

  it('HPET scope and the DRHD flags line', () => {
    const { g } = boot({ iommu: { kind: 'intel', hpet: { id: 0, sourceId: 0xf0f8 } } });
    expect(g.log.has('DMAR: DRHD base: 0x000000fed90000 flags: 0x1')).toBe(true);
    expect(g.log.has('DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0')).toBe(true);
    expect(g.log.has('DMAR-IR: HPET id 0 under DRHD base 0xfed90000')).toBe(true);
  });
});

describe('Intel: several DRHD units', () => {
  // A Skylake client's layout: dmar0 (graphics, scope 00:02.0) and dmar1 (INCLUDE_PCI_ALL, the I/O APIC).
  const iommus = [
    { kind: 'intel' as const, base: 0xfed90000, includePciAll: false, devices: ['00:02.0'] },
    { kind: 'intel' as const, base: 0xfed91000 },
  ];
  const devices = [{ bdf: '00:02.0', msix: { entries: 2 } }, { bdf: DEV, msix: { entries: 2 } }];

  it('each device is remapped by the unit whose scope covers it; m.iommu is the first unit', () => {
    const m = createMachine({ cpus: 2, iommus, devices });
    expect(m.iommus).toHaveLength(2);
    expect(m.iommu).toBe(m.iommus[0]);
    const g = createGuest(m, { os: 'linux' });
    g.boot();
    expect(g.log.has('DMAR: DRHD base: 0x000000fed90000 flags: 0x0')).toBe(true);
    expect(g.log.has('DMAR: DRHD base: 0x000000fed91000 flags: 0x1')).toBe(true);
    expect(g.log.has('DMAR-IR: IOAPIC id 0 under DRHD base  0xfed91000 IOMMU 1')).toBe(true);
    const hops: string[] = [];
    m.events.on('iommu_fault', () => hops.push('fault'));
    const accepted: number[] = [];
    m.events.on('apic_accept', (e) => accepted.push(e.cpu));
    const a = g.setupInterrupt({ id: 'gfx', kind: 'msix', device: '00:02.0', vector: 0, cpu: 1 });
    const b = g.setupInterrupt({ id: 'nvme', kind: 'msix', device: DEV, vector: 0, cpu: 1 });
    // Each unit has its own table: the graphics unit's first entry is 0; the catch-all unit, which remaps the I/O
    // APIC, gave IRTEs 0..14 to legacy pins 1..15 at I/O APIC setup (setup_IO_APIC_irqs), so the NVMe gets 15.
    expect(a.irteIndex).toBe(0);
    expect(b.irteIndex).toBe(15);
    m.device('00:02.0').signal(0);
    m.device(DEV).signal(0);
    expect(accepted).toEqual([1, 1]);
    expect(hops).toEqual([]);
  });

  it('rejects two INCLUDE_PCI_ALL units and a device in two scopes, naming the field', () => {
    expect(() => createMachine({ cpus: 1, iommus: [{ kind: 'intel' }, { kind: 'intel', base: 0xfed91000 }] })).toThrow(/iommus\[1\]\.includePciAll/);
    expect(() =>
      createMachine({
        cpus: 1,
        iommus: [
          { kind: 'intel', includePciAll: false, devices: ['00:02.0'] },
          { kind: 'intel', base: 0xfed91000, includePciAll: false, devices: ['00:02.0'], ioapicScope: true },
        ],
      }),
    ).toThrow(/iommus\[1\]\.devices\[0\]/);
    expect(() => createMachine({ cpus: 1, iommu: { kind: 'intel' }, iommus: [{ kind: 'intel' }] })).toThrow(/iommus/);
  });
});

describe('AMD: IVRS special devices and EFR-driven lines', () => {
  it('a real EFR (0x206d73ef22254ade): the Extended features line, X2APIC and Virtual APIC enabled', () => {
    const { g } = boot({ cpuVendor: 'amd', bareMetal: true, iommu: { kind: 'amd', efr: '206d73ef22254ade', efr2: '0' } });
    expect(g.log.has('AMD-Vi: Extended features (0x206d73ef22254ade, 0x0): PPR X2APIC NX GT IA GA PC GA_vAPIC')).toBe(true);
    expect(g.log.has('AMD-Vi: Interrupt remapping enabled')).toBe(true);
    expect(g.log.has('AMD-Vi: X2APIC enabled')).toBe(true);
    expect(g.log.has('AMD-Vi: Virtual APIC enabled')).toBe(true);
  });

  it('GAMSup without GASup (0x58f77ef22294a5a): no vAPIC, no XT; bare metal refuses x2APIC', () => {
    const { g } = boot({ cpuVendor: 'amd', bareMetal: true, iommu: { kind: 'amd', efr: '58f77ef22294a5a' } });
    expect(g.log.has('PPR NX GT IA PC GA_vAPIC')).toBe(true);
    expect(g.log.has('AMD-Vi: Virtual APIC enabled')).toBe(false);
    expect(g.log.has('AMD-Vi: X2APIC enabled')).toBe(false);
    expect(g.log.has("x2apic: IRQ remapping doesn't support X2APIC mode")).toBe(true);
  });

  it('the I/O APIC listed at another DeviceID: no southbridge I/O APIC, remapping off', () => {
    const { g } = boot({ cpuVendor: 'amd', iommu: { kind: 'amd', ioapicDeviceId: '00:00.1' } });
    expect(g.log.has('AMD-Vi: [Firmware Bug]: : No southbridge IOAPIC found')).toBe(true);
    expect(g.log.has('AMD-Vi: Disabling interrupt remapping')).toBe(true);
    expect(g.log.has('IOAPIC[0] not in IVRS table')).toBe(false);
    expect(g.log.decisions.interruptRemapping).toBe('off');
  });

  it('the I/O APIC missing from IVRS: "IOAPIC[0] not in IVRS table" as well', () => {
    const { g } = boot({ cpuVendor: 'amd', iommu: { kind: 'amd', ioapicInIvrs: false } });
    expect(g.log.has('AMD-Vi: [Firmware Bug]: : IOAPIC[0] not in IVRS table')).toBe(true);
    expect(g.log.decisions.interruptRemapping).toBe('off');
  });
});

describe('machine config: bare metal', () => {
  it('a bare-metal machine has no hypervisor features', () => {
    expect(() => createMachine({ cpus: 1, bareMetal: true, hypervisor: { extDestId: true } })).toThrow(/hypervisor\.extDestId/);
    expect(createMachine({ cpus: 1, bareMetal: true }).firmware.cpuid.hypervisorPresent).toBe(false);
  });
});

describe('several VT-d units: snapshots', () => {
  it('save every unit and restore them all (a register of the second unit comes back)', () => {
    const m = createMachine({
      cpus: 1,
      iommus: [
        { kind: 'intel', base: 0xfed90000, includePciAll: false, devices: ['00:02.0'] },
        { kind: 'intel', base: 0xfed91000 },
      ],
    });
    const before = m.snapshot();
    expect(before.devices.moreIommus).toHaveLength(1);
    // FEDATA of the second unit (offset 0x3c) resets to 0; software writes vector 0x41.
    m.cpu(0).write32(0xfed9103c, 0x41);
    const after = m.snapshot();
    m.restore(before);
    expect(m.cpu(0).read32(0xfed9103c)).toBe(0);
    m.restore(after);
    expect(m.cpu(0).read32(0xfed9103c)).toBe(0x41);
  });
});
