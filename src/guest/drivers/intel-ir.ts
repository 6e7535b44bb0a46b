/**
 * Linux's Intel interrupt-remapping driver (drivers/iommu/intel/irq_remapping.c, dmar.c; VT-d spec §5.1,
 * §6.5.2, §9.10, §11.4), driving the unit only through its registers and guest memory:
 *
 * enable: queued invalidation (IQT = 0, IQA = queue | QS 0, GCMD.QIE, wait QIES) → IRTA = table | EIME << 11 | 0xF
 * → GCMD.SIRTP, wait IRTPS → global IEC flush (unless CAP.ESIRTPS) → GCMD.IRE, wait IRES → clear CFI if CFIS.
 * GCMD writes carry Linux's shadow of the persistent bits (`iommu->gcmd`), never a read-back of GSTS.
 *
 * modify_irte: two 64-bit stores (low, then high), then an index-selective IEC descriptor followed by an
 * invalidation-wait descriptor with Status Write, polled in memory (`qi_submit_sync`).
 *
 * Windows reuses this class for the register sequence: how Windows orders these writes is not public, and any
 * working driver must do the same steps in substance.
 */
import type { DmarFaultStyle } from '../../core/linux-version.ts';
import type { Cpu } from '../../machine/cpu.ts';
import type { Machine } from '../../machine/machine.ts';
import { CAP_PI, CAP_SAGAW_SHIFT, ECAP_EIM, ECAP_IR, ECAP_QI } from '../../iommu-intel/capabilities.ts';
import { linuxFaultStatusLine, linuxFrcdLine } from '../../iommu-intel/linux-log.ts';
import * as R from '../../iommu-intel/registers.ts';
import type { BootLog } from '../boot-log.ts';
import type { GuestPageAllocator } from '../guest-memory.ts';

/** Invalidation descriptor types and fields (VT-d 6.5.2; Linux QI_* in intel/iommu.h). */
const QI_CC_TYPE = 0x1n;
const QI_IOTLB_TYPE = 0x2n;
export const QI_GRAN_GLOBAL = 1n;
export const QI_GRAN_PAGE = 3n;
const QI_IEC_TYPE = 0x4n;
const QI_IEC_SELECTIVE = 1n << 4n;
const QI_IWD_TYPE = 0x5n;
const QI_IWD_STATUS_WRITE = 1n << 5n;
/** Linux's desc_status values: the wait descriptor writes QI_DONE over QI_IN_USE. */
const QI_IN_USE = 1;
const QI_DONE = 2;
const QI_LENGTH = 256;
const QI_DESC_BYTES = 16;

/** 65 536 entries × 16 bytes (INTR_REMAP_TABLE_ENTRIES, IRTA.S = 0xF). */
export const IRT_ENTRIES = 65536;
const IRTA_SIZE_FIELD = 0xf;

/** How long a driver polls a status bit before giving up (IOMMU_WAIT_OP uses a time-out; here a poll count). */
const POLL_LIMIT = 1000;

export interface IntelIrteFields {
  vector: number;
  /** APIC ID (physical) or logical destination; written as 32 bits with EIME, else 8 bits in DST 15:8. */
  dest: number;
  destMode: 0 | 1;
  redirectionHint: 0 | 1;
  trigger: 0 | 1;
  deliveryMode: number;
  sid: number;
  sq: number;
  svt: number;
}

export interface IntelProbe {
  ir: boolean;
  eim: boolean;
  qi: boolean;
  sagaw: number;
  cap: bigint;
  ecap: bigint;
}

function hex(v: bigint | number): string {
  return v.toString(16);
}

export class IntelIrDriver {
  readonly base: number;
  /** DRHD index in table order (Linux's iommu->seq_id, "dmar<index>"). */
  readonly index: number;
  private readonly cpu: Cpu;
  /** Linux's shadow of the persistent GCMD bits (TE, QIE, IRE, CFI...). */
  private gcmd = 0;
  private cap = 0n;
  private ecap = 0n;
  private eime = false;
  private irtBase = 0;
  private queueBase = 0;
  private statusBase = 0;
  private freeHead = 0;
  private readonly used = new Uint8Array(IRT_ENTRIES);
  enabled = false;

