/**
 * The CPU model (vendor, x2APIC) and the kernel command line in the Linux model, held against real boots of Linux 6.1
 * under QEMU 7.2 TCG (test/fixtures/qemu72-linux61-consoles/README.md lists each command line): every expected line
 * below is copied from those consoles, and the set of decision lines must match exactly — nothing missing, nothing
 * extra. Where no recording exists (x2APIC-capable CPUs with nox2apic / x2apic_phys, a DMAR scope naming the wrong
 * I/O APIC) the expected lines are Linux 6.1's format strings filled in by hand: drivers/iommu/intel/irq_remapping.c
 * (parse_ioapics_under_ir, intel_cleanup_irq_remapping), arch/x86/kernel/apic/apic.c (setup_nox2apic,
 * try_to_enable_x2apic), arch/x86/kernel/apic/probe_64.c (default_setup_apic_routing).
 */
import { describe, expect, it } from 'vitest';
import { createGuest, type LinuxGuest } from '../../src/guest/create-guest.ts';
import { createMachine } from '../../src/machine/machine.ts';
import type { MachineConfig } from '../../src/core/config-types.ts';
import { isModelledRemappingLine } from '../../src/tools/dmesg-check.ts';
import { GeneralProtectionFault } from '../../src/core/errors.ts';

const NIC = '00:03.0';
/** QEMU 7.2's q35 under TCG: qemu64 (AuthenticAMD, no x2APIC), no hypervisor CPUID leaves. */
const QEMU_TCG: Partial<MachineConfig> = { bareMetal: true, cpu: { vendor: 'amd', x2apic: false } };
/** `-device intel-iommu,intremap=on` as the guest reads it: "cap d2008c22260206 ecap f00f4a", DRHD flags 0x0. */
const QEMU_VTD: MachineConfig['iommu'] = { kind: 'intel', cap: 'd2008c22260206', ecap: 'f00f4a', includePciAll: false, devices: [NIC] };
const DMAR_TABLE = ['DMAR: Host address width 39', 'DMAR: DRHD base: 0x000000fed90000 flags: 0x0', 'DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap d2008c22260206 ecap f00f4a'];

function boot(config: Partial<MachineConfig>, cmdline = '', version = '6.1'): LinuxGuest {
  const m = createMachine({ cpus: 4, devices: [{ bdf: NIC, msix: { entries: 4 } }], ...config });
  const g = createGuest(m, { os: 'linux', version, cmdline }) as LinuxGuest;
  g.boot();
  return g;
}

/** The decision lines the model printed (the kinds from-dmesg --check compares), sorted. */
function decisionLines(g: LinuxGuest): string[] {
  return g.log.lines.filter(isModelledRemappingLine).sort();
}

describe('QEMU 7.2 TCG q35 + Linux 6.1: decision lines as the real kernel printed them', () => {
  it('4 CPUs, intel-iommu intremap=on: xapic remapping, no x2apic line, logical flat without a routing line', () => {
    const g = boot({ ...QEMU_TCG, iommu: QEMU_VTD, dmar: { hostAddressWidth: 39 } });
    expect(decisionLines(g)).toEqual([...DMAR_TABLE, 'DMAR-IR: Enabled IRQ remapping in xapic mode', 'DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0'].sort());
    expect(g.log.decisions.apicRouting).toBe('flat');
  });

  it('16 CPUs: "Switched APIC routing to physical flat."', () => {
    const g = boot({ ...QEMU_TCG, cpus: 16, iommu: QEMU_VTD, dmar: { hostAddressWidth: 39 } });
    expect(decisionLines(g)).toEqual(
      [...DMAR_TABLE, 'DMAR-IR: Enabled IRQ remapping in xapic mode', 'DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0', 'Switched APIC routing to physical flat.'].sort(),
    );
  });

  it('intremap=off: the DMAR table lines only, no DMAR-IR line', () => {
    const g = boot({ ...QEMU_TCG, iommu: QEMU_VTD, dmar: { hostAddressWidth: 39 } }, 'console=ttyS0 lpj=1000000 panic=-1 intremap=off');
    expect(decisionLines(g)).toEqual([...DMAR_TABLE].sort());
    expect(g.interruptRemapping).toBe(null);
  });

  it('noapic: "Not enabling interrupt remapping due to skipped IO-APIC setup", and I/O APIC pins are refused', () => {
    const g = boot({ ...QEMU_TCG, iommu: QEMU_VTD, dmar: { hostAddressWidth: 39 } }, 'noapic');
    expect(decisionLines(g)).toEqual([...DMAR_TABLE, 'Not enabling interrupt remapping due to skipped IO-APIC setup'].sort());
    const p = g.setupInterrupt({ id: 'uart', kind: 'ioapic', pin: 4, cpu: 0 });
    expect(p.status).toBe('refused');
    expect(p.note).toMatch(/noapic/);
  });

  it('intel_iommu=off: "DMAR: IOMMU disabled" and interrupt remapping still on; x2apic_phys changes nothing without x2APIC', () => {
    const g = boot({ ...QEMU_TCG, iommu: QEMU_VTD, dmar: { hostAddressWidth: 39 } }, 'console=ttyS0 x2apic_phys intel_iommu=off');
    expect(decisionLines(g)).toEqual(
      [...DMAR_TABLE, 'DMAR: IOMMU disabled', 'DMAR-IR: Enabled IRQ remapping in xapic mode', 'DMAR-IR: IOAPIC id 0 under DRHD base  0xfed90000 IOMMU 0'].sort(),
    );
    expect(g.log.decisions.apicRouting).toBe('flat');
  });

  it('a unit without IR and the DMAR INTR_REMAP flag clear (intel-iommu,intremap=off): the table lines only', () => {
    const g = boot({ ...QEMU_TCG, iommu: { kind: 'intel', cap: 'd2008c22260206', ecap: 'f42', includePciAll: false }, dmar: { hostAddressWidth: 39, intrRemap: false } });
    expect(decisionLines(g)).toEqual(['DMAR: Host address width 39', 'DMAR: DRHD base: 0x000000fed90000 flags: 0x0', 'DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap d2008c22260206 ecap f42'].sort());
  });
});

