/**
 * Guest CPU hotplug with an assigned device: the guest Linux takes vCPU 1 offline and moves its interrupts
 * (kernel/irq/cpuhotplug.c migrate_one_irq: remapped sources get their IRTE rewritten and invalidated, others a new
 * message; a managed interrupt with no online CPU left is shut down), and the VMM's routes and posting follow.
 * Brought back online, the managed interrupt starts again on vCPU 1 (irq_restore_affinity_of_irq).
 */
import { describe, expect, it } from 'vitest';
import { createGuest, type LinuxGuest } from '../../src/guest/create-guest.ts';
import { offlineCpu, onlineCpu } from '../../src/guest/linux/cpu-hotplug.ts';
import { UsageError } from '../../src/core/errors.ts';
import { GUEST_NIC, HOST_NIC, irrVectors, nicSystem } from './helpers.ts';

function setUp(opts: { viommu: boolean; profile: 'hardware' | 'qemu' }) {
  const sys = nicSystem({
    guest: opts.viommu ? { iommu: { kind: 'intel', dmaTranslation: false } } : {},
    vmm: { profile: opts.profile, postedInterrupts: true },
  });
  const guest = createGuest(sys.guest, { os: 'linux' }) as LinuxGuest;
  guest.boot();
  const q0 = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
  const q1 = guest.setupInterrupt({ id: 'q1', kind: 'msix', device: GUEST_NIC, vector: 1, cpu: 0 });
  const q2 = guest.setupInterrupt({ id: 'q2', kind: 'msix', device: GUEST_NIC, vector: 2, cpu: 1, managed: true });
  return { sys, guest, q0, q1, q2 };
}

describe('a guest vCPU going offline', () => {
  it('remapped (qemu vIOMMU): the IRTE is rewritten for CPU 0, KVM re-translates at the invalidation, posting follows at once', () => {
    const { sys, guest, q0, q2 } = setUp({ viommu: true, profile: 'qemu' });
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toMatchObject({ vcpu: 1 });
    const moves = offlineCpu(guest, 1);
    expect(guest.onlineCpus()).toEqual([0]);
    expect(moves.map((m) => [m.id, m.how, m.to?.cpu ?? null])).toEqual([['q0', 'irte', 0], ['q2', 'shutdown', null]]);
    const now = guest.programmedInterrupts().find((p) => p.request.id === 'q0')!;
    // The device keeps its message: same IRTE, new vector on CPU 0.
    expect(now.irteIndex).toBe(q0.irteIndex);
    expect(now.message).toEqual(q0.message);
    expect(now).toMatchObject({ cpu: 0, vector: moves[0].to!.vector });
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toMatchObject({ vcpu: 0 });
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(0).lapic.irr)).toEqual([now.vector]);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    // The managed q2 is masked (its route too) and its IRTE cleared: an interrupt now is pended in the PBA.
    expect(sys.vmm.route(GUEST_NIC, 'msix', 2)!.state).toBe('masked');
    sys.host.device(HOST_NIC).signal(2);
    expect(sys.guest.device(GUEST_NIC).fn.msixEntry(2).pending).toBe(true);
    expect(guest.log.has('smpboot: CPU 1 is now offline')).toBe(true);

    // Online again: q2 starts on vCPU 1 with a fresh vector; the pended interrupt is sent at unmask, once.
    const back = onlineCpu(guest, 1);
    expect(back.map((m) => [m.id, m.how, m.to!.cpu])).toEqual([['q2', 'startup', 1]]);
    const q2now = guest.programmedInterrupts().find((p) => p.request.id === 'q2')!;
    expect(q2now.irteIndex).toBe(q2.irteIndex);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([q2now.vector]);
    expect(sys.guest.device(GUEST_NIC).fn.msixEntry(2).pending).toBe(false);
    // q0 stays where it was moved.
    expect(guest.programmedInterrupts().find((p) => p.request.id === 'q0')!.cpu).toBe(0);
  });

  it('remapped (hardware vIOMMU): the invalidation evicts the route; its next interrupt re-translates and re-posts', () => {
    const { sys, guest } = setUp({ viommu: true, profile: 'hardware' });
    offlineCpu(guest, 1);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.state).toBe('evicted');
    const now = guest.programmedInterrupts().find((p) => p.request.id === 'q0')!;
    sys.host.device(HOST_NIC).signal(0);
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(0).lapic.irr)).toEqual([now.vector]);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toMatchObject({ vcpu: 0 });
    // The first went through the re-translation (injected), the second was posted.
    expect(sys.vmm.counters).toMatchObject({ injections: 1, posted: 1 });
  });

  it('no vIOMMU: the MSI-X message is rewritten for CPU 0 and the route and posting follow the new message', () => {
    const { sys, guest, q0 } = setUp({ viommu: false, profile: 'hardware' });
    offlineCpu(guest, 1);
    const now = guest.programmedInterrupts().find((p) => p.request.id === 'q0')!;
    expect(now.message!.addr).not.toBe(q0.message!.addr);
    expect(now.message!.addr & 0xff000n).toBe(0n);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toMatchObject({ vcpu: 0 });
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(0).lapic.irr)).toEqual([now.vector]);
  });

  it('an interrupt still pending in the dying CPU\'s IRR is retriggered with its new vector on its new CPU (fixup_irqs)', () => {
    const { sys, guest, q0 } = setUp({ viommu: true, profile: 'qemu' });
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([q0.vector]);
    offlineCpu(guest, 1);
    const now = guest.programmedInterrupts().find((p) => p.request.id === 'q0')!;
    expect(irrVectors(sys.guest.cpu(0).lapic.irr)).toEqual([now.vector]);
  });

  it('refuses the boot CPU, a CPU not online, and an online CPU brought online', () => {
    const { guest } = setUp({ viommu: false, profile: 'hardware' });
    expect(() => offlineCpu(guest, 0)).toThrow(/boot CPU/);
    expect(() => offlineCpu(guest, 5)).toThrow(UsageError);
    expect(() => onlineCpu(guest, 1)).toThrow(/already online/);
    expect(guest.onlineCpus()).toEqual([0, 1]);
  });
});
