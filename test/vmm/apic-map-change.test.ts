/**
 * The guest changes its APIC map (xAPIC ID, LDR, x2APIC mode) after its assigned device's vectors were routed.
 * Expected behaviour from arch/x86/kvm: kvm_set_msi resolves every injection through the current APIC map
 * (kvm_irq_delivery_to_apic), so injected interrupts follow the change; the posted vCPU is chosen only when a route is
 * updated (vmx_pi_update_irte / avic_pi_update_irte → kvm_intr_is_single_vcpu); an xAPIC ID that differs from the
 * vCPU's own sets APICV_INHIBIT_REASON_APIC_ID_MODIFIED (kvm_lapic_xapic_id_updated), which puts AVIC's IRTEs back
 * in remapped mode (avic_set_pi_irte_mode) and leaves VT-d's alone (vmx_can_use_vtd_pi); the x2APIC ID is read-only
 * (SDM 10.12.5.1: WRMSR to it #GPs).
 */
import { describe, expect, it } from 'vitest';
import { createGuest, type LinuxGuest } from '../../src/guest/create-guest.ts';
import { GeneralProtectionFault } from '../../src/core/errors.ts';
import { programVector } from '../../src/guest/fire-vector.ts';
import { GUEST_NIC, HOST_NIC, irrVectors, nicSystem } from './helpers.ts';

const APIC_ID = 0xfee00020;
const APIC_LDR = 0xfee000d0;

function xapicNic(vmm: { postedInterrupts?: boolean }, amd = false) {
  const sys = nicSystem({
    host: amd ? { iommu: { kind: 'amd', vapic: true } } : {},
    guest: { cpu: { x2apic: false } },
    vmm,
  });
  const guest = createGuest(sys.guest, { os: 'linux' }) as LinuxGuest;
  guest.boot();
  // Physical destination APIC ID 1 (vCPU 1).
  const q = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
  return { sys, guest, q };
}

/** vCPUs 0 and 1 swap xAPIC IDs: a message for APIC ID 1 now reaches vCPU 0. */
function swapIds(sys: ReturnType<typeof xapicNic>['sys']): void {
  sys.guest.cpu(0).write32(APIC_ID, 0x02000000);
  sys.guest.cpu(1).write32(APIC_ID, 0x00000000);
  sys.guest.cpu(0).write32(APIC_ID, 0x01000000);
}

describe('the guest changes an xAPIC ID', () => {
  it('injected interrupts follow the new map at once', () => {
    const { sys, q } = xapicNic({});
    expect(sys.guest.cpu(1).lapic.mode).toBe('xapic');
    expect(q.message!.addr & 0xff000n).toBe(0x01000n);
    swapIds(sys);
    expect(sys.vmm.apicvInhibits).toEqual(new Set(['APIC_ID_MODIFIED']));
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(0).lapic.irr)).toEqual([q.vector]);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.target!.vcpus).toEqual([0]);
  });

  it('AVIC: the APIC_ID_MODIFIED inhibit takes the posted IRTE down; the interrupt is injected through the new map', () => {
    const { sys, q } = xapicNic({ postedInterrupts: true }, true);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toMatchObject({ vcpu: 1 });
    swapIds(sys);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toBeNull();
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(0).lapic.irr)).toEqual([q.vector]);
    expect(sys.vmm.counters).toMatchObject({ posted: 0, injections: 1 });
  });

  it('a system snapshot carries the inhibit: restored from before the change, AVIC posts again to vCPU 1', () => {
    const { sys, q } = xapicNic({ postedInterrupts: true }, true);
    const before = JSON.parse(JSON.stringify(sys.snapshot()));
    swapIds(sys);
    const after = JSON.parse(JSON.stringify(sys.snapshot()));
    expect(after.vmm.apicvInhibits).toEqual(['APIC_ID_MODIFIED']);
    sys.restore(before);
    expect(sys.vmm.apicvInhibits.size).toBe(0);
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([q.vector]);
    expect(sys.vmm.counters).toMatchObject({ posted: 1, injections: 0 });
    sys.restore(after);
    expect(sys.vmm.apicvInhibits).toEqual(new Set(['APIC_ID_MODIFIED']));
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toBeNull();
  });

  it('VT-d PI: the posted IRTE keeps its vCPU until the route is updated; the guest reprogramming the vector re-posts it', () => {
    const { sys, guest, q } = xapicNic({ postedInterrupts: true });
    swapIds(sys);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toMatchObject({ vcpu: 1 });
    sys.host.device(HOST_NIC).signal(0);
    // Posted into vCPU 1's descriptor as the route was chosen — no longer where the message points.
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([q.vector]);
    expect(irrVectors(sys.guest.cpu(0).lapic.irr)).toEqual([]);
    // The guest programs its vector again for vCPU 0 (now APIC ID 1): a routing update, so KVM chooses again.
    guest.handleInterrupt(1);
    const again = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
    expect(again.vector).not.toBe(q.vector);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toMatchObject({ vcpu: 0 });
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(0).lapic.irr)).toEqual([again.vector]);
  });
});

describe('LDR and x2APIC', () => {
  it('a logical (flat) route follows an LDR change for injection', () => {
    const { sys } = xapicNic({});
    // Flat logical model (DFR 0xFFFFFFFF): vCPU i takes logical ID bit i; a logical message for bit 1.
    sys.guest.cpu(0).write32(APIC_LDR, 0x01000000);
    sys.guest.cpu(1).write32(APIC_LDR, 0x02000000);
    const vector = 0x41;
    programVector(sys.guest, GUEST_NIC, 'msix', 1, { addr: 0xfee02004n, data: vector });
    expect(sys.vmm.route(GUEST_NIC, 'msix', 1)!.target).toMatchObject({ vcpus: [1], destMode: 1, dest: 2 });
    // vCPU 1 gives up logical ID bit 1 and vCPU 0 takes it.
    sys.guest.cpu(1).write32(APIC_LDR, 0x80000000);
    sys.guest.cpu(0).write32(APIC_LDR, 0x03000000);
    expect(sys.vmm.apicvInhibits.size).toBe(0);
    sys.host.device(HOST_NIC).signal(1);
    expect(irrVectors(sys.guest.cpu(0).lapic.irr)).toEqual([vector]);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
  });

  it('in x2APIC mode the ID cannot be written: the map and the routes stay', () => {
    const sys = nicSystem({ vmm: { postedInterrupts: true } });
    const guest = createGuest(sys.guest, { os: 'linux' }) as LinuxGuest;
    guest.boot();
    const q = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
    expect(sys.guest.cpu(1).lapic.mode).toBe('x2apic');
    expect(() => sys.guest.cpu(1).wrmsr(0x802, 5n)).toThrow(GeneralProtectionFault);
    expect(sys.vmm.apicvInhibits.size).toBe(0);
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([q.vector]);
    expect(sys.vmm.counters.posted).toBe(1);
  });
});
