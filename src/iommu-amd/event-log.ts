/**
 * The event log: 128-bit entries the IOMMU writes to guest memory at EventBase + Tail (AMD IOMMU spec §2.5).
 *
 * Entry layout (Linux/Xen/FreeBSD/VBox/QEMU majority; OpenVMM's layout disagrees and is not followed):
 *   dword0 [15:0] DeviceID, [19:16] PASID[19:16]
 *   dword1 [15:0] DomainID or PASID[15:0], [27:16] flags (event bits 59:48), [31:28] EventCode
 *   dword2–3     64-bit address / operand
 *
 * Ring mechanics: the IOMMU writes at Tail and advances it by 16 modulo the buffer size; software consumes from Head.
 * Full when (Tail + 16) mod size == Head, so at most N − 1 entries are held (QEMU get_next_eventlog_entry, OpenVMM amd_iommu).
 */
import type { SparseMemory } from '../core/memory.ts';
import {
  EventCode,
  EventFlag,
  HW_ERROR_TYPE_SHIFT,
  HwErrorType,
  INVALID_DEVICE_REQUEST_INTCTL_ABORT,
  INVALID_DEVICE_REQUEST_TYPE_SHIFT,
  eventCodeName,
} from './event-codes.ts';
import { RING_PTR_MASK, ringBase, ringBytes } from './registers.ts';

/** One event-log entry, decoded. */
export interface AmdEvent {
  code: number;
  deviceId: number;
  /** DomainID, or the 20-bit PASID (dword0[19:16] : dword1[15:0]) as Linux reads it. */
  pasid: number;
  /** 12-bit flags (event bits 59:48). */
  flags: number;
  address: bigint;
}

export const EVENT_ENTRY_BYTES = 16;

/** ILLEGAL_DEV_TABLE_ENTRY for an interrupt request: I = 1, RZ when reserved bits were set; Address[1:0] are reserved. */
export function illegalDevTableEntryEvent(deviceId: number, address: bigint, reservedBits: boolean): AmdEvent {
  return {
    code: EventCode.ILLEGAL_DEV_TABLE_ENTRY,
    deviceId,
    pasid: 0,
    flags: EventFlag.I | (reservedBits ? EventFlag.RZ : 0),
    address: address & ~3n,
  };
}

/**
 * IO_PAGE_FAULT for an interrupt request (VBox iommuAmdInitIoPageFaultEvent): I = 1, RW = 0, PR = IRTE.RemapEn,
 * RZ for a reserved IRTE encoding; DomainID from the DTE; Address = the MSI address.
 */
export function interruptPageFaultEvent(deviceId: number, domainId: number, address: bigint, present: boolean, reservedBits: boolean): AmdEvent {
  return {
    code: EventCode.IO_PAGE_FAULT,
    deviceId,
    pasid: domainId,
    flags: EventFlag.I | (present ? EventFlag.PR : 0) | (reservedBits ? EventFlag.RZ : 0),
    address,
  };
}

/**
 * IO_PAGE_FAULT for a DMA request (AMD IOMMU spec §2.5.3 IO_PAGE_FAULT Event): I = 0, RW = 1 for a
 * write, PR = the entry that stopped the walk was present, PE = permission denied, RZ = reserved bits / invalid level
 * encoding; DomainID from the DTE; Address = the request's input address.
 */
export function dmaPageFaultEvent(deviceId: number, domainId: number, address: number, write: boolean, flags: number): AmdEvent {
  return { code: EventCode.IO_PAGE_FAULT, deviceId, pasid: domainId, flags: flags | (write ? EventFlag.RW : 0), address: BigInt(address) };
}

/** ILLEGAL_DEV_TABLE_ENTRY for a DMA request: RW for a write, RZ when reserved bits / encodings were the cause. */
export function dmaIllegalDevTableEntryEvent(deviceId: number, address: number, write: boolean, reservedBits: boolean): AmdEvent {
  return {
    code: EventCode.ILLEGAL_DEV_TABLE_ENTRY,
    deviceId,
    pasid: 0,
    flags: (write ? EventFlag.RW : 0) | (reservedBits ? EventFlag.RZ : 0),
    address: BigInt(address) & ~3n,
  };
}

/** INVALID_DEVICE_REQUEST type 101b: posted write to the interrupt range from a device whose DTE has IntCtl = 00b. */
export function intCtlAbortEvent(deviceId: number, address: bigint): AmdEvent {
  return {
    code: EventCode.INVALID_DEVICE_REQUEST,
    deviceId,
    pasid: 0,
    flags: INVALID_DEVICE_REQUEST_INTCTL_ABORT << INVALID_DEVICE_REQUEST_TYPE_SHIFT,
    address,
  };
}

/** DEV_TAB_HARDWARE_ERROR: the DTE could not be read (Address = DTE SPA), type target abort for a device request. */
export function devTabHardwareErrorEvent(deviceId: number, dteAddress: number, interrupt: boolean): AmdEvent {
  return {
    code: EventCode.DEV_TAB_HARDWARE_ERROR,
    deviceId,
    pasid: 0,
    flags: (interrupt ? EventFlag.I : 0) | (HwErrorType.TargetAbort << HW_ERROR_TYPE_SHIFT),
    address: BigInt(dteAddress),
  };
}

