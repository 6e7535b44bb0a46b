/**
 * One local APIC: the xAPIC MMIO register page, the x2APIC MSRs, IA32_APIC_BASE, and the acceptance side of the
 * APIC bus (IRR/ISR/TMR, PPR, INTA acknowledge, EOI, ESR, and the INIT/SIPI/NMI/SMI/ExtINT latches).
 *
 * Facts: SDM 10.4 and 10.12 (register map, MSR rules, APIC base), 10.6.1 and 10.8 (acceptance), 10.8.5 (EOI),
 * 10.8.3.1 (PPR). What it sends out goes through injected sinks ({@link LapicSinks}); it never calls its peers.
 *
 * The timer counts on the machine's simulated clock (lapic-timer.ts). LINT0 and LINT1 are inputs the bus drives
 * (the 8259's INTR on LINT0 in virtual-wire mode, NMI on LINT1), delivered through their LVT entries (SDM 10.5.1).
 *
 * Not modelled: the thermal and PMC sources (their LVT entries are stored only), CMCI (no LVT CMCI: LVR reports 6
 * LVTs), the arbitration priority register (APR reads 0) and remote read (RRD reads 0), as in KVM and QEMU; with the
 * APIC hardware-disabled, LINT0/LINT1 do not become the processor's INTR/NMI pins (SDM 10.4.3).
 */
import { DeliveryMode, DestMode, newApicMessage, type ApicMessage } from '../msi/interrupt.ts';
import { GeneralProtectionFault, UsageError } from '../core/errors.ts';
import type { AccessSize, MmioDevice } from '../core/mmio.ts';
import {
  APIC_BASE_ADDRESS_MASK,
  APIC_BASE_BSP,
  APIC_BASE_EXTD,
  MSR_IA32_APIC_BASE,
  acceptedApicBase,
  checkApicBaseWrite,
  resetApicBase,
  type ApicMode,
} from './apic-base.ts';
import { CpuRunState } from './cpu-run-state.ts';
import {
  APIC_APR,
  APIC_BITMAP_WORDS,
  APIC_DFR,
  APIC_EOI,
  APIC_ESR,
  APIC_ICR_HI,
  APIC_ICR_LO,
  APIC_ID,
  APIC_IRR,
  APIC_ISR,
  APIC_LDR,
  APIC_LVR,
  APIC_LVR_VALUE,
  APIC_LVT_COUNT,
  APIC_LVT_ERROR,
  APIC_LVT_TIMER,
  APIC_PPR,
  APIC_RRD,
  APIC_SELF_IPI,
  APIC_SVR,
  APIC_TDCR,
  APIC_TMCCT,
  APIC_TMICT,
  APIC_TMR,
  APIC_TPR,
  DFR_RESERVED_ONES,
  DFR_RESET,
  ESR_RECEIVE_ILLEGAL_VECTOR,
  ESR_ILLEGAL_REGISTER_ADDRESS,
  ESR_REDIRECTABLE_IPI,
  ESR_SEND_ILLEGAL_VECTOR,
  FIRST_LEGAL_VECTOR,
  ICR_DELIVERY_MODE_SHIFT,
  ICR_DEST_LOGICAL,
  ICR_HI_XAPIC_MASK,
  ICR_LEVEL_ASSERT,
  ICR_LO_WRITABLE,
  ICR_SHORTHAND_SHIFT,
  ICR_TRIGGER_LEVEL,
  LDR_XAPIC_MASK,
  LVT_INDEX_ERROR,
  LVT_MASKED,
  LVT_POLARITY,
  LVT_REMOTE_IRR,
  LVT_TIMER_MODE_MASK as LVT_TIMER_MODE_BITS,
  LVT_TRIGGER_LEVEL,
  LVT_RESET,
  LVT_WRITABLE,
  SVR_APIC_ENABLED,
  SVR_EOI_BROADCAST_SUPPRESSION,
  SVR_RESET,
  SVR_WRITABLE,
  Shorthand,
  TDCR_WRITABLE,
} from './registers.ts';
import { LapicTimer, TimerMode, timerMode, type LapicTimerState, type LapicTiming } from './lapic-timer.ts';
import { MSR_X2APIC_ICR, checkX2apicRead, checkX2apicWrite, high32, isX2apicMsr, low32, x2apicMsrToOffset } from './x2apic-msr.ts';
import { applyLapicState, saveLapicRegisters, validateLapicState, type LapicState } from './lapic-state.ts';

/** What a LAPIC sends out. The APIC bus implements it. */
export interface LapicSinks {
  /** An IPI from the ICR or SELF IPI register; `msg` is reused by the sender, so read it synchronously. */
  sendIpi(source: Lapic, msg: ApicMessage, shorthand: number): void;
  /** A local EOI of a level-triggered vector without EOI-broadcast suppression: tell every I/O APIC. */
  eoiBroadcast(vector: number): void;
  /** This LAPIC's APIC ID, LDR, DFR or mode may have changed: the bus updates its destination index for it. */
  addressingChanged(lapic: Lapic): void;
  /**
   * LVT LINT0 or LINT1 (`pin`) was written: the bus keeps the set of LAPICs listening to each LINT wire (unmasked
   * entries) and, for one that starts listening, calls {@link Lapic.syncLint} with the wire's level.
   */
  lintWatch(lapic: Lapic, pin: number): void;
  /** A local (LVT) interrupt is being delivered: for the trace (QEMU apic_local_deliver). */
  localDeliver(lapic: Lapic, lvtIndex: number, deliveryMode: number): void;
  /** A locally generated Fixed interrupt (timer, LINT, error) was set in IRR: reported like a bus-delivered one. */
  localAccept(lapic: Lapic, vector: number, trigger: number): void;
  /** The clock the timer counts by. */
  readonly timing: LapicTiming;
}

/** IA32_TSC_DEADLINE (SDM 10.5.4.1). */
export const MSR_IA32_TSC_DEADLINE = 0x6e0;
const LVT_INDEX_TIMER = 0;
const LVT_INDEX_LINT0 = 3;
const DM_FIXED = 0;
const DM_SMI = 2;
const DM_NMI = 4;
const DM_INIT = 5;
const DM_EXTINT = 7;

