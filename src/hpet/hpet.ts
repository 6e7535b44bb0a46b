/**
 * The HPET event timer block (IA-PC HPET specification 1.0a), as QEMU's q35 and the ICH9 LPC bridge present it at
 * 0xFED00000: a 64-bit main counter at 100 MHz (period 10 ns = 10 000 000 fs, QEMU HPET_CLK_PERIOD), vendor 0x8086,
 * revision 1, legacy-replacement capable, 3 comparators by default (capabilities low half 0x8086A201, the ACPI HPET
 * table's Event Timer Block ID Linux prints as "ACPI: HPET id: 0x8086a201 base: 0xfed00000").
 *
 * Registers (spec 2.3.x; offsets in the 1 KiB block):
 *   0x000 General Capabilities and ID (RO)      0x010 General Configuration: ENABLE_CNF (0), LEG_RT_CNF (1)
 *   0x020 General Interrupt Status (RW1C)       0x0F0 Main Counter Value
 *   0x100 + 0x20·N  Timer N Configuration and Capability, 0x108 + 0x20·N Comparator, 0x110 + 0x20·N FSB Route
 *
 * Where a timer's interrupt goes (spec 2.3.9.x):
 * - Tn_FSB_EN_CNF: a memory write of FSB_INT_VAL to FSB_INT_ADDR on the machine bus, carrying the HPET's
 *   source-id (the DMAR HPET scope, the IVRS HPET special device), so interrupt remapping validates it like any
 *   requester's;
 * - else LEG_RT_CNF for timers 0 and 1: timer 0 → 8259 IRQ0 and I/O APIC input 2, timer 1 → IRQ8 and input 8;
 * - else I/O APIC input Tn_INT_ROUTE_CNF (only values Tn_INT_ROUTE_CAP allows are kept, spec 2.3.9.1: a route
 *   that is not supported "will not match what is written").
 * Level-triggered timers (Tn_INT_TYPE_CNF) hold their line and set Tn_INT_STS until software writes 1 to it.
 *
 * Counting follows the machine's simulated clock: the counter is computed from the clock, and each enabled
 * comparator arms one clock event for its next match (no per-tick work, no allocation per interrupt). QEMU 7.2 has
 * no HPET trace events; the hops are irqpath_hpet_*.
 */
import { ConfigError, showValue, UsageError } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import type { AccessSize, MmioDevice } from '../core/mmio.ts';
import { ClockTimer, type SimClock } from '../core/sim-clock.ts';
import type { DmaPort } from '../msi/dma-port.ts';
import { RouteSlot } from '../msi/route-slot.ts';

export const HPET_MMIO_SIZE = 0x400;
export const HPET_CAPABILITIES = 0x000;
export const HPET_CONFIG = 0x010;
export const HPET_STATUS = 0x020;
export const HPET_COUNTER = 0x0f0;
export const HPET_TIMER_BASE = 0x100;
export const HPET_TIMER_STRIDE = 0x20;
export const TN_CONFIG = 0x0;
export const TN_COMPARATOR = 0x8;
export const TN_FSB_ROUTE = 0x10;

export const CFG_ENABLE = 1n << 0n;
export const CFG_LEGACY = 1n << 1n;
export const TN_INT_TYPE_LEVEL = 1 << 1;
export const TN_INT_ENB = 1 << 2;
export const TN_TYPE_PERIODIC = 1 << 3;
export const TN_PER_INT_CAP = 1 << 4;
export const TN_SIZE_CAP = 1 << 5;
export const TN_VAL_SET = 1 << 6;
export const TN_32MODE = 1 << 8;
export const TN_INT_ROUTE_SHIFT = 9;
export const TN_INT_ROUTE_MASK = 0x1f << TN_INT_ROUTE_SHIFT;
export const TN_FSB_EN = 1 << 14;
export const TN_FSB_INT_DEL_CAP = 1 << 15;
/** Writable bits of Tn_CONF (low dword). */
const TN_WRITABLE = TN_INT_TYPE_LEVEL | TN_INT_ENB | TN_TYPE_PERIODIC | TN_VAL_SET | TN_32MODE | TN_INT_ROUTE_MASK | TN_FSB_EN;

/** 10 ns per tick: COUNTER_CLK_PERIOD = 10^7 fs (QEMU HPET_CLK_PERIOD). */
export const HPET_PERIOD_FS = 10_000_000;
export const HPET_TICK_NS = 10;
export const HPET_VENDOR_INTEL = 0x8086;
export const HPET_REVISION = 1;
/**
 * I/O APIC inputs each comparator may use: 2, 8 and 16–23 (QEMU pc_hpet_init's intcap 0x00FF0104 for q35 ≥ 1.7).
 */
