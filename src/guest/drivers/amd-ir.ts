/**
 * Linux's AMD-Vi interrupt-remapping driver (drivers/iommu/amd/init.c, iommu.c; AMD IOMMU spec chapters 2–3), driving
 * the unit only through its MMIO registers and guest memory:
 *
 * init (`early_enable_iommu`): disable → Control flags (Coherent, InvTimeOut 1 s) → Device Table Base → command
 * buffer (512 entries) → event log (512 entries) → GAEn (128-bit IRTEs) when GA mode → XTEn when XT mode → 2K mode
 * when EFR2.NumIntRemapSup = 01b → IommuEn → flush all caches (INVALIDATE_IOMMU_ALL + COMPLETION_WAIT).
 * XT mode = EFR.XTSup && EFR.GASup ("XT and GAM require GA mode"); then the IOMMU's own event interrupt goes through
 * the XT General Interrupt Control register (0x170) and Control.IntCapXTEn.
 *
 * Per device (`alloc_irq_table`, `set_dte_irq_entry`): an interrupt table of 512 IRTEs (2048 in 2K mode), 128-bit
 * with GA, 32-bit without; DTE[191:128] = table | IntCtl 10b << 60 | IntTabLen << 1 | IV, then
 * INVALIDATE_DEVTAB_ENTRY + COMPLETION_WAIT. The I/O APIC's table keeps indices 0–31 for its pins (index = pin);
 * everything else is first fit from `min_index`. After every IRTE change: INVALIDATE_INTERRUPT_TABLE +
 * COMPLETION_WAIT with S = 1, polled in memory (`iommu_flush_irt_and_complete`).
 */
import type { Cpu } from '../../machine/cpu.ts';
import type { Machine } from '../../machine/machine.ts';
import {
  EFR_GA_SUP,
  EFR_GAM_SUP_SHIFT,
  EFR_HATS_SHIFT,
  EFR_IA_SUP,
  EFR_XT_SUP,
  EFR2_NUM_INT_REMAP_SUP_SHIFT,
  HATS_NONE,
  NUM_INT_REMAP_SUP_2K,
} from '../../iommu-amd/extended-features.ts';
import { formatRawEventEntry } from '../../iommu-amd/linux-log.ts';
import * as R from '../../iommu-amd/registers.ts';
import type { BootLog } from '../boot-log.ts';
import type { GuestPageAllocator } from '../guest-memory.ts';

/** Command opcodes (bits 63:60 of the first qword). */
const CMD_COMPLETION_WAIT = 0x1n;
const CMD_INV_DEVTAB_ENTRY = 0x2n;
const CMD_INV_IRT = 0x5n;
const CMD_INV_IOMMU_PAGES = 0x3n;
/** DTE qword 0 (Linux DTE_FLAG_V / TV / IR / IW). */
const DTE_FLAG_V = 1n;
const DTE_FLAG_TV = 2n;
const DTE_FLAG_IR = 1n << 61n;
const DTE_FLAG_IW = 1n << 62n;
const CMD_INV_ALL = 0x8n;
const CMD_OPCODE_SHIFT = 60n;
const COMPLETION_WAIT_STORE = 1n;

/** 512-entry rings (Linux MMIO_CMD_SIZE_512 / EVT_LEN 9 << 56): 8 KiB each. */
const RING_LEN_LOG2 = 9n;
const RING_BYTES = 512 * 16;
/** Device table for every 16-bit DeviceID: 65 536 × 32 bytes = 2 MiB, Size field 0x1FF. */
const DEV_TABLE_BYTES = 65536 * 32;
const DTE_BYTES = 32;
const DTE_IRQ_REMAP_INTCTL = 2n << 60n;
const DTE_IV = 1n;
/** IRTE_ALLOCATED (drivers/iommu/amd/amd_iommu_types.h): a 32-bit entry that is allocated but not written. */
const IRTE_ALLOCATED = 0xfffffffe;
/** irte_ga_set_allocated: a 128-bit entry that is allocated but not written has vector 0xFF. */
const IRTE_GA_ALLOCATED_VECTOR = 0xffn;

/** Linux: IOAPIC pins own indices 0..31 of the I/O APIC's table. */
export const IOAPIC_RESERVED_INDICES = 32;

