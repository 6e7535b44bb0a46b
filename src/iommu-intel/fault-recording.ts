/**
 * Primary fault logging: the fault recording registers (FRCD), FSTS, FECTL and the fault event message
 * (FEDATA / FEADDR / FEUADDR) — VT-d spec §11.4 (FSTS_REG, FECTL_REG, FEDATA_REG, FEADDR_REG, FRCD_REG).
 *
 * Recording. Records are written round-robin at an internal index. When FSTS.PFO is set no fault is recorded until
 * software clears it; when the register at the internal index still holds an unserviced record (F = 1), PFO is set and
 * the fault is dropped (QEMU and VBox agree). QEMU additionally drops a fault whose SID matches any pending record
 * ("compression"); we record it, because the spec gives the recording registers to each fault and tests of a driver's
 * handler want to see them — noted as a deliberate difference.
 *
 * PPF is derived: the OR of all F bits. FRI is latched: "the index (from base) of the fault recording register to which
 * the first pending fault was recorded when the PPF field was Set by hardware" (VT-d spec FSTS_REG.FRI; PPF: "The FRI
 * field is updated by hardware whenever the PPF field is Set by hardware"), so it is set when a record makes PPF go
 * from 0 to 1 and does not move while PPF stays 1, even if software clears that record first (QEMU does the same).
 * It is where Linux's `dmar_fault` loop starts.
 *
 * Event policy (where QEMU and VBox differ). We follow the Intel wording of FECTL.IP (2nd-gen Core datasheet vol. 2
 * §2.21.9 FECTL_REG, same text in the Xeon E7 v2 datasheet): "Hardware sets the IP field when it detects an interrupt
 * condition, which is defined as: hardware records a fault through one of the Fault Recording registers and sets the
 * PPF field [...]; error associated with the Invalidation Queue, setting the IQE field; [...] ICE; [...] ITE. If any
 * of the status fields in the Fault Status register was already set at the time of setting any of these fields, it
 * is not treated as a new interrupt condition." So: one event when a fault is recorded (or IQE/ICE/ITE is set) while
 * FSTS had no status field set — QEMU's behaviour — not one per fault (VBox). Overflow (PFO) is not an interrupt
 * condition. "The IP field is cleared [...] due to either hardware issuing the interrupt message [...] due to software
 * clearing the IM field, or software servicing all the pending interrupt status fields in the Fault Status register"
 * (clearing every F and writing back PFO/IQE/ICE/ITE).
 */
import {
  ECTL_IM,
  ECTL_IP,
  EADDR_MASK,
  EDATA_MASK,
  FRCD_HI_F,
  FRCD_HI_T,
  FSTS_FRI_SHIFT,
  FSTS_ICE,
  FSTS_IQE,
  FSTS_ITE,
  FSTS_PFO,
  FSTS_PPF,
  FSTS_STATUS_FIELDS,
  FSTS_W1C,
} from './registers.ts';

/** Sends the unit's own interrupt (never remapped): FEUADDR, FEADDR, FEDATA. */
export type OwnMsiSink = (addrHi: number, addrLo: number, data: number) => void;

/** Outcome of {@link FaultRecorder.record}. */
export const RECORD_DROPPED_PFO_PENDING = -1;
export const RECORD_DROPPED_OVERFLOW = -2;

export class FaultRecorder {
  readonly count: number;
  /** Per record: interrupt index (FI 63:48 of an interrupt fault), source-id, fault reason, F. */
  readonly index: Uint16Array;
  /** Per record: FI as two dwords (a DMA fault's page address 63:12; an interrupt fault's index << 48). */
  readonly fiLo: Uint32Array;
  readonly fiHi: Uint32Array;
  /** Per record: T (bit 126): 1 = read request, 0 = write request (and every interrupt request). */
  readonly read: Uint8Array;
  readonly sourceId: Uint16Array;
  readonly reason: Uint8Array;
  readonly full: Uint8Array;
  /** Internal index of the register the next fault goes into. */
  next = 0;
  /** FSTS.FRI: the register the first pending fault went into when PPF was last set (valid while PPF = 1). */
  fri = 0;
  /** FSTS bits other than PPF/FRI (PFO, IQE, ICE, ITE; AFO/APF never set: no advanced fault logging). */
  status = 0;
  fectl = ECTL_IM;
  fedata = 0;
  feaddr = 0;
  feuaddr = 0;

  constructor(
    count: number,
    private readonly eimSupported: boolean,
    private readonly send: OwnMsiSink,
  ) {
    this.count = count;
    this.index = new Uint16Array(count);
    this.sourceId = new Uint16Array(count);
    this.reason = new Uint8Array(count);
    this.full = new Uint8Array(count);
    this.fiLo = new Uint32Array(count);
    this.fiHi = new Uint32Array(count);
    this.read = new Uint8Array(count);
  }

  // ---- recording ---------------------------------------------------------------------------------------------

  /** Record an interrupt-remapping fault. Returns the register used, or a RECORD_DROPPED_* code. */
  record(sourceId: number, reason: number, index: number): number {
    return this.write(sourceId, reason, index & 0xffff, 0, ((index & 0xffff) << 16) >>> 0, false);
  }