/** x2APIC logical ID: cluster (id >> 4) in 31:16, one bit (id & 0xF) in 15:0 (SDM 10.12.10.2). */
export function x2apicLdr(x2apicId: number): number {
  return (((x2apicId >>> 4) << 16) | (1 << (x2apicId & 0xf))) >>> 0;
}

/** Whether `vector` is set in the 8-word bitmap at bitmap[base..base + 8). */
export function testVector(bitmap: Uint32Array, vector: number, base = 0): boolean {
  return ((bitmap[base + (vector >>> 5)] >>> (vector & 31)) & 1) !== 0;
}

/** Vector of the highest set bit of the 8-word bitmap at words[base..base + 8), or -1. */
function highestAt(words: Uint32Array, base: number): number {
  for (let word = APIC_BITMAP_WORDS - 1; word >= 0; word--) {
    const bits = words[base + word];
    if (bits !== 0) return (word << 5) + 31 - Math.clz32(bits);
  }
  return -1;
}

function setVector(words: Uint32Array, base: number, vector: number): void {
  words[base + (vector >>> 5)] |= 1 << (vector & 31);
}

function clearVector(words: Uint32Array, base: number, vector: number): void {
  words[base + (vector >>> 5)] &= ~(1 << (vector & 31));
}

const NO_REGISTER = -1;

/** Words of register storage a LAPIC needs: the LVT entries, then IRR, ISR and TMR (8 words each). */
export const LAPIC_REGISTER_WORDS = APIC_LVT_COUNT + 3 * APIC_BITMAP_WORDS;
const LVT_AT = 0;
const IRR_AT = APIC_LVT_COUNT;
const ISR_AT = IRR_AT + APIC_BITMAP_WORDS;
const TMR_AT = ISR_AT + APIC_BITMAP_WORDS;

/** Typed-array views of one LAPIC's LVT, IRR, ISR and TMR words. */
interface RegisterViews {
  lvt: Uint32Array;
  irr: Uint32Array;
  isr: Uint32Array;
  tmr: Uint32Array;
}

export class Lapic implements MmioDevice {
  readonly run: CpuRunState;

  // --- Architectural state (public for the bus, scenarios and save/restore; mutate through the methods). ---
  private apicBaseMsr = 0n;
  /** The APIC page's address, kept as a number: every load and store a CPU makes is checked against it. */
  private pageAddress = 0;
  get apicBase(): bigint {
    return this.apicBaseMsr;
  }
  set apicBase(value: bigint) {
    this.apicBaseMsr = value;
    this.pageAddress = Number(value & APIC_BASE_ADDRESS_MASK);
  }
  mode: ApicMode = 'xapic';
  /** The ID register as read: xAPIC ID in 31:24 in xAPIC mode, the 32-bit x2APIC ID in x2APIC mode. */
  id: number;
  tpr = 0;
  ldr = 0;
  dfr = DFR_RESET;
  svr = SVR_RESET;
  icrLo = 0;
  /** xAPIC: destination in 31:24. x2APIC: the 32-bit destination (ICR bits 63:32). */
  icrHi = 0;
  tmict = 0;
  tdcr = 0;
  /** ESR as software reads it: the errors latched by the last ESR write. */
  esr = 0;
  /** Errors detected since the last ESR write (SDM 10.5.3: the write moves them into the ESR). */
  esrPending = 0;
  /** The error interrupt fires once until an ESR write re-arms it (SDM 10.5.3). */
  errorInterruptArmed = true;
  /**
   * LVT, IRR, ISR and TMR live in `words` from index `at` (LAPIC_REGISTER_WORDS words). The LAPIC itself indexes
   * them directly; the typed-array views {@link lvt}, {@link irr}, {@link isr} and {@link tmr} are made on first
   * use. Four views cost about 400 bytes, half of a LAPIC: on a 32768-CPU machine where most CPUs never see an
   * interrupt, not making them keeps machine creation and boot from being mostly garbage-collector work.
   */
  private readonly words: Uint32Array;
  private readonly at: number;
  private views: RegisterViews | null = null;

  /** CPUID.1:ECX[21]: this processor can enter x2APIC mode (the machine's `cpu.x2apic`). */
  x2apicCapable = true;

  /** IA32_APIC_BASE as a saved state writes it, and the value it was made from ({@link matchesSavedState}). */
  private apicBaseText = '';
  private apicBaseTextOf = -1n;

  /** Reused message for IPIs this LAPIC sends (no allocation per IPI; made on the first IPI). */
  private ipiMessage: ApicMessage | null = null;
  /** The timer's counting state; made on the first timer register write (most CPUs of a big machine never use it). */
  private timerUnit: LapicTimer | null = null;
  /** Electrical levels of LINT0 (bit 0) and LINT1 (bit 1), as last seen while listening. */
  lintLines = 0;

  constructor(
    /** CPU index on the bus (0 is the BSP). */
    readonly cpu: number,
    /** The hardware-assigned (initial) APIC ID; the x2APIC ID is always this value. */
    readonly initialApicId: number,
    private readonly sinks: LapicSinks,
    /**
     * Storage for LVT, IRR, ISR and TMR: {@link LAPIC_REGISTER_WORDS} zero words from `offset`. A bus of thousands
     * of LAPICs hands each a part of one buffer (one allocation instead of four typed arrays per CPU).
     */
    storage: Uint32Array = new Uint32Array(LAPIC_REGISTER_WORDS),
    offset = 0,
  ) {
    if (!Number.isInteger(initialApicId) || initialApicId < 0 || initialApicId > 0xfffffffe) {
      throw new UsageError(`APIC ID ${initialApicId} of CPU ${cpu} is out of range 0..0xFFFFFFFE`);
    }
    if (!Number.isInteger(offset) || offset < 0 || offset + LAPIC_REGISTER_WORDS > storage.length) {
      throw new UsageError(`LAPIC ${cpu}: register storage needs ${LAPIC_REGISTER_WORDS} words from offset ${offset}, the buffer has ${storage.length}`);
    }
    this.words = storage;
    this.at = offset;
    const isBsp = cpu === 0;
    this.run = new CpuRunState(isBsp);
    this.apicBase = resetApicBase(isBsp);
    this.id = this.xapicView();
    storage.fill(LVT_RESET, offset + LVT_AT, offset + LVT_AT + APIC_LVT_COUNT);
  }

