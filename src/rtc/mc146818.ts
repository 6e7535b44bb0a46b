/**
 * The PC's real-time clock (Motorola MC146818A data sheet; ICH9 datasheet 13.6 "Real Time Clock Registers"): index
 * port 0x70, data port 0x71, the time and alarm registers 0x00–0x09, registers A–D at 0x0A–0x0D and CMOS RAM to
 * 0x7F, with the century at 0x32 kept by the clock as QEMU does. Its interrupt is ISA IRQ8.
 *
 * - Register A: UIP (bit 7, read-only), DV2–0 (6:4; 010 = the 32.768 kHz time base runs, 11x = divider chain held
 *   in reset), RS3–0 (3:0) the periodic rate: RS = 1 and 2 give 256 and 128 Hz, RS = 3..15 give 32768 >> (RS − 1) Hz,
 *   0 none.
 * - Register B: SET (7: updates stop; setting it clears UIE), PIE (6), AIE (5), UIE (4), SQWE (3), DM (2: 1 =
 *   binary, 0 = BCD), 24/12 (1), DSE (0, not modelled: no daylight-saving switch).
 * - Register C, read-only: IRQF (7), PF (6), AF (5), UF (4). PF is set at every period, UF at every update, AF at an
 *   update whose time matches the alarm (alarm bytes 0xC0–0xFF match anything) — whether or not their enables are
 *   set. IRQF = PF·PIE + AF·AIE + UF·UIE, and IRQ8 stays asserted while IRQF is 1: reading register C clears every
 *   flag and releases the line. A handler that never reads it gets no second interrupt on an edge-triggered input.
 * - Register D: VRT (bit 7) reads 1.
 *
 * Time: the divider chain starts at power-on; periods fall on multiples of the period from its start (as QEMU's
 * periodic_timer_update aligns them), updates on whole seconds. Leaving divider reset starts the chain so that the
 * first update comes half a second later (data sheet, "Divider control"). The update cycle is taken as instantaneous
 * at the second (QEMU's model); UIP reads 1 during the 244 µs before it. The time starts at 2000-01-01 00:00:00.
 *
 * Only what software can see is kept exact: flags are worked out from the clock when register C is read, and clock
 * events are armed only for the interrupts enabled, one at a time, and none while IRQF holds the line (nothing could
 * change it). QEMU's hw/rtc/mc146818rtc.c has no trace events in 7.2; the hops are irqpath_rtc_*.
 */
import { UsageError } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import type { PortIoDevice } from '../core/mmio.ts';
import { ClockTimer, type SimClock } from '../core/sim-clock.ts';

export const RTC_INDEX_PORT = 0x70;
export const RTC_DATA_PORT = 0x71;
export const RTC_REG_A = 0x0a;
export const RTC_REG_B = 0x0b;
export const RTC_REG_C = 0x0c;
export const RTC_REG_D = 0x0d;
export const REG_A_UIP = 0x80;
export const REG_B_SET = 0x80;
export const REG_B_PIE = 0x40;
export const REG_B_AIE = 0x20;
export const REG_B_UIE = 0x10;
export const REG_B_DM_BINARY = 0x04;
export const REG_B_24H = 0x02;
export const REG_C_IRQF = 0x80;
export const REG_C_PF = 0x40;
export const REG_C_AF = 0x20;
export const REG_C_UF = 0x10;
export const REG_D_VRT = 0x80;
/** The century byte in CMOS RAM that QEMU keeps with the clock and ACPI's FADT names (REG_IBM_CENTURY_BYTE). */
export const RTC_CENTURY = 0x32;
/** The time base: 32.768 kHz. */
export const RTC_HZ = 32768;
const NS_PER_S = 1_000_000_000;
/** UIP is set this long before the update: 8 periods of 32.768 kHz, 244.140625 µs (QEMU UIP_HOLD_LENGTH). */
const UIP_HOLD_NS = Math.ceil((8 * NS_PER_S) / RTC_HZ);
/** 2000-01-01 00:00:00 UTC, in seconds since 1970. */
const DEFAULT_EPOCH_S = 946_684_800;
export const RTC_STATE_VERSION = 1;

export interface RtcState {
  version: number;
  index: number;
  /** CMOS bytes 0x0E–0x7F and registers A, B (as hex text). */
  cmos: string;
  regA: number;
  regB: number;
  /** Flags of register C not yet read, as of `flagsAt`. */
  flags: number;
  flagsAt: number;
  /** Seconds since 1970 at `timeAt` ns, and the divider chain's start. */
  seconds: number;
  timeAt: number;
  chainStart: number;
  alarm: number[];
}

