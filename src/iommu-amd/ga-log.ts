/**
 * The guest virtual APIC (GA) log: where the IOMMU tells the hypervisor that it posted an interrupt into the vAPIC
 * backing page of a vCPU that was not running (IRTE GuestMode = 1, IsRun = 0, GALogIntr = 1).
 *
 * Entry: 8 bytes, [31:0] GATag (the IRTE's, chosen by the hypervisor), [47:32] DeviceID of the requester,
 * [63:60] type, 1 = "guest interrupt not delivered" (Linux GA_TAG / GA_DEVID / GA_REQ_TYPE, GA_GUEST_NR in
 * amd_iommu_types.h; the handler iommu_poll_ga_log hands GA_TAG to KVM's avic_ga_log_notifier).
 *
 * Size: GALogLen in Base [59:56]; Linux writes 1000b for 512 eight-byte entries (GA_LOG_SIZE_512), i.e. the log holds
 * 16 x 2^GALogLen bytes, the same byte count as the event log's length code (the encoding is
 * UNCONFIRMED: only Linux's GA_LOG_SIZE_512 shows it). Full when Tail + 8 would reach Head, as for the event log: the entry is dropped (GAOverflow).
 */
import type { SparseMemory } from '../core/memory.ts';
import { GA_LOG_PTR_MASK, ringBase, ringBytes } from './registers.ts';

export const GA_ENTRY_BYTES = 8;
/** GA_GUEST_NR: an interrupt was posted for a vCPU that is not running. */
export const GA_GUEST_NR = 1;

/** The two dwords of a GA log entry. */
export function encodeGaLogEntry(gaTag: number, deviceId: number, type = GA_GUEST_NR): [number, number] {
  return [gaTag >>> 0, ((deviceId & 0xffff) | ((type & 0xf) << 28)) >>> 0];
}

export class GaLogRing {
  /** GA Log Base register as written ([51:12] base, [59:56] GALogLen). */
  baseReg = 0n;
  /** GA Log Tail Address register ([51:3]); 0 = not set. */
  tailAddrReg = 0n;
  head = 0;
  tail = 0;

  constructor(private readonly memory: SparseMemory) {}

  get sizeBytes(): number {
    return ringBytes(this.baseReg);
  }

  get isFull(): boolean {
    return (this.tail + GA_ENTRY_BYTES) % this.sizeBytes === this.head;
  }

  /**
   * Write an entry at Tail and advance it, then store the new tail at the GA Log Tail Address (when software gave
   * one: Linux allocates an 8-byte buffer for it in iommu_init_ga_log). Throws when the log lies outside memory.
   */
  append(gaTag: number, deviceId: number): 'logged' | 'overflow' {
    if (this.isFull) return 'overflow';
    const at = ringBase(this.baseReg) + this.tail;
    const [lo, hi] = encodeGaLogEntry(gaTag, deviceId);
    this.memory.write32(at, lo);
    this.memory.write32(at + 4, hi);
    this.tail = (this.tail + GA_ENTRY_BYTES) % this.sizeBytes;
    if (this.tailAddrReg !== 0n) {
      const ta = Number(this.tailAddrReg);
      this.memory.write32(ta, this.tail);
      this.memory.write32(ta + 4, 0);
    }
    return 'logged';
  }

  /** A pointer value software may write: [15:3] inside the log. */
  acceptsPointer(value: number): boolean {
    return (value & GA_LOG_PTR_MASK) < this.sizeBytes;
  }
}