  // --- Register views (made on first use) -------------------------------------------------------------------

  private registerViews(): RegisterViews {
    if (this.views !== null) return this.views;
    const { words, at } = this;
    const view = (from: number, length: number) => new Uint32Array(words.buffer, words.byteOffset + (at + from) * 4, length);
    return (this.views = {
      lvt: view(LVT_AT, APIC_LVT_COUNT),
      irr: view(IRR_AT, APIC_BITMAP_WORDS),
      isr: view(ISR_AT, APIC_BITMAP_WORDS),
      tmr: view(TMR_AT, APIC_BITMAP_WORDS),
    });
  }

  /** LVT entry `index` (0 timer … 5 error) without making the register views. */
  lvtEntry(index: number): number {
    return this.words[this.at + LVT_AT + index];
  }

  /** The LVT entries (timer, thermal, PMC, LINT0, LINT1, error), as stored. */
  get lvt(): Uint32Array {
    return this.registerViews().lvt;
  }

  /** Interrupt request register: 256 bits in 8 words. */
  get irr(): Uint32Array {
    return this.registerViews().irr;
  }

  /** In-service register: 256 bits in 8 words. */
  get isr(): Uint32Array {
    return this.registerViews().isr;
  }

  /** Trigger mode register: 256 bits in 8 words (1 = level). */
  get tmr(): Uint32Array {
    return this.registerViews().tmr;
  }

  // --- Derived views -----------------------------------------------------------------------------------------

  /** "lapic<cpu>", as save/restore and diagnostics name it. */
  get name(): string {
    return `lapic${this.cpu}`;
  }

  /** The CPU's run state (INIT/SIPI), see {@link CpuRunState}. */
  get runState(): 'running' | 'wait-for-sipi' {
    return this.run.runState;
  }

  /** Vector of the SIPI that started this CPU (execution began at vector << 12), or null. */
  get startupVector(): number | null {
    return this.run.startupVector;
  }

  get isBsp(): boolean {
    return (this.apicBase & APIC_BASE_BSP) !== 0n;
  }

  /** Physical base address of the xAPIC MMIO page (IA32_APIC_BASE 51:12). */
  get baseAddress(): number {
    return this.pageAddress;
  }

  get hardwareEnabled(): boolean {
    return this.mode !== 'disabled';
  }

  get softwareEnabled(): boolean {
    return (this.svr & SVR_APIC_ENABLED) !== 0;
  }

  /** The ID physical destinations match: the 8-bit xAPIC ID, or the 32-bit x2APIC ID. */
  get physicalId(): number {
    return this.mode === 'x2apic' ? this.id : this.id >>> 24;
  }

  /** Processor priority (SDM 10.8.3.1): TPR if its class is ≥ the in-service class, else the in-service class. */
  get ppr(): number {
    const isrv = Math.max(highestAt(this.words, this.at + ISR_AT), 0);
    return (this.tpr & 0xf0) >= (isrv & 0xf0) ? this.tpr & 0xff : isrv & 0xf0;
  }

  private xapicView(): number {
    return ((this.initialApicId & 0xff) << 24) >>> 0;
  }

  // --- MMIO (xAPIC page) -------------------------------------------------------------------------------------

  /**
   * Accesses must be 4 bytes wide and 16-byte aligned (KVM apic_mmio_read/write); others read 0 / are ignored.
   * The machine routes MMIO here only in xAPIC mode; if it does otherwise, this behaves as KVM's MMIO hole
   * (reads all-ones, writes dropped; kvm-unit-tests verify_disabled_apic_mmio).
   */
  read(offset: number, size: AccessSize): bigint {
    if (this.mode !== 'xapic') return 0xffffffffn;
    if (size !== 4 || (offset & 0xf) !== 0 || offset < 0 || offset >= 0x1000) return 0n;
    const value = this.readRegister(offset, false);
    if (value === NO_REGISTER) {
      this.recordError(ESR_ILLEGAL_REGISTER_ADDRESS);
      return 0n;
    }
    return BigInt(value);
  }

  write(offset: number, size: AccessSize, value: bigint): void {
    if (this.mode !== 'xapic') return;
    if (size !== 4 || (offset & 0xf) !== 0 || offset < 0 || offset >= 0x1000) return;
    if (!this.writeRegister(offset, Number(BigInt.asUintN(32, value)), false)) {
      this.recordError(ESR_ILLEGAL_REGISTER_ADDRESS);
    }
  }

  // --- MSRs ----------------------------------------------------------------------------------------------------

  rdmsr(msr: number): bigint {
    if (msr === MSR_IA32_APIC_BASE) return this.apicBase;
    if (msr === MSR_IA32_TSC_DEADLINE) return this.timerUnit === null ? 0n : this.timerUnit.readDeadline();
    this.checkX2apicMode(msr, 'RDMSR');
    checkX2apicRead(msr);
    if (msr === MSR_X2APIC_ICR) return (BigInt(this.icrHi) << 32n) | BigInt(this.icrLo);
    return BigInt(this.readRegister(x2apicMsrToOffset(msr), true));
  }

  wrmsr(msr: number, value: bigint): void {
    if (msr === MSR_IA32_APIC_BASE) {
      this.writeApicBase(value);
      return;
    }
    if (msr === MSR_IA32_TSC_DEADLINE) {
      // Outside TSC-deadline mode the write is ignored (SDM 10.5.4.1); no timer state is made for it.
      if (timerMode(this.words[this.at + LVT_AT + LVT_INDEX_TIMER]) === TimerMode.TscDeadline) this.timer.writeDeadline(value);
      return;
    }
    this.checkX2apicMode(msr, 'WRMSR');
    checkX2apicWrite(msr, value);
    if (msr === MSR_X2APIC_ICR) {
      this.icrLo = low32(value) & ICR_LO_WRITABLE;
      this.icrHi = high32(value);
      this.sendIcr();
      return;
    }
    this.writeRegister(x2apicMsrToOffset(msr), Number(value), true);
  }

