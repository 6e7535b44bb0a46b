/**
 * Event-log codes and flag bits (AMD IOMMU spec §2.5; Linux EVENT_TYPE_*, FreeBSD, VBox EVT_*).
 * Flags are event bits 59:48, i.e. dword1 bits 27:16 of the entry.
 */

export const EventCode = {
  ILLEGAL_DEV_TABLE_ENTRY: 0x1,
  IO_PAGE_FAULT: 0x2,
  DEV_TAB_HARDWARE_ERROR: 0x3,
  PAGE_TAB_HARDWARE_ERROR: 0x4,
  ILLEGAL_COMMAND_ERROR: 0x5,
  COMMAND_HARDWARE_ERROR: 0x6,
  IOTLB_INV_TIMEOUT: 0x7,
  INVALID_DEVICE_REQUEST: 0x8,
  INVALID_PPR_REQUEST: 0x9,
  /** FreeBSD's value (flagged there as a possible spec typo); VBox's 0x10 does not fit the 4-bit field. */
  EVENT_COUNTER_ZERO: 0xa,
  RMP_PAGE_FAULT: 0xd,
  RMP_HW_ERROR: 0xe,
} as const;

const NAMES = new Map<number, string>(Object.entries(EventCode).map(([name, code]) => [code, name]));

export function eventCodeName(code: number): string {
  return NAMES.get(code) ?? 'UNKNOWN';
}

/** IO_PAGE_FAULT / ILLEGAL_DEV_TABLE_ENTRY / hardware-error flag bits (bit 48 + n → flag bit n). */
export const EventFlag = {
  /** GN (48): guest (PASID) request. */
  GN: 0x001,
  /** NX (49). */
  NX: 0x002,
  /** US (50). */
  US: 0x004,
  /** I (51): the request was an interrupt. */
  I: 0x008,
  /** PR (52): present — page present / DTE.V, or IRTE.RemapEn = 1 for interrupts. */
  PR: 0x010,
  /** RW (53): 1 = write. */
  RW: 0x020,
  /** PE (54): permission denied. */
  PE: 0x040,
  /** RZ (55): reserved bit not zero. */
  RZ: 0x080,
  /** TR (56): translation request. */
  TR: 0x100,
} as const;

/** Hardware-error Type field, event bits 58:57 → flag bits 10:9. */
export const HW_ERROR_TYPE_SHIFT = 9;
export const HwErrorType = { MasterAbort: 1, TargetAbort: 2, DataError: 3 } as const;

/** INVALID_DEVICE_REQUEST Type field, event bits 59:57 → flag bits 11:9. */
export const INVALID_DEVICE_REQUEST_TYPE_SHIFT = 9;
/**
 * Type 101b: "Posted write to the Interrupt/EOI range from an I/O device that has IntCtl=00b in the device's DTE".
 * This rests on a third-party quote of the AMD spec (a web page titled "Journal Warnings & Errors") matching the
 * flags=0x0a00 seen in real logs; VirtualBox names the same encoding "RsvdIntrRange" and QEMU/VBox log nothing.
 */
export const INVALID_DEVICE_REQUEST_INTCTL_ABORT = 5;
