/**
 * Host CPU hotplug: a host CPU going offline takes nothing with it. The scheduler moves its vCPUs to the CPUs left
 * (kernel/sched/core.c sched_cpu_dying → migrate_tasks), and the kernel moves every vfio vector bound to it to the
 * least-loaded CPU left (kernel/irq/cpuhotplug.c irq_migrate_all_off_this_cpu → irq_do_set_affinity): a remapped
 * vector gets a new host vector and its IRTE rewritten; a posted IRTE is left alone (intel_ir_reconfigure_irte).
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.ts';
import { bootLinux, GUEST_NIC, HOST_NIC, irrVectors, nicSystem } from './helpers.ts';

function nic(posted: boolean) {
  const sys = nicSystem({ vmm: { postedInterrupts: posted } });
  const guest = bootLinux(sys);
  const q = [0, 1, 2, 3].map((i) => guest.setupInterrupt({ id: `q${i}`, kind: 'msix', device: GUEST_NIC, vector: i, cpu: i % 2 }));
  return { sys, q };
}

describe('a host CPU going offline', () => {
  it('moves the vfio vectors bound to it and the vCPUs running there; interrupts keep arriving', () => {
    const { sys, q } = nic(false);
    // The kernel spread the four vectors over host CPUs 0..3, one each (least-loaded first).
    expect(sys.vmm.routes().map((r) => r.host!.cpu)).toEqual([0, 1, 2, 3]);
    expect(sys.vcpu(1).hostCpuIndex).toBe(1);
    expect(sys.offlineHostCpu(1)).toBe(1);
    const hosts = sys.vmm.routes().map((r) => r.host!.cpu);
    // The moved vector went to the least-loaded online CPU, the lowest-numbered of equals: CPU 0.
    expect(hosts).toEqual([0, 0, 2, 3]);
    expect(sys.vcpu(1).hostCpuIndex).toBe(0);
    sys.host.device(HOST_NIC).signal(1);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([q[1].vector]);
    expect(irrVectors(sys.host.cpu(1).lapic.irr)).toEqual([]);
    expect(irrVectors(sys.host.cpu(0).lapic.isr)).toEqual([]);
    expect(() => sys.vcpu(0).moveTo(1)).toThrow(/host CPU 1 is offline/);
  });

  it('a posted vector keeps its posted IRTE; the vCPU moved, so the notification follows it', () => {
    const { sys, q } = nic(true);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 1)!.posted).toMatchObject({ vcpu: 1 });
    sys.offlineHostCpu(1);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 1)!.posted).toMatchObject({ vcpu: 1 });
    sys.host.device(HOST_NIC).signal(1);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([q[1].vector]);
    expect(sys.vmm.counters).toMatchObject({ posted: 1, injections: 0 });
  });

  it('refuses a CPU that is not online and the last one, changing nothing', () => {
    const { sys } = nic(false);
    sys.offlineHostCpu(3);
    expect(() => sys.offlineHostCpu(3)).toThrow(UsageError);
    expect(() => sys.offlineHostCpu(7)).toThrow(/host CPU 7 is not online \(online: 0, 1, 2\)/);
    sys.offlineHostCpu(2);
    sys.offlineHostCpu(1);
    const before = sys.vmm.routes();
    expect(() => sys.offlineHostCpu(0)).toThrow(/last online host CPU/);
    expect(sys.vmm.routes()).toEqual(before);
  });

  it('a system snapshot from before the CPU went offline is refused: the host kernel allocated vectors since', () => {
    const { sys } = nic(false);
    const snap = sys.snapshot();
    sys.offlineHostCpu(1);
    expect(() => sys.restore(snap)).toThrow(/host kernel has allocated 1 vector\(s\) since it was taken/);
  });
});