export const HPET_INT_ROUTE_CAP = 0x00ff0104;

const TWO_64 = 1n << 64n;
const MASK64 = TWO_64 - 1n;

/** The capabilities register's low dword for `timers` comparators (spec 2.3.4). */
export function hpetCapabilitiesLow(timers: number): number {
  return ((HPET_VENDOR_INTEL << 16) | (1 << 15) /* LEG_RT_CAP */ | (1 << 13) /* COUNT_SIZE_CAP */ | ((timers - 1) << 8) | HPET_REVISION) >>> 0;
}

/** Where the HPET's line interrupts go. The machine wires these to the 8259 pair and the I/O APIC. */
export interface HpetLines {
  /** Timer 0/1 in legacy replacement: ISA IRQ 0 or 8 (8259 and I/O APIC input 2 or 8). */
  legacyIrq(irq: 0 | 8, asserted: boolean): void;
  /** I/O APIC input `pin`. */
  ioapicInput(pin: number, asserted: boolean): void;
  /**
   * LEG_RT_CNF changed. While it is set, timers 0 and 1 own IRQ0 and IRQ8 and the 8254's and the RTC's interrupts
   * are cut off (spec 2.3.9 LegacyReplacement Route; QEMU hpet_ram_write drops the PIT's output, `pit_enabled`).
   */
  legacyReplacementChanged?(on: boolean): void;
}

export interface HpetConfig {
  timers: number;
  /** Requester ID the FSB writes carry. */
  sourceId: number;
}

export interface HpetTimerState {
  config: number;
  comparator: string;
  period: string;
  fsb: string;
}

export interface HpetState {
  version: number;
  config: number;
  status: number;
  /** Main counter at `counterTime` (ns), as hex. */
  counter: string;
  counterTime: number;
  timers: HpetTimerState[];
}

export const HPET_STATE_VERSION = 1;

class HpetComparator {
  config: number;
  comparator = 0n;
  period = 0n;
  /** FSB route: FSB_INT_VAL in 31:0, FSB_INT_ADDR in 63:32. */
  fsb = 0n;
  /** The line this comparator drives now (-1 none; 100 + irq for a legacy IRQ). */
  driving = -1;
  readonly event: ClockTimer;
  readonly slot = new RouteSlot();

  constructor(readonly index: number, fire: (t: HpetComparator, now: number) => void) {
    // Every comparator: 64-bit capable and periodic capable (QEMU hpet_init sets both on all timers), FSB capable.
    this.config = TN_SIZE_CAP | TN_PER_INT_CAP | TN_FSB_INT_DEL_CAP;
    this.event = new ClockTimer((now) => fire(this, now), `hpet timer ${index}`);
  }

  get wide(): boolean {
    return (this.config & TN_32MODE) === 0;
  }
}

export class Hpet implements MmioDevice {
  readonly name = 'hpet';
  readonly timers: number;
  readonly sourceId: number;
  private generalConfig = 0n;
  private status = 0;
  /** Main counter value at `counterTime` ns. */
  private counterBase = 0n;
  private counterTime = 0;
  private readonly comparators: HpetComparator[] = [];

  constructor(
    opts: HpetConfig,
    private readonly clock: SimClock,
    private readonly lines: HpetLines,
    private readonly dma: DmaPort,
    private readonly events: EventHub,
  ) {
    if (!Number.isInteger(opts.timers) || opts.timers < 3 || opts.timers > 32) throw new ConfigError('legacy.hpetTimers', `must be 3..32, got ${showValue(opts.timers)}`);
    if (!Number.isInteger(opts.sourceId) || opts.sourceId < 0 || opts.sourceId > 0xffff) throw new ConfigError('hpet.sourceId', `must be a 16-bit requester ID, got ${showValue(opts.sourceId)}`);
    this.timers = opts.timers;
    this.sourceId = opts.sourceId;
    for (let i = 0; i < opts.timers; i++) this.comparators.push(new HpetComparator(i, (t, now) => this.fire(t, now)));
  }

  get enabled(): boolean {
    return (this.generalConfig & CFG_ENABLE) !== 0n;
  }

  get legacyReplacement(): boolean {
    return (this.generalConfig & CFG_LEGACY) !== 0n;
  }

  /** The main counter now. */
  counter(): bigint {
    if (!this.enabled) return this.counterBase;
    return (this.counterBase + BigInt(Math.floor((this.clock.now - this.counterTime) / HPET_TICK_NS))) & MASK64;
  }