const CONTROL_COHERENT = 1n << 10n;
const CONTROL_INV_TIMEOUT_SHIFT = 5n;
const CTRL_INV_TO_1S = 4n;

const POLL_LIMIT = 1000;

const FEATURE_NAMES = ['PreF', 'PPR', 'X2APIC', 'NX', 'GT', '[5]', 'IA', 'GA', 'HE', 'PC'];

export interface AmdIrteFields {
  vector: number;
  dest: number;
  destMode: 0 | 1;
}

/** A GuestMode = 1 IRTE as amd_ir_set_vcpu_affinity builds it (KVM's amd_iommu_pi_data). */
export interface AmdGuestIrteFields {
  /** The guest vector, posted into the vAPIC backing page's IRR. */
  vector: number;
  /** Host physical address of the vCPU's vAPIC backing page (4 KiB aligned). */
  backingPage: number;
  /** Physical APIC ID of the host CPU the vCPU runs on (the doorbell target). */
  dest: number;
  /** KVM's AVIC_GATAG: how the GA log names the vCPU. */
  gaTag: number;
  isRun: boolean;
}

/** Linux CONTROL_GAM_EN (GAMEn = 001b), CONTROL_GALOG_EN, CONTROL_GAINT_EN; GA log of 512 entries (GA_LOG_SIZE_512). */
const CONTROL_GAM_EN = 1n << 25n;
const CONTROL_GALOG_EN = 1n << 28n;
const CONTROL_GAINT_EN = 1n << 29n;
const GA_LOG_BYTES = 512 * 8;
const GA_LOG_SIZE_512 = 8n << 56n;
/** GA_GUEST_NR: an interrupt for a vCPU that is not running (GA_REQ_TYPE, bits 63:60 of an entry). */
const GA_GUEST_NR = 1;

export interface AmdProbe {
  efr: bigint;
  efr2: bigint;
  xtSup: boolean;
  gaSup: boolean;
  iaSup: boolean;
  twoK: boolean;
  /** EFR.HATS = 11b: no host page-table format, i.e. DMA translation withheld. */
  noDmaTranslation: boolean;
}

interface IrqTable {
  base: number;
  minIndex: number;
  used: Uint8Array;
}

/**
 * The kernel's "%#llx": always with the 0x prefix, 0 included (lib/vsprintf.c number() adds the prefix for SPECIAL
 * without glibc's zero exception; real logs show "Extended features (0x206d73ef22254ade, 0x0)").
 */
function altHex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

export class AmdIrDriver {
  readonly base: number;
  private readonly cpu: Cpu;
  private devTable = 0;
  private cmdBuf = 0;
  private cmdTail = 0;
  private evtLog = 0;
  private semAddr = 0;
  private semData = 0n;
  private ga = false;
  private gaLog = 0;
  /** Guest vAPIC mode is on (amd_iommu_guest_ir == AMD_IOMMU_GUEST_IR_VAPIC and the GA log runs). */
  vapic = false;
  private twoK = false;
  private readonly tables = new Map<number, IrqTable>();
  private ioapicDevid: number;
  probeResult: AmdProbe | null = null;
  enabled = false;

  constructor(
    private readonly machine: Machine,
    private readonly mem: GuestPageAllocator,
    private readonly log: BootLog,
    /** How the kernel being modelled prints a device in event lines (core/linux-version.ts amdViDeviceStyle). */
    private readonly deviceStyle: 'current' | 'pre-segment' = 'current',
  ) {
    const ivrs = machine.firmware.ivrs;
    if (ivrs === null) throw new Error('AmdIrDriver needs an IVRS table');
    this.base = ivrs.registerBase;
    this.ioapicDevid = ivrs.ioapicDeviceId;
    this.cpu = machine.cpu(0);
  }

  get ioapicDeviceId(): number {
    return this.ioapicDevid;
  }

  /** Entries per device table: 512, or 2048 in 2K mode. */
  get tableEntries(): number {
    return this.twoK ? 2048 : 512;
  }

  get twoKMode(): boolean {
    return this.twoK;
  }

  private r64(off: number): bigint {
    return this.cpu.read64(this.base + off);
  }

  private w64(off: number, v: bigint): void {
    this.cpu.write64(this.base + off, v);
  }

