/**
 * A PCI driver's MSI / MSI-X setup through config space and the MSI-X table BAR, in the order Linux's PCI core uses
 * (drivers/pci/msi/msi.c `msi_capability_init`, `msix_capability_init`, `__pci_write_msi_msg`):
 *
 * - find the capability by walking the list from 0x34 (only when Status.CapList is set);
 * - MSI: with MSI disabled, write address (low, then high on a 64-bit capability) and the 16-bit data, set Multiple
 *   Message Enable, then set the enable bit;
 * - MSI-X: enable it with the function mask set, mask the entry, write address low/high and data with CPU stores to
 *   the table in the BAR, unmask the entry, then clear the function mask;
 * - the driver sets Bus Master Enable (pci_set_master) and Memory Space; INTx is disabled while MSI/MSI-X is on.
 *
 * Everything goes through `Device.configRead/configWrite` and CPU MMIO; nothing here touches the device model.
 */
import type { Cpu } from '../machine/cpu.ts';
import type { Device } from '../machine/device.ts';
import { UsageError } from '../core/errors.ts';
import { PCI_CAP_ID, PCI_CAP_NEXT, PCI_CAPABILITY_LIST, PCI_STATUS, PCI_STATUS_CAP_LIST } from '../pci/config-space.ts';
import {
  MSI_ADDRESS_HI,
  MSI_ADDRESS_LO,
  MSI_DATA_32,
  MSI_DATA_64,
  MSI_FLAGS,
  MSI_FLAGS_64BIT,
  MSI_FLAGS_ENABLE,
  MSI_FLAGS_MASKBIT,
  MSI_FLAGS_QMASK,
  MSI_FLAGS_QMASK_SHIFT,
  MSI_FLAGS_QSIZE,
  MSI_FLAGS_QSIZE_SHIFT,
  PCI_CAP_ID_MSI,
} from '../pci/msi-capability.ts';
import {
  MSIX_BIR_MASK,
  MSIX_ENTRY_DATA,
  MSIX_ENTRY_LOWER_ADDR,
  MSIX_ENTRY_SIZE,
  MSIX_ENTRY_UPPER_ADDR,
  MSIX_ENTRY_VECTOR_CTRL,
  MSIX_ENTRY_CTRL_MASKBIT,
  MSIX_FLAGS,
  MSIX_FLAGS_ENABLE,
  MSIX_FLAGS_MASKALL,
  MSIX_FLAGS_QSIZE,
  MSIX_OFFSET_MASK,
  MSIX_TABLE,
  PCI_CAP_ID_MSIX,
} from '../pci/msix-capability.ts';
import { PCI_BASE_ADDRESS_0, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY } from '../pci/type0-header.ts';

/** PCI 3.0 §6.7: a capability list has at most 48 entries in the 192 bytes after the header; stop a looping list. */
const MAX_CAPABILITIES = 48;