  /** Capabilities and ID (spec 2.3.4): period in 63:32, the low dword from {@link hpetCapabilitiesLow}. */
  get capabilities(): bigint {
    return (BigInt(HPET_PERIOD_FS) << 32n) | BigInt(hpetCapabilitiesLow(this.timers));
  }

  // ---- MMIO --------------------------------------------------------------------------------------------------------

  read(offset: number, size: AccessSize): bigint {
    if ((size !== 4 && size !== 8) || offset % size !== 0) return 0n;
    const reg = offset & ~7;
    const value = this.readRegister(reg);
    const v = size === 8 ? value : (value >> BigInt(8 * (offset & 4))) & 0xffffffffn;
    if (this.events.active) this.events.hop('irqpath_hpet_read', [['addr', BigInt(offset)], ['size', size], ['val', v]]);
    return v;
  }

  write(offset: number, size: AccessSize, value: bigint): void {
    if ((size !== 4 && size !== 8) || offset % size !== 0) return;
    if (this.events.active) this.events.hop('irqpath_hpet_write', [['addr', BigInt(offset)], ['size', size], ['val', value]]);
    const reg = offset & ~7;
    const old = this.readRegister(reg);
    let v: bigint;
    if (size === 8) v = BigInt.asUintN(64, value);
    else {
      const shift = BigInt(8 * (offset & 4));
      v = (old & ~(0xffffffffn << shift)) | ((BigInt.asUintN(32, value)) << shift);
    }
    this.writeRegister(reg, v, size === 4 ? offset & 4 : -1);
  }

  private readRegister(reg: number): bigint {
    switch (reg) {
      case HPET_CAPABILITIES:
        return this.capabilities;
      case HPET_CONFIG:
        return this.generalConfig;
      case HPET_STATUS:
        return BigInt(this.status >>> 0);
      case HPET_COUNTER:
        return this.counter();
    }
    const t = this.timerAt(reg);
    if (t === null) return 0n;
    switch ((reg - HPET_TIMER_BASE) % HPET_TIMER_STRIDE) {
      case TN_CONFIG:
        return (BigInt(HPET_INT_ROUTE_CAP) << 32n) | BigInt(t.config >>> 0);
      case TN_COMPARATOR:
        return t.wide ? t.comparator : t.comparator & 0xffffffffn;
      case TN_FSB_ROUTE:
        return t.fsb;
      default:
        return 0n;
    }
  }

  /** `half` is 0 or 4 for a 32-bit write of that dword, -1 for a 64-bit write. */
  private writeRegister(reg: number, v: bigint, half: number): void {
    switch (reg) {
      case HPET_CAPABILITIES:
        return;
      case HPET_CONFIG:
        this.writeGeneralConfig(v & (CFG_ENABLE | CFG_LEGACY));
        return;
      case HPET_STATUS:
        this.clearStatus(Number(v & 0xffffffffn));
        return;
      case HPET_COUNTER:
        // The spec asks software to halt the counter first; a write while it runs takes effect from now.
        this.counterBase = v;
        this.counterTime = this.clock.now;
        for (const t of this.comparators) this.schedule(t);
        return;
    }
    const t = this.timerAt(reg);
    if (t === null) return;
    switch ((reg - HPET_TIMER_BASE) % HPET_TIMER_STRIDE) {
      case TN_CONFIG:
        this.writeTimerConfig(t, Number(v & 0xffffffffn));
        return;
      case TN_COMPARATOR:
        this.writeComparator(t, v, half);
        return;
      case TN_FSB_ROUTE:
        t.fsb = v;
        t.slot.invalidate();
        return;
    }
  }

  private timerAt(reg: number): HpetComparator | null {
    if (reg < HPET_TIMER_BASE) return null;
    const n = Math.floor((reg - HPET_TIMER_BASE) / HPET_TIMER_STRIDE);
    return n < this.timers ? this.comparators[n] : null;
  }

  private writeGeneralConfig(v: bigint): void {
    const wasEnabled = this.enabled;
    const wasLegacy = this.legacyReplacement;
    // Halting keeps the counter's value; starting counts from it.
    if (wasEnabled && (v & CFG_ENABLE) === 0n) this.counterBase = this.counter();
    if (!wasEnabled && (v & CFG_ENABLE) !== 0n) this.counterTime = this.clock.now;
    this.generalConfig = v;
    if (wasLegacy !== this.legacyReplacement) {
      for (const t of this.comparators.slice(0, 2)) this.releaseLine(t);
      this.lines.legacyReplacementChanged?.(this.legacyReplacement);
    }
    for (const t of this.comparators) {
      if (!this.enabled) this.releaseLine(t);
      this.schedule(t);
    }
  }

