/**
 * VMM profiles: `hardware` is the reference; `qemu` copies QEMU's Intel vIOMMU front end (vtd_interrupt_remap_msi,
 * the KVM route path for I/O APIC messages); `qemu-amd-hack` adds the AMD-format hack of the qemu-devel thread "More than 255 vcpus Windows VM setup without viommu ?" (2024-10-01).
 */
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/guest/create-system.ts';
import { createGuest } from '../../src/guest/create-guest.ts';
import type { IommuFaultEvent } from '../../src/core/events.ts';
import type { VmmProfileName } from '../../src/vmm/profiles.ts';
import { IRTA_REG } from '../../src/iommu-intel/registers.ts';
import { IntelIommu } from '../../src/iommu-intel/intel-iommu.ts';
import { formatTraceValue } from '../../src/machine/trace.ts';

/** Windows on AMD vCPUs with QEMU's Intel vIOMMU (IR only), on an AMD host: the set-up of qemu-devel 2024-10-01. */
function windowsOnAmd(profile: VmmProfileName) {
  const sys = createSystem({
    host: { cpus: 4, cpuVendor: 'amd', iommu: { kind: 'amd' }, devices: [{ bdf: '02:00.0', msix: { entries: 2 } }] },
    guest: { cpus: 4, cpuVendor: 'amd', iommu: { kind: 'intel', dmaTranslation: false }, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
    vmm: { profile },
  });
  const guest = createGuest(sys.guest, { os: 'windows' });
  guest.boot();
  const pin = guest.setupInterrupt({ id: 'pin-0', kind: 'ioapic', pin: 0, trigger: 'edge', cpu: 0 });
  const nic = guest.setupInterrupt({ id: 'nic', kind: 'msix', device: '00:05.0', vector: 0, cpu: 1 });
  const accepted: string[] = [];
  const faults: IommuFaultEvent[] = [];
  sys.guest.events.on('apic_accept', (e) => accepted.push(`cpu${e.cpu}/0x${e.vector.toString(16)}`));
  sys.guest.events.on('iommu_fault', (e) => faults.push(e));
  return { sys, pin, nic, accepted, faults };
}

describe('the published trace of the Windows-on-AMD case (Intel vIOMMU, AMD host)', () => {
  it('qemu: the I/O APIC request carries sid 0xffff, do_fault 0, and passes through unchanged', () => {
    const { sys, faults, accepted } = windowsOnAmd('qemu');
    const trace = sys.guest.startTrace();
    sys.guest.ioapic.pulse(0);
    // The two lines from the qemu-devel thread, in upstream QEMU's formats...
    expect(trace.lines()).toEqual(expect.arrayContaining([
      'vtd_ir_remap_msi_req addr 0xfee00004 data 0x0',
      'vtd_ir_remap_msi (addr 0xfee00004, data 0x0) -> (addr 0xfee00004, data 0x0)',
    ]));
    // ...and the request line as the thread's patched QEMU printed it, with the source-id and do_fault.
    const req = trace.hops.find((h) => h.name === 'vtd_ir_remap_msi_req')!;
    expect(`${req.name} ${req.args.map(([k, v]) => `${k} ${formatTraceValue(k, v)}`).join(' ')}`).toBe('vtd_ir_remap_msi_req addr 0xfee00004 data 0x0 sid 0xffff do_fault 0');
    expect(faults).toEqual([]);
    // Passed through as compatibility format: vector 0 (the AMD-style IRTE index) is illegal, so no CPU takes it —
    // the guest waits forever for its timer interrupt.
    expect(accepted).toEqual([]);
  });

  it('hardware: the same request is blocked with fault 0x25 and recorded against the I/O APIC', () => {
    const { sys, pin, faults, accepted } = windowsOnAmd('hardware');
    sys.guest.ioapic.pulse(0);
    expect(faults.map((f) => [f.code, f.sourceId, f.recorded])).toEqual([[0x25, 0xff00, true]]);
    expect(accepted).not.toContain(`cpu${pin.cpu}/0x${pin.vector.toString(16)}`);
  });

  it('qemu-amd-hack: the I/O APIC message reads as IRTE 0 and arrives; the assigned NIC\'s MSI hits the same IRTE', () => {
    const { sys, pin, faults, accepted } = windowsOnAmd('qemu-amd-hack');
    sys.guest.ioapic.pulse(0);
    expect(accepted).toEqual([`cpu${pin.cpu}/0x${pin.vector.toString(16)}`]);
    // Windows fills no IRTE for PCI MSIs (qemu-devel 2024-10-01): data 0 is index 0, the I/O APIC pin's entry.
    sys.host.device('02:00.0').signal(0);
    expect(accepted).toEqual([`cpu${pin.cpu}/0x${pin.vector.toString(16)}`, `cpu${pin.cpu}/0x${pin.vector.toString(16)}`]);
    expect(faults).toEqual([]);
  });

  it('the assigned NIC\'s AMD-style message: qemu routes it as compatibility format (vector 0), hardware refuses it', () => {
    const q = windowsOnAmd('qemu');
    expect(q.sys.vmm.route('00:05.0', 'msix', 0)).toMatchObject({ state: 'valid', lastOutcome: 'deliver (compat)', target: { vector: 0 } });
    const h = windowsOnAmd('hardware');
    expect(h.sys.vmm.route('00:05.0', 'msix', 0)).toMatchObject({ state: 'untranslated', lastOutcome: 'fault intel-vtd 0x25 (compatibility format blocked)' });
    // Under hardware the refusal becomes guest-visible only when the device fires (deliverNow = true).
    expect(h.faults).toEqual([]);
    h.sys.host.device('02:00.0').signal(0);
    expect(h.faults.map((f) => [f.code, f.sourceId])).toEqual([[0x25, 0x28]]);
  });
});

describe('I/O APIC messages on the KVM route path skip the source-id check (qemu)', () => {
  it.each([
    ['qemu', []],
    ['hardware', [0x26]],
  ] as const)('%s: an IRTE whose SID does not name the I/O APIC → faults %j', (profile, expected) => {
    const sys = createSystem({
      host: { cpus: 2, iommu: { kind: 'intel' }, devices: [{ bdf: '02:00.0', msi: { vectors: 1 } }] },
      guest: { cpus: 2, iommu: { kind: 'intel', dmaTranslation: false }, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
      vmm: { profile },
    });
    const guest = createGuest(sys.guest, { os: 'linux' });
    guest.boot();
    const p = guest.setupInterrupt({ id: 'pin-4', kind: 'ioapic', pin: 4, trigger: 'edge', cpu: 1 });
    // Rewrite the IRTE's SID (bits 79:64) to 00:1f.0; Linux programmed SVT = 01b (verify all 16 bits of the SID).
    const unit = sys.guest.iommu as IntelIommu;
    const irt = Number(unit.read(IRTA_REG, 8) & ~0xfffn);
    const w2 = irt + p.irteIndex! * 16 + 8;
    sys.guest.memory.write32(w2, ((sys.guest.memory.read32(w2) & ~0xffff) | 0x00f8) >>> 0);
    const faults: number[] = [];
    sys.guest.events.on('iommu_fault', (e) => faults.push(e.code));
    sys.guest.ioapic.pulse(4);
    expect(faults).toEqual(expected);
  });
});

describe('profile validation', () => {
  it('qemu-amd-hack needs an Intel vIOMMU in the guest', () => {
    expect(() =>
      createSystem({
        host: { cpus: 2, devices: [{ bdf: '02:00.0', msi: { vectors: 1 } }] },
        guest: { cpus: 2, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
        vmm: { profile: 'qemu-amd-hack' },
      }),
    ).toThrow(/vmm\.profile/);
  });
});

describe('KVM routing entries (kvm_arch_fixup_msi_route)', () => {
  it.each([
    // 15-bit extension (qemu-devel, "[RFC,POC] Supporting >255 guest CPUs without interrupt remapping", 2020-10-02): APIC ID 0x123 = 0x23 in address 19:12 and 0x1 in address 11:5 (bit 5).
    // qemu swizzles it into KVM's x2APIC format: address_hi = 0x1 << 8, address 11:5 cleared; data unchanged.
    ['qemu', { addressHi: '0x100', addressLo: '0xfee23000', data: '0x21' }],
    // hardware has no KVM conversion: the guest's message as written.
    ['hardware', { addressHi: '0x0', addressLo: '0xfee23020', data: '0x21' }],
  ] as const)('%s', (profile, kvm) => {
    const sys = createSystem({
      host: { cpus: 2, iommu: { kind: 'intel' }, devices: [{ bdf: '02:00.0', msi: { vectors: 1 } }] },
      guest: { cpus: 2, apicIds: [0, 0x123], hypervisor: { extDestId: true }, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
      vmm: { profile },
    });
    const guest = createGuest(sys.guest, { os: 'linux' });
    guest.boot();
    const p = guest.setupInterrupt({ id: 'm', kind: 'msi', device: '00:05.0', cpu: 1 });
    expect(p.encoding).toBe('ext-dest-id');
    expect(p.vector).toBe(0x21);
    expect(sys.vmm.route('00:05.0', 'msi', 0)!.kvm).toEqual(kvm);
  });
});