/** The first multiple of `period` ticks after tick `after`, as a tick number (ticks of 32.768 kHz). */
function nextMultiple(after: number, period: number): number {
  return (Math.floor(after / period) + 1) * period;
}

/** 32.768 kHz ticks by time `ns` (edges at or before it) since `origin`. */
function ticksSince(ns: number, origin: number): number {
  const d = ns - origin;
  const s = Math.floor(d / NS_PER_S);
  return s * RTC_HZ + Math.floor(((d - s * NS_PER_S) * RTC_HZ) / NS_PER_S);
}

/** The first nanosecond at or after tick `tick` from `origin`. */
function tickTime(tick: number, origin: number): number {
  const s = Math.floor(tick / RTC_HZ);
  return origin + s * NS_PER_S + Math.ceil(((tick - s * RTC_HZ) * NS_PER_S) / RTC_HZ);
}

export class Mc146818 implements PortIoDevice {
  readonly name = 'mc146818';
  private index = 0;
  private readonly cmos = new Uint8Array(128);
  private regA = 0x26; // DV = 010, RS = 0110 (1024 Hz): the value PC firmware leaves
  private regB = REG_B_24H;
  private flags = 0;
  private flagsAt = 0;
  /** The time of day: `seconds` (since 1970) at `timeAt` ns; it advances by whole seconds at updates. */
  private seconds = DEFAULT_EPOCH_S;
  private timeAt = 0;
  /** When the divider chain started (ns): updates fall at chainStart + k s, periods at multiples from it. */
  private chainStart = 0;
  private readonly alarm = [0, 0, 0];
  private irq = false;
  private readonly event: ClockTimer;

  constructor(
    private readonly clock: SimClock,
    /** IRQF changed: IRQ8 asserted while it is 1. */
    private readonly irq8: (level: boolean) => void,
    private readonly events: EventHub,
  ) {
    this.event = new ClockTimer((now) => this.due(now), 'rtc');
  }

  /** Whether IRQ8 is asserted (IRQF). */
  get output(): boolean {
    return this.irq;
  }

  private get running(): boolean {
    return ((this.regA >> 4) & 7) === 2;
  }

  /** The periodic rate's period in 32.768 kHz ticks, or 0 for none. */
  private get periodTicks(): number {
    const rs = this.regA & 0x0f;
    if (rs === 0) return 0;
    return rs <= 2 ? 1 << (rs + 6) : 1 << (rs - 1);
  }

  // ---- Ports ------------------------------------------------------------------------------------------------------

  ioRead(port: number): number {
    if (port !== RTC_DATA_PORT) return 0xff; // the index port is write-only
    const value = this.readRegister(this.index);
    if (this.events.active) this.events.hop('irqpath_rtc_read', [['index', this.index], ['val', value]]);
    return value;
  }

  ioWrite(port: number, value: number): void {
    if (port === RTC_INDEX_PORT) {
      // Bit 7 is the PC's NMI mask, not the RTC's.
      this.index = value & 0x7f;
      return;
    }
    if (this.events.active) this.events.hop('irqpath_rtc_write', [['index', this.index], ['val', value]]);
    this.writeRegister(this.index, value);
  }

  private readRegister(index: number): number {
    const now = this.clock.now;
    switch (index) {
      case RTC_REG_A:
        return this.regA | (this.running && (this.regB & REG_B_SET) === 0 && this.nextUpdate(now) - now <= UIP_HOLD_NS ? REG_A_UIP : 0);
      case RTC_REG_B:
        return this.regB;
      case RTC_REG_C: {
        this.catchUp(now);
        const c = this.flags | (this.irqf() ? REG_C_IRQF : 0);
        this.flags = 0;
        this.drive(false);
        this.schedule();
        return c;
      }
      case RTC_REG_D:
        return REG_D_VRT;
      case RTC_CENTURY:
        return this.encode(this.fields(now)[7]);
      default:
        if (index <= 9) return this.timeRegister(index, now);
        return this.cmos[index];
    }
  }

  private writeRegister(index: number, value: number): void {
    const now = this.clock.now;
    this.catchUp(now);
    switch (index) {
      case RTC_REG_A: {
        const wasRunning = this.running;
        this.regA = value & 0x7f;
        // Leaving divider reset: the first update comes 500 ms later.
        if (!wasRunning && this.running) {
          this.chainStart = now - NS_PER_S / 2;
          this.timeAt = now;
        }
        break;
      }
      case RTC_REG_B: {
        let v = value;
        if (v & REG_B_SET) v &= ~REG_B_UIE;
        this.regB = v;
        break;
      }
      case RTC_REG_C:
      case RTC_REG_D:
        return; // read-only
      default:
        if (index <= 9 || index === RTC_CENTURY) this.setTimeRegister(index, value, now);
        else this.cmos[index] = value;
    }
    this.drive(this.irqf());
    this.schedule();
  }

