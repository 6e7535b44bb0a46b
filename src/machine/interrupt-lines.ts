/**
 * The board's interrupt wires: the 16 ISA IRQ inputs of the 8259 pair and the I/O APIC's inputs (GSIs). A wire is
 * a wired-OR of its sources — PCI INTx lines are shared, and a PIRQ may be routed to an 8259 input an ISA device also
 * uses — so each wire keeps a count of asserting sources and stays asserted while any source asserts it (PCI Local
 * Bus 3.0 2.2.6: "INTx# ... wire-ORed").
 *
 * Polarity: ISA inputs and GSIs 0–15 are active high (the MADT overrides say "dfl" or "high"); GSIs 16 and up carry
 * the PCI PIRQ lines, active low (ICH9 13.5.1: "PIRQ[A:H]# ... active low"), so an asserted source drives them low.
 * Each source reports its own transitions only.
 */
import { showValue, UsageError } from '../core/errors.ts';

/** The first I/O APIC input wired to an active-low PCI PIRQ line (ICH9: PIRQA# → input 16). */
export const FIRST_PCI_GSI = 16;

export interface WireSinks {
  /** Drive the 8259 pair's IRQ input (electrically high = asserted). */
  pic(irq: number, high: boolean): void;
  /** Drive I/O APIC input `pin` to an electrical level. */
  ioapic(pin: number, high: boolean): void;
}

export class InterruptLines {
  private readonly isa = new Uint16Array(16);
  private readonly gsis: Uint16Array;

  constructor(readonly ioapicPins: number, private readonly sinks: WireSinks) {
    this.gsis = new Uint16Array(ioapicPins);
  }

  /** One source of ISA IRQ `irq` asserts or deasserts it (IRQ2 is the 8259 cascade: no source drives it). */
  isaIrq(irq: number, asserted: boolean): void {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15 || irq === 2) throw new UsageError(`ISA IRQ ${showValue(irq)} does not exist here (0..15 without the cascade IRQ2)`);
    const before = this.isa[irq];
    const after = asserted ? before + 1 : Math.max(0, before - 1);
    this.isa[irq] = after;
    if ((before > 0) !== (after > 0)) this.sinks.pic(irq, after > 0);
  }

  /** One source of GSI `gsi` asserts or deasserts it. */
  gsi(gsi: number, asserted: boolean): void {
    if (!Number.isInteger(gsi) || gsi < 0 || gsi >= this.ioapicPins) throw new UsageError(`GSI ${showValue(gsi)} does not exist (the I/O APIC has inputs 0..${this.ioapicPins - 1})`);
    const before = this.gsis[gsi];
    const after = asserted ? before + 1 : Math.max(0, before - 1);
    this.gsis[gsi] = after;
    if ((before > 0) !== (after > 0)) this.sinks.ioapic(gsi, gsi >= FIRST_PCI_GSI ? after === 0 : after > 0);
  }

  /** Whether any source asserts GSI `gsi`. */
  gsiAsserted(gsi: number): boolean {
    return this.gsis[gsi] > 0;
  }

  isaAsserted(irq: number): boolean {
    return this.isa[irq] > 0;
  }

  save(): { isa: number[]; gsis: number[] } {
    return { isa: Array.from(this.isa), gsis: Array.from(this.gsis) };
  }

  restore(state: unknown): void {
    const s = state as { isa?: unknown; gsis?: unknown } | null;
    const ok = (v: unknown, n: number): v is number[] => Array.isArray(v) && v.length === n && v.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff);
    if (s === null || typeof s !== 'object' || !ok(s.isa, 16) || !ok(s.gsis, this.ioapicPins)) {
      throw new UsageError(`interrupt lines state: expected { isa: 16 counts, gsis: ${this.ioapicPins} counts }`);
    }
    this.isa.set(s.isa);
    this.gsis.set(s.gsis);
  }
}