  private checkX2apicMode(msr: number, op: string): void {
    if (!isX2apicMsr(msr)) throw new UsageError(`${op} 0x${msr.toString(16)}: not a local APIC MSR`);
    if (this.mode !== 'x2apic') {
      throw new GeneralProtectionFault(`${op} 0x${msr.toString(16)}: x2APIC MSR while the APIC is in ${this.mode} mode`);
    }
  }

  // --- Register file (shared by MMIO and MSR paths) -------------------------------------------------------------

  /** Value of the register at `offset`, or NO_REGISTER for a reserved offset. x2APIC reads are pre-checked. */
  private readRegister(offset: number, x2apic: boolean): number {
    const { words, at } = this;
    if (offset >= APIC_ISR && offset < APIC_ISR + 0x80) return words[at + ISR_AT + ((offset - APIC_ISR) >>> 4)];
    if (offset >= APIC_TMR && offset < APIC_TMR + 0x80) return words[at + TMR_AT + ((offset - APIC_TMR) >>> 4)];
    if (offset >= APIC_IRR && offset < APIC_IRR + 0x80) return words[at + IRR_AT + ((offset - APIC_IRR) >>> 4)];
    if (offset >= APIC_LVT_TIMER && offset <= APIC_LVT_ERROR) return words[at + LVT_AT + ((offset - APIC_LVT_TIMER) >>> 4)];
    switch (offset) {
      case APIC_ID:
        return this.id;
      case APIC_LVR:
        return APIC_LVR_VALUE;
      case APIC_TPR:
        return this.tpr;
      case APIC_APR:
      case APIC_RRD:
        return 0;
      case APIC_PPR:
        return this.ppr;
      case APIC_EOI:
        return 0; // write-only; xAPIC reads 0 (x2APIC RDMSR #GPs before getting here)
      case APIC_LDR:
        return this.ldr;
      case APIC_DFR:
        return this.dfr;
      case APIC_SVR:
        return this.svr;
      case APIC_ESR:
        return this.esr;
      case APIC_ICR_LO:
        return this.icrLo; // delivery status (bit 12) is always 0: delivery is instantaneous here
      case APIC_ICR_HI:
        return this.icrHi;
      case APIC_TMICT:
        return this.tmict;
      case APIC_TMCCT:
        return this.timerUnit === null ? 0 : this.timerUnit.currentCount();
      case APIC_TDCR:
        return this.tdcr;
      default:
        return x2apic ? 0 : NO_REGISTER;
    }
  }

  /** Write a register; false for a reserved offset. x2APIC writes are pre-checked (rights, reserved bits). */
  private writeRegister(offset: number, value: number, x2apic: boolean): boolean {
    if (offset >= APIC_LVT_TIMER && offset <= APIC_LVT_ERROR) {
      this.writeLvt((offset - APIC_LVT_TIMER) >>> 4, value);
      return true;
    }
    // Read-only registers: writes are ignored in xAPIC mode (x2APIC WRMSR #GPs before getting here).
    if (offset >= APIC_ISR && offset < APIC_IRR + 0x80) return true;
    switch (offset) {
      case APIC_ID:
        this.writeXapicId(value);
        return true;
      case APIC_LVR:
      case APIC_PPR:
      case APIC_APR:
      case APIC_RRD:
      case APIC_TMCCT:
        return true;
      case APIC_TPR:
        this.tpr = value & 0xff;
        return true;
      case APIC_EOI:
        this.eoi();
        return true;
      case APIC_LDR:
        this.writeXapicLdr(value);
        return true;
      case APIC_DFR:
        this.writeDfr(value);
        return true;
      case APIC_SVR:
        this.writeSvr(value);
        return true;
      case APIC_ESR:
        this.latchErrors();
        return true;
      case APIC_ICR_LO:
        this.icrLo = value & ICR_LO_WRITABLE;
        this.sendIcr();
        return true;
      case APIC_ICR_HI:
        this.icrHi = (value & ICR_HI_XAPIC_MASK) >>> 0;
        return true;
      case APIC_TMICT:
        // SDM 10.5.4.1: in TSC-deadline mode writes to the initial-count register are ignored.
        if (timerMode(this.words[this.at + LVT_AT + LVT_INDEX_TIMER]) === TimerMode.TscDeadline) return true;
        this.tmict = value >>> 0;
        this.timer.initialCountWritten();
        return true;
      case APIC_TDCR: {
        const timer = this.timer;
        const count = timer.divideChanging(this.tdcr);
        this.tdcr = value & TDCR_WRITABLE;
        timer.divideChanged(count);
        return true;
      }
      case APIC_SELF_IPI:
        if (!x2apic) return false; // reserved offset in xAPIC mode
        this.sendSelfIpi(value & 0xff);
        return true;
      default:
        return false;
    }
  }

  /** xAPIC ID: bits 31:24 are writable (KVM keeps `val >> 24`). */
  private writeXapicId(value: number): void {
    const id = (value & 0xff000000) >>> 0;
    if (id === this.id) return;
    this.id = id;
    this.sinks.addressingChanged(this);
  }

  private writeXapicLdr(value: number): void {
    const ldr = (value & LDR_XAPIC_MASK) >>> 0;
    if (ldr === this.ldr) return;
    this.ldr = ldr;
    this.sinks.addressingChanged(this);
  }

  private writeDfr(value: number): void {
    const dfr = (value | DFR_RESERVED_ONES) >>> 0;
    if (dfr === this.dfr) return;
    this.dfr = dfr;
    this.sinks.addressingChanged(this);
  }

