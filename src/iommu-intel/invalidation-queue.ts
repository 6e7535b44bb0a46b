/**
 * Queued invalidation (VT-d spec §6.5.2, §11.4.9): IQA / IQH / IQT, descriptors fetched from guest memory between head and tail,
 * the invalidation-wait completion (ICS.IWC, IECTL/IEDATA/IEADDR/IEUADDR) and queue errors (FSTS.IQE + IQERCD).
 *
 * Descriptors are processed synchronously when the tail is written (and when QIE turns on with work queued: QEMU
 * notes Windows programs the tail before enabling). 128-bit descriptors only: 256-bit ones need ECAP.SMTS or ADMS,
 * which this unit does not offer, so IQA.DW = 1 is a queue error (IQEI 5) when the unit next fetches; the bit itself
 * reads back as written (spec IQA_REG: "hardware treats a value of 1 in this field as an Invalidation Queue Error").
 *
 * Queue errors. On a bad tail, a fetch error, an unknown type or a reserved bit, hardware sets FSTS.IQE (a fault
 * event condition), records the reason in IQERCD.IQEI, and leaves IQH at the offending descriptor. "No new
 * descriptors are fetched until the IQE is cleared" (Linux `qi_check_fault`, quoting the spec) — so clearing IQE
 * resumes fetching at IQH (Linux recovers by overwriting the bad descriptor with its wait descriptor and clearing
 * IQE, without touching IQT). A later IQT write also resumes. QEMU instead waits for an IQT write ("FIXME").
 */
import type { EventHub } from '../core/events.ts';
import type { SparseMemory } from '../core/memory.ts';
import { ECTL_IM, ECTL_IP, EADDR_MASK, EDATA_MASK, ICS_IWC, IQ_PTR_MASK, IQA_ADDR_LO_MASK, IQA_DW, IQA_QS_MASK } from './registers.ts';

/** IQERCD.IQEI codes (VT-d spec §11.4.9.9; VirtualBox iommu-intel.h). */
export const IqeReason = {
  InvalidTail: 1,
  FetchError: 2,
  InvalidType: 3,
  ReservedField: 4,
  InvalidDescriptorWidth: 5,
} as const;

/** Descriptor types (type = qw0[3:0] | qw0[11:9] << 4). */
export const DescriptorType = {
  ContextCache: 1,
  Iotlb: 2,
  DeviceTlb: 3,
  InterruptEntryCache: 4,
  InvalidationWait: 5,
} as const;

const DESCRIPTOR_SIZE = 16;

// IEC descriptor: G bit 4, IM 31:27, IIDX 47:32; reserved 8:5, 26:12, 63:48 and all of qw1 (QEMU 0xffff000007fff1e0).
const IEC_W0_RSVD = 0x07fff1e0;
const IEC_W1_RSVD = 0xffff0000;
// Wait descriptor: IF 4, SW 5, FN 6; PD 7 needs ECAP.PDS (absent) so is reserved with 8 and 31:12; qw1 1:0 reserved.
const WAIT_W0_RSVD = 0xfffff180;
const WAIT_W2_RSVD = 0x3;
const WAIT_IF = 1 << 4;
const WAIT_SW = 1 << 5;
// Context-cache descriptor: G 5:4, DID 31:16, SID 47:32, FM 49:48; reserved 8:6, 15:12, 63:50, qw1.
const CC_W0_RSVD = 0x0000f1c0;
const CC_W1_RSVD = 0xfffc0000;
// IOTLB descriptor: G 5:4, DW 6, DR 7, DID 31:16; reserved 8, 15:12, 63:32; qw1 ADDR 63:12, IH 6, AM 5:0, reserved 11:7.
const IOTLB_W0_RSVD = 0x0000f100;
const IOTLB_W2_RSVD = 0x00000f80;

/** What the queue acts on outside itself. */
export interface InvalidationSink {
  /** Context-cache invalidation: granularity 1 global, 2 domain (DID), 3 device (SID with function mask FM). */
  invalidateContext(granularity: number, did: number, sid: number, fm: number): void;
  /** IOTLB invalidation: granularity 1 global, 2 domain, 3 page-selective (2^AM pages at ADDR). */
  invalidateIotlb(granularity: number, did: number, addr: number, am: number, ih: boolean): void;
  invalidateIecAll(): void;
  invalidateIecRange(first: number, count: number): void;
  /** Set FSTS.IQE (through the fault event logic). */
  raiseQueueError(): void;
  queueErrorPending(): boolean;
  /** Send the completion event (never remapped). */
  sendOwnMsi(addrHi: number, addrLo: number, data: number): void;
  /** False for addresses the unit cannot read (outside memory, the interrupt window). */
  readable(addr: number, length: number): boolean;
}