  private setControl(bits: bigint, on: boolean): void {
    const ctrl = this.r64(R.CONTROL);
    this.w64(R.CONTROL, on ? ctrl | bits : ctrl & ~bits);
  }

  probe(): AmdProbe {
    const efr = this.r64(R.EXT_FEATURES);
    const efr2 = this.r64(R.EXT_FEATURES2);
    let line = `AMD-Vi: Extended features (${altHex(efr)}, ${altHex(efr2)}):`;
    FEATURE_NAMES.forEach((name, bit) => {
      if (efr & (1n << BigInt(bit))) line += ` ${name}`;
    });
    if (efr & (1n << EFR_GAM_SUP_SHIFT)) line += ' GA_vAPIC';
    if (efr & (1n << 63n)) line += ' SNP';
    this.log.print(line);
    this.probeResult = {
      efr,
      efr2,
      xtSup: (efr & EFR_XT_SUP) !== 0n,
      gaSup: (efr & EFR_GA_SUP) !== 0n,
      iaSup: (efr & EFR_IA_SUP) !== 0n,
      twoK: ((efr2 >> EFR2_NUM_INT_REMAP_SUP_SHIFT) & 3n) === NUM_INT_REMAP_SUP_2K,
      noDmaTranslation: ((efr >> EFR_HATS_SHIFT) & 3n) === HATS_NONE,
    };
    return this.probeResult;
  }

  /**
   * Bring the unit up for interrupt remapping. `xtMode` = XTSup && GASup (the caller decides, as Linux does in
   * amd_iommu_prepare); GA (128-bit IRTEs) whenever GASup (Linux's default guest-IR mode is at least LEGACY_GA).
   * `deviceIds` get a DTE with IV = 1 and IntCtl = 00 at boot, as init_device_table does for every DeviceID, so an
   * interrupt from a device without a table is aborted rather than passed through.
   */
  enable(xtMode: boolean, deviceIds: number[]): boolean {
    const p = this.probeResult ?? this.probe();
    this.ga = p.gaSup;
    this.twoK = p.twoK;
    // iommu_disable
    this.setControl(R.CTRL_CMD_BUF_EN | R.CTRL_EVENT_LOG_EN | R.CTRL_EVENT_INT_EN | R.CTRL_GA_EN | R.CTRL_XT_EN | R.CTRL_IOMMU_EN, false);
    // iommu_init_flags
    const ctrl = this.r64(R.CONTROL) & ~(7n << CONTROL_INV_TIMEOUT_SHIFT);
    this.w64(R.CONTROL, ctrl | CONTROL_COHERENT | (CTRL_INV_TO_1S << CONTROL_INV_TIMEOUT_SHIFT));
    // iommu_set_device_table
    this.devTable = this.mem.alloc(DEV_TABLE_BYTES, DEV_TABLE_BYTES);
    for (const devid of new Set([this.ioapicDevid, ...deviceIds])) {
      this.cpu.write64(this.devTable + devid * DTE_BYTES + 16, DTE_IV);
    }
    this.w64(R.DEV_TAB_BASE, BigInt(this.devTable) | BigInt(DEV_TABLE_BYTES / 4096 - 1));
    // iommu_enable_command_buffer
    this.cmdBuf = this.mem.alloc(RING_BYTES);
    this.w64(R.CMD_BUF_BASE, BigInt(this.cmdBuf) | (RING_LEN_LOG2 << R.BUF_LEN_SHIFT));
    this.w64(R.CMD_BUF_HEAD, 0n);
    this.w64(R.CMD_BUF_TAIL, 0n);
    this.cmdTail = 0;
    this.setControl(R.CTRL_CMD_BUF_EN, true);
    // iommu_enable_event_buffer
    this.evtLog = this.mem.alloc(RING_BYTES);
    this.w64(R.EVT_LOG_BASE, BigInt(this.evtLog) | (RING_LEN_LOG2 << R.BUF_LEN_SHIFT));
    this.w64(R.EVT_LOG_HEAD, 0n);
    this.w64(R.EVT_LOG_TAIL, 0n);
    this.setControl(R.CTRL_EVENT_LOG_EN, true);
    if (this.ga) this.setControl(R.CTRL_GA_EN, true);
    if (xtMode) this.setControl(R.CTRL_XT_EN, true);
    if (this.twoK) {
      const c = this.r64(R.CONTROL) & ~R.CTRL_NUM_INT_REMAP_MASK;
      this.w64(R.CONTROL, c | (R.NUM_INT_REMAP_2K << R.CTRL_NUM_INT_REMAP_SHIFT));
    }
    this.setControl(R.CTRL_IOMMU_EN, true);
    this.semAddr = this.mem.alloc(8, 8);
    // amd_iommu_flush_all_caches
    if (p.iaSup) {
      if (!this.submit(CMD_INV_ALL << CMD_OPCODE_SHIFT, 0n)) return false;
    } else {
      for (const devid of new Set([this.ioapicDevid, ...deviceIds])) this.submit(BigInt(devid) | (CMD_INV_DEVTAB_ENTRY << CMD_OPCODE_SHIFT), 0n, false);
      if (!this.completionWait()) return false;
    }
    this.enabled = true;
    this.log.print('AMD-Vi: Interrupt remapping enabled');
    if (xtMode) this.log.print('AMD-Vi: X2APIC enabled');
    return true;
  }