  constructor(
    private readonly machine: Machine,
    private readonly mem: GuestPageAllocator,
    private readonly log: BootLog,
    /** The fault-line format of the kernel being modelled (core/linux-version.ts dmarFaultStyle). */
    private readonly faultStyle: DmarFaultStyle = 'current',
    /** Which DRHD (table order) this driver runs; Linux names it dmar<index>. Default: the unit with the I/O APIC. */
    unitIndex?: number,
  ) {
    const dmar = machine.firmware.dmar;
    if (dmar === null) throw new Error('IntelIrDriver needs a DMAR table');
    this.base = unitIndex === undefined ? dmar.registerBase : dmar.units[unitIndex].registerBase;
    this.index = unitIndex ?? Math.max(0, dmar.units.findIndex((u) => u.registerBase === this.base));
    this.cpu = machine.cpu(0);
  }

  private r32(off: number): number {
    return this.cpu.read32(this.base + off) >>> 0;
  }

  private w32(off: number, v: number): void {
    this.cpu.write32(this.base + off, v >>> 0);
  }

  private w64(off: number, v: bigint): void {
    this.cpu.write64(this.base + off, v);
  }

  private r64(off: number): bigint {
    return this.cpu.read64(this.base + off);
  }

  /** alloc_iommu: read VER/CAP/ECAP; the "dmarN: reg_base_addr" line (and the no-SAGAW line) go to the log. */
  readUnit(): IntelProbe {
    const ver = this.r32(R.VER_REG);
    this.cap = this.r64(R.CAP_REG);
    this.ecap = this.r64(R.ECAP_REG);
    const name = `dmar${this.index}`;
    this.log.print(`DMAR: ${name}: reg_base_addr ${hex(this.base)} ver ${(ver >>> 4) & 0xf}:${ver & 0xf} cap ${hex(this.cap)} ecap ${hex(this.ecap)}`);
    const sagaw = Number((this.cap >> CAP_SAGAW_SHIFT) & 0x1fn);
    if (sagaw === 0) this.log.print(`DMAR: ${name}: No supported address widths. Not attempting DMA translation.`);
    return { ir: (this.ecap & ECAP_IR) !== 0n, eim: (this.ecap & ECAP_EIM) !== 0n, qi: (this.ecap & ECAP_QI) !== 0n, sagaw, cap: this.cap, ecap: this.ecap };
  }

  /** Parse the DMAR unit the way dmar.c's alloc_iommu does and print its lines. */
  probe(ioapicId: number): IntelProbe {
    const dmar = this.machine.firmware.dmar!;
    this.log.print(`DMAR: Host address width ${dmar.hostAddressWidth}`);
    this.log.print(`DMAR: DRHD base: 0x${this.base.toString(16).padStart(14, '0')} flags: 0x1`);
    const ver = this.r32(R.VER_REG);
    this.cap = this.r64(R.CAP_REG);
    this.ecap = this.r64(R.ECAP_REG);
    this.log.print(`DMAR: dmar0: reg_base_addr ${hex(this.base)} ver ${(ver >>> 4) & 0xf}:${ver & 0xf} cap ${hex(this.cap)} ecap ${hex(this.ecap)}`);
    const sagaw = Number((this.cap >> CAP_SAGAW_SHIFT) & 0x1fn);
    if (sagaw === 0) this.log.print('DMAR: dmar0: No supported address widths. Not attempting DMA translation.');
    const probe: IntelProbe = {
      ir: (this.ecap & ECAP_IR) !== 0n,
      eim: (this.ecap & ECAP_EIM) !== 0n,
      qi: (this.ecap & ECAP_QI) !== 0n,
      sagaw,
      cap: this.cap,
      ecap: this.ecap,
    };
    if (probe.ir) {
      this.log.print(`DMAR-IR: IOAPIC id ${ioapicId} under DRHD base  0x${hex(this.base)} IOMMU 0`);
      if (!probe.eim) this.log.print('DMAR-IR: dmar0 does not support EIM');
    }
    return probe;
  }

  private waitGsts(bit: number, set: boolean): boolean {
    for (let i = 0; i < POLL_LIMIT; i++) if (((this.r32(R.GSTS_REG) & bit) !== 0) === set) return true;
    return false;
  }

