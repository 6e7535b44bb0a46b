/**
 * hypothetical.nativeRemapBySourceId: the HYPOTHETICAL IOMMU of LKML, "[PATCH v4 06/17] PCI: add SIOV and IMS capability detection", 2020-11-08, that reads a native (compatibility-format) message from an
 * assigned device's requester ID as the guest's own and maps its APIC ID to that guest's vCPU.
 *
 * Expected values from the compatibility format (Intel SDM vol. 3 §11.11.1):
 * address 0xFEEx_xxxx with the destination APIC ID in bits 19:12, bit 2 = destination mode, bit 4 clear (VT-d:
 * Interrupt Format = compatibility); data bits 7:0 vector, 10:8 delivery mode (000 Fixed, 100 NMI). A VT-d unit with
 * remapping on and EIME set (the host Linux enables x2APIC with remapping) blocks such a request: fault 0x25.
 */
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/guest/create-system.ts';
import type { System } from '../../src/vmm/system.ts';
import { bootLinux, irrVectors } from './helpers.ts';

const HOST_DEV = '03:00.0';
/** 03:00.0 as a requester ID: bus 3 << 8. */
const HOST_RID = 0x0300;
/** A host device that is not assigned: 04:00.0 = 0x0400. */
const OTHER_RID = 0x0400;

function imsSystem(nativeRemapBySourceId: boolean): System {
  const sys = createSystem({
    host: {
      cpus: 4,
      iommu: { kind: 'intel' },
      devices: [
        { bdf: HOST_DEV, name: 'ims-dev', msix: { entries: 1 }, embeddedMsi: { bar: 2, barSize: 0x10000, registers: [0x2000, 0x2010] } },
        { bdf: '04:00.0', name: 'other', msi: { vectors: 1 } },
      ],
    },
    // Sparse guest APIC IDs, so mapping "APIC ID → vCPU" is not the identity.
    guest: { cpus: 3, apicIds: [2, 5, 7], assigned: [{ bdf: '00:06.0', host: HOST_DEV }] },
    vmm: { profile: 'hardware' },
    hypothetical: { nativeRemapBySourceId },
  });
  bootLinux(sys);
  return sys;
}

/** The guest vectors pending in each vCPU's IRR. */
function guestIrrs(sys: System): number[][] {
  return [0, 1, 2].map((i) => irrVectors(sys.guest.cpu(i).lapic.irr));
}

describe('the hypothetical native-remap-by-source-id IOMMU (LKML 2020-11-08)', () => {
  it('maps the guest APIC ID in a native message from the assigned requester to the vCPU with that APIC ID', () => {
    const sys = imsSystem(true);
    // The per-source-id table the VMM filled at assignment: APIC 2 → vCPU 0, 5 → 1, 7 → 2; nothing else.
    expect([2, 5, 7, 0, 1, 3].map((id) => sys.nativeRemap!.vcpuFor(HOST_RID, id))).toEqual([0, 1, 2, null, null, null]);
    // APIC ID 7 → address 0xFEE00000 | 7 << 12 = 0xFEE07000; Fixed, edge, vector 0x41 → data 0x41.
    sys.host.bus.dmaWrite32(HOST_RID, 0, 0xfee07000, 0x41);
    expect(guestIrrs(sys)).toEqual([[], [], [0x41]]);
    // The same vector aimed at APIC ID 5 reaches vCPU 1: the destination bits are used (an AMD-Vi table indexed by
    // data 10:0 would send both to the one IRTE for index 0x41).
    sys.host.bus.dmaWrite32(HOST_RID, 0, 0xfee05000, 0x41);
    expect(guestIrrs(sys)).toEqual([[], [0x41], [0x41]]);
    expect(sys.vmm.counters.nativeRemaps).toBe(2);
    // No host CPU took anything and the host unit recorded nothing; the VMM built no route.
    expect(sys.host.bus.stats).toMatchObject({ faulted: 0, posted: 2, delivered: 0 });
    expect(sys.vmm.counters.translations).toBe(0);
  });

  it.each([
    ['a logical destination (address bit 2 set)', HOST_RID, 0xfee07004, 0x41],
    ['an APIC ID the guest has no vCPU for (3)', HOST_RID, 0xfee03000, 0x41],
    ['the xAPIC broadcast destination 0xFF', HOST_RID, 0xfeeff000, 0x41],
    ['an NMI (data 10:8 = 100)', HOST_RID, 0xfee07000, 0x400],
    ['a requester that is not assigned (04:00.0)', OTHER_RID, 0xfee07000, 0x41],
  ])('leaves %s to the real VT-d unit, which blocks it (fault 0x25)', (_what, rid, addr, data) => {
    const sys = imsSystem(true);
    const faults: [number, number, boolean][] = [];
    sys.host.events.on('iommu_fault', (e) => faults.push([e.code, e.sourceId, e.recorded]));
    sys.host.bus.dmaWrite32(rid, 0, addr, data);
    expect(sys.vmm.counters.nativeRemaps).toBe(0);
    expect(sys.host.bus.stats.faulted).toBe(1);
    expect(faults).toEqual([[0x25, rid, true]]);
    expect(guestIrrs(sys)).toEqual([[], [], []]);
  });

  it('off (every real VT-d unit), the same native message is blocked with fault 0x25', () => {
    const sys = imsSystem(false);
    expect(sys.nativeRemap).toBeNull();
    sys.host.bus.dmaWrite32(HOST_RID, 0, 0xfee07000, 0x41);
    expect(sys.host.bus.stats.faulted).toBe(1);
    expect(sys.vmm.counters.nativeRemaps).toBe(0);
    expect(guestIrrs(sys)).toEqual([[], [], []]);
  });
});