  // ---- Command buffer ------------------------------------------------------------------------------------------

  /** Queue one command; with `wait`, follow it with COMPLETION_WAIT and poll its semaphore. */
  private submit(qw0: bigint, qw1: bigint, wait = true): boolean {
    const at = this.cmdBuf + this.cmdTail;
    this.cpu.write64(at, qw0);
    this.cpu.write64(at + 8, qw1);
    this.cmdTail = (this.cmdTail + 16) % RING_BYTES;
    this.w64(R.CMD_BUF_TAIL, BigInt(this.cmdTail));
    return wait ? this.completionWait() : true;
  }

  /** iommu_completion_wait: S = 1 with a fresh 64-bit value, then poll the semaphore in memory. */
  private completionWait(): boolean {
    this.semData += 1n;
    const data = this.semData;
    const qw0 = BigInt(this.semAddr) | COMPLETION_WAIT_STORE | (CMD_COMPLETION_WAIT << CMD_OPCODE_SHIFT);
    this.submit(qw0, data, false);
    for (let i = 0; i < POLL_LIMIT; i++) if (this.cpu.read64(this.semAddr) === data) return true;
    this.log.print('AMD-Vi: Completion-Wait loop timed out');
    return false;
  }

  // ---- DMA translation (drivers/iommu/amd/iommu.c set_dte_entry, domain_flush_pages) -------------------------------

  /** EFR.HATS as the deepest DTE Mode this IOMMU walks (0 when HATS = 11b). */
  get hostLevels(): number {
    const hats = Number(((this.probeResult ?? this.probe()).efr >> 10n) & 3n);
    return hats === 3 ? 0 : hats + 4;
  }

  /**
   * set_dte_entry for a DMA domain: qword 0 = root | Mode << 9 | IR | IW | V | TV, qword 1 = DomainID, keeping the
   * interrupt half; then INVALIDATE_DEVTAB_ENTRY + COMPLETION_WAIT (device_flush_dte).
   */
  setDmaDomain(devid: number, root: number, mode: number, domainId: number): boolean {
    const at = this.devTable + devid * DTE_BYTES;
    this.cpu.write64(at + 8, BigInt(domainId));
    this.cpu.write64(at, BigInt(root) | (BigInt(mode) << 9n) | DTE_FLAG_IR | DTE_FLAG_IW | DTE_FLAG_TV | DTE_FLAG_V);
    return this.submit(BigInt(devid) | (CMD_INV_DEVTAB_ENTRY << CMD_OPCODE_SHIFT), 0n);
  }

  /** domain_flush_pages for one 4 KiB page: INVALIDATE_IOMMU_PAGES (S = 0) + COMPLETION_WAIT. */
  flushPage(domainId: number, addr: number): boolean {
    const qw0 = (BigInt(domainId) << 32n) | (CMD_INV_IOMMU_PAGES << CMD_OPCODE_SHIFT);
    return this.submit(qw0, BigInt(addr) & ~0xfffn);
  }

