/**
 * The public handle of a PCI device: what a test or a guest model uses to make the device act (signal a vector,
 * issue a DMA write) and to reach its config space. The device's own behaviour lives in src/pci.
 */
import type { PciFunction } from '../pci/pci-function.ts';
import { formatBdf } from '../core/bdf.ts';
import { toPhysical, type Address } from './cpu.ts';
import { UsageError } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';

const TWO_32 = 0x1_0000_0000;

export class Device {
  constructor(
    readonly fn: PciFunction,
    private readonly events: EventHub,
  ) {}

  get requesterId(): number {
    return this.fn.requesterId;
  }

  get bdf(): string {
    return formatBdf(this.fn.requesterId);
  }

  get name(): string {
    return this.fn.label;
  }

  /** Raise MSI or MSI-X vector n (honouring enables, masks, pending bits and bus-master enable). */
  signal(n: number): void {
    this.fn.signal(n); // the function opens the interrupt's trace flow itself
  }

  /**
   * A 32-bit DMA write with this device's requester ID. 0xFEEx_xxxx (with address bits 63:32 clear) is an interrupt
   * request and goes to the translation core whatever the IOMMU's page tables map there; the rest is memory, through
   * the requester's DMA translation when an IOMMU translates.
   */
  dmaWrite(addr: Address, value: number): void {
    const a = toPhysical(addr, 'DMA address');
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new UsageError(`DMA value ${value} does not fit in 32 bits`);
    if (this.events.active) this.events.beginFlow();
    this.fn.dmaWrite(Math.floor(a / TWO_32), a % TWO_32, value);
  }

  /**
   * A 32-bit DMA read with this device's requester ID, through the requester's DMA translation. Returns the value
   * read, or null when the read completes with an error (an IOMMU blocked it and recorded the fault, bus mastering
   * is off, or the address is in the interrupt window, which is not memory).
   */
  dmaRead(addr: Address): number | null {
    const a = toPhysical(addr, 'DMA address');
    if (this.events.active) this.events.beginFlow();
    return this.fn.dmaRead(Math.floor(a / TWO_32), a % TWO_32);
  }

  configRead(offset: number, size: 1 | 2 | 4): number {
    return this.fn.configRead(offset, size);
  }

  configWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    this.fn.configWrite(offset, size, value);
  }
}