  private writeSvr(value: number): void {
    const wasEnabled = this.softwareEnabled;
    this.svr = value & SVR_WRITABLE;
    // SDM 10.4.7.2: software-disabling sets every LVT mask bit. Software enable decides acceptance, not which
    // destinations this APIC answers to, so the bus's destination index is not told.
    if (wasEnabled && !this.softwareEnabled) this.maskAllLvts();
  }

  private writeLvt(index: number, value: number): void {
    const word = this.at + LVT_AT + index;
    const old = this.words[word];
    let entry = (value & LVT_WRITABLE[index]) | (old & LVT_REMOTE_IRR);
    // SDM 10.4.7.2: while software-disabled, the mask bits stay set and attempts to clear them are ignored.
    if (!this.softwareEnabled) entry |= LVT_MASKED;
    this.words[word] = entry >>> 0;
    if (index === LVT_INDEX_TIMER) {
      if ((old ^ entry) & LVT_TIMER_MODE_BITS && this.timer.lvtChanged(old)) this.tmict = 0;
    } else if (index === LVT_INDEX_LINT0 || index === LVT_INDEX_LINT0 + 1) {
      const pin = index - LVT_INDEX_LINT0;
      this.sinks.lintWatch(this, pin);
      // An entry that becomes deliverable picks up a level-sensitive input that is already active (no edge).
      if ((entry & LVT_MASKED) === 0) this.serviceLint(pin, this.lintActive(pin));
    }
  }

  // --- The timer -------------------------------------------------------------------------------------------------

  private get timer(): LapicTimer {
    return (this.timerUnit ??= new LapicTimer(this.sinks.timing, this, () => this.timerExpired(), `${this.name} timer`));
  }

  /** LVT Timer entry (the timer reads its mode from it). */
  get lvtTimer(): number {
    return this.words[this.at + LVT_AT + LVT_INDEX_TIMER];
  }

  /** The count reached zero or the deadline passed: the LVT Timer interrupt, unless masked (the count goes on). */
  private timerExpired(): void {
    const entry = this.words[this.at + LVT_AT + LVT_INDEX_TIMER];
    if (entry & LVT_MASKED) return;
    this.deliverLocal(LVT_INDEX_TIMER, entry & 0xff, 0);
  }

  /** The timer's counting state, for save/restore; null when the timer was never touched. */
  get timerState(): LapicTimer | null {
    return this.timerUnit;
  }

  /** Make the timer's counting state exist (restore of a state whose timer runs). */
  ensureTimer(): LapicTimer {
    return this.timer;
  }

  // --- LINT0 / LINT1 (SDM 10.5.1) ---------------------------------------------------------------------------------

  /** Whether input `pin` is at its active level under the LVT's polarity (bit 13, 1 = active low). */
  private lintActive(pin: number): boolean {
    const high = ((this.lintLines >>> pin) & 1) !== 0;
    return (this.words[this.at + LVT_AT + LVT_INDEX_LINT0 + pin] & LVT_POLARITY) !== 0 ? !high : high;
  }

  /** The bus drives input `pin` (0 = LINT0, 1 = LINT1) to electrical level `level`. */
  setLint(pin: number, level: boolean): void {
    const was = this.lintActive(pin);
    this.lintLines = level ? this.lintLines | (1 << pin) : this.lintLines & ~(1 << pin);
    this.serviceLint(pin, was);
  }

  /** The bus tells a LAPIC that starts listening the wire's level: level-sensitive entries act, no edge is seen. */
  syncLint(pin: number, level: boolean): void {
    this.lintLines = level ? this.lintLines | (1 << pin) : this.lintLines & ~(1 << pin);
    this.serviceLint(pin, this.lintActive(pin));
  }

  /**
   * Deliver what LINT `pin` asks for through its LVT entry. NMI, SMI and INIT are edge-sensitive and ExtINT is
   * level-sensitive whatever the trigger bit says; Fixed follows the trigger bit on LINT0, and LINT1 "does not support
   * level-sensitive interrupts" (SDM 10.5.1, trigger mode). A masked entry ignores the pin; a level-sensitive Fixed
   * entry delivers once and sets Remote IRR until the EOI for its vector.
   */
  private serviceLint(pin: number, wasActive: boolean): void {
    const word = this.at + LVT_AT + LVT_INDEX_LINT0 + pin;
    const entry = this.words[word];
    const active = this.lintActive(pin);
    const mode = (entry >>> 8) & 7;
    if (mode === DM_EXTINT) {
      // The 8259's INTR: pending while asserted and unmasked; withdrawn when it drops.
      if (active && (entry & LVT_MASKED) === 0) {
        if (!this.run.extIntPending) {
          this.sinks.localDeliver(this, LVT_INDEX_LINT0 + pin, mode);
          this.acceptExtInt();
        }
      } else {
        this.run.extIntPending = false;
      }
      return;
    }
    if (entry & LVT_MASKED) return;
    const rising = active && !wasActive;
    const level = mode === DM_FIXED && pin === 0 && (entry & LVT_TRIGGER_LEVEL) !== 0;
    if (level) {
      if (!active || (entry & LVT_REMOTE_IRR) !== 0) return;
      if (this.deliverLocal(LVT_INDEX_LINT0 + pin, entry & 0xff, 1)) this.words[word] = (this.words[word] | LVT_REMOTE_IRR) >>> 0;
      return;
    }
    if (!rising) return;
    switch (mode) {
      case DM_FIXED:
        this.deliverLocal(LVT_INDEX_LINT0 + pin, entry & 0xff, 0);
        return;
      case DM_NMI:
        this.sinks.localDeliver(this, LVT_INDEX_LINT0 + pin, mode);
        this.acceptNmi();
        return;
      case DM_SMI:
        this.sinks.localDeliver(this, LVT_INDEX_LINT0 + pin, mode);
        this.acceptSmi();
        return;
      case DM_INIT:
        this.sinks.localDeliver(this, LVT_INDEX_LINT0 + pin, mode);
        this.acceptInit();
        return;
      default:
        return; // reserved delivery modes deliver nothing
    }
  }