export class InvalidationQueue {
  iqaLo = 0;
  iqaHi = 0;
  /** IQH / IQT register values (byte offsets into the queue, bits 18:4). */
  head = 0;
  tail = 0;
  ics = 0;
  iectl = ECTL_IM;
  iedata = 0;
  ieaddr = 0;
  ieuaddr = 0;
  /** IQERCD low dword (IQEI in 3:0); the high dword (ITESID/ICESID) stays 0: no device-TLB. */
  iqercd = 0;
  enabled = false;

  private readonly iqaHiMask: number;

  constructor(
    private readonly memory: SparseMemory,
    private readonly events: EventHub,
    hawBits: number,
    private readonly eimSupported: boolean,
    private readonly sink: InvalidationSink,
  ) {
    this.iqaHiMask = (2 ** (hawBits - 32) - 1) >>> 0;
  }

  get base(): number {
    return this.iqaHi * 0x1_0000_0000 + ((this.iqaLo & IQA_ADDR_LO_MASK) >>> 0);
  }

  /** 2^(QS+8) 128-bit descriptors (QS pages of 256). */
  get entries(): number {
    return 2 ** ((this.iqaLo & IQA_QS_MASK) + 8);
  }

  writeIqaLo(value: number): void {
    this.iqaLo = (value & (IQA_ADDR_LO_MASK | IQA_DW | IQA_QS_MASK)) >>> 0;
  }

  writeIqaHi(value: number): void {
    this.iqaHi = (value & this.iqaHiMask) >>> 0;
  }

  writeIqt(value: number): void {
    this.tail = value & IQ_PTR_MASK;
    this.process();
  }

  enable(): void {
    this.enabled = true;
    this.process();
  }

  /** QIE cleared: the queue stops and IQH returns to 0 (VBox), so a re-enable with IQT = 0 starts empty (Linux). */
  disable(): void {
    this.enabled = false;
    this.head = 0;
  }

  writeIcs(value: number): void {
    if (value & ICS_IWC && this.ics & ICS_IWC) {
      this.ics &= ~ICS_IWC;
      this.iectl &= ~ECTL_IP; // servicing the status clears the pending message
    }
  }

  writeIectl(value: number): void {
    this.iectl = (this.iectl & ECTL_IP) | (value & ECTL_IM);
    if (this.iectl & ECTL_IP && !(this.iectl & ECTL_IM)) this.issueCompletionEvent();
  }

  writeIedata(value: number): void {
    this.iedata = (value & EDATA_MASK) >>> 0;
  }

  writeIeaddr(value: number): void {
    this.ieaddr = (value & EADDR_MASK) >>> 0;
  }

  writeIeuaddr(value: number): void {
    if (this.eimSupported) this.ieuaddr = value >>> 0;
  }

  /** Fetch and execute descriptors from IQH to IQT, stopping at the first error. */
  process(): void {
    if (!this.enabled || this.sink.queueErrorPending()) return;
    if (this.iqaLo & IQA_DW && this.head !== this.tail) return this.error(IqeReason.InvalidDescriptorWidth);
    const size = this.entries * DESCRIPTOR_SIZE;
    if (this.tail >= size) return this.error(IqeReason.InvalidTail);
    if (this.head >= size) this.head = 0; // IQA shrank under a running queue: start over
    while (this.head !== this.tail) {
      const addr = this.base + this.head;
      if (!this.sink.readable(addr, DESCRIPTOR_SIZE)) return this.error(IqeReason.FetchError);
      const code = this.execute(this.memory.read32(addr), this.memory.read32(addr + 4), this.memory.read32(addr + 8), this.memory.read32(addr + 12));
      if (code !== 0) return this.error(code);
      this.head = (this.head + DESCRIPTOR_SIZE) % size;
    }
  }

  private error(iqei: number): void {
    this.iqercd = iqei;
    if (this.events.active) this.events.hop('irqpath_vtd_inv_qi_error', [['iqei', iqei], ['head', this.head], ['tail', this.tail]]);
    this.sink.raiseQueueError();
  }