  private writeTimerConfig(t: HpetComparator, value: number): void {
    const fixed = TN_SIZE_CAP | TN_PER_INT_CAP | TN_FSB_INT_DEL_CAP;
    let route = (value & TN_INT_ROUTE_MASK) >>> TN_INT_ROUTE_SHIFT;
    if ((HPET_INT_ROUTE_CAP & (1 << route)) === 0) route = (t.config & TN_INT_ROUTE_MASK) >>> TN_INT_ROUTE_SHIFT;
    const next = (fixed | (value & TN_WRITABLE & ~TN_INT_ROUTE_MASK) | (route << TN_INT_ROUTE_SHIFT)) >>> 0;
    const routeChanged = ((next ^ t.config) & (TN_INT_ROUTE_MASK | TN_FSB_EN | TN_INT_TYPE_LEVEL | TN_INT_ENB)) !== 0;
    if (routeChanged) this.releaseLine(t);
    t.config = next;
    if (!t.wide) {
      t.comparator &= 0xffffffffn;
      t.period &= 0xffffffffn;
    }
    this.schedule(t);
  }

  /**
   * A comparator write (QEMU hpet_ram_write HPET_TN_CMP, matching spec 2.3.9.2.2): a one-shot timer, or a periodic
   * one with Tn_VAL_SET_CNF, takes the value as its comparator; a periodic timer takes it as its period too.
   * Tn_VAL_SET_CNF clears itself.
   */
  private writeComparator(t: HpetComparator, v: bigint, half: number): void {
    const value = t.wide ? v : v & 0xffffffffn;
    const periodic = (t.config & TN_TYPE_PERIODIC) !== 0;
    const merge = (old: bigint): bigint => (half === -1 ? value : half === 0 ? (old & ~0xffffffffn) | (value & 0xffffffffn) : (old & 0xffffffffn) | (value & ~0xffffffffn));
    if (!periodic || (t.config & TN_VAL_SET) !== 0) t.comparator = merge(t.comparator);
    if (periodic) t.period = merge(t.period);
    t.config = (t.config & ~TN_VAL_SET) >>> 0;
    this.schedule(t);
  }

  // ---- Timing ------------------------------------------------------------------------------------------------------

  /** Arm `t`'s clock event for the next time the counter equals its comparator (or disarm it). */
  private schedule(t: HpetComparator): void {
    if (!this.enabled) {
      this.clock.disarm(t.event);
      return;
    }
    const width = t.wide ? TWO_64 : 1n << 32n;
    const now = this.counter() & (width - 1n);
    let ticks = (t.comparator - now + width) % width;
    if (ticks === 0n) ticks = width; // equal now: the match already happened; the next is a full wrap away
    const ns = this.nsUntilTick(ticks);
    if (ns === null) this.clock.disarm(t.event);
    else this.clock.arm(t.event, ns);
  }

  /** The clock time at which the counter will have advanced by `ticks`, or null beyond the clock's range. */
  private nsUntilTick(ticks: bigint): number | null {
    const elapsed = this.clock.now - this.counterTime;
    const into = elapsed % HPET_TICK_NS; // time since the last counter increment
    const at = BigInt(this.clock.now - into) + ticks * BigInt(HPET_TICK_NS);
    return at > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(at);
  }

  private fire(t: HpetComparator, _now: number): void {
    if ((t.config & TN_TYPE_PERIODIC) !== 0 && t.period !== 0n) {
      const width = t.wide ? TWO_64 : 1n << 32n;
      t.comparator = (t.comparator + t.period) % width;
    }
    this.schedule(t);
    this.raise(t);
  }

  private raise(t: HpetComparator): void {
    if ((t.config & TN_INT_ENB) === 0) return;
    this.events.beginFlow();
    if (this.events.active) this.events.hop('irqpath_hpet_timer_fire', [['timer', t.index], ['comparator', t.comparator]]);
    if (t.config & TN_FSB_EN) {
      const addr = Number(t.fsb >> 32n);
      this.dma.sendMessage(this.sourceId, 0, addr, Number(t.fsb & 0xffffffffn), t.slot);
      return;
    }
    const line = this.lineOf(t);
    if (t.config & TN_INT_TYPE_LEVEL) {
      this.status |= 1 << t.index;
      if (t.driving !== line) {
        this.releaseLine(t);
        t.driving = line;
        this.drive(line, true);
      }
      return;
    }
    this.drive(line, true);
    this.drive(line, false);
  }