describe('logical flat (xAPIC, ≤ 8 CPUs, before 6.12): what the kernel writes and where it arrives', () => {
  it('IRTEs carry DM = 1 and the CPU bit as an 8-bit logical destination, and the interrupt reaches that CPU', () => {
    const g = boot({ ...QEMU_TCG, iommu: QEMU_VTD });
    const p = g.setupInterrupt({ id: 'nic-q2', kind: 'msix', device: NIC, vector: 2, cpu: 2 });
    expect(p.status).toBe('programmed');
    const irta = g.machine.cpu(0).read64(0xfed90000 + 0xb8);
    const table = Number(irta & ~0xfffn);
    const lo = g.machine.cpu(0).read64(table + p.irteIndex! * 16);
    const hi = g.machine.cpu(0).read64(table + p.irteIndex! * 16 + 8);
    expect(Number(hi & 0xffffn)).toBe(0x18);
    // Linux's apic_flat: logical ID 1 << cpu (flat_init_apic_ldr), DM = 1; prepare_irte sets RH; xAPIC mode puts the
    // 8-bit destination in IRTE bits 47:40 (VT-d 9.10, DST with EIME = 0).
    expect(Number((lo >> 2n) & 1n)).toBe(1);
    expect(Number((lo >> 40n) & 0xffn)).toBe(1 << 2);
    expect(Number((lo >> 32n) & 0xffn)).toBe(0);
    expect(Number((lo >> 3n) & 1n)).toBe(1);
    const seen: number[] = [];
    g.machine.events.on('apic_accept', (e) => seen.push(e.cpu));
    g.machine.device(NIC).signal(2);
    expect(seen).toEqual([2]);
  });

  it('without remapping the MSI itself is logical: address bit 2 (DM) set, destination byte = the CPU bit', () => {
    const g = boot({ ...QEMU_TCG });
    const p = g.setupInterrupt({ id: 'nic-q0', kind: 'msix', device: NIC, vector: 0, cpu: 3 });
    expect(Number(p.message!.addr)).toBe((0xfee00000 | ((1 << 3) << 12) | 0x4) >>> 0);
    const seen: number[] = [];
    g.machine.events.on('apic_accept', (e) => seen.push(e.cpu));
    g.machine.device(NIC).signal(0);
    expect(seen).toEqual([3]);
  });

  it('6.12 and 6.11.3 have no logical flat driver: physical flat, and no routing line (it is the default driver)', () => {
    for (const version of ['6.12', '6.11.3']) {
      const g = boot({ ...QEMU_TCG, iommu: QEMU_VTD }, '', version);
      expect(g.log.decisions.apicRouting).toBe('physical flat');
      expect(g.log.lines.some((l) => l.includes('Switched APIC routing'))).toBe(false);
    }
    expect(boot({ ...QEMU_TCG }, '', '6.11.2').log.decisions.apicRouting).toBe('flat');
  });
});