  /**
   * The full enable sequence; returns false (and logs Linux's failure line) when a step never completes. With
   * `announce` false the caller prints the table-wide lines (several units, one "Enabled IRQ remapping" line).
   */
  enable(eime: boolean, announce = true): boolean {
    this.eime = eime;
    if ((this.ecap & ECAP_QI) === 0n) {
      this.log.print('DMAR-IR: Failed to enable irq remapping. You are vulnerable to irq-injection attacks.');
      return false;
    }
    if (announce && eime) this.log.print('DMAR-IR: Queued invalidation will be enabled to support x2apic and Intr-remapping.');
    // dmar_enable_qi: one 4 KiB page = 256 descriptors (QS = 0), tail 0 before enabling.
    this.queueBase = this.mem.alloc(QI_LENGTH * QI_DESC_BYTES);
    this.statusBase = this.mem.alloc(QI_LENGTH * 4);
    this.freeHead = 0;
    this.w32(R.IQT_REG, 0);
    this.w64(R.IQA_REG, BigInt(this.queueBase));
    this.gcmd |= R.GCMD_QIE;
    this.w32(R.GCMD_REG, this.gcmd);
    if (!this.waitGsts(R.GSTS_QIES, true)) return this.fail();

    // intel_setup_irq_remapping: a 1 MiB table, size-aligned as the spec requires for tables above 4 KiB.
    this.irtBase = this.mem.alloc(IRT_ENTRIES * 16, IRT_ENTRIES * 16);
    this.w64(R.IRTA_REG, BigInt(this.irtBase) | (eime ? BigInt(R.IRTA_EIME) : 0n) | BigInt(IRTA_SIZE_FIELD));
    this.w32(R.GCMD_REG, this.gcmd | R.GCMD_SIRTP);
    if (!this.waitGsts(R.GSTS_IRTPS, true)) return this.fail();
    // CAP bit 62 (ESIRTPS): SIRTP already invalidated the interrupt entry cache.
    if ((this.cap & (1n << 62n)) === 0n && !this.globalIec()) return this.fail();

    this.gcmd |= R.GCMD_IRE;
    this.w32(R.GCMD_REG, this.gcmd);
    if (!this.waitGsts(R.GSTS_IRES, true)) return this.fail();
    // Block compatibility-format MSIs (irrelevant with EIME = 1, where they are always blocked).
    if (this.r32(R.GSTS_REG) & R.GSTS_CFIS) {
      this.gcmd &= ~R.GCMD_CFI;
      this.w32(R.GCMD_REG, this.gcmd);
      this.waitGsts(R.GSTS_CFIS, false);
    }
    if (this.r32(R.GSTS_REG) & R.GSTS_CFIS) {
      this.log.print('DMAR-IR: Compatibility-format IRQs enabled despite intr remapping; you are vulnerable to IRQ injection.');
    }
    this.enabled = true;
    if (announce) this.log.print(`DMAR-IR: Enabled IRQ remapping in ${eime ? 'x2apic' : 'xapic'} mode`);
    return true;
  }

  private fail(): false {
    this.log.print('DMAR-IR: Failed to enable irq remapping. You are vulnerable to irq-injection attacks.');
    return false;
  }

  /** CAP.PI: posted interrupts supported (not used by the models, reported in decisions). */
  get postedInterrupts(): boolean {
    return (this.cap & CAP_PI) !== 0n;
  }

  // ---- Invalidation queue ------------------------------------------------------------------------------------

  /** qi_submit_sync: the descriptor, then a wait descriptor with Status Write; poll the status word in memory. */
  private submitSync(qw0: bigint, qw1: bigint): boolean {
    const descIndex = this.freeHead;
    const waitIndex = (descIndex + 1) % QI_LENGTH;
    const statusAddr = this.statusBase + waitIndex * 4;
    this.cpu.write32(statusAddr, QI_IN_USE);
    this.writeDescriptor(descIndex, qw0, qw1);
    this.writeDescriptor(waitIndex, (BigInt(QI_DONE) << 32n) | QI_IWD_STATUS_WRITE | QI_IWD_TYPE, BigInt(statusAddr));
    this.freeHead = (waitIndex + 1) % QI_LENGTH;
    this.w32(R.IQT_REG, this.freeHead * QI_DESC_BYTES);
    for (let i = 0; i < POLL_LIMIT; i++) {
      if (this.cpu.read32(statusAddr) === QI_DONE) return true;
      if (this.r32(R.FSTS_REG) & R.FSTS_IQE) break;
    }
    const fsts = this.r32(R.FSTS_REG);
    if (fsts & R.FSTS_IQE) this.log.print(`DMAR: VT-d detected Invalidation Queue Error: Reason ${hex(this.r64(R.IQERCD_REG) & 0xfn)}`);
    else this.log.print('DMAR: QI wait descriptor never completed (the status write did not arrive)');
    return false;
  }

  private writeDescriptor(index: number, qw0: bigint, qw1: bigint): void {
    const at = this.queueBase + index * QI_DESC_BYTES;
    this.cpu.write64(at, qw0);
    this.cpu.write64(at + 8, qw1);
  }

  globalIec(): boolean {
    return this.submitSync(QI_IEC_TYPE, 0n);
  }