  // ---- Time of day ------------------------------------------------------------------------------------------------

  /** The next update (whole second of the divider chain) after `ns`. */
  private nextUpdate(ns: number): number {
    return this.chainStart + (Math.floor((ns - this.chainStart) / NS_PER_S) + 1) * NS_PER_S;
  }

  /** Seconds since 1970 at `ns`: one more at every update since `timeAt`, none while SET or the chain is held. */
  private secondsAt(ns: number): number {
    if (!this.running || (this.regB & REG_B_SET) !== 0) return this.seconds;
    return this.seconds + this.updatesBetween(this.timeAt, ns);
  }

  /** Updates in (from, to]. */
  private updatesBetween(from: number, to: number): number {
    if (to <= from) return 0;
    return Math.floor((to - this.chainStart) / NS_PER_S) - Math.floor((from - this.chainStart) / NS_PER_S);
  }

  /** Fields of the time of day at `ns`: [sec, min, hour, weekday 1–7, date, month, year 0–99, century]. */
  private fields(ns: number): number[] {
    const d = new Date(this.secondsAt(ns) * 1000);
    const year = d.getUTCFullYear();
    return [d.getUTCSeconds(), d.getUTCMinutes(), d.getUTCHours(), d.getUTCDay() + 1, d.getUTCDate(), d.getUTCMonth() + 1, year % 100, Math.floor(year / 100)];
  }

  private encode(v: number): number {
    return this.regB & REG_B_DM_BINARY ? v : ((Math.floor(v / 10) % 10) << 4) | v % 10;
  }

  private decode(v: number): number {
    return this.regB & REG_B_DM_BINARY ? v : ((v >> 4) & 0xf) * 10 + (v & 0xf);
  }

  /** Hours as the registers hold them: 0–23, or 1–12 with bit 7 = PM in 12-hour mode. */
  private encodeHour(h: number): number {
    if (this.regB & REG_B_24H) return this.encode(h);
    const pm = h >= 12 ? 0x80 : 0;
    return this.encode(h % 12 === 0 ? 12 : h % 12) | pm;
  }

  private decodeHour(v: number): number {
    if (this.regB & REG_B_24H) return this.decode(v);
    const h = this.decode(v & 0x7f) % 12;
    return v & 0x80 ? h + 12 : h;
  }

  private timeRegister(index: number, ns: number): number {
    switch (index) {
      case 1:
        return this.alarm[0];
      case 3:
        return this.alarm[1];
      case 5:
        return this.alarm[2];
    }
    const f = this.fields(ns);
    const i = [0, -1, 1, -1, 2, -1, 3, 4, 5, 6][index];
    return i === 2 ? this.encodeHour(f[2]) : this.encode(f[i]);
  }

  private setTimeRegister(index: number, value: number, ns: number): void {
    if (index === 1 || index === 3 || index === 5) {
      this.alarm[(index - 1) / 2] = value;
      return;
    }
    const f = this.fields(ns);
    const i = index === RTC_CENTURY ? 7 : [0, -1, 1, -1, 2, -1, 3, 4, 5, 6][index];
    if (i === 3) return; // the day of week is kept by the calendar here, not stored
    f[i] = i === 2 ? this.decodeHour(value) : this.decode(value);
    const year = f[7] * 100 + f[6];
    this.seconds = Math.floor(Date.UTC(year, f[5] - 1, f[4], f[2], f[1], f[0]) / 1000);
    this.timeAt = ns;
  }

  /**
   * Whether the alarm matches the time of day `seconds` (an alarm byte of 0xC0–0xFF matches anything). Worked out from
   * the seconds since 1970 (a UTC day is 86 400 s), so an update allocates nothing.
   */
  private alarmMatches(seconds: number): boolean {
    const a = this.alarm;
    return (
      (a[0] >= 0xc0 || a[0] === this.encode(seconds % 60)) &&
      (a[1] >= 0xc0 || a[1] === this.encode(Math.floor(seconds / 60) % 60)) &&
      (a[2] >= 0xc0 || a[2] === this.encodeHour(Math.floor(seconds / 3600) % 24))
    );
  }

  // ---- Flags and the line -----------------------------------------------------------------------------------------

  private irqf(): boolean {
    return (this.flags & (this.regB & (REG_B_PIE | REG_B_AIE | REG_B_UIE)) & 0x70) !== 0;
  }

