/**
 * Posted interrupts on an AMD host: the host IOMMU's guest virtual APIC mode (EFR.GAMSup, Control.GAMEn = 001b), as
 * KVM drives it (arch/x86/kvm/svm/avic.c: avic_pi_update_irte, avic_vcpu_load/put → amd_iommu_update_ga,
 * avic_ga_log_notifier). Expected values come from the IRTE layout (AMD IOMMU spec §2.2.5, GuestMode = 1) and KVM's
 * AVIC_GATAG (VM ID 1 above the 9-bit vCPU index: vCPU 1 → 0x201).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { AVIC_BACKING_PAGE_BASE } from '../../src/vmm/vmm.ts';
import { GUEST_NIC, HOST_NIC, bootLinux, irrVectors, nicSystem } from './helpers.ts';

function amdHost(vapic = true) {
  return { cpus: 4, iommu: { kind: 'amd' as const, vapic }, devices: [{ bdf: HOST_NIC, name: 'nic', msix: { entries: 4 } }] };
}

function postedNic() {
  const sys = nicSystem({ host: amdHost(), vmm: { postedInterrupts: true } });
  const guest = bootLinux(sys);
  const p = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
  return { sys, p };
}

/** The host IRTE behind the route, read back from host memory: [w0, w1, w2, w3]. */
function hostIrte(sys: ReturnType<typeof postedNic>['sys']): number[] {
  const r = sys.vmm.route(GUEST_NIC, 'msix', 0)!;
  const sid = sys.host.device(HOST_NIC).requesterId;
  const devTab = Number(sys.host.iommu!.read(0x0000, 8) & 0x000f_ffff_ffff_f000n);
  const irt = Number(sys.host.memory.read64(devTab + sid * 32 + 16) & 0x000f_ffff_ffff_ffc0n);
  const at = irt + r.host!.irte! * 16;
  return [0, 4, 8, 12].map((o) => sys.host.memory.read32(at + o));
}

describe('posted interrupts on an AMD host (guest virtual APIC)', () => {
  it('the host IRTE is GuestMode = 1 with the vCPU\'s backing page, GA tag, guest vector, IsRun and Destination', () => {
    const { sys, p } = postedNic();
    const r = sys.vmm.route(GUEST_NIC, 'msix', 0)!;
    const page = AVIC_BACKING_PAGE_BASE + 4096; // vCPU 1
    expect(r.posted).toEqual({ vcpu: 1, descriptor: '0x' + page.toString(16), backingPage: '0x' + page.toString(16), gaTag: '0x201' });
    const [w0, w1, w2, w3] = hostIrte(sys);
    const hostApicId = sys.vcpu(1).hostApicId;
    // RemapEn 1, GALogIntr 4, IsRun 0x40, GuestMode 0x80, Destination[23:0] << 8.
    expect(w0 >>> 0).toBe((0xc5 | (hostApicId << 8)) >>> 0);
    expect(w1).toBe(0x201);
    // GA Root Ptr: page bits 31:12 in w2 31:12, bits 51:32 in w3 19:0; the guest vector in w2 7:0.
    expect(w2 >>> 0).toBe(((page % 2 ** 32) | p.vector) >>> 0);
    expect(w3 & 0xfffff).toBe(Math.floor(page / 2 ** 32));
  });

  it('running vCPU: the doorbell moves the IRR bit into its LAPIC, no injection, no GA log', () => {
    const { sys, p } = postedNic();
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters).toMatchObject({ posted: 1, injections: 0, wakeups: 0 });
  });

  it('descheduled vCPU: IsRun = 0 in the IRTE, a GA log entry wakes it, the vector reaches IRR at resume', () => {
    const { sys, p } = postedNic();
    sys.vcpu(1).running = false;
    expect(hostIrte(sys)[0] & 0x40).toBe(0); // amd_iommu_update_ga cleared IsRun
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    // The vector waits in the backing page IRR: register vector >> 5 at 0x200 + 16 x n.
    const page = AVIC_BACKING_PAGE_BASE + 4096;
    expect((sys.host.memory.read32(page + 0x200 + (p.vector >>> 5) * 16) >>> (p.vector & 31)) & 1).toBe(1);
    expect(sys.vmm.counters).toMatchObject({ posted: 0, wakeups: 1, injections: 0 });
    sys.vcpu(1).running = true;
    expect(hostIrte(sys)[0] & 0x40).toBe(0x40);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters.posted).toBe(1);
    expect(sys.host.memory.read32(page + 0x200 + (p.vector >>> 5) * 16)).toBe(0);
  });

  it('an AMD host IOMMU without guest vAPIC support refuses posting, naming the field', () => {
    expect(() => nicSystem({ host: amdHost(false), vmm: { postedInterrupts: true } })).toThrow(ConfigError);
    expect(() => nicSystem({ host: amdHost(false), vmm: { postedInterrupts: true } })).toThrow(/vmm\.postedInterrupts/);
  });

  it('without posting the same interrupt is injected through the route', () => {
    const sys = nicSystem({ host: amdHost() });
    const guest = bootLinux(sys);
    const p = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toBeNull();
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters).toMatchObject({ posted: 0, injections: 1 });
  });
});