export function findCapability(dev: Device, capId: number): number | null {
  if ((dev.configRead(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST) === 0) return null;
  let pos = dev.configRead(PCI_CAPABILITY_LIST, 1) & 0xfc;
  for (let n = 0; pos >= 0x40 && n < MAX_CAPABILITIES; n++) {
    if (dev.configRead(pos + PCI_CAP_ID, 1) === capId) return pos;
    pos = dev.configRead(pos + PCI_CAP_NEXT, 1) & 0xfc;
  }
  return null;
}

export interface MsiCap {
  offset: number;
  is64: boolean;
  maskable: boolean;
  /** Vectors the function asks for: 2^MMC. */
  vectorsCapable: number;
}

export function readMsiCap(dev: Device): MsiCap | null {
  const offset = findCapability(dev, PCI_CAP_ID_MSI);
  if (offset === null) return null;
  const ctrl = dev.configRead(offset + MSI_FLAGS, 2);
  return {
    offset,
    is64: (ctrl & MSI_FLAGS_64BIT) !== 0,
    maskable: (ctrl & MSI_FLAGS_MASKBIT) !== 0,
    vectorsCapable: 1 << ((ctrl & MSI_FLAGS_QMASK) >>> MSI_FLAGS_QMASK_SHIFT),
  };
}

export interface MsixCap {
  offset: number;
  tableSize: number;
  tableBir: number;
  tableOffset: number;
}

export function readMsixCap(dev: Device): MsixCap | null {
  const offset = findCapability(dev, PCI_CAP_ID_MSIX);
  if (offset === null) return null;
  const ctrl = dev.configRead(offset + MSIX_FLAGS, 2);
  const table = dev.configRead(offset + MSIX_TABLE, 4) >>> 0;
  return { offset, tableSize: (ctrl & MSIX_FLAGS_QSIZE) + 1, tableBir: table & MSIX_BIR_MASK, tableOffset: (table & MSIX_OFFSET_MASK) >>> 0 };
}

/** The base address programmed into memory BAR `bir` (64-bit BARs take the next slot as bits 63:32). */
export function barBase(dev: Device, bir: number): number {
  const lo = dev.configRead(PCI_BASE_ADDRESS_0 + 4 * bir, 4) >>> 0;
  if (lo & 1) throw new UsageError(`${dev.bdf}: BAR${bir} is an I/O BAR, not memory`);
  let base = (lo & 0xfffffff0) >>> 0;
  if (((lo >>> 1) & 3) === 2) base += (dev.configRead(PCI_BASE_ADDRESS_0 + 4 * (bir + 1), 4) >>> 0) * 2 ** 32;
  return base;
}

/** pci_set_master plus memory decoding; INTx disabled because MSI/MSI-X replaces it. */
export function enableBusMaster(dev: Device): void {
  const cmd = dev.configRead(PCI_COMMAND, 2);
  const want = cmd | PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE;
  if (want !== cmd) dev.configWrite(PCI_COMMAND, 2, want);
}

/**
 * Program the MSI capability: address, data and 2^log2Vectors messages, then enable. The address high dword exists
 * only on a 64-bit capability; on a 32-bit one bits 63:32 of `addr` cannot be expressed and are dropped (Linux does
 * the same: it never writes PCI_MSI_ADDRESS_HI there).
 */
export function programMsi(dev: Device, cap: MsiCap, addr: bigint, data: number, log2Vectors: number): void {
  const base = cap.offset;
  let ctrl = dev.configRead(base + MSI_FLAGS, 2);
  if (ctrl & MSI_FLAGS_ENABLE) dev.configWrite(base + MSI_FLAGS, 2, (ctrl &= ~MSI_FLAGS_ENABLE));
  dev.configWrite(base + MSI_ADDRESS_LO, 4, Number(addr & 0xffffffffn));
  if (cap.is64) {
    dev.configWrite(base + MSI_ADDRESS_HI, 4, Number((addr >> 32n) & 0xffffffffn));
    dev.configWrite(base + MSI_DATA_64, 2, data & 0xffff);
  } else {
    dev.configWrite(base + MSI_DATA_32, 2, data & 0xffff);
  }
  ctrl = (ctrl & ~MSI_FLAGS_QSIZE) | ((log2Vectors << MSI_FLAGS_QSIZE_SHIFT) & MSI_FLAGS_QSIZE);
  dev.configWrite(base + MSI_FLAGS, 2, ctrl);
  dev.configWrite(base + MSI_FLAGS, 2, ctrl | MSI_FLAGS_ENABLE);
}

/** Turn MSI-X on with the whole function masked (the first step of msix_capability_init). Idempotent. */
export function enableMsixMasked(dev: Device, cap: MsixCap): void {
  const ctrl = dev.configRead(cap.offset + MSIX_FLAGS, 2);
  if (ctrl & MSIX_FLAGS_ENABLE) return;
  dev.configWrite(cap.offset + MSIX_FLAGS, 2, ctrl | MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL);
}

export function clearMsixFunctionMask(dev: Device, cap: MsixCap): void {
  const ctrl = dev.configRead(cap.offset + MSIX_FLAGS, 2);
  if (ctrl & MSIX_FLAGS_MASKALL) dev.configWrite(cap.offset + MSIX_FLAGS, 2, ctrl & ~MSIX_FLAGS_MASKALL);
}

/** Write MSI-X table entry `entry` with CPU stores: mask it, write the message, unmask it. */
export function writeMsixEntry(cpu: Cpu, dev: Device, cap: MsixCap, entry: number, addr: bigint, data: number): void {
  const at = barBase(dev, cap.tableBir) + cap.tableOffset + entry * MSIX_ENTRY_SIZE;
  const ctrl = cpu.read32(at + MSIX_ENTRY_VECTOR_CTRL);
  cpu.write32(at + MSIX_ENTRY_VECTOR_CTRL, (ctrl | MSIX_ENTRY_CTRL_MASKBIT) >>> 0);
  cpu.write32(at + MSIX_ENTRY_LOWER_ADDR, Number(addr & 0xffffffffn));
  cpu.write32(at + MSIX_ENTRY_UPPER_ADDR, Number((addr >> 32n) & 0xffffffffn));
  cpu.write32(at + MSIX_ENTRY_DATA, data >>> 0);
  cpu.write32(at + MSIX_ENTRY_VECTOR_CTRL, (ctrl & ~MSIX_ENTRY_CTRL_MASKBIT) >>> 0);
}