  /** 100 + IRQ for a legacy-replacement route, else the I/O APIC input. */
  private lineOf(t: HpetComparator): number {
    if (this.legacyReplacement && t.index < 2) return t.index === 0 ? 100 : 108;
    return (t.config & TN_INT_ROUTE_MASK) >>> TN_INT_ROUTE_SHIFT;
  }

  private drive(line: number, asserted: boolean): void {
    if (line >= 100) this.lines.legacyIrq(line === 100 ? 0 : 8, asserted);
    else this.lines.ioapicInput(line, asserted);
  }

  private releaseLine(t: HpetComparator): void {
    if (t.driving < 0) return;
    this.drive(t.driving, false);
    t.driving = -1;
  }

  /** General Interrupt Status: writing 1 clears a level timer's bit and releases its line (spec 2.3.6). */
  private clearStatus(mask: number): void {
    for (const t of this.comparators) {
      if ((mask & (1 << t.index)) === 0 || (this.status & (1 << t.index)) === 0) continue;
      this.status &= ~(1 << t.index);
      this.releaseLine(t);
    }
  }

  // ---- State -------------------------------------------------------------------------------------------------------

  save(): HpetState {
    const hex = (v: bigint) => '0x' + v.toString(16);
    return {
      version: HPET_STATE_VERSION,
      config: Number(this.generalConfig),
      status: this.status >>> 0,
      counter: hex(this.counterBase),
      counterTime: this.counterTime,
      timers: this.comparators.map((t) => ({ config: t.config, comparator: hex(t.comparator), period: hex(t.period), fsb: hex(t.fsb) })),
    };
  }

  /** Validate, then load and re-arm the comparators. Drives no line: the machine restores the wires itself. */
  restore(state: unknown): void {
    const bad = (field: string, why: string): never => {
      throw new UsageError(`hpet state.${field}: ${why}`);
    };
    if (typeof state !== 'object' || state === null) return bad('state', 'expected an object');
    const s = state as Record<string, unknown>;
    const hex64 = (v: unknown, field: string): bigint => {
      if (typeof v !== 'string' || !/^0x[0-9a-f]{1,16}$/i.test(v)) bad(field, 'expected a hex string "0x..." of at most 64 bits');
      return BigInt(v as string);
    };
    if (s.version !== HPET_STATE_VERSION) bad('version', `expected ${HPET_STATE_VERSION}, got ${JSON.stringify(s.version)}`);
    if (s.config !== 0 && s.config !== 1 && s.config !== 2 && s.config !== 3) bad('config', 'expected 0..3 (ENABLE_CNF, LEG_RT_CNF)');
    if (typeof s.status !== 'number' || !Number.isInteger(s.status) || s.status < 0 || s.status >= 2 ** this.timers) bad('status', `expected a bit per timer (${this.timers} timers)`);
    const counter = hex64(s.counter, 'counter');
    if (typeof s.counterTime !== 'number' || !Number.isInteger(s.counterTime) || s.counterTime < 0) bad('counterTime', 'expected a time in ns');
    if (!Array.isArray(s.timers) || s.timers.length !== this.timers) return bad('timers', `expected ${this.timers} timer states`);
    const timers = (s.timers as Record<string, unknown>[]).map((t, i) => {
      if (typeof t !== 'object' || t === null) bad(`timers[${i}]`, 'expected an object');
      const config = t.config;
      if (typeof config !== 'number' || !Number.isInteger(config) || config < 0 || config > 0xffffffff) return bad(`timers[${i}].config`, 'expected a 32-bit value');
      if ((config & ~(TN_WRITABLE | TN_SIZE_CAP | TN_PER_INT_CAP | TN_FSB_INT_DEL_CAP)) !== 0) bad(`timers[${i}].config`, 'reserved bits set');
      return { config, comparator: hex64(t.comparator, `timers[${i}].comparator`), period: hex64(t.period, `timers[${i}].period`), fsb: hex64(t.fsb, `timers[${i}].fsb`) };
    });
    this.generalConfig = BigInt(s.config as number);
    this.status = s.status as number;
    this.counterBase = counter;
    this.counterTime = s.counterTime as number;
    this.comparators.forEach((t, i) => {
      Object.assign(t, timers[i]);
      t.slot.invalidate();
      // The wires are restored with the machine's (their counts include this timer's): only remember which line
      // this timer holds, so that clearing its status bit later releases it.
      const holds = this.enabled && (this.status & (1 << i)) !== 0 && (t.config & (TN_INT_TYPE_LEVEL | TN_INT_ENB | TN_FSB_EN)) === (TN_INT_TYPE_LEVEL | TN_INT_ENB);
      t.driving = holds ? this.lineOf(t) : -1;
      this.schedule(t);
    });
  }
}