  /**
   * Record a DMA-remapping fault: FI = the faulting page address (bits 63:12 of the input address), T = 1 for a
   * read (VT-d spec §10.4.14 FRCD_REG). Same recording and event rules as interrupt faults.
   */
  recordDma(sourceId: number, reason: number, addr: number, isRead: boolean): number {
    const page = addr - (addr % 4096);
    return this.write(sourceId, reason, 0, page % 0x1_0000_0000, Math.floor(page / 0x1_0000_0000), isRead);
  }

  private write(sourceId: number, reason: number, index: number, fiLo: number, fiHi: number, isRead: boolean): number {
    if (this.status & FSTS_PFO) return RECORD_DROPPED_PFO_PENDING;
    const slot = this.next;
    if (this.full[slot]) {
      this.status |= FSTS_PFO; // overflow: not an interrupt condition
      return RECORD_DROPPED_OVERFLOW;
    }
    const before = this.fsts();
    if (!(before & FSTS_PPF)) this.fri = slot;
    this.index[slot] = index;
    this.fiLo[slot] = fiLo;
    this.fiHi[slot] = fiHi;
    this.read[slot] = isRead ? 1 : 0;
    this.sourceId[slot] = sourceId;
    this.reason[slot] = reason;
    this.full[slot] = 1;
    this.next = (slot + 1) % this.count;
    this.interruptCondition(before);
    return slot;
  }

  /** Set IQE / ICE / ITE (invalidation-side errors), with the same interrupt-condition rule. */
  setErrorStatus(bit: typeof FSTS_IQE | typeof FSTS_ICE | typeof FSTS_ITE): void {
    const before = this.fsts();
    this.status |= bit;
    this.interruptCondition(before);
  }

  private pendingRecords(): boolean {
    for (let i = 0; i < this.count; i++) if (this.full[i]) return true;
    return false;
  }

  private interruptCondition(fstsBefore: number): void {
    if (fstsBefore & FSTS_STATUS_FIELDS) return; // "not treated as a new interrupt condition"
    this.fectl |= ECTL_IP;
    if (!(this.fectl & ECTL_IM)) this.issueMessage();
  }

  private issueMessage(): void {
    this.fectl &= ~ECTL_IP;
    this.send(this.eimSupported ? this.feuaddr : 0, this.feaddr, this.fedata);
  }

  /** IP clears when software has serviced every status field (reference DS wording). */
  private clearIpIfServiced(): void {
    if (this.fectl & ECTL_IP && !(this.fsts() & FSTS_STATUS_FIELDS)) this.fectl &= ~ECTL_IP;
  }

  // ---- registers ---------------------------------------------------------------------------------------------

  /** FSTS with PPF and FRI derived from the records. */
  fsts(): number {
    let value = this.status;
    if (this.pendingRecords()) value |= FSTS_PPF | (this.fri << FSTS_FRI_SHIFT);
    return value >>> 0;
  }

  writeFsts(value: number): void {
    this.status &= ~(value & FSTS_W1C);
    this.clearIpIfServiced();
  }

  writeFectl(value: number): void {
    this.fectl = (this.fectl & ECTL_IP) | (value & ECTL_IM);
    if (this.fectl & ECTL_IP && !(this.fectl & ECTL_IM)) this.issueMessage();
  }

  writeFedata(value: number): void {
    this.fedata = (value & EDATA_MASK) >>> 0;
  }

  writeFeaddr(value: number): void {
    this.feaddr = (value & EADDR_MASK) >>> 0;
  }

  /** FEUADDR is RW only when ECAP.EIM (it carries x2APIC destination bits 31:8); reserved otherwise. */
  writeFeuaddr(value: number): void {
    if (this.eimSupported) this.feuaddr = value >>> 0;
  }

  /** Dword `dw` (0..3) of FRCD[i]. */
  readRecordDword(i: number, dw: number): number {
    switch (dw) {
      case 0:
        return this.fiLo[i]; // FI 31:12 (0 for interrupt faults) and reserved 11:0
      case 1:
        return this.fiHi[i]; // FI 63:32 (interrupt faults: 63:48 = interrupt_index)
      case 2:
        return this.sourceId[i]; // SID 79:64; T2/PRIV/EXE/PP stay 0 (no PASID, no ATS)
      default:
        return ((this.full[i] ? FRCD_HI_F : 0) | (this.read[i] ? FRCD_HI_T : 0) | this.reason[i]) >>> 0; // F 127, T 126, FR 103:96
    }
  }

  /** Only F (bit 127, dword 3 bit 31) is writable: RW1C. */
  writeRecordDword(i: number, dw: number, value: number): void {
    if (dw !== 3 || !(value & FRCD_HI_F) || !this.full[i]) return;
    this.full[i] = 0;
    this.clearIpIfServiced();
  }

  /** FRCD[i] as (lo, hi) qwords for traces and events. */
  recordQwords(i: number): [bigint, bigint] {
    const lo = (BigInt(this.readRecordDword(i, 1)) << 32n) | BigInt(this.readRecordDword(i, 0));
    const hi = (BigInt(this.readRecordDword(i, 3)) << 32n) | BigInt(this.readRecordDword(i, 2));
    return [lo, hi];
  }

  hasPendingRecords(): boolean {
    return this.pendingRecords();
  }

  /** FRI for a snapshot that predates the latched field: the oldest pending record, walking forward from `next`. */
  oldestPendingRecord(): number {
    for (let k = 0; k < this.count; k++) {
      const i = (this.next + k) % this.count;
      if (this.full[i]) return i;
    }
    return 0;
  }
}
