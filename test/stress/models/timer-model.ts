/**
 * When the LAPIC timer and an HPET comparator expire, from the Intel SDM Vol. 3A §10.5.4 (the current count starts at
 * the initial count when TMICT is written and falls by one every `divide` bus clocks; one-shot mode interrupts once
 * when it reaches zero, periodic mode reloads it and interrupts every time; writing 0 stops the timer; a masked LVT
 * entry keeps counting but sends nothing) and the IA-PC HPET spec 1.0a (§2.3.5/§2.3.9: the main counter runs at the
 * period in the capabilities register while ENABLE_CNF is set; a periodic comparator interrupts when the counter
 * equals it and then adds the period). Times in nanoseconds of simulated time. Imports nothing from src/.
 */

export class LapicTimerModel {
  private start = 0;
  private periodNs = 0;
  private periodic = false;
  private firedUpTo = 0;
  masked = false;

  /** TMICT written at `now` with `count`, bus clocks of `busNs` divided by `divide`. */
  program(now: number, count: number, divide: number, busNs: number, periodic: boolean): void {
    this.start = now;
    this.periodNs = count * divide * busNs;
    this.periodic = periodic;
    this.firedUpTo = 0;
  }

  /** Expirations in (from, to]; only those with the LVT unmasked interrupt (the caller masks per interval). */
  expirations(from: number, to: number): number {
    if (this.periodNs === 0) return 0;
    const k = (t: number): number => Math.max(0, Math.floor((t - this.start) / this.periodNs));
    let n = k(to) - k(from);
    if (!this.periodic) {
      // One expiration in all: at start + period.
      n = this.firedUpTo === 0 && k(to) >= 1 && k(from) < 1 ? 1 : 0;
      if (n === 1) this.firedUpTo = 1;
    }
    return n;
  }
}

export class HpetComparatorModel {
  private enabledAt: number | null = null;
  /** Main-counter ticks between interrupts. */
  private period = 0;
  constructor(readonly tickNs: number) {}

  /** Counter reset to 0 and started at `now`, comparator 0 periodic with `period` ticks (first match at `period`). */
  start(now: number, period: number): void {
    this.enabledAt = now;
    this.period = period;
  }

  stop(): void {
    this.enabledAt = null;
  }

  expirations(from: number, to: number): number {
    if (this.enabledAt === null) return 0;
    const ticks = (t: number): number => Math.max(0, Math.floor((t - this.enabledAt!) / this.tickNs));
    return Math.floor(ticks(to) / this.period) - Math.floor(ticks(from) / this.period);
  }
}
