/**
 * The `qemu` profile's vIOMMU and KVM routes against `hardware`, for one guest sequence. Expected behaviour:
 * - hardware (VT-d 6.5.2.7 "Interrupt Entry Cache Invalidate Descriptor"): an invalidation covers only the indices it
 *   names; a cached entry outside them stays stale; an evicted route is translated again at its next interrupt and a
 *   non-present IRTE is fault 0x22, recorded and visible to the guest.
 * - QEMU (target/i386/kvm/kvm.c `kvm_update_msi_routes_all`): any IEC invalidation re-translates every MSI route, so a
 *   rewritten IRTE is picked up even when another index was invalidated; a re-translation that fails keeps the old
 *   route (`kvm_irqchip_update_msi_route` returns -EINVAL from `kvm_arch_fixup_msi_route`), translated with
 *   do_fault = 0 (`vtd_int_remap`), so the guest sees no fault and the interrupt still arrives where it used to.
 */
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/guest/create-system.ts';
import { LinuxGuest } from '../../src/guest/linux/linux-guest.ts';
import type { VmmProfileName } from '../../src/vmm/profiles.ts';
import { bootLinux, GUEST_NIC, HOST_NIC, irrVectors, nicSystem } from './helpers.ts';

function viommuNic(profile: VmmProfileName) {
  const sys = nicSystem({ guest: { cpus: 4, iommu: { kind: 'intel', dmaTranslation: false } }, vmm: { profile } });
  const guest = bootLinux(sys) as LinuxGuest;
  const q = [0, 1, 2].map((i) => guest.setupInterrupt({ id: `q${i}`, kind: 'msix', device: GUEST_NIC, vector: i, cpu: i }));
  // Warm every route (an interrupt each), so the hardware unit's IEC holds the entries too.
  for (const [i, p] of q.entries()) {
    sys.host.device(HOST_NIC).signal(i);
    expect(irrVectors(sys.guest.cpu(i).lapic.irr)).toEqual([p.vector]);
    sys.guest.cpu(i).acknowledge();
    sys.guest.cpu(i).lapic.eoi();
  }
  const faults: number[] = [];
  sys.guest.events.on('iommu_fault', (f) => faults.push(f.code));
  return { sys, guest, q, faults };
}

describe('IRTE rewritten, a different index invalidated', () => {
  it('hardware: the route (and IEC entry) of the rewritten IRTE stays stale', () => {
    const { sys, guest, q } = viommuNic('hardware');
    const moved = guest.retargetInterrupt(q[1], 3, { invalidate: false });
    guest.invalidateInterruptEntry(q[0].irteIndex!);
    sys.host.device(HOST_NIC).signal(1);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([q[1].vector]);
    expect(irrVectors(sys.guest.cpu(3).lapic.irr)).toEqual([]);
    expect(moved.cpu).toBe(3);
  });

  it('qemu: the invalidation re-translates every route, so the rewritten IRTE is followed', () => {
    const { sys, guest, q } = viommuNic('qemu');
    const before = sys.vmm.counters.translations;
    const moved = guest.retargetInterrupt(q[1], 3, { invalidate: false });
    guest.invalidateInterruptEntry(q[0].irteIndex!);
    // Three routes re-translated by the one notification.
    expect(sys.vmm.counters.translations).toBe(before + 3);
    sys.host.device(HOST_NIC).signal(1);
    expect(irrVectors(sys.guest.cpu(3).lapic.irr)).toEqual([moved.vector]);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
  });

  it('qemu traces QEMU\'s lines for it', () => {
    const { sys, guest, q } = viommuNic('qemu');
    guest.retargetInterrupt(q[1], 3, { invalidate: false });
    const trace = sys.guest.startTrace();
    guest.invalidateInterruptEntry(q[0].irteIndex!);
    const kvm = trace.lines().filter((l) => l.startsWith('kvm_'));
    // GSIs 24, 25, 26: the first three free above the I/O APIC's 24 (kvm_irqchip_get_virq under kernel-irqchip=split).
    expect(kvm).toEqual([
      'kvm_irqchip_update_msi_route Updating MSI route virq=24',
      'kvm_irqchip_update_msi_route Updating MSI route virq=25',
      'kvm_irqchip_update_msi_route Updating MSI route virq=26',
      'kvm_irqchip_commit_routes ',
      'kvm_x86_update_msi_routes Updated 3 MSI routes',
    ]);
  });
});

describe('IRTE cleared (P = 0) and invalidated', () => {
  it('hardware: the evicted route is translated again at the next interrupt and the guest sees fault 0x22', () => {
    const { sys, guest, q, faults } = viommuNic('hardware');
    guest.releaseIrte(q[2]);
    sys.host.device(HOST_NIC).signal(2);
    expect(irrVectors(sys.guest.cpu(2).lapic.irr)).toEqual([]);
    expect(faults).toEqual([0x22]);
    expect(sys.vmm.counters.faults).toBe(1);
  });

  it('qemu: the failed re-translation keeps the old route: the interrupt arrives where it used to, no fault', () => {
    const { sys, guest, q, faults } = viommuNic('qemu');
    guest.releaseIrte(q[2]);
    const r = sys.vmm.route(GUEST_NIC, 'msix', 2)!;
    expect(r.state).toBe('valid');
    expect(r.lastOutcome).toMatch(/0x22.*KVM kept the old route/);
    sys.host.device(HOST_NIC).signal(2);
    expect(irrVectors(sys.guest.cpu(2).lapic.irr)).toEqual([q[2].vector]);
    expect(faults).toEqual([]);
    expect(sys.vmm.counters.faults).toBe(0);
  });
});

describe('qemu: a vector whose first translation fails', () => {
  it('gets no KVM route and is sent by QEMU at every interrupt, through the vIOMMU each time', () => {
    const sys = createSystem({
      host: { cpus: 2, iommu: { kind: 'intel' }, devices: [{ bdf: '02:00.0', msi: { vectors: 2 } }] },
      guest: { cpus: 2, iommu: { kind: 'intel', dmaTranslation: false }, assigned: [{ bdf: '00:05.0', host: '02:00.0' }] },
      vmm: { profile: 'qemu' },
    });
    const guest = bootLinux(sys);
    const m = [0, 1].map((k) => guest.setupInterrupt({ id: `m${k}`, kind: 'msi', device: '00:05.0', vector: k, cpu: k }));
    // Linux enables MSI with the block's handle before it fills the IRTEs: at enable time both lookups failed
    // (vfio_add_kvm_msi_virq: no virq), and the IEC flushes that followed do not add routes (only existing ones are
    // in kvm_update_msi_routes_all's list).
    expect(sys.vmm.routes().map((r) => [r.guest.index, r.state, r.gsi])).toEqual([[0, 'untranslated', null], [1, 'untranslated', null]]);
    const before = sys.vmm.counters.translations;
    for (let n = 1; n <= 2; n++) {
      sys.host.device('02:00.0').signal(1);
      expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([m[1].vector]);
      sys.guest.cpu(1).acknowledge();
      sys.guest.cpu(1).lapic.eoi();
      // Translated again at every interrupt: nothing is cached.
      expect(sys.vmm.counters.translations).toBe(before + n);
    }
    expect(sys.vmm.counters.injections).toBe(2);
  });
});
