/**
 * The legacy interrupt sources of a scenario: an ISA IRQ line (`isa`), a PCI function's INTx pin (`intx`), the LAPIC
 * timer (`lapic-timer`), the 8254's counter 0 (`pit`) and the HPET's comparator 0 as Linux's legacy clockevent on IRQ0
 * (`hpet`), and the MC146818 RTC's periodic or update-ended interrupt on IRQ8 (`rtc`). The guest model programs the I/O APIC pin an ISA IRQ or an
 * INTx pin arrives at, as it does for any pin; what a driver or the timer code would write besides — the 8259, LVT
 * LINT0 for the virtual wire, the timers' registers, Command.Interrupt Disable — is written here with Linux's register
 * sequences (src/guest/legacy-programming.ts).
 *
 * `via` picks the path an ISA IRQ (or the PIT's IRQ0) takes to the CPU, the three Linux's check_timer
 * (arch/x86/kernel/apic/io_apic.c) tries in turn: `ioapic` (the MADT's pin), `extint` (8259 → LINT0 as ExtINT on the
 * BSP; the vector comes from the INTA cycle) and `lint0-fixed` (8259 → LINT0 as a Fixed input with the IRQ's vector:
 * "Virtual Wire IRQ"). For the two 8259 paths the I/O APIC pin is masked first, as check_timer's clear_IO_APIC_pin
 * does, and the 8259 is programmed as init_8259A(0) leaves it: vectors 0x30 + IRQ.
 *
 * Timers run only while their own source's steps run (started at the first step, stopped at the end), so an `advance`
 * in one source never fires another source's timer.
 */
import { isaIrqToGsi } from '../machine/firmware.ts';
import type { Machine } from '../machine/machine.ts';
import type { GuestOs, InterruptRequest, ProgrammedInterrupt } from '../guest/guest-os.ts';
import { LinuxGuest } from '../guest/linux/linux-guest.ts';
import {
  eoi8259,
  init8259,
  ISA_IRQ_VECTOR_BASE,
  lint0ExtInt,
  lint0Fixed,
  maskLapicTimer,
  set8259Mask,
  setIoapicPinMask,
  setPciIntxDisable,
  startLapicTimer,
  startPit,
  stopLapicTimer,
  stopPit,
  hpetConfig,
  startHpetLegacyTimer,
  stopHpetLegacyTimer,
  readRtcFlags,
  startRtc,
  stopRtc,
  apicWrite,
} from '../guest/legacy-programming.ts';
import { APIC_LVT_LINT0 } from '../apic/registers.ts';
import { testVector } from '../apic/lapic.ts';
import { RTE_MASK, RTE_REMOTE_IRR, RTE_TRIGGER } from '../msi/formats/ioapic-rte.ts';
import { PCI_STATUS_INTERRUPT } from '../pci/intx.ts';
import type { ScenarioSource } from './scenario-file.ts';
import type { HeldBy, LegacyVia, PitMode } from './legacy-words.ts';
import { DEFAULT_PIT_COUNT, DEFAULT_RTC_RATE } from './legacy-source-file.ts';
import type { SourceObservation } from './observation.ts';

/** The source kinds this module drives. */
export const LEGACY_KINDS = ['isa', 'intx', 'lapic-timer', 'pit', 'hpet', 'rtc'] as const;
export type LegacyKind = (typeof LEGACY_KINDS)[number];

export function isLegacyKind(kind: string): kind is LegacyKind {
  return (LEGACY_KINDS as readonly string[]).includes(kind);
}

/** The 8254 mode number of each `mode:` word of a pit source. */
export const PIT_MODES: Record<PitMode, 0 | 2 | 3 | 4> = { 'terminal-count': 0, 'rate-generator': 2, 'square-wave': 3, strobe: 4 };
/** LVT LINT0 as Linux leaves it on the BSP while the I/O APIC is in use: ExtINT, masked (setup_local_APIC). */
const LINT0_EXTINT_MASKED = 0x10700;
/** The ISA IRQ of a pit source. */
const PIT_IRQ = 0;
/** The RTC's ISA IRQ. */
const RTC_IRQ = 8;
const STORM_LIMIT = 64;
/** The HPET counts at 100 MHz. */
const HPET_TICK_NS = 10;

/** ISA IRQ a legacy source is wired to (isa: its irq; pit: IRQ0), or -1. */
function isaIrqOf(src: ScenarioSource): number {
  if (src.kind === 'rtc') return RTC_IRQ;
  return src.kind === 'pit' || src.kind === 'hpet' ? PIT_IRQ : src.kind === 'isa' ? src.irq! : -1;
}

/** Trigger and polarity of an ISA IRQ from the MADT override's INTI flags (ISA default: edge, active high). */
function isaPinSetup(m: Machine, irq: number): { trigger: 'edge' | 'level'; polarity: 'high' | 'low' } {
  const o = m.firmware.madt.interruptSourceOverrides.find((x) => x.source === irq);
  const flags = o?.flags ?? 0;
  return { trigger: ((flags >> 2) & 3) === 3 ? 'level' : 'edge', polarity: (flags & 3) === 3 ? 'low' : 'high' };
}

