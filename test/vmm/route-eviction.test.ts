/**
 * Routes evicted by cookie (qemu-devel 2024-10-01, "the cookies needed for IOMMU invalidation"): a guest invalidation evicts exactly the routes built from the entries it
 * covers, and the next interrupt of an evicted route is translated again with deliverNow = true.
 */
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/guest/create-system.ts';
import type { LinuxGuest } from '../../src/guest/create-guest.ts';
import type { ProgrammedInterrupt } from '../../src/guest/guest-os.ts';
import type { IommuFaultEvent } from '../../src/core/events.ts';
import type { System } from '../../src/vmm/system.ts';
import { bootLinux, GUEST_NIC, GUEST_NIC_RID, HOST_NIC, irrVectors, nicSystem } from './helpers.ts';

function intelGuestNic(): { sys: System; guest: LinuxGuest; p: ProgrammedInterrupt[]; faults: IommuFaultEvent[] } {
  const sys = nicSystem({ guest: { iommu: { kind: 'intel', dmaTranslation: false } } });
  const guest = bootLinux(sys) as LinuxGuest;
  const p = [0, 1, 2, 3].map((i) => guest.setupInterrupt({ id: `q${i}`, kind: 'msix', device: GUEST_NIC, vector: i, cpu: 0 }));
  const faults: IommuFaultEvent[] = [];
  sys.guest.events.on('iommu_fault', (e) => faults.push(e));
  return { sys, guest, p, faults };
}

/** Signal host vector i and return the guest (cpu, vector) pairs it reached, acknowledging them. */
function fire(sys: System, i: number): string[] {
  sys.host.device(HOST_NIC).signal(i);
  const out: string[] = [];
  for (let c = 0; c < sys.guest.cpuCount; c++) {
    for (const v of irrVectors(sys.guest.cpu(c).lapic.irr)) out.push(`cpu${c}/0x${v.toString(16)}`);
    while (sys.guest.cpu(c).acknowledge() !== null) sys.guest.cpu(c).lapic.eoi();
  }
  return out;
}

const at = (p: ProgrammedInterrupt) => `cpu${p.cpu}/0x${p.vector.toString(16)}`;

describe('routes behind a guest Intel vIOMMU', () => {
  it('are built from the IRTEs the guest wrote, each depending on its own IRTE', () => {
    const { sys, p } = intelGuestNic();
    const routes = sys.vmm.routes();
    expect(routes.map((r) => r.state)).toEqual(['valid', 'valid', 'valid', 'valid']);
    expect(routes.map((r) => r.cookie)).toEqual(p.map((x) => `intel IRTE ${x.irteIndex}`));
  });

  it('nothing is re-translated while the routes are valid', () => {
    const { sys, p } = intelGuestNic();
    const before = sys.vmm.counters.translations;
    for (let round = 0; round < 3; round++) for (let i = 0; i < 4; i++) expect(fire(sys, i)).toEqual([at(p[i])]);
    expect(sys.vmm.counters.translations).toBe(before);
    expect(sys.vmm.counters.injections).toBe(12);
  });

  it('an IEC invalidation of one IRTE evicts exactly that route, which is re-translated at its next interrupt', () => {
    const { sys, guest, p } = intelGuestNic();
    const before = sys.vmm.counters.translations;
    const moved = guest.retargetInterrupt(p[1], 1);
    expect(sys.vmm.counters.evictions).toBe(1);
    expect(sys.vmm.routes().map((r) => r.state)).toEqual(['valid', 'evicted', 'valid', 'valid']);
    for (const i of [0, 2, 3]) expect(fire(sys, i)).toEqual([at(p[i])]);
    expect(sys.vmm.counters.translations).toBe(before);
    expect(fire(sys, 1)).toEqual([at(moved)]);
    expect(sys.vmm.counters.translations).toBe(before + 1);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 1)!.state).toBe('valid');
    expect(fire(sys, 1)).toEqual([at(moved)]);
    expect(sys.vmm.counters.translations).toBe(before + 1);
  });

  it('a rewrite without invalidation keeps the stale route, as the hardware interrupt entry cache would', () => {
    const { sys, guest, p } = intelGuestNic();
    const before = sys.vmm.counters.translations;
    const moved = guest.retargetInterrupt(p[2], 1, { invalidate: false });
    expect(moved.cpu).toBe(1);
    expect(sys.vmm.counters.evictions).toBe(0);
    expect(fire(sys, 2)).toEqual([at(p[2])]);
    expect(sys.vmm.counters.translations).toBe(before);
  });

  it('an evicted route whose IRTE is now invalid raises the fault the guest sees (deliverNow = true)', () => {
    const { sys, guest, p, faults } = intelGuestNic();
    guest.releaseIrte(p[3]);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 3)!.state).toBe('evicted');
    // Eviction itself raises nothing: the route was built with deliverNow = false and is simply dropped.
    expect(faults).toEqual([]);
    // Nothing reaches the guest but its vIOMMU's own fault event, at the vector Linux chose for it.
    expect(fire(sys, 3)).toEqual([`cpu0/0x${Number(guest.log.decisions.dmarFaultVector).toString(16)}`]);
    // VT-d 7.1.3: 0x22 "IRTE not present", recorded against the assigned function's guest
    // requester ID with the IRTE index.
    expect(faults.map((f) => [f.unit, f.code, f.sourceId, f.index, f.recorded])).toEqual([['intel-vtd', 0x22, GUEST_NIC_RID, p[3].irteIndex, true]]);
    expect(sys.vmm.counters.faults).toBe(1);
  });
});