  /**
   * The INTA cycle of an ExtINT has run (the vector came from the 8259): the latch is consumed, and taken again at
   * once if LINT0 still carries an asserted INTR (ExtINT is level-sensitive).
   */
  extIntAcknowledged(): void {
    this.run.extIntPending = false;
    this.serviceLint(0, true);
  }

  /**
   * A locally generated Fixed interrupt (timer, LINT, error): "Receive Illegal Vector" for vectors 0–15 (SDM 10.5.3:
   * "in an interrupt generated locally from the local vector table"), else IRR (and TMR for level). True if set.
   */
  private deliverLocal(lvtIndex: number, vector: number, trigger: number): boolean {
    this.sinks.localDeliver(this, lvtIndex, DM_FIXED);
    if (!this.requestVector(vector, trigger)) return false;
    this.sinks.localAccept(this, vector, trigger);
    return true;
  }

  /** EOI of level vector `vector`: a LINT0 entry waiting on it clears Remote IRR and re-delivers if still asserted. */
  private lintEoi(vector: number): void {
    const word = this.at + LVT_AT + LVT_INDEX_LINT0;
    const entry = this.words[word];
    if ((entry & LVT_REMOTE_IRR) === 0 || (entry & 0xff) !== vector) return;
    this.words[word] = (entry & ~LVT_REMOTE_IRR) >>> 0;
    this.serviceLint(0, true);
  }

  private maskAllLvts(): void {
    const { words, at } = this;
    const lintListened = ((words[at + LVT_AT + LVT_INDEX_LINT0] & words[at + LVT_AT + LVT_INDEX_LINT0 + 1]) & LVT_MASKED) === 0;
    for (let i = at + LVT_AT; i < at + LVT_AT + APIC_LVT_COUNT; i++) words[i] = (words[i] | LVT_MASKED) >>> 0;
    if (lintListened) {
      this.sinks.lintWatch(this, 0);
      this.sinks.lintWatch(this, 1);
    }
    if (((words[at + LVT_AT + LVT_INDEX_LINT0] >>> 8) & 7) === DM_EXTINT) this.run.extIntPending = false;
  }

  // --- IA32_APIC_BASE ------------------------------------------------------------------------------------------

  private writeApicBase(value: bigint): void {
    // Without CPUID.1:ECX[21] EXTD is a reserved bit of IA32_APIC_BASE (SDM 10.12.1): setting it #GPs.
    if (!this.x2apicCapable && (value & APIC_BASE_EXTD) !== 0n) {
      throw new GeneralProtectionFault('IA32_APIC_BASE: EXTD is reserved on a CPU without x2APIC (CPUID.1:ECX[21] = 0)');
    }
    const to = checkApicBaseWrite(this.apicBase, value);
    const from = this.mode;
    this.apicBase = acceptedApicBase(this.apicBase, value);
    if (to === from) return;
    this.mode = to;
    if (to === 'x2apic') {
      // xAPIC → x2APIC: the ID becomes the 32-bit initial APIC ID and hardware computes the LDR (SDM 10.12.5.1).
      this.id = this.initialApicId;
      this.ldr = x2apicLdr(this.id);
    } else if (to === 'disabled') {
      // The SDM says state "may" be lost when EN is cleared; like QEMU we clear the software enable (and so mask
      // the LVTs) and keep the rest. The ID is kept (x2APIC → disabled keeps the x2APIC ID).
      if (this.softwareEnabled) {
        this.svr &= ~SVR_APIC_ENABLED;
        this.maskAllLvts();
      }
    } else {
      // disabled → xAPIC: the addressing registers return to their power-up values (xAPIC view of the ID, LDR 0,
      // DFR flat); other registers are kept (kvm-unit-tests test_apic_disable relies on TPR surviving).
      this.id = this.xapicView();
      this.ldr = 0;
      this.dfr = DFR_RESET;
      this.icrHi = (this.icrHi & ICR_HI_XAPIC_MASK) >>> 0;
    }
    this.sinks.addressingChanged(this);
  }

  // --- Sending ---------------------------------------------------------------------------------------------------

  /** Build the message an ICR write describes and hand it to the bus. */
  private sendIcr(): void {
    const lo = this.icrLo;
    const deliveryMode = (lo >>> ICR_DELIVERY_MODE_SHIFT) & 7;
    const vector = lo & 0xff;
    if (this.isIllegalVector(deliveryMode, vector)) {
      // SDM 10.5.3 "Send Illegal Vector". irqpath does not put such a message on the bus
      // (a choice: the SDM does not say whether it is sent; see the notes at the top of apic-bus.ts).
      this.recordError(ESR_SEND_ILLEGAL_VECTOR);
      return;
    }
    if (deliveryMode === DeliveryMode.LowestPriority && this.mode === 'x2apic') {
      // SDM Vol 3A 10.6.2/10.6.3 and the x2APIC chapter: sending a lowest-priority IPI is model-specific and not
      // supported in x2APIC mode; the IPI is not processed and ESR bit 4 "Redirectable IPI" (10.5.3) is set.
      this.recordError(ESR_REDIRECTABLE_IPI);
      return;
    }
    const msg = (this.ipiMessage ??= newApicMessage());
    msg.vector = vector;
    msg.deliveryMode = deliveryMode;
    msg.destMode = (lo & ICR_DEST_LOGICAL) !== 0 ? DestMode.Logical : DestMode.Physical;
    // SDM Vol 3A 10.6.1: the Level and Trigger Mode flags only mean something for INIT level de-assert (INIT,
    // level 0, trigger level); for every other delivery mode they are ignored and the IPI goes out as an asserted
    // edge — so an IPI never sets the receiver's TMR and its EOI is never broadcast to the I/O APICs.
    const initDeassert = deliveryMode === DeliveryMode.INIT && (lo & ICR_LEVEL_ASSERT) === 0 && (lo & ICR_TRIGGER_LEVEL) !== 0;
    msg.level = initDeassert ? 0 : 1;
    msg.trigger = initDeassert ? 1 : 0;
    msg.redirectionHint = 0;
    if (this.mode === 'x2apic') {
      msg.dest = this.icrHi >>> 0;
      msg.destWidth = 32;
    } else {
      msg.dest = this.icrHi >>> 24;
      msg.destWidth = 8;
    }
    this.sinks.sendIpi(this, msg, (lo >>> ICR_SHORTHAND_SHIFT) & 3);
  }