/**
 * PAGE_TAB_HARDWARE_ERROR: a table the IOMMU walks could not be read (Address = the entry it tried to read): the
 * interrupt remapping table for an interrupt request (flag I), a DMA page table for a read or write (flag RW on writes).
 */
export function pageTabHardwareErrorEvent(deviceId: number, domainId: number, address: number, request: 'interrupt' | 'read' | 'write'): AmdEvent {
  const requestFlags = request === 'interrupt' ? EventFlag.I : request === 'write' ? EventFlag.RW : 0;
  return {
    code: EventCode.PAGE_TAB_HARDWARE_ERROR,
    deviceId,
    pasid: domainId,
    flags: requestFlags | (HwErrorType.TargetAbort << HW_ERROR_TYPE_SHIFT),
    address: BigInt(address),
  };
}

/** ILLEGAL_COMMAND_ERROR: Address = SPA of the offending command. */
export function illegalCommandEvent(commandAddress: number): AmdEvent {
  return { code: EventCode.ILLEGAL_COMMAND_ERROR, deviceId: 0, pasid: 0, flags: 0, address: BigInt(commandAddress) };
}

/** COMMAND_HARDWARE_ERROR: a command fetch or completion-wait store failed (VBox uses type "data error"). */
export function commandHardwareErrorEvent(address: number, type: number = HwErrorType.DataError): AmdEvent {
  return {
    code: EventCode.COMMAND_HARDWARE_ERROR,
    deviceId: 0,
    pasid: 0,
    flags: (type & 3) << HW_ERROR_TYPE_SHIFT,
    address: BigInt(address),
  };
}

/** Encode an event into four dwords (into `out` when given, else a new array). */
export function encodeEvent(ev: AmdEvent, out: Uint32Array = new Uint32Array(4)): Uint32Array {
  out[0] = ((ev.deviceId & 0xffff) | (((ev.pasid >>> 16) & 0xf) << 16)) >>> 0;
  out[1] = ((ev.pasid & 0xffff) | ((ev.flags & 0xfff) << 16) | ((ev.code & 0xf) << 28)) >>> 0;
  out[2] = Number(ev.address & 0xffff_ffffn);
  out[3] = Number((ev.address >> 32n) & 0xffff_ffffn);
  return out;
}

/** Decode four dwords as Linux's iommu_print_event does (type, devid, pasid/domid, flags, address). */
export function decodeEvent(words: ArrayLike<number>): AmdEvent {
  const w0 = words[0] >>> 0;
  const w1 = words[1] >>> 0;
  return {
    code: w1 >>> 28,
    deviceId: w0 & 0xffff,
    pasid: (w0 & 0xf0000) | (w1 & 0xffff),
    flags: (w1 >>> 16) & 0xfff,
    address: (BigInt(words[3] >>> 0) << 32n) | BigInt(words[2] >>> 0),
  };
}

/** Field view of an event for the machine's `iommu_fault` record. */
export function eventRecord(ev: AmdEvent): Record<string, string | number> {
  return {
    type: eventCodeName(ev.code),
    code: ev.code,
    deviceId: ev.deviceId,
    pasidOrDomain: ev.pasid,
    flags: ev.flags,
    address: '0x' + ev.address.toString(16),
  };
}

export type AppendOutcome = 'logged' | 'overflow';

/**
 * The ring in guest memory: base/length register, head and tail. It knows nothing about the status register; the
 * IOMMU decides whether logging runs and what an outcome does to Status (see amd-iommu.ts).
 */
export class EventLogRing {
  /** Event Log Base register as written (bits 51:12 base, 59:56 EventLen). */
  baseReg = 0n;
  head = 0;
  tail = 0;
  private readonly words = new Uint32Array(4);

  constructor(private readonly memory: SparseMemory) {}

  get sizeBytes(): number {
    return ringBytes(this.baseReg);
  }

  get isFull(): boolean {
    return (this.tail + EVENT_ENTRY_BYTES) % this.sizeBytes === this.head;
  }

  /** Write the entry at Tail and advance Tail, or report that the ring is full (the entry is dropped). */
  append(ev: AmdEvent): AppendOutcome {
    if (this.isFull) return 'overflow';
    encodeEvent(ev, this.words);
    const at = ringBase(this.baseReg) + this.tail;
    for (let i = 0; i < 4; i++) this.memory.write32(at + 4 * i, this.words[i]);
    this.tail = (this.tail + EVENT_ENTRY_BYTES) % this.sizeBytes;
    return 'logged';
  }

  /** A pointer value software may write: [18:4] inside the buffer (VBox ignores writes beyond the length). */
  acceptsPointer(value: number): boolean {
    return (value & RING_PTR_MASK) < this.sizeBytes;
  }
}
