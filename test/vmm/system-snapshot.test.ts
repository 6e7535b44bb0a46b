/**
 * Snapshots of a whole system: both machines plus the VMM's routes, GSIs, posting and vCPU scheduling. A restored
 * system must behave as the original did from the same point (same guest trace, same IRR, same counters), and a
 * corrupt snapshot must be refused with a UsageError that names what is wrong, leaving the system unchanged.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.ts';
import { barBase, readMsixCap } from '../../src/guest/pci-msi-setup.ts';
import type { System, SystemSnapshot } from '../../src/vmm/system.ts';
import { bootLinux, GUEST_NIC, HOST_NIC, irrVectors, nicSystem } from './helpers.ts';

function setUp(): System {
  const sys = nicSystem({ vmm: { postedInterrupts: true } });
  const guest = bootLinux(sys);
  for (let i = 0; i < 3; i++) guest.setupInterrupt({ id: `q${i}`, kind: 'msix', device: GUEST_NIC, vector: i, cpu: i % 2 });
  return sys;
}

function maskEntry(sys: System, n: number, masked: boolean): void {
  const dev = sys.guest.device(GUEST_NIC);
  const cap = readMsixCap(dev)!;
  sys.guest.cpu(0).write32(barBase(dev, cap.tableBir) + cap.tableOffset + 16 * n + 12, masked ? 1 : 0);
}

/** What happens from here on: vCPU 1 runs again, entry 2 is unmasked, two more interrupts. */
function carryOn(sys: System) {
  const trace = sys.guest.startTrace();
  sys.vcpu(1).state = 'running';
  maskEntry(sys, 2, false);
  sys.host.device(HOST_NIC).signal(1);
  sys.host.device(HOST_NIC).signal(0);
  trace.stop();
  return {
    trace: trace.lines(),
    irr: [0, 1].map((c) => irrVectors(sys.guest.cpu(c).lapic.irr)),
    counters: { ...sys.vmm.counters },
    routes: sys.vmm.routes(),
    pairings: sys.vmm.kvm.pairings(),
  };
}

describe('system snapshots', () => {
  it('run, snapshot, continue — restore, continue: the same trace and the same state', () => {
    const sys = setUp();
    sys.vcpu(1).state = 'preempted';
    sys.host.device(HOST_NIC).signal(1); // posted into PIR, SN = 1: waiting
    maskEntry(sys, 2, true);
    sys.host.device(HOST_NIC).signal(2); // pended in the PBA
    const snap = JSON.parse(JSON.stringify(sys.snapshot())) as SystemSnapshot;
    const first = carryOn(sys);
    expect(first.trace.length).toBeGreaterThan(0);
    sys.restore(snap);
    const second = carryOn(sys);
    expect(second).toEqual(first);
  });

  it('refuses a corrupt snapshot, naming the field, and changes nothing', () => {
    const sys = setUp();
    const good = JSON.parse(JSON.stringify(sys.snapshot())) as SystemSnapshot;
    sys.vcpu(1).state = 'blocked';
    sys.host.device(HOST_NIC).signal(1);
    const now = JSON.stringify(sys.snapshot());
    const corrupt: [string, (s: any) => void, RegExp][] = [
      ['a GSI of the I/O APIC', (s) => (s.vmm.routes[0].gsi = 5), /vmm\.routes\[0\]\.gsi 5 is one of the I\/O APIC's GSIs/],
      ['two routes on one GSI', (s) => (s.vmm.routes[1].gsi = s.vmm.routes[0].gsi), /vmm\.routes\[1\]\.gsi \d+ is used by two routes/],
      ['an unknown vCPU state', (s) => (s.vmm.vcpus[0].state = 'napping'), /vmm\.vcpus\[0\]\.state must be running, preempted or blocked/],
      ['a host CPU the host lacks', (s) => (s.vmm.vcpus[1].hostCpu = 9), /vmm\.vcpus\[1\]\.hostCpu must be an integer 0\.\.3/],
      ['an unknown field', (s) => (s.vmm.routes[0].colour = 'red'), /vmm\.routes\[0\]\.colour is not a field/],
      ['a bad version', (s) => (s.version = 2), /version 2 is not supported/],
      ['a corrupt guest machine (after the host part was good)', (s) => (s.guest.version = 99), /system snapshot: snapshot: version 99/],
    ];
    for (const [, mutate, why] of corrupt) {
      const bad = JSON.parse(JSON.stringify(good));
      mutate(bad);
      expect(() => sys.restore(bad)).toThrow(UsageError);
      expect(() => sys.restore(bad)).toThrow(why);
      expect(JSON.stringify(sys.snapshot())).toBe(now);
    }
  });

  it('refuses to restore onto a host kernel that allocated vectors since the snapshot', () => {
    const sys = nicSystem();
    const guest = bootLinux(sys);
    guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 0 });
    const snap = sys.snapshot();
    guest.setupInterrupt({ id: 'q1', kind: 'msix', device: GUEST_NIC, vector: 1, cpu: 1 });
    const now = JSON.stringify(sys.snapshot());
    expect(() => sys.restore(snap)).toThrow(/host kernel has allocated 1 vector\(s\) since it was taken/);
    expect(JSON.stringify(sys.snapshot())).toBe(now);
  });
});