  /** Set the flags for every period and update in (flagsAt, now]. */
  private catchUp(now: number): void {
    const from = this.flagsAt;
    this.flagsAt = now;
    if (now <= from) return;
    if (!this.running) {
      this.timeAt = now; // the chain is held: no periods, no updates
      return;
    }
    const period = this.periodTicks;
    if (period !== 0 && nextMultiple(ticksSince(from, this.chainStart), period) <= ticksSince(now, this.chainStart)) this.flags |= REG_C_PF;
    if (this.regB & REG_B_SET) {
      this.timeAt = now; // SET: the time stands still
      return;
    }
    const updates = this.updatesBetween(from, now);
    if (updates === 0) return;
    this.flags |= REG_C_UF;
    // The alarm: any update in the window whose time matches (at most a day of seconds to look at).
    const last = this.secondsAt(now);
    for (let k = 0; k < Math.min(updates, 86_400); k++) {
      if (this.alarmMatches(last - k)) {
        this.flags |= REG_C_AF;
        break;
      }
    }
    // Time advanced by those updates.
    this.seconds = last;
    this.timeAt = now;
  }

  private drive(level: boolean): void {
    if (level === this.irq) return;
    this.irq = level;
    if (this.events.active) this.events.hop('irqpath_rtc_irq', [['level', level ? 1 : 0]]);
    this.irq8(level);
  }

  /** Arm the clock for the next enabled interrupt — none while IRQF holds the line, or when nothing is enabled. */
  private schedule(): void {
    const now = this.clock.now;
    let next = Infinity;
    if (!this.irq && this.running) {
      const period = this.periodTicks;
      if ((this.regB & REG_B_PIE) !== 0 && period !== 0) next = tickTime(nextMultiple(ticksSince(now, this.chainStart), period), this.chainStart);
      if ((this.regB & (REG_B_UIE | REG_B_AIE)) !== 0 && (this.regB & REG_B_SET) === 0) next = Math.min(next, this.nextUpdate(now));
    }
    if (next === Infinity) this.clock.disarm(this.event);
    else this.clock.arm(this.event, next);
  }

  private due(now: number): void {
    this.catchUp(now);
    this.drive(this.irqf());
    this.schedule();
  }

  // ---- State ------------------------------------------------------------------------------------------------------

  save(): RtcState {
    this.catchUp(this.clock.now);
    const hex = Array.from(this.cmos, (b) => b.toString(16).padStart(2, '0')).join('');
    return { version: RTC_STATE_VERSION, index: this.index, cmos: hex, regA: this.regA, regB: this.regB, flags: this.flags, flagsAt: this.flagsAt, seconds: this.seconds, timeAt: this.timeAt, chainStart: this.chainStart, alarm: [...this.alarm] };
  }

  /** Validate, load and re-arm; drives no line (the machine restores the wires). Absent state: a fresh RTC. */
  restore(state: unknown): void {
    if (state === undefined) {
      // A snapshot from before the RTC was modelled: the RTC as at power-on.
      this.cmos.fill(0);
      Object.assign(this, { index: 0, regA: 0x26, regB: REG_B_24H, flags: 0, flagsAt: 0, seconds: DEFAULT_EPOCH_S, timeAt: 0, chainStart: 0, irq: false });
      this.alarm.fill(0);
      this.schedule();
      return;
    }
    const bad = (why: string): never => {
      throw new UsageError(`rtc state.${why}`);
    };
    if (typeof state !== 'object' || state === null) return bad('state: expected an object');
    const s = state as Record<string, unknown>;
    const int = (k: string, min: number, max: number): number => {
      const v = s[k];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) bad(`${k}: expected an integer ${min}..${max}`);
      return v as number;
    };
    if (s.version !== RTC_STATE_VERSION) bad(`version: expected ${RTC_STATE_VERSION}`);
    if (typeof s.cmos !== 'string' || !/^[0-9a-f]{256}$/.test(s.cmos)) bad('cmos: expected 256 hex digits');
    if (!Array.isArray(s.alarm) || s.alarm.length !== 3 || !s.alarm.every((b) => Number.isInteger(b) && b >= 0 && b <= 0xff)) bad('alarm: expected 3 bytes');
    const v = { index: int('index', 0, 0x7f), regA: int('regA', 0, 0x7f), regB: int('regB', 0, 0xff), flags: int('flags', 0, 0x70), flagsAt: int('flagsAt', 0, Number.MAX_SAFE_INTEGER), seconds: int('seconds', 0, 2 ** 40), timeAt: int('timeAt', 0, Number.MAX_SAFE_INTEGER), chainStart: int('chainStart', -NS_PER_S, Number.MAX_SAFE_INTEGER) };
    this.cmos.set((s.cmos as string).match(/../g)!.map((b) => parseInt(b, 16)));
    Object.assign(this, v);
    this.alarm.splice(0, 3, ...(s.alarm as number[]));
    this.irq = this.irqf();
    this.schedule();
  }
}