  // ---- DMA remapping (drivers/iommu/intel/iommu.c, legacy mode) ------------------------------------------------

  /** CAP.SAGAW and MGAW + 1, for the DMA domain's choice of table depth (Linux's agaw). */
  get dmaCapabilities(): { sagaw: number; mgaw: number } {
    return { sagaw: Number((this.cap >> 8n) & 0x1fn), mgaw: Number((this.cap >> 16n) & 0x3fn) + 1 };
  }

  /**
   * iommu_set_root_entry + iommu_enable_translation: latch the root table (SRTP, wait RTPS), invalidate the context
   * cache and the IOTLB globally (the queued descriptors Linux's qi_flush_context / qi_flush_iotlb send), then set TE
   * and wait for TES. Prints Linux's line for DMA remapping coming up.
   */
  enableTranslation(rootTable: number): boolean {
    this.w64(R.RTADDR_REG, BigInt(rootTable));
    this.w32(R.GCMD_REG, this.gcmd | R.GCMD_SRTP);
    if (!this.waitGsts(R.GSTS_RTPS, true)) return false;
    if (!this.flushContextGlobal() || !this.flushIotlb(QI_GRAN_GLOBAL, 0, 0)) return false;
    this.gcmd |= R.GCMD_TE;
    this.w32(R.GCMD_REG, this.gcmd);
    if (!this.waitGsts(R.GSTS_TES, true)) return false;
    this.log.print('DMAR: Intel(R) Virtualization Technology for Directed I/O');
    return true;
  }

  /** qi_flush_context(iommu, 0, 0, 0, DMA_CCMD_GLOBAL_INVL): context-cache descriptor, G = 01b. */
  flushContextGlobal(): boolean {
    return this.submitSync(QI_CC_TYPE | (1n << 4n), 0n);
  }

  /**
   * qi_flush_iotlb: IOTLB descriptor with G = `granularity` (1 global, 2 domain, 3 page-selective), DID, and for
   * page-selective ADDR with AM = `am` (2^am pages) — what iommu_flush_iotlb_psi sends after an unmap.
   */
  flushIotlb(granularity: bigint, did: number, addr: number, am = 0): boolean {
    return this.submitSync(QI_IOTLB_TYPE | (granularity << 4n) | (BigInt(did) << 16n), granularity === QI_GRAN_PAGE ? BigInt(addr) | BigInt(am) : 0n);
  }

  /** qi_flush_iec(index, mask): invalidate 2^mask entries from `index`. */
  flushIec(index: number, mask = 0): boolean {
    return this.submitSync(QI_IEC_TYPE | QI_IEC_SELECTIVE | (BigInt(mask) << 27n) | (BigInt(index) << 32n), 0n);
  }

  // ---- IRTE allocation and writes --------------------------------------------------------------------------------

  /** alloc_irte: first free naturally aligned block of `count` (a power of two) entries; null when full. */
  allocIrte(count = 1): number | null {
    for (let base = 0; base + count <= IRT_ENTRIES; base += count) {
      let free = true;
      for (let i = 0; i < count; i++) if (this.used[base + i]) { free = false; break; }
      if (free) {
        this.used.fill(1, base, base + count);
        return base;
      }
    }
    return null;
  }

  /** Claim specific entries (a model whose index scheme is fixed, e.g. index = pin). False if any is taken. */
  claimIrte(index: number): boolean {
    if (this.used[index]) return false;
    this.used[index] = 1;
    return true;
  }

  isAllocated(index: number): boolean {
    return this.used[index] === 1;
  }

  /** The 128-bit remapped-format IRTE (VT-d 9.10; Linux struct irte). */
  encodeIrte(f: IntelIrteFields): { lo: bigint; hi: bigint } {
    const dst = this.eime ? BigInt(f.dest >>> 0) : BigInt((f.dest & 0xff) << 8);
    const lo =
      1n |
      (BigInt(f.destMode) << 2n) |
      (BigInt(f.redirectionHint) << 3n) |
      (BigInt(f.trigger) << 4n) |
      (BigInt(f.deliveryMode & 7) << 5n) |
      (BigInt(f.vector & 0xff) << 16n) |
      (dst << 32n);
    const hi = BigInt(f.sid & 0xffff) | (BigInt(f.sq & 3) << 16n) | (BigInt(f.svt & 3) << 18n);
    return { lo, hi };
  }