  private flushDte(devid: number): void {
    this.submit(BigInt(devid) | (CMD_INV_DEVTAB_ENTRY << CMD_OPCODE_SHIFT), 0n);
  }

  private flushIrt(devid: number): void {
    this.submit(BigInt(devid) | (CMD_INV_IRT << CMD_OPCODE_SHIFT), 0n);
  }

  // ---- Interrupt tables ---------------------------------------------------------------------------------------

  /** alloc_irq_table: the device's table, created and installed in its DTE on first use. */
  private table(devid: number): IrqTable {
    let t = this.tables.get(devid);
    if (t !== undefined) return t;
    const entries = this.tableEntries;
    const bytes = entries * (this.ga ? 16 : 4);
    t = { base: this.mem.alloc(bytes, 128), minIndex: devid === this.ioapicDevid ? IOAPIC_RESERVED_INDICES : 0, used: new Uint8Array(entries) };
    this.tables.set(devid, t);
    const intTabLen = BigInt(Math.log2(entries));
    const dteIrq = BigInt(t.base) | DTE_IRQ_REMAP_INTCTL | (intTabLen << 1n) | DTE_IV;
    const at = this.devTable + devid * DTE_BYTES + 16;
    // Keep the pass-through bits (InitPass, EIntPass, NMIPass, Lint0/1Pass) Linux copied from IVRS: none here.
    const old = this.cpu.read64(at);
    this.cpu.write64(at, (old & ~(0x000f_ffff_ffff_ffc0n | (3n << 60n) | 0x1fn)) | dteIrq);
    this.flushDte(devid);
    // alloc_irq_table: the I/O APIC's first 32 entries (one per pin) are allocated at once.
    if (devid === this.ioapicDevid) for (let i = 0; i < IOAPIC_RESERVED_INDICES; i++) this.markAllocated(t, i);
    return t;
  }

  /**
   * irte_ga_set_allocated / irte_set_allocated: the table is its own allocation map, so an allocated entry that is
   * not yet written holds a marker — vector 0xFF in a 128-bit entry, IRTE_ALLOCATED (~1U) in a 32-bit one — with
   * RemapEn still 0 (what a real guest's table shows for the I/O APIC's unused pins).
   */
  private markAllocated(t: IrqTable, index: number): void {
    if (this.ga) {
      this.cpu.write64(t.base + index * 16, 0n);
      this.cpu.write64(t.base + index * 16 + 8, IRTE_GA_ALLOCATED_VECTOR);
    } else {
      this.cpu.write32(t.base + index * 4, IRTE_ALLOCATED);
    }
  }

  /** Interrupt table base of a device (for reports), or null before its first interrupt. */
  tableBase(devid: number): number | null {
    return this.tables.get(devid)?.base ?? null;
  }

  /**
   * alloc_irq_index: `count` free entries, first fit from min_index, starting at a multiple of `align` (multi-MSI:
   * roundup_pow_of_two(count), "iommu/amd: Add align parameter to alloc_irq_index()"; the default keeps a block of
   * `count` aligned to its size). Null when full.
   */
  allocIndex(devid: number, count = 1, align = count): number | null {
    const t = this.table(devid);
    const start = Math.ceil(t.minIndex / align) * align;
    for (let base = start; base + count <= t.used.length; base += align) {
      let free = true;
      for (let i = 0; i < count; i++) if (t.used[base + i]) { free = false; break; }
      if (free) {
        t.used.fill(1, base, base + count);
        for (let i = base; i < base + count; i++) this.markAllocated(t, i);
        return base;
      }
    }
    return null;
  }

  /** Claim a fixed index (the I/O APIC's index = pin). False when already taken. */
  claimIndex(devid: number, index: number): boolean {
    const t = this.table(devid);
    if (t.used[index]) return false;
    t.used[index] = 1;
    return true;
  }

  isAllocated(devid: number, index: number): boolean {
    return this.tables.get(devid)?.used[index] === 1;
  }