describe('x2APIC-capable CPUs and the command line (6.1 format strings)', () => {
  const VTD_EIM: MachineConfig['iommu'] = { kind: 'intel', interruptRemapping: true, eim: true };

  it('nox2apic: the CPU bit is cleared, so remapping runs in xapic mode without a line and the CPUs stay xAPIC', () => {
    const g = boot({ bareMetal: true, iommu: VTD_EIM }, 'nox2apic');
    expect(g.log.lines).toContain('DMAR-IR: Enabled IRQ remapping in xapic mode');
    expect(g.log.has('Queued invalidation will be enabled')).toBe(false);
    expect(g.log.has('x2apic')).toBe(false);
    expect(g.log.decisions.x2apic).toBe(false);
  });

  it('x2apic_phys with x2APIC remapping: the physical x2APIC driver (DM = 0, destination = APIC ID)', () => {
    const g = boot({ iommu: VTD_EIM }, 'x2apic_phys', '6.1');
    expect(g.log.lines).toContain('Switched APIC routing to physical x2apic.');
    expect(g.log.has('cluster x2apic')).toBe(false);
  });

  it('intremap=no_x2apic_optout ignores the DMAR opt-out flag; intremap=off,on ends on (last word wins)', () => {
    const g = boot({ iommu: VTD_EIM, dmar: { x2apicOptOut: true } }, 'intremap=no_x2apic_optout');
    expect(g.log.has('opt out bit')).toBe(false);
    expect(g.log.lines).toContain('DMAR-IR: Enabled IRQ remapping in x2apic mode');
    expect(boot({ iommu: VTD_EIM }, 'intremap=off,on').interruptRemapping).toBe('intel');
  });

  it('intremap=nosid: IRTEs with SVT = 0 (no requester-id check)', () => {
    const g = boot({ iommu: VTD_EIM }, 'intremap=nosid');
    const p = g.setupInterrupt({ id: 'q', kind: 'msix', device: NIC, vector: 0, cpu: 1 });
    const table = Number(g.machine.cpu(0).read64(0xfed90000 + 0xb8) & ~0xfffn);
    const hi = g.machine.cpu(0).read64(table + p.irteIndex! * 16 + 8);
    expect(Number((hi >> 18n) & 3n)).toBe(0);
    expect(Number(hi & 0xffffn)).toBe(0x18); // the SID is still written (set_irte_sid)
  });

  it('DMAR scope names I/O APIC 2, the MADT has 0: the firmware-bug line, "Not enabling", then the irq-injection warning', () => {
    const g = boot({ bareMetal: true, iommu: VTD_EIM, dmar: { ioapicScopeId: 2 } });
    const l = g.log.lines.filter((x) => x.startsWith('DMAR-IR: '));
    expect(l).toEqual([
      'DMAR-IR: IOAPIC id 2 under DRHD base  0xfed90000 IOMMU 0',
      'DMAR-IR: [Firmware Bug]: ioapic 0 has no mapping iommu, interrupt remapping will be disabled',
      'DMAR-IR: Not enabling interrupt remapping',
      'DMAR-IR: Failed to enable irq remapping. You are vulnerable to irq-injection attacks.',
    ]);
    expect(g.log.lines).toContain("x2apic: IRQ remapping doesn't support X2APIC mode");
  });

  it('a CPU without x2APIC gets no irq-injection warning (intel_cleanup_irq_remapping checks x2apic_supported())', () => {
    const g = boot({ ...QEMU_TCG, iommu: { kind: 'intel', cap: 'd2008c22260206', ecap: 'f42', includePciAll: false } });
    expect(g.log.lines.filter((x) => x.startsWith('DMAR-IR: '))).toEqual(['DMAR-IR: Not enabling interrupt remapping']);
    const x2 = boot({ iommu: { kind: 'intel', interruptRemapping: false } });
    expect(x2.log.lines.filter((x) => x.startsWith('DMAR-IR: '))).toEqual([
      'DMAR-IR: Not enabling interrupt remapping',
      'DMAR-IR: Failed to enable irq remapping. You are vulnerable to irq-injection attacks.',
    ]);
  });

  it('amd_iommu=off: no AMD-Vi line and no remapping', () => {
    const g = boot({ iommu: { kind: 'amd' } }, 'amd_iommu=off');
    expect(g.log.lines.some((l) => l.startsWith('AMD-Vi'))).toBe(false);
    expect(g.interruptRemapping).toBe(null);
  });

  it('iommu=pt: the DMA API hands out physical addresses (identity domain)', () => {
    const g = boot({ iommu: { kind: 'intel' } }, 'iommu=pt');
    expect(g.mapDma('00:03.0', 0x10000, { read: true, write: true })).toEqual({ iova: 0x10000n, physical: 0x10000n, translated: false });
  });

  it('unknown options are ignored, as the kernel passes them to init', () => {
    expect(boot({ iommu: VTD_EIM }, 'quiet splash foo=bar "init=/bin/sh -x"').log.lines).toEqual(boot({ iommu: VTD_EIM }).log.lines);
  });
});

describe('a CPU without x2APIC is hardware, not only a flag', () => {
  it('IA32_APIC_BASE.EXTD is reserved: WRMSR #GPs', () => {
    const m = createMachine({ cpus: 1, cpu: { x2apic: false } });
    expect(() => m.cpu(0).wrmsr(0x1b, 0xfee00000n | (1n << 11n) | (1n << 10n) | (1n << 8n))).toThrow(GeneralProtectionFault);
  });

  it('APIC IDs above 254 need x2APIC; cpu.vendor and cpuVendor are one setting', () => {
    expect(() => createMachine({ cpus: 1, apicIds: [300], cpu: { x2apic: false } })).toThrow(/apicIds\[0\]: APIC ID 300 needs x2APIC/);
    expect(() => createMachine({ cpus: 1, cpuVendor: 'amd', cpu: { vendor: 'amd' } })).toThrow(/cpu.vendor/);
    expect(createMachine({ cpus: 1, cpu: { vendor: 'amd' } }).firmware.cpuid.vendor).toBe('AuthenticAMD');
  });
});