  /**
   * modify_irte: store low then high, then flush this entry from the interrupt entry cache. `flush = false` leaves
   * the cache alone (a driver bug the scenarios reproduce: hardware keeps using the cached entry).
   */
  writeIrte(index: number, f: IntelIrteFields, flush = true): { lo: bigint; hi: bigint } {
    const e = this.encodeIrte(f);
    const at = this.irtBase + index * 16;
    this.cpu.write64(at, e.lo);
    this.cpu.write64(at + 8, e.hi);
    if (flush) this.flushIec(index, 0);
    return e;
  }

  /**
   * intel_ir_set_vcpu_affinity: rewrite IRTE `index` in posted format (VT-d 9.11; Linux struct irte's posted
   * fields): P, IM = 1, URG, the guest vector, PDA_L (63:38 = descriptor 31:6) and PDA_H (127:96 = descriptor
   * 63:32), keeping the source-id check. Then flush the entry from the interrupt entry cache.
   */
  writePostedIrte(index: number, f: { vector: number; descriptor: number; urgent: boolean; sid: number; sq: number; svt: number }): void {
    const pdaLow = BigInt(f.descriptor % 2 ** 32) & 0xffffffc0n;
    const pdaHigh = BigInt(Math.floor(f.descriptor / 2 ** 32));
    const lo = 1n | (BigInt(f.urgent ? 1 : 0) << 14n) | (1n << 15n) | (BigInt(f.vector & 0xff) << 16n) | (pdaLow << 32n);
    const hi = BigInt(f.sid & 0xffff) | (BigInt(f.sq & 3) << 16n) | (BigInt(f.svt & 3) << 18n) | (pdaHigh << 32n);
    const at = this.irtBase + index * 16;
    this.cpu.write64(at, lo);
    this.cpu.write64(at + 8, hi);
    this.flushIec(index, 0);
  }

  /** free_irte → clear_entries: zero the entry (P = 0), then flush it from the interrupt entry cache. */
  /** free_irte: clear_entries (the entry zeroed, qi_flush_iec) and bitmap_release_region: the index is free again. */
  freeIrte(index: number): void {
    this.clearIrte(index);
    this.used[index] = 0;
  }

  clearIrte(index: number): void {
    const at = this.irtBase + index * 16;
    this.cpu.write64(at, 0n);
    this.cpu.write64(at + 8, 0n);
    this.flushIec(index, 0);
  }

  // ---- Fault reporting -------------------------------------------------------------------------------------------

  /**
   * dmar_set_interrupt: the unit's fault event goes to `dest` (APIC ID, or logical ID when `logical`) at `vector`,
   * composed like Linux's DMAR MSI (`__irq_msi_compose_msg(..., dmar = true)`): dest[7:0] in FEADDR 19:12 and
   * dest[31:8] in FEUADDR 31:8. Then unmask (FECTL = 0).
   */
  setupFaultInterrupt(dest: number, vector: number, logical: boolean): void {
    this.w32(R.FEDATA_REG, vector);
    this.w32(R.FEADDR_REG, (0xfee00000 | ((dest & 0xff) << 12) | (logical ? 4 : 0)) >>> 0);
    this.w32(R.FEUADDR_REG, (dest & 0xffffff00) >>> 0);
    this.w32(R.FECTL_REG, 0);
  }

  /** dmar_fault: walk the primary fault records from FSTS.FRI, print each, clear F, then clear PFO/PPF. */
  handleFault(): void {
    const fsts = this.r32(R.FSTS_REG);
    if (fsts !== 0) this.log.print(linuxFaultStatusLine(fsts));
    if (fsts & R.FSTS_PPF) {
      const fro = Number((this.cap >> 24n) & 0x3ffn) * 16;
      const nfr = Number((this.cap >> 40n) & 0xffn) + 1;
      let index = (fsts >>> R.FSTS_FRI_SHIFT) & 0xff;
      for (let n = 0; n < nfr; n++) {
        const at = fro + index * 16;
        const hiDword = this.r32(at + 12);
        if ((hiDword & R.FRCD_HI_F) === 0) break;
        // dmar_fault reads the record's dwords and prints it through dmar_fault_do_one: interrupt faults with the
        // index, DMA faults with the request type (T), PASID and page address.
        const hi = (BigInt(hiDword >>> 0) << 32n) | BigInt(this.r32(at + 8) >>> 0);
        this.log.print(linuxFrcdLine(hi, this.r64(at), this.faultStyle));
        this.w32(at + 12, R.FRCD_HI_F);
        index = (index + 1) % nfr;
      }
    }
    this.w32(R.FSTS_REG, R.FSTS_PFO | R.FSTS_PPF | R.FSTS_PRO);
  }
}