  /** x2APIC SELF IPI (MSR 0x83F): a fixed, edge IPI to self (QEMU apic_register_write case 0x3f). */
  private sendSelfIpi(vector: number): void {
    if (vector < FIRST_LEGAL_VECTOR) {
      this.recordError(ESR_SEND_ILLEGAL_VECTOR);
      return;
    }
    const msg = (this.ipiMessage ??= newApicMessage());
    msg.vector = vector;
    msg.deliveryMode = DeliveryMode.Fixed;
    msg.destMode = DestMode.Physical;
    msg.level = 1;
    msg.trigger = 0;
    msg.redirectionHint = 0;
    msg.dest = this.physicalId;
    msg.destWidth = this.mode === 'x2apic' ? 32 : 8;
    this.sinks.sendIpi(this, msg, Shorthand.Self);
  }

  private isIllegalVector(deliveryMode: number, vector: number): boolean {
    return (deliveryMode === DeliveryMode.Fixed || deliveryMode === DeliveryMode.LowestPriority) && vector < FIRST_LEGAL_VECTOR;
  }

  // --- Errors ----------------------------------------------------------------------------------------------------

  /**
   * Record an error (SDM 10.5.3): it accumulates internally until the next ESR write latches it. The first error
   * after an ESR write raises the LVT Error vector locally if that entry is unmasked.
   */
  recordError(bit: number): void {
    this.esrPending |= bit;
    const entry = this.words[this.at + LVT_AT + LVT_INDEX_ERROR];
    if ((entry & LVT_MASKED) !== 0 || !this.errorInterruptArmed) return;
    this.errorInterruptArmed = false;
    const vector = entry & 0xff;
    if (vector < FIRST_LEGAL_VECTOR) {
      this.esrPending |= ESR_RECEIVE_ILLEGAL_VECTOR; // an illegal LVT vector is itself a receive error
      return;
    }
    this.setRequest(vector, 0);
  }

  private latchErrors(): void {
    this.esr = this.esrPending;
    this.esrPending = 0;
    this.errorInterruptArmed = true;
  }

  // --- Acceptance (called by the APIC bus) ---------------------------------------------------------------------

  /**
   * A Fixed or LowestPriority interrupt. Refused when hardware- or software-disabled (SDM 10.4.7.2) and, with a receive
   * illegal vector error, for vectors 0–15. TMR records the trigger mode at acceptance (edge clears it).
   */
  acceptInterrupt(vector: number, trigger: number): boolean {
    if (this.mode === 'disabled' || !this.softwareEnabled) return false;
    return this.requestVector(vector, trigger);
  }

  /**
   * Set `vector` in IRR (and TMR for level) and hand it to the interrupt entry; vectors 0–15 are refused with a
   * receive illegal vector error instead (SDM 10.5.3). Shared by bus-delivered and locally generated interrupts.
   */
  private requestVector(vector: number, trigger: number): boolean {
    if (vector < FIRST_LEGAL_VECTOR) {
      this.recordError(ESR_RECEIVE_ILLEGAL_VECTOR);
      return false;
    }
    this.setRequest(vector, trigger);
    if (this.interruptEntry !== null) this.interruptEntry(vector);
    return true;
  }

  /**
   * The CPU's interrupt entry for software that services interrupts as soon as they arrive (a host kernel running a
   * VMM: vfio-pci's handler, KVM's posted-interrupt vectors). Called after a Fixed/LowestPriority vector was set in
   * IRR; the callee acknowledges and EOIs what it takes. null (the default): interrupts wait in IRR until software
   * acknowledges them.
   */
  interruptEntry: ((vector: number) => void) | null = null;

  private setRequest(vector: number, trigger: number): void {
    const { words, at } = this;
    setVector(words, at + IRR_AT, vector);
    if (trigger) setVector(words, at + TMR_AT, vector);
    else clearVector(words, at + TMR_AT, vector);
  }

  acceptNmi(): boolean {
    if (this.mode === 'disabled') return false;
    this.run.latchNmi();
    return true;
  }

  acceptSmi(): boolean {
    if (this.mode === 'disabled') return false;
    this.run.latchSmi();
    return true;
  }

  /** ExtINT needs a software-enabled APIC (SDM 10.4.7.2 lists only INIT, NMI, SMI and SIPI as still accepted). */
  acceptExtInt(): boolean {
    if (this.mode === 'disabled' || !this.softwareEnabled) return false;
    this.run.latchExtInt();
    return true;
  }

  /**
   * Why this LAPIC refuses a message of this delivery mode and vector — the conditions of the accept* methods above,
   * in their order. Called only after a message was lost (never on the delivery path), to say why in interrupt_lost.
   */
  refusalReason(deliveryMode: number, vector: number): string {
    if (this.mode === 'disabled') return 'hardware-disabled (IA32_APIC_BASE.EN = 0)';
    const needsSoftwareEnable = deliveryMode === 0 || deliveryMode === 1 || deliveryMode === 7; // Fixed, LowestPriority, ExtINT
    if (needsSoftwareEnable && !this.softwareEnabled) return 'software-disabled (SVR bit 8 = 0)';
    if ((deliveryMode === 0 || deliveryMode === 1) && vector < FIRST_LEGAL_VECTOR) return `illegal vector 0x${vector.toString(16)} (ESR: receive illegal vector)`;
    return 'refused';
  }

  /** INIT (level assert): INIT-reset the LAPIC and the CPU. */
  acceptInit(): boolean {
    if (this.mode === 'disabled') return false;
    this.initReset();
    this.run.init(this.isBsp);
    return true;
  }

  /** Start-up IPI: accepted by the LAPIC; the CPU acts on it only in wait-for-SIPI. */
  acceptStartup(vector: number): boolean {
    if (this.mode === 'disabled') return false;
    this.run.startup(vector);
    return true;
  }