  /** irte_prepare + modify_irte(_ga): RemapEn, IntType Fixed, DM, destination, vector; then flush + wait. */
  writeIrte(devid: number, index: number, f: AmdIrteFields, flush = true): bigint[] {
    const t = this.table(devid);
    const dest = f.dest >>> 0;
    let words: bigint[];
    if (this.ga) {
      const lo = 1n | (BigInt(f.destMode) << 6n) | (BigInt(dest & 0xffffff) << 8n);
      const hi = BigInt(f.vector & 0xff) | (BigInt((dest >>> 24) & 0xff) << 56n);
      const at = t.base + index * 16;
      this.cpu.write64(at + 8, hi);
      this.cpu.write64(at, lo);
      words = [lo, hi];
    } else {
      const w = (1 | (f.destMode << 6) | ((dest & 0xff) << 8) | ((f.vector & 0xff) << 16)) >>> 0;
      this.cpu.write32(t.base + index * 4, w);
      words = [BigInt(w)];
    }
    if (flush) this.flushIrt(devid);
    return words;
  }

  /** free_irte → clear_irte: zero the entry (RemapEn = 0), then INVALIDATE_INTERRUPT_TABLE for the device. */
  clearIrte(devid: number, index: number): void {
    const t = this.table(devid);
    if (this.ga) {
      this.cpu.write64(t.base + index * 16, 0n);
      this.cpu.write64(t.base + index * 16 + 8, 0n);
    } else {
      this.cpu.write32(t.base + index * 4, 0);
    }
    this.flushIrt(devid);
  }

  // ---- Guest virtual APIC (drivers/iommu/amd/init.c iommu_init_ga_log / iommu_ga_log_enable, iommu.c) -------------

  /**
   * AMD_IOMMU_GUEST_IR_VAPIC (needs GASup and GAMSup's vAPIC bit): GAMEn = 001b, a 512-entry GA log with its tail
   * buffer (iommu_init_ga_log), then GAIntEn and GALogEn (iommu_ga_log_enable). False when the unit cannot.
   */
  enableGuestVapic(): boolean {
    const p = this.probeResult ?? this.probe();
    if (!this.enabled || !p.gaSup || (p.efr & (1n << EFR_GAM_SUP_SHIFT)) === 0n) return false;
    if (this.vapic) return true;
    this.gaLog = this.mem.alloc(GA_LOG_BYTES, 4096);
    const tailBuf = this.mem.alloc(8, 8);
    this.w64(R.GA_LOG_BASE, BigInt(this.gaLog) | GA_LOG_SIZE_512);
    this.w64(R.GA_LOG_TAIL_ADDR, BigInt(tailBuf));
    this.w64(R.GA_LOG_HEAD, 0n);
    this.w64(R.GA_LOG_TAIL, 0n);
    this.setControl(CONTROL_GAM_EN | CONTROL_GAINT_EN | CONTROL_GALOG_EN, true);
    if ((Number(this.r64(R.STATUS) & 0xffffffffn) & R.STATUS_GA_LOG_RUN) === 0) return false; // "GA log enable failed"
    this.vapic = true;
    return true;
  }

  /**
   * amd_ir_set_vcpu_affinity → modify_irte_ga with GuestMode = 1: GALogIntr = 1 (KVM always asks for the GA log
   * while the vCPU is away), GATag, guest vector, GA Root Ptr = backing page [51:12], Destination and IsRun; then
   * INVALIDATE_INTERRUPT_TABLE + COMPLETION_WAIT.
   */
  writeGuestIrte(devid: number, index: number, f: AmdGuestIrteFields): void {
    const t = this.table(devid);
    const dest = f.dest >>> 0;
    const lo = 1n | (1n << 2n) | (f.isRun ? 1n << 6n : 0n) | (1n << 7n) | (BigInt(dest & 0xffffff) << 8n) | (BigInt(f.gaTag >>> 0) << 32n);
    const hi = BigInt(f.vector & 0xff) | (BigInt(f.backingPage) & 0x000f_ffff_ffff_f000n) | (BigInt((dest >>> 24) & 0xff) << 56n);
    const at = t.base + index * 16;
    this.cpu.write64(at + 8, hi);
    this.cpu.write64(at, lo);
    this.flushIrt(devid);
  }

