/**
 * How a bus master (a PCI function, the I/O APIC) puts a write on the machine bus. The bus decides what the address
 * means: 0xFEEx_xxxx (low dword) goes to the translation core, anything else is memory (through DMA remapping when
 * a unit translates). Nothing else in the code base decides what an address means.
 */
import type { RouteSlot } from './route-slot.ts';

export interface DmaPort {
  /** A posted 32-bit write by the requester `sourceId` (BDF or the I/O APIC's source-id). */
  dmaWrite32(sourceId: number, addrHi: number, addrLo: number, data: number): void;
  /**
   * A 32-bit memory read by the requester (through DMA remapping when a unit translates). Returns the value, or null
   * when the request completes with an error: blocked by the IOMMU (fault recorded) or aimed at the interrupt
   * window, which is not memory (a read there is an unsupported request).
   */
  dmaRead32(sourceId: number, addrHi: number, addrLo: number): number | null;
  /**
   * The same write, issued as an interrupt message of one source (MSI/MSI-X vector, I/O APIC pin), with that
   * source's route slot so the translation core can cache the route.
   */
  sendMessage(sourceId: number, addrHi: number, addrLo: number, data: number, slot: RouteSlot): void;
}
