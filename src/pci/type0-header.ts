/**
 * The standard 64-byte type-0 (endpoint) configuration header (PCI Local Bus 3.0 §6.1; Linux pci_regs.h names).
 * Only what an MSI/MSI-X device needs is writable: memory space enable, bus master enable and INTx disable in the
 * Command register, the BARs (installed by {@link PciBar}), Cache Line Size and Interrupt Line.
 */
import { PCI_STATUS, type PciConfigSpace } from './config-space.ts';

export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_REVISION_ID = 0x08;
/** Class code: programming interface at 0x09, subclass 0x0A, base class 0x0B (24 bits at 0x09). */
export const PCI_CLASS_PROG = 0x09;
export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BASE_ADDRESS_0 = 0x10;
/** @public */
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
/** @public */
export const PCI_SUBSYSTEM_ID = 0x2e;
/** @public */
export const PCI_ROM_ADDRESS = 0x30;
export const PCI_INTERRUPT_LINE = 0x3c;
/** @public */
export const PCI_INTERRUPT_PIN = 0x3d;

/** @public */
export const PCI_COMMAND_IO = 1 << 0;
export const PCI_COMMAND_MEMORY = 1 << 1;
export const PCI_COMMAND_MASTER = 1 << 2;
export const PCI_COMMAND_INTX_DISABLE = 1 << 10;
/** Command bits this model implements; the rest are read-only 0 (no I/O BARs, no SERR#/parity reporting). */
export const PCI_COMMAND_WRITABLE = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE;

/** Status error bits (master data parity, signalled/received target abort, received master abort, SERR, parity): RW1C. */
export const PCI_STATUS_ERROR_BITS = (1 << 8) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15);

export const PCI_HEADER_TYPE_NORMAL = 0x00;

/** QEMU's generic test-device IDs (Red Hat 0x1b36, "pci-testdev" 0x0005). */
export const DEFAULT_VENDOR_ID = 0x1b36;
export const DEFAULT_DEVICE_ID = 0x0005;
/** Base class 0xFF: "device does not fit any defined class". */
export const DEFAULT_CLASS_CODE = 0xff0000;

export interface Type0HeaderIds {
  vendorId: number;
  deviceId: number;
  classCode: number;
  revision?: number;
}

/** Fill a fresh config space with a type-0 header and its write masks. BARs are installed separately. */
export function initType0Header(space: PciConfigSpace, ids: Type0HeaderIds): void {
  space.set16(PCI_VENDOR_ID, ids.vendorId);
  space.set16(PCI_DEVICE_ID, ids.deviceId);
  space.set8(PCI_REVISION_ID, ids.revision ?? 0);
  space.set8(PCI_CLASS_PROG, ids.classCode & 0xff);
  space.set16(PCI_CLASS_PROG + 1, ids.classCode >>> 8);
  space.set8(PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);
  space.setWritable(PCI_COMMAND, 2, PCI_COMMAND_WRITABLE);
  space.setW1c(PCI_STATUS, 2, PCI_STATUS_ERROR_BITS);
  space.setDeviceOwned(PCI_STATUS, 2, PCI_STATUS_ERROR_BITS);
  space.setWritable(PCI_CACHE_LINE_SIZE, 1, 0xff);
  space.setWritable(PCI_INTERRUPT_LINE, 1, 0xff);
  // Interrupt Pin 0: no INTx pin; this model signals through MSI/MSI-X only.
}
