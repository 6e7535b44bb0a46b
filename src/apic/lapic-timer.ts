/**
 * The local APIC timer (SDM Vol. 3A 10.5.4): a 32-bit down-counter clocked by the bus clock through the divide
 * configuration register, in one-shot, periodic or TSC-deadline mode (LVT Timer bits 18:17 = 00, 01, 10; 11 is
 * reserved and does not count), with the IA32_TSC_DEADLINE MSR (0x6E0, SDM 10.5.4.1).
 *
 * Time is the machine's {@link SimClock}. The counter is not stepped: the timer remembers the count it had at a base
 * time and computes the current count from the clock when software reads TMCCT, and arms one clock event for the
 * moment the count reaches zero. So an idle CPU costs nothing when time advances, and firing allocates nothing.
 *
 * Rules taken from the SDM (and, where it is silent, KVM arch/x86/kvm/lapic.c, named where used):
 * - Writing TMICT (one-shot, periodic) copies it to the current count and starts counting; writing 0 stops the timer.
 *   In TSC-deadline mode TMICT writes are ignored and TMCCT reads 0.
 * - At zero: one-shot stops (TMCCT stays 0); periodic reloads from TMICT and counts again. The period is TMICT ticks
 *   (KVM `lapic_timer.period = tmict * APIC_BUS_CYCLE_NS * divide`).
 * - The LVT mask inhibits the interrupt only: the counter keeps running and a periodic timer keeps reloading.
 * - Changing the divider while counting keeps the current count and continues at the new rate.
 * - "Transitions between TSC-deadline mode and other timer modes also disarm the timer" (10.5.4.1): TMICT and the
 *   deadline become 0 (KVM apic_update_lvtt). Switching between one-shot and periodic keeps counting.
 * - IA32_TSC_DEADLINE outside TSC-deadline mode reads 0 and ignores writes; a deadline at or before the current TSC
 *   fires at once; writing 0 disarms; firing clears the MSR.
 */
import { ClockTimer, type SimClock } from '../core/sim-clock.ts';

export const TIMER_MODE_SHIFT = 17;
export const TimerMode = { OneShot: 0, Periodic: 1, TscDeadline: 2, Reserved: 3 } as const;
export type TimerModeValue = (typeof TimerMode)[keyof typeof TimerMode];

/** The divide value TDCR encodes (bits 3, 1:0; SDM Figure 10-10): 0000 → 2, 0001 → 4, … 1010 → 128, 1011 → 1. */
export function timerDivide(tdcr: number): number {
  const code = (tdcr & 3) | ((tdcr >>> 1) & 4);
  return 1 << ((code + 1) & 7);
}

export function timerMode(lvtTimer: number): TimerModeValue {
  return ((lvtTimer >>> TIMER_MODE_SHIFT) & 3) as TimerModeValue;
}

/** The clock rates the timer needs. */
export interface LapicTiming {
  clock: SimClock;
  /** Nanoseconds per APIC bus clock (KVM APIC_BUS_CYCLE_NS: 1, a 1 GHz timer clock; QEMU's TCG APIC also 1 ns). */
  busCycleNs: number;
  /** TSC frequency in Hz (IA32_TSC_DEADLINE is compared with the TSC). */
  tscHz: number;
}

/** TSC value at simulated time `ns`: floor(ns · tscHz / 10^9). */
export function tscAt(ns: number, tscHz: number): bigint {
  return (BigInt(ns) * BigInt(tscHz)) / 1_000_000_000n;
}

/** The timer's dynamic state (the registers TMICT/TDCR/LVT Timer live in the LAPIC). */
export interface LapicTimerState {
  running: boolean;
  /** Count at `baseTime` (ns). */
  countBase: number;
  baseTime: number;
  /** IA32_TSC_DEADLINE as "0x…". */
  tscDeadline: string;
}

/** The registers the timer reads from its LAPIC. */
export interface TimerRegisters {
  readonly tmict: number;
  readonly tdcr: number;
  /** LVT Timer entry. */
  readonly lvtTimer: number;
}

export class LapicTimer {
  running = false;
  countBase = 0;
  baseTime = 0;
  tscDeadline = 0n;
  private readonly event: ClockTimer;

  constructor(
    private readonly timing: LapicTiming,
    private readonly regs: TimerRegisters,
    /** The count reached zero (or the deadline passed): raise the LVT Timer interrupt unless masked. */
    private readonly expire: () => void,
    name: string,
  ) {
    this.event = new ClockTimer((now) => this.fire(now), name);
  }

  private get tickNs(): number {
    return timerDivide(this.regs.tdcr) * this.timing.busCycleNs;
  }

  private get mode(): TimerModeValue {
    return timerMode(this.regs.lvtTimer);
  }

