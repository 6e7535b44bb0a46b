/**
 * vCPU scheduling and the posted-interrupt descriptor, as arch/x86/kvm/vmx/posted_intr.c drives it:
 * - vmx_vcpu_pi_put, vCPU preempted (runnable): SN = 1 — the IOMMU sets the PIR bit and neither sets ON nor notifies
 *   (VT-d "interrupt posting": ON is set and the notification sent only when ON = 0 and SN = 0 or URG = 1);
 * - vmx_vcpu_pi_put, vCPU blocking: pi_enable_wakeup_handler, NV = POSTED_INTR_WAKEUP_VECTOR (0xf1), SN = 0 — the post
 *   sets ON and the wake-up vector fires on the CPU whose wake-up list holds the vCPU (the one it last ran on);
 * - vmx_vcpu_pi_load on a CPU: NDST = that CPU's APIC ID (xAPIC: in bits 15:8), NV = POSTED_INTR_VECTOR (0xf2),
 *   SN = 0, ON set if PIR is not empty; VM entry moves PIR into the vCPU's IRR (vmx_sync_pir_to_irr).
 * On an AMD host avic_vcpu_load / avic_vcpu_put update IsRun and Destination of every IRTE posting to the vCPU
 * (amd_iommu_update_ga).
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.ts';
import { POSTED_INTR_VECTOR, POSTED_INTR_WAKEUP_VECTOR } from '../../src/vmm/posted-descriptor.ts';
import { bootLinux, GUEST_NIC, HOST_NIC, irrVectors, nicSystem } from './helpers.ts';

function postedNic(host?: NonNullable<Parameters<typeof nicSystem>[0]>['host']) {
  const sys = nicSystem({ vmm: { postedInterrupts: true }, ...(host ? { host } : {}) });
  const guest = bootLinux(sys);
  const p = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
  return { sys, p, pid: sys.vcpu(1).descriptor };
}

/** NDST as KVM writes it for host CPU c: the APIC ID, in bits 15:8 unless the host CPU is in x2APIC mode. */
function ndstFor(sys: ReturnType<typeof postedNic>['sys'], c: number): number {
  const id = sys.host.config.apicIds[c];
  return sys.host.cpu(c).lapic.mode === 'x2apic' ? id : (id & 0xff) << 8;
}

describe('VT-d posting as the vCPU is scheduled', () => {
  it('preempted: SN = 1, the vector waits in PIR with ON clear and no notification; loading it delivers', () => {
    const { sys, p, pid } = postedNic();
    sys.vcpu(1).state = 'preempted';
    expect(pid!.suppressed).toBe(true);
    expect(pid!.notificationVector).toBe(POSTED_INTR_VECTOR);
    sys.host.device(HOST_NIC).signal(0);
    expect(pid!.hasPending()).toBe(true);
    expect(pid!.outstanding).toBe(false);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    expect(sys.vmm.counters).toMatchObject({ posted: 0, wakeups: 0, injections: 0 });
    sys.vcpu(1).state = 'running';
    expect(pid!.suppressed).toBe(false);
    expect(pid!.hasPending()).toBe(false);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters).toMatchObject({ posted: 1, wakeups: 0 });
  });

  it('blocked: NV = the wake-up vector, SN = 0; the post sets ON and wakes it; resuming delivers', () => {
    const { sys, p, pid } = postedNic();
    sys.vcpu(1).state = 'blocked';
    expect(pid!.suppressed).toBe(false);
    expect(pid!.notificationVector).toBe(POSTED_INTR_WAKEUP_VECTOR);
    sys.host.device(HOST_NIC).signal(0);
    expect(pid!.outstanding).toBe(true);
    expect(sys.vmm.counters).toMatchObject({ posted: 0, wakeups: 1 });
    sys.vcpu(1).running = true;
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
  });

  it('a running vCPU moved to host CPU 3: NDST follows, and the notification reaches it there', () => {
    const { sys, p, pid } = postedNic();
    expect(pid!.notificationDestination).toBe(ndstFor(sys, sys.vcpu(1).hostCpuIndex));
    sys.vcpu(1).moveTo(3);
    expect(sys.vcpu(1).hostCpuIndex).toBe(3);
    expect(pid!.notificationDestination).toBe(ndstFor(sys, 3));
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters).toMatchObject({ posted: 1, injections: 0 });
  });

  it('a blocked vCPU moved: the wake-up still comes from its old CPU\'s list; NDST changes when it is loaded on the new one', () => {
    const { sys, p, pid } = postedNic();
    const old = sys.vcpu(1).hostCpuIndex;
    sys.vcpu(1).running = false;
    sys.vcpu(1).moveTo(3);
    expect(pid!.notificationDestination).toBe(ndstFor(sys, old));
    sys.host.device(HOST_NIC).signal(0);
    expect(sys.vmm.counters.wakeups).toBe(1);
    sys.vcpu(1).running = true;
    expect(pid!.notificationDestination).toBe(ndstFor(sys, 3));
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
  });

  it('refuses a host CPU the host does not have and a state that does not exist, changing nothing', () => {
    const { sys, pid } = postedNic();
    const before = pid!.notificationDestination;
    expect(() => sys.vcpu(1).moveTo(4)).toThrow(UsageError);
    expect(() => ((sys.vcpu(1) as { state: unknown }).state = 'sleeping')).toThrow(/running, preempted, blocked/);
    expect(sys.vcpu(1).state).toBe('running');
    expect(pid!.notificationDestination).toBe(before);
  });
});

describe('AMD guest vAPIC as the vCPU is scheduled', () => {
  const amd = { cpus: 4, iommu: { kind: 'amd' as const, vapic: true }, devices: [{ bdf: HOST_NIC, name: 'nic', msix: { entries: 4 } }] };

  it('a running vCPU moved: Destination follows (the doorbell rings its new CPU)', () => {
    const { sys, p } = postedNic(amd);
    sys.vcpu(1).moveTo(3);
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    expect(sys.vmm.counters).toMatchObject({ posted: 1, wakeups: 0 });
  });

  it('preempted: IsRun = 0, a GA log entry but no wake-up (the vCPU is runnable); loading it delivers', () => {
    const { sys, p } = postedNic(amd);
    sys.vcpu(1).state = 'preempted';
    sys.host.device(HOST_NIC).signal(0);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    expect(sys.vmm.counters).toMatchObject({ posted: 0, wakeups: 0 });
    sys.vcpu(1).state = 'running';
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
  });
});