  /**
   * amd_iommu_update_ga: IsRun and Destination of a GuestMode = 1 IRTE changed in place, without an invalidation
   * ("Per the IOMMU spec, the Destination, IsRun, and GATag fields are not cached").
   */
  updateGa(devid: number, index: number, isRun: boolean, dest: number): void {
    const at = this.table(devid).base + index * 16;
    const lo = this.cpu.read64(at);
    if ((lo & (1n << 7n)) === 0n) return; // not in guest mode: nothing to update (as amd_iommu_update_ga checks)
    const d = dest >>> 0;
    const keep = lo & ~((1n << 6n) | (0xffffffn << 8n));
    this.cpu.write64(at, keep | (isRun ? 1n << 6n : 0n) | (BigInt(d & 0xffffff) << 8n));
    const hiAt = at + 8;
    this.cpu.write64(hiAt, (this.cpu.read64(hiAt) & ~(0xffn << 56n)) | (BigInt((d >>> 24) & 0xff) << 56n));
  }

  /** iommu_poll_ga_log: ack GAInt/GAOverflow, hand every GA_GUEST_NR entry's GATag to `notify`, advance the head. */
  pollGaLog(notify: (gaTag: number) => void): void {
    if (!this.vapic) return;
    const status = Number(this.r64(R.STATUS) & 0xffffffffn);
    this.w64(R.STATUS, BigInt(status & (R.STATUS_GA_INT | R.STATUS_GA_OVERFLOW)));
    let head = Number(this.r64(R.GA_LOG_HEAD)) & R.GA_LOG_PTR_MASK;
    const tail = Number(this.r64(R.GA_LOG_TAIL)) & R.GA_LOG_PTR_MASK;
    while (head !== tail) {
      const at = this.gaLog + head;
      const tag = this.cpu.read32(at);
      const type = this.cpu.read32(at + 4) >>> 28;
      head = (head + 8) % GA_LOG_BYTES;
      this.w64(R.GA_LOG_HEAD, BigInt(head));
      if (type === GA_GUEST_NR) notify(tag);
    }
  }

  // ---- The IOMMU's own interrupt -------------------------------------------------------------------------------

  /** iommu_setup_intcapxt + IntCapXTEn + EventIntEn: event-log interrupts to `dest` at `vector`. */
  setupXtEventInterrupt(dest: number, vector: number, logical: boolean): void {
    const value =
      (logical ? 1n << 2n : 0n) | (BigInt(dest & 0xffffff) << 8n) | (BigInt(vector & 0xff) << 32n) | (BigInt((dest >>> 24) & 0xff) << 56n);
    this.w64(R.XT_GEN_INTR_CTRL, value);
    this.w64(R.XT_PPR_INTR_CTRL, value);
    this.w64(R.XT_GALOG_INTR_CTRL, value);
    this.setControl(R.CTRL_INTCAPXT_EN, true);
    this.setControl(R.CTRL_EVENT_INT_EN, true);
  }

  /**
   * iommu_init_irq after iommu_setup_msi: Control.EventIntEn, so the unit signals new event-log entries through its
   * function's MSI (Control.IntCapXTEn stays 0).
   */
  enableEventInterrupt(): void {
    this.setControl(R.CTRL_EVENT_INT_EN, true);
  }

  /** amd_iommu's free_irte: the entry cleared (clear_allocated), the table's cache flushed, the index free again. */
  freeIndex(devid: number, index: number): void {
    this.clearIrte(devid, index);
    this.table(devid).used[index] = 0;
  }

  /** amd_iommu_int_thread → iommu_poll_events: print each new event-log entry, advance the head, ack status. */
  pollEvents(): void {
    const status = Number(this.r64(R.STATUS) & 0xffffffffn);
    this.w64(R.STATUS, BigInt(status & (R.STATUS_EVENT_LOG_INT | R.STATUS_EVENT_OVERFLOW)));
    let head = Number(this.r64(R.EVT_LOG_HEAD)) & R.RING_PTR_MASK;
    const tail = Number(this.r64(R.EVT_LOG_TAIL)) & R.RING_PTR_MASK;
    while (head !== tail) {
      const at = this.evtLog + head;
      const entry = [this.cpu.read32(at), this.cpu.read32(at + 4), this.cpu.read32(at + 8), this.cpu.read32(at + 12)];
      this.log.print(formatRawEventEntry(entry, { style: this.deviceStyle }));
      head = (head + 16) % RING_BYTES;
      this.w64(R.EVT_LOG_HEAD, BigInt(head));
    }
  }
}
