import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.ts';
import { Machine } from '../../src/machine/machine.ts';
import { bootLinux, GUEST_NIC, HOST_NIC, irrVectors, nicSystem } from './helpers.ts';

describe('the system handle', () => {
  it('host and guest are ordinary machines: traces, snapshots and restore work on each', () => {
    const sys = nicSystem();
    expect(sys.host).toBeInstanceOf(Machine);
    expect(sys.guest).toBeInstanceOf(Machine);
    const guest = bootLinux(sys);
    const p = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 1 });
    const before = sys.guest.snapshot();
    const trace = sys.guest.startTrace();
    sys.host.device(HOST_NIC).signal(0);
    expect(trace.lines().some((l) => l.startsWith('irqpath_kvm_set_msi '))).toBe(true);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([p.vector]);
    sys.guest.restore(before);
    expect(irrVectors(sys.guest.cpu(1).lapic.irr)).toEqual([]);
    expect(sys.host.snapshot().devices).toBeDefined();
  });

  it('vcpu(i) names the range it has, and running takes only booleans', () => {
    const sys = nicSystem();
    expect(() => sys.vcpu(2)).toThrow(UsageError);
    expect(() => {
      (sys.vcpu(0) as { running: unknown }).running = 'no';
    }).toThrow(UsageError);
    sys.vcpu(1).running = false;
    expect(sys.vcpu(1).running).toBe(false);
  });

  it('the paravirtual compose call exists only when the VMM offers it', () => {
    const sys = nicSystem();
    bootLinux(sys);
    expect(() => sys.vmm.composeMsi(GUEST_NIC, 0, { addr: 0xfee00000n, data: 0x30 })).toThrow(/pvComposeMsi/);
    const pv = nicSystem({ vmm: { pvComposeMsi: true } });
    bootLinux(pv);
    const host = pv.vmm.composeMsi(GUEST_NIC, 0, { addr: 0xfee01000n, data: 0x30 });
    // The host kernel composed a remappable message (VT-d: address bit 4) for a host vector of its own.
    expect(host.addr & 0x10n).toBe(0x10n);
    expect(pv.vmm.route(GUEST_NIC, 'ims', 0)).toMatchObject({ state: 'valid', target: { vcpus: [1], vector: 0x30 } });
  });
});
