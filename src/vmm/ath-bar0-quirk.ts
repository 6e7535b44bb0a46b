/**
 * The guest's view of an assigned device's memory BAR: vfio-pci maps the physical BAR straight into the guest, so
 * every access reaches the device — except where a VMM quirk traps a window of it.
 *
 * The `ath-bar0` quirk is QEMU's proposed vfio-pci quirk for Qualcomm ath11k/ath12k (kvm/qemu-devel, "[PATCH RFC/RFT] vfio/pci-quirks: Quirk for ath wireless", 2024-08-12,
 * hw/vfio/pci-quirks.c
 * `vfio_probe_ath_bar0_quirk` / `vfio_ath_quirk_write`): it traps the driver's window (ath11k: 0x80000, 256 KiB;
 * ath12k: 0x1e00000, 512 KiB) and, while MSI is enabled, replaces a 4-byte write equal to the guest's MSI address
 * with the physical address, then the write 8 bytes above it — when its value, with the multi-message vector
 * offset masked off, equals the guest's MSI data — with the physical data plus that offset.
 */
import type { AccessSize, MmioDevice } from '../core/mmio.ts';
import type { PciFunction } from '../pci/pci-function.ts';
import { MSI_ADDRESS_LO, MSI_DATA_32, MSI_DATA_64 } from '../pci/msi-capability.ts';
import { EMBEDDED_DATA_OFFSET } from '../pci/embedded-msi-controller.ts';

/** PCI_VENDOR_ID_QCOM. */
const QCOM = 0x17cb;

/** The trapped window for a device, as vfio_probe_ath_bar0_quirk picks it by device ID; null: no quirk applies. */
export function athQuirkWindow(vendorId: number | undefined, deviceId: number | undefined): { base: number; size: number } | null {
  if (vendorId !== QCOM) return null;
  switch (deviceId) {
    case 0x1101: // ath11k_pci_id_table (untested in the patch)
    case 0x1103:
    case 0x1104:
      return { base: 0x80000, size: 0x40000 }; // ATH11K_PCI_WINDOW_START, ATH11K_PCI_WINDOW_RANGE_MASK (256 KiB)
    case 0x1107: // ath12k_pci_id_table (speculative in the patch)
    case 0x1109:
      return { base: 0x1e00000, size: 0x80000 }; // PCI_BAR_WINDOW0_BASE, 512 KiB
    default:
      return null;
  }
}

export class AssignedBar implements MmioDevice {
  readonly name: string;
  /** The quirk's cookie: the BAR offset where the MSI data write is expected next (0: none). */
  private dataAt = 0;
  /** Writes the quirk rewrote, for reports and tests. */
  readonly rewrites: { offset: number; from: number; to: number }[] = [];

  constructor(
    private readonly physical: MmioDevice,
    private readonly quirk: { base: number; size: number } | null,
    /** The guest-visible (virtual) function and the physical one, resolved when the first access arrives. */
    private readonly functions: () => { virtual: PciFunction; physical: PciFunction },
  ) {
    this.name = `${physical.name} (assigned${quirk ? ', ath BAR0 quirk' : ''})`;
  }

  read(offset: number, size: AccessSize): bigint {
    return this.physical.read(offset, size);
  }

  write(offset: number, size: AccessSize, value: bigint): void {
    const q = this.quirk;
    if (q !== null && size === 4 && offset >= q.base && offset < q.base + q.size) value = BigInt(this.quirkWrite(offset, Number(value)));
    this.physical.write(offset, size, value);
  }

  private quirkWrite(offset: number, value: number): number {
    const { virtual, physical } = this.functions();
    const vmsi = virtual.msi;
    const pmsi = physical.msi;
    if (vmsi === null || pmsi === null || !vmsi.enabled()) return value;
    const dataOffset = vmsi.offset + (vmsi.addr64 ? MSI_DATA_64 : MSI_DATA_32);
    if (value >>> 0 === virtual.config.get32(vmsi.offset + MSI_ADDRESS_LO) >>> 0) {
      const phys = physical.config.get32(pmsi.offset + MSI_ADDRESS_LO) >>> 0;
      this.rewrites.push({ offset, from: value >>> 0, to: phys });
      this.dataAt = offset + EMBEDDED_DATA_OFFSET;
      return phys;
    }
    if (this.dataAt !== 0 && this.dataAt === offset) {
      this.dataAt = 0;
      const mask = vmsi.allocated() - 1;
      const nr = value & mask;
      if ((value & ~mask) === virtual.config.get16(dataOffset)) {
        const phys = (physical.config.get16(pmsi.offset + (pmsi.addr64 ? MSI_DATA_64 : MSI_DATA_32)) + nr) >>> 0;
        this.rewrites.push({ offset, from: value >>> 0, to: phys });
        return phys;
      }
    }
    return value;
  }
}