  /**
   * INIT reset (SDM 10.4.7.3): the power-up state except the APIC ID, IA32_APIC_BASE and the mode (INIT keeps
   * x2APIC mode, so its LDR stays the one derived from the ID).
   */
  private initReset(): void {
    const addressing = (this.mode !== 'x2apic' && this.ldr !== 0) || this.dfr !== DFR_RESET;
    this.tpr = 0;
    if (this.mode !== 'x2apic') this.ldr = 0;
    this.dfr = DFR_RESET;
    this.svr = SVR_RESET;
    this.icrLo = 0;
    this.icrHi = 0;
    this.tmict = 0;
    this.tdcr = 0;
    this.esr = 0;
    this.esrPending = 0;
    this.errorInterruptArmed = true;
    if (this.timerUnit !== null) {
      this.timerUnit.stop();
      this.timerUnit.tscDeadline = 0n;
    }
    const { words, at } = this;
    // Only a LINT entry that was unmasked leaves its wire's listener list (the common INIT of an AP has none).
    const lintListened = ((words[at + LVT_AT + LVT_INDEX_LINT0] & words[at + LVT_AT + LVT_INDEX_LINT0 + 1]) & LVT_MASKED) === 0;
    words.fill(LVT_RESET, at + LVT_AT, at + LVT_AT + APIC_LVT_COUNT);
    if (lintListened) {
      this.sinks.lintWatch(this, 0);
      this.sinks.lintWatch(this, 1);
    }
    words.fill(0, at + IRR_AT, at + TMR_AT + APIC_BITMAP_WORDS); // IRR, ISR, TMR
    // The ID and mode survive INIT; only an LDR or DFR that was not at its reset value changes addressing.
    if (addressing) this.sinks.addressingChanged(this);
  }

  // --- The CPU side: INTA and EOI ---------------------------------------------------------------------------------

  /**
   * INTA: the highest IRR vector whose priority class is above PPR moves to ISR and is returned (SDM 10.8.3.1); null when
   * nothing is deliverable (hardware would then return the spurious vector if it had already raised INTR).
   */
  acknowledge(): number | null {
    const { words, at } = this;
    const vector = highestAt(words, at + IRR_AT);
    if (vector < 0 || (vector & 0xf0) <= this.ppr) return null;
    clearVector(words, at + IRR_AT, vector);
    setVector(words, at + ISR_AT, vector);
    return vector;
  }

  /**
   * EOI: clear the highest ISR bit. A level-triggered vector (TMR set) is broadcast to the I/O APICs unless SVR
   * bit 12 (EOI-broadcast suppression) is set (SDM 10.8.5). An EOI with nothing in service does nothing.
   */
  eoi(): void {
    const { words, at } = this;
    const vector = highestAt(words, at + ISR_AT);
    if (vector < 0) return;
    clearVector(words, at + ISR_AT, vector);
    if (!testVector(words, vector, at + TMR_AT)) return;
    this.lintEoi(vector);
    if ((this.svr & SVR_EOI_BROADCAST_SUPPRESSION) === 0) this.sinks.eoiBroadcast(vector);
  }

  // --- Save / restore --------------------------------------------------------------------------------------------

  save(): LapicState {
    return saveLapicRegisters(this);
  }

  copyRegisterWords(block: 'lvt' | 'irr' | 'isr' | 'tmr'): number[] {
    const from = this.at + (block === 'lvt' ? LVT_AT : block === 'irr' ? IRR_AT : block === 'isr' ? ISR_AT : TMR_AT);
    const length = block === 'lvt' ? APIC_LVT_COUNT : APIC_BITMAP_WORDS;
    const out = new Array<number>(length);
    for (let i = 0; i < length; i++) out[i] = this.words[from + i];
    return out;
  }

  /**
   * True when {@link save} would return a state equal to `s`: what lets a snapshot reuse the state it saved last time
   * for a LAPIC that has not changed since (compared in place: no views made, nothing allocated but the base's text).
   */
  matchesSavedState(s: LapicState): boolean {
    if (
      s.id !== this.id || s.tpr !== this.tpr || s.ldr !== this.ldr || s.dfr !== this.dfr || s.svr !== this.svr ||
      s.icrLo !== this.icrLo || s.icrHi !== this.icrHi || s.tmict !== this.tmict || s.tdcr !== this.tdcr ||
      s.esr !== this.esr || s.esrPending !== this.esrPending || s.errorInterruptArmed !== this.errorInterruptArmed
    ) return false;
    if (!this.run.matches(s.run) || (s.lintLines ?? 0) !== this.lintLines) return false;
    // A running timer is never taken as unchanged: its restore re-arms the clock event relative to the restored time.
    const timer = this.timerUnit;
    if (timer === null ? s.timer != null : s.timer == null || timer.running || s.timer.running || !sameTimerState(timer.save(), s.timer)) return false;
    if (this.apicBaseTextOf !== this.apicBase) {
      this.apicBaseTextOf = this.apicBase;
      this.apicBaseText = '0x' + this.apicBase.toString(16);
    }
    if (s.apicBase !== this.apicBaseText) return false;
    const { words, at } = this;
    const same = (saved: readonly number[], from: number) => {
      for (let i = 0; i < saved.length; i++) if (words[at + from + i] !== saved[i]) return false;
      return true;
    };
    return same(s.lvt, LVT_AT) && same(s.irr, IRR_AT) && same(s.isr, ISR_AT) && same(s.tmr, TMR_AT);
  }

  /** Validate `state` completely, then apply it; throws {@link UsageError} and changes nothing on bad input. */
  restore(state: unknown): void {
    applyLapicState(validateLapicState(this, state));
    this.sinks.addressingChanged(this);
  }
}

function sameTimerState(a: LapicTimerState, b: LapicTimerState): boolean {
  return a.running === b.running && a.countBase === b.countBase && a.baseTime === b.baseTime && a.tscDeadline === b.tscDeadline;
}