describe('routes behind a guest AMD vIOMMU', () => {
  it('INVALIDATE_INTERRUPT_TABLE evicts the routes of that DeviceID only', () => {
    const sys = createSystem({
      host: { cpus: 4, iommu: { kind: 'intel' }, devices: [{ bdf: '02:00.0', msix: { entries: 2 } }, { bdf: '03:00.0', msix: { entries: 2 } }] },
      guest: { cpus: 2, cpuVendor: 'amd', iommu: { kind: 'amd', dmaTranslation: false }, assigned: [{ bdf: '00:05.0', host: '02:00.0' }, { bdf: '00:06.0', host: '03:00.0' }] },
      vmm: { profile: 'hardware' },
    });
    const guest = bootLinux(sys) as LinuxGuest;
    const a = [0, 1].map((i) => guest.setupInterrupt({ id: `a${i}`, kind: 'msix', device: '00:05.0', vector: i, cpu: 0 }));
    [0, 1].forEach((i) => guest.setupInterrupt({ id: `b${i}`, kind: 'msix', device: '00:06.0', vector: i, cpu: 0 }));
    // Linux flushes a device's whole interrupt table after each IRTE write, so writing vector 1's IRTE already
    // evicted vector 0's route on each device.
    expect(sys.vmm.routes().map((r) => r.state)).toEqual(['evicted', 'valid', 'evicted', 'valid']);
    for (const bdf of ['02:00.0', '03:00.0']) for (const i of [0, 1]) sys.host.device(bdf).signal(i);
    expect(sys.vmm.routes().map((r) => r.cookie)).toEqual(['amd 00:05.0 IRTE 0', 'amd 00:05.0 IRTE 1', 'amd 00:06.0 IRTE 0', 'amd 00:06.0 IRTE 1']);
    guest.retargetInterrupt(a[0], 1);
    // The command names a DeviceID, not an entry (AMD IOMMU spec 2.4.5): both of 00:05.0's routes go, none of 00:06.0's.
    expect(sys.vmm.routes().map((r) => `${r.guest.bdf}/${r.guest.index}:${r.state}`)).toEqual(['00:05.0/0:evicted', '00:05.0/1:evicted', '00:06.0/0:valid', '00:06.0/1:valid']);
    expect(sys.vmm.counters.evictions).toBe(2 + 2);
  });
});

describe('posted routes and eviction', () => {
  it('an evicted posted route stops posting; its next interrupt is re-translated and posted to the new vCPU', () => {
    const sys = nicSystem({ guest: { iommu: { kind: 'intel', dmaTranslation: false } }, vmm: { postedInterrupts: true } });
    const guest = bootLinux(sys) as LinuxGuest;
    const p = guest.setupInterrupt({ id: 'q0', kind: 'msix', device: GUEST_NIC, vector: 0, cpu: 0 });
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted!.vcpu).toBe(0);
    const moved = guest.retargetInterrupt(p, 1);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted).toBeNull();
    expect(fire(sys, 0)).toEqual([at(moved)]);
    expect(sys.vmm.route(GUEST_NIC, 'msix', 0)!.posted!.vcpu).toBe(1);
    // That interrupt went through the host vector (injection); the next one is posted.
    expect(sys.vmm.counters).toMatchObject({ injections: 1, posted: 0 });
    expect(fire(sys, 0)).toEqual([at(moved)]);
    expect(sys.vmm.counters).toMatchObject({ injections: 1, posted: 1 });
  });
});