  /** Execute one descriptor; returns 0 or an IQEI code. */
  private execute(w0: number, w1: number, w2: number, w3: number): number {
    const type = (w0 & 0xf) | (((w0 >>> 9) & 7) << 4);
    switch (type) {
      case DescriptorType.InterruptEntryCache:
        return this.interruptEntryCache(w0, w1, w2, w3);
      case DescriptorType.InvalidationWait:
        return this.invalidationWait(w0, w1, w2, w3);
      case DescriptorType.ContextCache: {
        // §6.5.2.1: G 5:4 (00b reserved), DID 31:16, SID 47:32, FM 49:48.
        const g = (w0 >>> 4) & 3;
        if (w0 & CC_W0_RSVD || w1 & CC_W1_RSVD || w2 || w3 || g === 0) return IqeReason.ReservedField;
        this.sink.invalidateContext(g, w0 >>> 16, w1 & 0xffff, (w1 >>> 16) & 3);
        return 0;
      }
      case DescriptorType.Iotlb: {
        // §6.5.2.3: G 5:4 (00b reserved), DW 6 / DR 7 (drain hints, nothing to drain here), DID 31:16;
        // qw1 AM 5:0, IH 6, ADDR 63:12.
        const g = (w0 >>> 4) & 3;
        if (w0 & IOTLB_W0_RSVD || w1 || w2 & IOTLB_W2_RSVD || g === 0) return IqeReason.ReservedField;
        const addr = (w3 >>> 0) * 0x1_0000_0000 + ((w2 & 0xfffff000) >>> 0);
        this.sink.invalidateIotlb(g, w0 >>> 16, addr, w2 & 0x3f, (w2 & 0x40) !== 0);
        return 0;
      }
      default:
        // Device-TLB needs ECAP.DT, the PASID/page-request types need scalable mode: none is offered here.
        return IqeReason.InvalidType;
    }
  }

  private interruptEntryCache(w0: number, w1: number, w2: number, w3: number): number {
    if (w0 & IEC_W0_RSVD || w1 & IEC_W1_RSVD || w2 || w3) return IqeReason.ReservedField;
    const indexSelective = (w0 >>> 4) & 1;
    const mask = (w0 >>> 27) & 0x1f;
    const iidx = w1 & 0xffff;
    if (this.events.active) this.events.hop('vtd_inv_desc_iec', [['granularity', indexSelective], ['index', iidx], ['mask', mask]]);
    if (!indexSelective) {
      this.sink.invalidateIecAll();
      return 0;
    }
    // 2^IM entries starting at IIDX with its low IM bits ignored (Linux aligns IRTE blocks to 2^IM). An IM beyond
    // ECAP.MHMV is clipped to the whole index space: invalidating more than asked is always safe.
    const count = mask >= 16 ? 0x10000 : 1 << mask;
    const first = iidx & ~(count - 1) & 0xffff;
    this.sink.invalidateIecRange(first, count);
    return 0;
  }

  private invalidationWait(w0: number, w1: number, w2: number, w3: number): number {
    if (w0 & WAIT_W0_RSVD || w2 & WAIT_W2_RSVD) return IqeReason.ReservedField;
    // SW first: the status write must be visible before the completion interrupt (VirtualBox DevIommuIntel.cpp). SW and IF together are
    // valid (FreeBSD uses both; QEMU crashed on it before Aug 2025). Neither set is a plain fence: accepted (QEMU
    // treats it as invalid).
    if (w0 & WAIT_SW) {
      const statusAddr = (w3 >>> 0) * 0x1_0000_0000 + ((w2 & ~WAIT_W2_RSVD) >>> 0);
      if (this.events.active) this.events.hop('vtd_inv_desc_wait_sw', [['addr', BigInt(statusAddr)], ['data', w1 >>> 0]]);
      if (!this.sink.readable(statusAddr, 4)) return IqeReason.FetchError;
      this.memory.write32(statusAddr, w1 >>> 0);
    }
    if (w0 & WAIT_IF) this.completionCondition();
    return 0;
  }

  /** IF: an interrupt condition unless IWC is already set (then it is not a new one). */
  private completionCondition(): void {
    if (this.ics & ICS_IWC) return;
    this.ics |= ICS_IWC;
    this.iectl |= ECTL_IP;
    if (!(this.iectl & ECTL_IM)) this.issueCompletionEvent();
  }

  private issueCompletionEvent(): void {
    this.iectl &= ~ECTL_IP;
    this.sink.sendOwnMsi(this.eimSupported ? this.ieuaddr : 0, this.ieaddr, this.iedata);
  }
}
