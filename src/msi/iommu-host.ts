/**
 * What the machine hands an IOMMU model: guest memory (tables, queues, logs live there), the event stream, the
 * translation core's route invalidation, the hypervisor options, and a way to send the IOMMU's own interrupts.
 */
import type { ApicMessage } from './interrupt.ts';
import type { RouteInvalidator } from './remapper.ts';
import type { HypervisorOptions } from '../core/config-types.ts';
import type { EventHub } from '../core/events.ts';
import type { SparseMemory } from '../core/memory.ts';

export interface IommuHost {
  readonly memory: SparseMemory;
  readonly events: EventHub;
  readonly routes: RouteInvalidator;
  readonly hypervisor: Readonly<HypervisorOptions>;
  /**
   * Send the IOMMU's own interrupt (fault event, invalidation completion, event log) as an MSI in the Intel
   * FEADDR/FEUADDR layout: compatibility format in addrLo/data, x2APIC destination bits 31:8 in addrHi 31:8.
   * It goes straight to the APIC bus: an IOMMU's own interrupts are never remapped.
   */
  sendOwnMsi(addrHi: number, addrLo: number, data: number): void;
  /** Deliver an already-decoded message straight to the APIC bus (AMD XT interrupt-control registers). */
  deliverToApicBus(msg: ApicMessage): void;
  /**
   * Told after the unit invalidated its interrupt entries (a VT-d IEC invalidation, or SIRTP latching a new table):
   * the points where QEMU's Intel vIOMMU calls its IEC notifiers (hw/i386/intel_iommu.c `vtd_iec_notify_all`).
   */
  interruptEntriesInvalidated?(): void;
}
