/**
 * Where an MSI or MSI-X capability sends a composed interrupt message. The capability decides *what* to send
 * (address, data, masking, pending bits); the owner of the capability (a PCI function, an IOMMU's own PCI function)
 * decides *whether and how* it reaches the bus (bus master enable, its requester ID, its DMA port).
 */
import type { RouteSlot } from '../msi/route-slot.ts';

export type MessageKind = 'msi' | 'msix';

export interface InterruptMessageSink {
  sendInterrupt(kind: MessageKind, vector: number, addrHi: number, addrLo: number, data: number, slot: RouteSlot): void;
}

/** A message as software would see it in the capability or table, for reports and tests. */
export interface InterruptMessageReport {
  /** 64-bit message address. */
  addr: bigint;
  /** Message data as sent (32-bit; MSI's 16-bit data zero-extended). */
  data: number;
  masked: boolean;
  pending: boolean;
}
