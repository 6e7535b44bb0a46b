/**
 * The guest's view of an assigned device: a PCI function with the physical function's identity and capability
 * layout whose MSI capability and MSI-X table are virtual. The guest's writes land in this function's own
 * registers (so reads return what the guest wrote, as QEMU's emulated msi/msix state does) and the VMM is told of
 * each one; the stand-in never sends an interrupt itself — the physical device does, on the host.
 *
 * With `msiNoVirt` the MSI address and data read back the physical function's values (the framing of
 * VFIO_DEVICE_FEATURE_PCI_MSI_NOVIRT (kvm, "[PATCH RFC/RFT] vfio/pci: Create feature to disable MSI virtualization", 2024-08-12): "reads of the MSI address and data fields will return the physical
 * values"); the guest's writes are still trapped to build its routes.
 *
 * MSI per-vector Mask and Pending bits are not virtualised: vfio-pci gives them NO_VIRT permissions
 * (drivers/vfio/pci/vfio_pci_config.c `init_pci_cap_msi_perm`: PCI_MSI_MASK_* NO_VIRT, ALL_WRITE; PCI_MSI_PENDING_*
 * NO_VIRT), and QEMU's vfio keeps KVM's irqfd for MSI "as the guest has direct access to MSI mask and pending bits"
 * (hw/vfio/pci.c `vfio_enable_vectors`). So the guest's mask writes reach the physical function, which holds a masked
 * message back and sets its own Pending bit, and the guest reads that Pending bit.
 */
import type { EventHub } from '../core/events.ts';
import type { DmaPort } from '../msi/dma-port.ts';
import { PciFunction, type PciFunctionOptions } from '../pci/pci-function.ts';
import { PCI_STATUS } from '../pci/config-space.ts';
import { PCI_STATUS_INTERRUPT } from '../pci/intx.ts';
import { MSI_ADDRESS_LO, MSI_DATA_32, MSI_DATA_64, MSI_MASK_32, MSI_MASK_64 } from '../pci/msi-capability.ts';

/** What the VMM is told about the guest's programming of a stand-in. */
export interface AssignedFunctionTrap {
  /** A config write that overlapped [offset, offset + size) was applied. */
  configWritten(fn: AssignedFunction, offset: number, size: number): void;
  /** MSI-X table entry n was written. */
  msixEntryWritten(fn: AssignedFunction, n: number): void;
}

/** The physical function's config space, as vfio-pci lets the guest reach it. */
export interface PhysicalConfig {
  configRead(offset: number, size: number): number;
  configWrite(offset: number, size: number, value: number): void;
}

export interface AssignedFunctionOptions extends PciFunctionOptions {
  physical: PhysicalConfig;
  /** Guest reads of the MSI address/data come from the physical function (msiNoVirt). */
  msiNoVirt: boolean;
}

export class AssignedFunction extends PciFunction {
  private readonly physical: PhysicalConfig;
  /** [start, end) of the MSI address and data registers (the fields MSI_NOVIRT stops virtualising); empty without. */
  private readonly msiMessageStart: number;
  private readonly msiMessageEnd: number;
  /** [start, end) of the MSI Mask and Pending dwords (passed through); empty without per-vector masking. */
  private readonly msiMaskStart: number;
  private readonly msiMaskEnd: number;

  constructor(opts: AssignedFunctionOptions, dma: DmaPort, events: EventHub, private readonly trap: AssignedFunctionTrap) {
    const { physical, msiNoVirt, ...function_ } = opts;
    super(function_, dma, events);
    this.physical = physical;
    const msi = this.msi;
    this.msiMessageStart = msi && msiNoVirt ? msi.offset + MSI_ADDRESS_LO : 0;
    this.msiMessageEnd = msi && msiNoVirt ? msi.offset + (msi.addr64 ? MSI_DATA_64 : MSI_DATA_32) + 2 : 0;
    this.msiMaskStart = msi?.perVectorMask ? msi.offset + (msi.addr64 ? MSI_MASK_64 : MSI_MASK_32) : 0;
    this.msiMaskEnd = msi?.perVectorMask ? this.msiMaskStart + 8 : 0;
    if (this.msix !== null) this.msix.entryWritten = (n) => this.trap.msixEntryWritten(this, n);
  }

  override configRead(offset: number, size: number): number {
    // Status.Interrupt Status is the device's own (vfio-pci virtualises only the Capabilities List bit of Status).
    if (this.intxPin !== 0 && offset <= PCI_STATUS && offset + size > PCI_STATUS) {
      const shift = (PCI_STATUS - offset) * 8;
      const physicalIs = this.physical.configRead(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT;
      const v = (super.configRead(offset, size) & ~(PCI_STATUS_INTERRUPT << shift)) | (physicalIs << shift);
      return v >>> 0;
    }
    if (offset < this.msiMessageEnd && offset + size > this.msiMessageStart) return this.physical.configRead(offset, size);
    if (offset < this.msiMaskEnd && offset + size > this.msiMaskStart) return this.physical.configRead(offset, size);
    return super.configRead(offset, size);
  }

  override configWrite(offset: number, size: number, value: number): void {
    super.configWrite(offset, size, value);
    // The Mask dword goes to the physical function as the guest wrote it (Pending is read-only there as here).
    if (offset < this.msiMaskStart + 4 && offset + size > this.msiMaskStart) {
      this.physical.configWrite(this.msiMaskStart, 4, this.config.get32(this.msiMaskStart));
    }
    this.trap.configWritten(this, offset, size);
  }
}
