/**
 * The VMM's routes as KVM holds them: one GSI per vector from 24 up (QEMU kernel-irqchip=split keeps 0..23 for the
 * I/O APIC, `kvm_irqchip_get_virq` takes the lowest free), the whole table committed at each change
 * (`kvm_irqchip_commit_routes`), an irqfd per GSI on the vector's kvm_interrupt eventfd
 * (`kvm_irqchip_add_irqfd_notifier_gsi`), and vfio's trigger as the irqbypass producer: paired with the irqfd while the
 * vector is unmasked, with QEMU's own eventfd (unpaired) while masked (hw/vfio/pci.c `vfio_msix_vector_release`).
 */
import { describe, expect, it } from 'vitest';
import { barBase, readMsixCap } from '../../src/guest/pci-msi-setup.ts';
import { LinuxGuest } from '../../src/guest/linux/linux-guest.ts';
import { bootLinux, GUEST_NIC, HOST_NIC, irrVectors, nicSystem } from './helpers.ts';

describe('the VMM\'s KVM routing state', () => {
  it('reports GSIs (I/O APIC pins 0..23, then one per vector), irqfds and pairings', () => {
    const sys = nicSystem({ vmm: { postedInterrupts: true } });
    const guest = bootLinux(sys);
    for (let i = 0; i < 2; i++) guest.setupInterrupt({ id: `q${i}`, kind: 'msix', device: GUEST_NIC, vector: i, cpu: i });
    const entries = sys.vmm.kvm.entries();
    expect(entries.slice(0, 24)).toEqual(Array.from({ length: 24 }, (_, pin) => ({ gsi: pin, type: 'ioapic', pin })));
    expect(entries.slice(24).map((e) => e.gsi)).toEqual([24, 25]);
    expect(sys.vmm.routes().map((r) => r.gsi)).toEqual([24, 25]);
    expect(sys.vmm.kvm.irqfds()).toEqual([{ gsi: 24, resample: false, paired: true }, { gsi: 25, resample: false, paired: true }]);
    expect(sys.vmm.kvm.pairings()).toEqual([{ gsi: 24, producer: '0000:02:00.0 MSI-X 0' }, { gsi: 25, producer: '0000:02:00.0 MSI-X 1' }]);
  });

  it('masking unpairs (posting stops), unmasking pairs again (posting resumes); disabling releases the GSI and its irqfd', () => {
    const sys = nicSystem({ vmm: { postedInterrupts: true } });
    const guest = bootLinux(sys);
    guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
    const dev = sys.guest.device(GUEST_NIC);
    const cap = readMsixCap(dev)!;
    const ctrl = barBase(dev, cap.tableBir) + cap.tableOffset + 12;
    sys.guest.cpu(0).write32(ctrl, 1);
    expect(sys.vmm.kvm.pairings()).toEqual([]);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toBeNull();
    sys.guest.cpu(0).write32(ctrl, 0);
    expect(sys.vmm.kvm.pairings()).toEqual([{ gsi: 24, producer: '0000:02:00.0 MSI-X 0' }]);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toMatchObject({ vcpu: 1 });
    dev.configWrite(cap.offset + 2, 2, 0); // MSI-X Enable = 0
    expect(sys.vmm.kvm.entries().map((e) => e.gsi)).toEqual(Array.from({ length: 24 }, (_, g) => g));
    expect(sys.vmm.kvm.irqfds()).toEqual([]);
  });

  it('qemu: an IEC notification re-translates every route (QEMU\'s work) but changes only the rewritten one\'s KVM entry (KVM\'s work)', () => {
    const sys = nicSystem({ guest: { cpus: 4, iommu: { kind: 'intel', dmaTranslation: false } }, vmm: { profile: 'qemu' }, host: { devices: [{ bdf: HOST_NIC, msix: { entries: 16 } }] } });
    const guest = bootLinux(sys) as LinuxGuest;
    const q = Array.from({ length: 16 }, (_, i) => guest.setupInterrupt({ id: `q${i}`, kind: 'msix', device: GUEST_NIC, vector: i, cpu: i % 4 }));
    const translations = sys.vmm.counters.translations;
    const changed = sys.vmm.kvm.stats.changedEntries;
    const moved = guest.retargetInterrupt(q[5], 3);
    expect(sys.vmm.counters.translations - translations).toBe(16);
    expect(sys.vmm.kvm.stats.changedEntries - changed).toBe(1);
    sys.host.device(HOST_NIC).signal(5);
    expect(irrVectors(sys.guest.cpu(3).lapic.irr)).toEqual([moved.vector]);
  });
});
