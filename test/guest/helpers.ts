/** Shared helpers for the guest-model tests: a machine with two PCI devices, and event capture. */
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import type { MachineConfig } from '../../src/core/config-types.ts';

export const MSIX_DEV = '00:03.0';
/** 00:03.0 as a requester ID: bus 0, device 3, function 0 → 3 << 3. */
export const MSIX_DEV_RID = 0x0018;
export const MSI_DEV = '00:04.0';

export function machineWith(cpus: number, extra: Partial<MachineConfig> = {}): Machine {
  return createMachine({
    cpus,
    devices: [
      { bdf: MSIX_DEV, msix: { entries: 8 } },
      { bdf: MSI_DEV, msi: { vectors: 4 } },
    ],
    ...extra,
  });
}

export interface Capture {
  accepted: { cpu: number; apicId: number; vector: number }[];
  faults: { code: number; index: number; linuxLog: string; sourceId: number }[];
  memory: { addr: bigint; data: number }[];
  pirqs: number[];
}

export function capture(m: Machine): Capture {
  const c: Capture = { accepted: [], faults: [], memory: [], pirqs: [] };
  m.events.on('apic_accept', (e) => c.accepted.push({ cpu: e.cpu, apicId: e.apicId, vector: e.vector }));
  m.events.on('iommu_fault', (e) => c.faults.push({ code: e.code, index: e.index, linuxLog: e.linuxLog, sourceId: e.sourceId }));
  m.events.on('memory_write', (e) => c.memory.push({ addr: e.addr, data: e.data }));
  m.events.on('xen_pirq', (e) => c.pirqs.push(e.pirq));
  return c;
}

/** The x2APIC logical ID hardware derives from an APIC ID (SDM 10.12.10.2): cluster in 31:16, bit (id & 15). */
export function x2apicLogicalId(apicId: number): number {
  return ((apicId >>> 4) << 16) | (1 << (apicId & 0xf));
}

/** Read a 64-bit register of the IOMMU through CPU 0, as software would. */
export function mmio64(m: Machine, addr: number): bigint {
  return m.cpu(0).read64(addr);
}