/**
 * Program a legacy source: the guest sets up the I/O APIC pin (or, for Linux's IRQ0, the timer pin it set up at boot
 * is the source's), or the 8259 path is prepared; timers are started when their steps begin.
 */
export function setupLegacySource(guest: GuestOs, m: Machine, src: ScenarioSource): ProgrammedInterrupt {
  const request: InterruptRequest = { id: src.id, kind: 'ioapic', cpu: src.cpu };
  const local = (vector: number, encoding: string): ProgrammedInterrupt => ({ request, status: 'programmed', cpu: src.cpu, apicId: m.cpu(src.cpu).apicId, vector, encoding });
  switch (src.kind) {
    case 'lapic-timer':
      return local(src.vector!, `lapic-timer ${src.mode}`);
    case 'intx': {
      const pin = m.intxRoute(src.device!).gsi;
      return guest.setupInterrupt({ ...request, pin, trigger: 'level', polarity: 'low' });
    }
    default: {
      const irq = isaIrqOf(src);
      const via = src.via ?? 'ioapic';
      const pin = isaIrqToGsi(irq, m.firmware.madt.interruptSourceOverrides);
      if (via === 'ioapic') {
        // Linux set IRQ0's pin up at boot (check_timer): a driver does not request it again.
        if (irq === PIT_IRQ && guest instanceof LinuxGuest && guest.timer !== null) return guest.timer;
        return guest.setupInterrupt({ ...request, pin, ...isaPinSetup(m, irq) });
      }
      const bsp = m.cpu(0);
      // check_timer's clear_IO_APIC_pin: the pin is taken out of the way before the 8259 is tried.
      if (pin < m.ioapic.pins) setIoapicPinMask(bsp, pin, true);
      init8259(bsp, false, 0xffff & ~(1 << 2));
      if (via === 'extint') lint0ExtInt(bsp);
      else lint0Fixed(bsp, ISA_IRQ_VECTOR_BASE + irq);
      set8259Mask(bsp, irq, false);
      return local(ISA_IRQ_VECTOR_BASE + irq, via);
    }
  }
}

/** The verbs this module handles for a legacy source (the common ones — ack, eoi, handle, advance — too). */
export class LegacyStimulus {
  private started = false;
  /** The HPET's general configuration before an hpet source took timer 0 (restored at the end). */
  private hpetConfigBefore = 0;
  /** ISA IRQ lines and INTx functions this source's steps raised, to lower at the end. */
  private readonly raisedIsa = new Set<number>();
  private readonly raisedIntx = new Set<string>();

  constructor(
    private readonly m: Machine,
    private readonly guest: GuestOs,
    private readonly src: ScenarioSource,
    private readonly programmed: ProgrammedInterrupt,
    private readonly obs: SourceObservation,
  ) {}

  private get via(): LegacyVia {
    return this.src.via ?? 'ioapic';
  }

  /** The I/O APIC pin this source's interrupt arrives at, or -1 (a LAPIC timer, an 8259 path). */
  get ioapicPin(): number {
    if (this.src.kind === 'intx') return this.m.intxRoute(this.src.device!).gsi;
    if (this.src.kind === 'lapic-timer' || this.via !== 'ioapic') return -1;
    return isaIrqToGsi(isaIrqOf(this.src), this.m.firmware.madt.interruptSourceOverrides);
  }

  /** Start the source's timer before its first step. */
  begin(): void {
    if (this.started) return;
    this.started = true;
    const src = this.src;
    const bsp = this.m.cpu(0);
    if (src.kind === 'lapic-timer') {
      const cfg = this.m.config.legacy;
      const period = src.period!;
      const tscTicks = (BigInt(period) * BigInt(cfg.tscHz) + 999_999_999n) / 1_000_000_000n;
      startLapicTimer(this.m.cpu(src.cpu), src.mode as 'one-shot' | 'periodic' | 'tsc-deadline', src.vector!, period / cfg.apicBusCycleNs, tscTicks);
    } else if (src.kind === 'pit') {
      startPit(bsp, PIT_MODES[src.mode as PitMode], src.count ?? DEFAULT_PIT_COUNT);
    } else if (src.kind === 'rtc') {
      startRtc(bsp, src.mode !== 'update', src.rate ?? DEFAULT_RTC_RATE);
    } else if (src.kind === 'hpet') {
      this.hpetConfigBefore = hpetConfig(bsp);
      startHpetLegacyTimer(bsp, src.mode === 'periodic', src.period! / HPET_TICK_NS);
    }
  }

