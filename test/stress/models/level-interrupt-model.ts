/**
 * An oracle of level-triggered interrupts from wires through an I/O APIC to local APICs, written from the 82093AA
 * I/O APIC data sheet (§3.2.4 the redirection table: Remote IRR "set when the local APIC(s) accept the level
 * interrupt sent by the IOAPIC, reset when an EOI message is received from a local APIC" with a matching vector; a
 * masked entry sends nothing), the ICH9 data sheet (§13.5.5 EOI register: clears Remote IRR of the entries with that
 * vector) and the Intel SDM Vol. 3A (§10.8.3.1 PPR: the highest IRR vector is acknowledged only when its priority
 * class is above the highest in-service vector's; §10.8.4 IRR, ISR, TMR; §10.8.5 EOI: the highest ISR bit is
 * cleared, and a level-triggered vector's EOI is broadcast to the I/O APICs unless SVR bit 12 suppresses it).
 *
 * So a level interrupt is delivered once per assertion until its EOI, then again if the line is still asserted —
 * never twice while Remote IRR is set, never lost while the line stays asserted. Lines are wired-OR: a line is
 * asserted while any of its sources asserts it. Imports nothing from src/.
 */
export interface PinModel {
  vector: number;
  /** Index of the CPU the entry's physical destination names. */
  cpu: number;
  masked: boolean;
  remoteIrr: boolean;
  /** Sources currently asserting the line. */
  asserting: Set<string>;
}

export class LevelInterruptModel {
  readonly pins = new Map<number, PinModel>();
  readonly irr: Set<number>[];
  readonly isr: Set<number>[];
  readonly tmr: Set<number>[];
  /** Messages each pin sent (for the coverage check and the failure messages). */
  readonly sent = new Map<number, number>();
  readonly seen = new Map<string, number>();

  constructor(
    cpus: number,
    /** SVR bit 12 on every CPU: EOIs are not broadcast, only the I/O APIC EOI register clears Remote IRR. */
    readonly suppressBroadcast: boolean,
  ) {
    this.irr = Array.from({ length: cpus }, () => new Set<number>());
    this.isr = Array.from({ length: cpus }, () => new Set<number>());
    this.tmr = Array.from({ length: cpus }, () => new Set<number>());
  }

  saw(what: string): void {
    this.seen.set(what, (this.seen.get(what) ?? 0) + 1);
  }

  addPin(pin: number, p: Omit<PinModel, 'asserting' | 'remoteIrr'>): void {
    this.pins.set(pin, { ...p, remoteIrr: false, asserting: new Set() });
  }

  /** The entry sends when its line is asserted, it is unmasked and no earlier message awaits its EOI. */
  private evaluate(pin: number): void {
    const p = this.pins.get(pin)!;
    if (p.asserting.size === 0 || p.masked || p.remoteIrr) return;
    p.remoteIrr = true;
    this.irr[p.cpu].add(p.vector);
    this.tmr[p.cpu].add(p.vector);
    this.sent.set(pin, (this.sent.get(pin) ?? 0) + 1);
    this.saw('sent');
  }

  setLine(pin: number, source: string, asserted: boolean): void {
    const p = this.pins.get(pin)!;
    if (asserted) {
      if (p.asserting.size > 0 && !p.asserting.has(source)) this.saw('shared line asserted twice');
      p.asserting.add(source);
    } else p.asserting.delete(source);
    if (asserted && p.remoteIrr) this.saw('asserted while Remote IRR set');
    this.evaluate(pin);
  }

  setMasked(pin: number, masked: boolean): void {
    const p = this.pins.get(pin)!;
    if (p.masked && !masked && p.asserting.size > 0 && !p.remoteIrr) this.saw('sent on unmask');
    p.masked = masked;
    this.evaluate(pin);
  }

  /** The vector the CPU acknowledges now, or null; moves it from IRR to ISR. */
  acknowledge(cpu: number): number | null {
    const highest = (s: Set<number>): number => Math.max(-1, ...s);
    const v = highest(this.irr[cpu]);
    const ppr = Math.max(0, highest(this.isr[cpu])) & 0xf0;
    if (v < 0 || (v & 0xf0) <= ppr) {
      if (v >= 0) this.saw('held back by a vector in service');
      return null;
    }
    this.irr[cpu].delete(v);
    this.isr[cpu].add(v);
    return v;
  }

  /** A local APIC EOI: the highest in-service vector ends; a level one is broadcast unless suppressed. */
  eoi(cpu: number): void {
    const v = Math.max(-1, ...this.isr[cpu]);
    if (v < 0) return;
    this.isr[cpu].delete(v);
    if (!this.tmr[cpu].has(v)) return;
    if (this.suppressBroadcast) {
      this.saw('broadcast suppressed');
      return;
    }
    this.ioapicEoi(v);
  }

  /** An EOI message for `vector` at the I/O APIC (broadcast, or its EOI register): Remote IRR clears, and a line still asserted sends again. */
  ioapicEoi(vector: number): void {
    for (const [pin, p] of this.pins) {
      if (p.vector !== vector || !p.remoteIrr) continue;
      p.remoteIrr = false;
      this.saw('Remote IRR cleared');
      if (p.asserting.size > 0 && !p.masked) this.saw('sent again after EOI, line still asserted');
      this.evaluate(pin);
    }
  }

  retarget(pin: number, cpu: number): void {
    this.pins.get(pin)!.cpu = cpu;
  }
}