  /** TMICT was written with `tmict` (the LAPIC has stored it). */
  initialCountWritten(): void {
    const mode = this.mode;
    if (mode === TimerMode.TscDeadline || mode === TimerMode.Reserved) return;
    this.startCount(this.regs.tmict, this.timing.clock.now);
  }

  /** TDCR is about to change from `oldTdcr`: keep the current count, continue at the new rate. */
  divideChanging(oldTdcr: number): number {
    if (!this.running) return 0;
    const now = this.timing.clock.now;
    return this.countAt(now, timerDivide(oldTdcr) * this.timing.busCycleNs);
  }

  /** TDCR changed; `count` is what {@link divideChanging} returned. */
  divideChanged(count: number): void {
    if (this.running) this.startCount(count, this.timing.clock.now);
  }

  /** LVT Timer changed from `oldLvt`. Returns true when the LAPIC must zero TMICT (a TSC-deadline transition). */
  lvtChanged(oldLvt: number): boolean {
    const from = timerMode(oldLvt);
    const to = this.mode;
    if (from === to) return false;
    if (from === TimerMode.TscDeadline || to === TimerMode.TscDeadline) {
      this.stop();
      this.tscDeadline = 0n;
      return true;
    }
    if (to === TimerMode.Reserved) this.stop();
    return false;
  }

  /** TMCCT. */
  currentCount(): number {
    if (!this.running || this.mode === TimerMode.TscDeadline) return 0;
    return this.countAt(this.timing.clock.now, this.tickNs);
  }

  private countAt(now: number, tickNs: number): number {
    const ticks = Math.floor((now - this.baseTime) / tickNs);
    if (ticks < this.countBase) return this.countBase - ticks;
    const tmict = this.regs.tmict;
    if (this.mode !== TimerMode.Periodic || tmict === 0) return 0;
    return tmict - ((ticks - this.countBase) % tmict);
  }

  // ---- IA32_TSC_DEADLINE -----------------------------------------------------------------------------------------

  readDeadline(): bigint {
    return this.mode === TimerMode.TscDeadline ? this.tscDeadline : 0n;
  }

  writeDeadline(value: bigint): void {
    if (this.mode !== TimerMode.TscDeadline) return;
    const { clock, tscHz } = this.timing;
    this.tscDeadline = value;
    if (value === 0n) {
      this.stop();
      return;
    }
    if (value <= tscAt(clock.now, tscHz)) {
      this.stop();
      this.fire(clock.now);
      return;
    }
    this.running = true;
    clock.arm(this.event, this.deadlineNs(value));
  }

  /** The first nanosecond whose TSC reaches `tsc`: ceil(tsc · 10^9 / tscHz), capped at the clock's range. */
  private deadlineNs(tsc: bigint): number {
    const hz = BigInt(this.timing.tscHz);
    const ns = (tsc * 1_000_000_000n + hz - 1n) / hz;
    return ns > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ns);
  }

  // ---- Counting --------------------------------------------------------------------------------------------------

  private startCount(count: number, now: number): void {
    if (count === 0) {
      this.stop();
      return;
    }
    this.running = true;
    this.countBase = count;
    this.baseTime = now;
    this.timing.clock.arm(this.event, now + count * this.tickNs);
  }

  stop(): void {
    this.running = false;
    this.timing.clock.disarm(this.event);
  }

  private fire(now: number): void {
    switch (this.mode) {
      case TimerMode.Periodic:
        this.startCount(this.regs.tmict, now);
        break;
      case TimerMode.TscDeadline:
        this.running = false;
        this.tscDeadline = 0n;
        break;
      default:
        this.running = false;
        this.countBase = 0;
    }
    this.expire();
  }

  // ---- State -------------------------------------------------------------------------------------------------------

  save(): LapicTimerState {
    return { running: this.running, countBase: this.countBase, baseTime: this.baseTime, tscDeadline: '0x' + this.tscDeadline.toString(16) };
  }

  /** Load a validated state and re-arm the clock event for the next zero (or the deadline). */
  load(s: LapicTimerState): void {
    this.stop();
    this.countBase = s.countBase;
    this.baseTime = s.baseTime;
    this.tscDeadline = BigInt(s.tscDeadline);
    if (!s.running) return;
    this.running = true;
    const now = this.timing.clock.now;
    if (this.mode === TimerMode.TscDeadline) {
      // Re-armed, not fired: a restore sends nothing; a deadline already passed fires at the next advance.
      this.timing.clock.arm(this.event, Math.max(now, this.deadlineNs(this.tscDeadline)));
      return;
    }
    if (this.baseTime > now) this.baseTime = now;
    const tick = this.tickNs;
    // The next zero: the current count's worth of ticks after the last tick boundary (a count of 0 fires at once).
    const at = now - ((now - this.baseTime) % tick) + this.countAt(now, tick) * tick;
    this.timing.clock.arm(this.event, Math.max(at, now));
  }
}