  /** Run one step; false when the verb is not one of this module's. */
  run(verb: string, arg: string | undefined): boolean {
    this.begin();
    const src = this.src;
    switch (verb) {
      case 'raise':
      case 'lower': {
        const level = verb === 'raise';
        if (src.kind === 'intx') {
          const bdf = arg !== undefined && arg.includes(':') ? arg : src.device!;
          if (level) this.raisedIntx.add(bdf);
          else this.raisedIntx.delete(bdf);
          this.m.device(bdf).fn.setIntx(level);
        } else {
          const irq = isaIrqOf(src);
          if (level) this.raisedIsa.add(irq);
          else this.raisedIsa.delete(irq);
          this.m.setIsaIrq(irq, level);
        }
        return true;
      }
      case 'pulse':
        this.run('raise', arg);
        this.run('lower', arg);
        return true;
      case 'read-c':
        readRtcFlags(this.m.cpu(0));
        return true;
      case 'disintx':
      case 'enintx':
        setPciIntxDisable(this.m.device(src.device!), verb === 'disintx');
        return true;
      case 'mask':
      case 'unmask': {
        const masked = verb === 'mask';
        const bsp = this.m.cpu(0);
        if (src.kind === 'lapic-timer') maskLapicTimer(this.m.cpu(src.cpu), masked);
        else if (this.via === 'ioapic') setIoapicPinMask(bsp, this.ioapicPin, masked);
        else set8259Mask(bsp, isaIrqOf(src), masked);
        return true;
      }
      case 'ack':
        if (this.via === 'extint') {
          this.interruptAcknowledge();
          return true;
        }
        return false;
      case 'eoi':
        if (this.via !== 'ioapic' && src.kind !== 'lapic-timer') {
          // The 8259's IRQ: a specific EOI to the 8259 (mask_and_ack_8259A), and for the Fixed virtual wire the
          // LAPIC's too (the IRQ's chip is lapic_chip then: check_timer's lapic_register_intr).
          const last = this.obs.deliveries[this.obs.deliveries.length - 1];
          if (this.via === 'lint0-fixed' && last !== undefined) this.guest.endOfInterrupt(last.cpu, last.vector);
          eoi8259(this.m.cpu(0), isaIrqOf(src));
          return true;
        }
        return false;
      default:
        return false;
    }
  }

  /** The INTA cycle of an ExtINT on the BSP: the 8259 answers with the vector; that is the delivery. */
  private interruptAcknowledge(): boolean {
    const cpu = this.m.cpu(0);
    const vector = cpu.acknowledgeExtInt();
    if (vector === null) return false;
    this.obs.deliveries.push({ cpu: 0, apicId: cpu.apicId, vector, deliveryMode: 7 });
    return true;
  }

  /** Where the source's interrupt is held back at the end of its steps, if it is (see HeldBy). */
  held(): HeldBy[] {
    const out: HeldBy[] = [];
    const m = this.m;
    const pin = this.ioapicPin;
    if (pin >= 0) {
      const lo = Number(m.ioapic.readRte(pin) & 0xffffffffn);
      const asserted = m.ioapic.isAsserted(pin);
      if ((lo & (RTE_TRIGGER | RTE_REMOTE_IRR)) === (RTE_TRIGGER | RTE_REMOTE_IRR) && asserted) out.push('remote-irr');
      if ((lo & RTE_MASK) !== 0 && asserted) out.push('rte-masked');
    }
    const irq = isaIrqOf(this.src);
    if (irq >= 0 && this.via !== 'ioapic') {
      const chip = irq < 8 ? m.pic.master : m.pic.slave;
      const bit = 1 << (irq & 7);
      if ((chip.irr & bit) !== 0 && (chip.imr & bit) !== 0) out.push('pic-imr');
    }
    if (this.src.kind === 'intx') {
      const fn = m.device(this.src.device!).fn;
      if ((fn.configRead(0x06, 2) & PCI_STATUS_INTERRUPT) !== 0 && !fn.intxAsserted) out.push('disintx');
    }
    const p = this.programmed;
    if (testVector(m.cpu(p.cpu).lapic.irr, p.vector)) out.push('lapic-irr');
    return out;
  }

  /** Take what is still pending, stop the timer, lower the lines, put LINT0 and the 8259 back. */
  drain(): void {
    const m = this.m;
    const bsp = m.cpu(0);
    if (this.src.kind === 'lapic-timer') stopLapicTimer(m.cpu(this.src.cpu));
    if (this.src.kind === 'pit') stopPit(bsp);
    if (this.src.kind === 'hpet') stopHpetLegacyTimer(bsp, this.hpetConfigBefore);
    if (this.src.kind === 'rtc') stopRtc(bsp);
    for (const irq of this.raisedIsa) m.setIsaIrq(irq, false);
    for (const bdf of this.raisedIntx) m.device(bdf).fn.setIntx(false);
    this.raisedIsa.clear();
    this.raisedIntx.clear();
    if (this.via === 'extint') {
      for (let i = 0; i < STORM_LIMIT && this.interruptAcknowledge(); i++) eoi8259(bsp, isaIrqOf(this.src));
    }
    if (this.src.kind !== 'lapic-timer' && this.src.kind !== 'intx' && this.via !== 'ioapic') {
      set8259Mask(bsp, isaIrqOf(this.src), true);
      apicWrite(bsp, APIC_LVT_LINT0, LINT0_EXTINT_MASKED);
    }
  }
}
