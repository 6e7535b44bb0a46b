/**
 * The ath11k/ath12k driver's trick (linux-wireless/iommu thread "ath11k and vfio-pci support", 2024-01): after the PCI core programmed the MSI capability, the driver reads
 * the MSI address and data back from it (ath11k_pci_msi_addr_get / the MSI data it caches at probe) and writes them
 * into registers of the chip's own interrupt controller in BAR0, so the chip raises interrupts with that message.
 * With multi-message MSI (the Windows driver) source k gets the data plus k.
 *
 * Under vfio-pci the capability the guest reads is the VMM's virtual one — unless MSI virtualisation is off.
 */
import type { Cpu } from '../../machine/cpu.ts';
import type { Device } from '../../machine/device.ts';
import type { EmbeddedMsiOptions } from '../../core/config-types.ts';
import { UsageError } from '../../core/errors.ts';
import { EMBEDDED_DATA_OFFSET } from '../../pci/embedded-msi-controller.ts';
import { MSI_ADDRESS_LO, MSI_DATA_32, MSI_DATA_64, MSI_FLAGS, MSI_FLAGS_64BIT, MSI_FLAGS_QSIZE, MSI_FLAGS_QSIZE_SHIFT } from '../../pci/msi-capability.ts';
import { barBase, readMsiCap } from '../pci-msi-setup.ts';

/** Copy MSI message k, as the driver reads it from config space, into the embedded controller's source k. */
export function copyMsiToEmbeddedController(cpu: Cpu, dev: Device, controller: EmbeddedMsiOptions, k: number): { addr: number; data: number } {
  const cap = readMsiCap(dev);
  if (cap === null) throw new UsageError(`${dev.bdf}: no MSI capability to copy from`);
  const flags = dev.configRead(cap.offset + MSI_FLAGS, 2);
  const allocated = 1 << ((flags & MSI_FLAGS_QSIZE) >>> MSI_FLAGS_QSIZE_SHIFT);
  const addr = dev.configRead(cap.offset + MSI_ADDRESS_LO, 4) >>> 0;
  const data = dev.configRead(cap.offset + ((flags & MSI_FLAGS_64BIT) !== 0 ? MSI_DATA_64 : MSI_DATA_32), 2);
  const message = { addr, data: ((data & ~(allocated - 1)) | (k & (allocated - 1))) >>> 0 };
  const register = controller.registers[k];
  if (register === undefined) throw new UsageError(`${dev.bdf}: the embedded controller has no source ${k}`);
  const at = barBase(dev, controller.bar ?? 0) + register;
  cpu.write32(at, message.addr);
  cpu.write32(at + EMBEDDED_DATA_OFFSET, message.data);
  return message;
}
