/**
 * The guest's view of an assigned device: a PCI function with the physical function's identity and capability
 * layout whose MSI capability and MSI-X table are virtual. The guest's writes land in this function's own
 * registers (so reads return what the guest wrote, as QEMU's emulated msi/msix state does) and the VMM is told of
 * each one; the stand-in never sends an interrupt itself — the physical device does, on the host.
 *
 * With `msiNoVirt` the MSI address and data read back the physical function's values (the framing of
 * VFIO_DEVICE_FEATURE_PCI_MSI_NOVIRT (kvm, "[PATCH RFC/RFT] vfio/pci: Create feature to disable MSI virtualization", 2024-08-12): "reads of the MSI address and data fields will return the physical
 * values"); the guest's writes are still trapped to build its routes.
 */
import type { EventHub } from '../core/events.ts';
import type { DmaPort } from '../msi/dma-port.ts';
import { PciFunction, type PciFunctionOptions } from '../pci/pci-function.ts';
import { MSI_ADDRESS_LO, MSI_DATA_32, MSI_DATA_64 } from '../pci/msi-capability.ts';

/** What the VMM is told about the guest's programming of a stand-in. */
export interface AssignedFunctionTrap {
  /** A config write that overlapped [offset, offset + size) was applied. */
  configWritten(fn: AssignedFunction, offset: number, size: number): void;
  /** MSI-X table entry n was written. */
  msixEntryWritten(fn: AssignedFunction, n: number): void;
}

export interface AssignedFunctionOptions extends PciFunctionOptions {
  /** Where guest reads of the MSI address/data come from when virtualisation is off (the physical function). */
  physicalConfigRead: ((offset: number, size: number) => number) | null;
}

export class AssignedFunction extends PciFunction {
  private readonly physicalConfigRead: ((offset: number, size: number) => number) | null;
  /** [start, end) of the MSI address and data registers (the fields MSI_NOVIRT stops virtualising). */
  private readonly msiMessageStart: number;
  private readonly msiMessageEnd: number;

  constructor(opts: AssignedFunctionOptions, dma: DmaPort, events: EventHub, private readonly trap: AssignedFunctionTrap) {
    super(opts, dma, events);
    this.physicalConfigRead = opts.physicalConfigRead;
    const msi = this.msi;
    this.msiMessageStart = msi ? msi.offset + MSI_ADDRESS_LO : 0;
    this.msiMessageEnd = msi ? msi.offset + (msi.addr64 ? MSI_DATA_64 : MSI_DATA_32) + 2 : 0;
    if (this.msix !== null) this.msix.entryWritten = (n) => this.trap.msixEntryWritten(this, n);
  }

  override configRead(offset: number, size: number): number {
    if (this.physicalConfigRead !== null && offset < this.msiMessageEnd && offset + size > this.msiMessageStart) {
      return this.physicalConfigRead(offset, size);
    }
    return super.configRead(offset, size);
  }

  override configWrite(offset: number, size: number, value: number): void {
    super.configWrite(offset, size, value);
    this.trap.configWritten(this, offset, size);
  }
}
