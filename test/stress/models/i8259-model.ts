/**
 * The master 8259A of a PC in edge-triggered, fully nested mode, from the Intel 8259A data sheet (order number
 * 231468): a rising edge on IRn sets IRR bit n, and the request is withdrawn when the line falls before it is
 * acknowledged ("the IR input must remain high until after the falling edge of the first INTA"); the IMR hides a
 * request from INT without clearing IRR; INT is raised for the highest-priority unmasked request (IR0 highest) above
 * every in-service level; the INTA cycle moves that request from IRR to ISR and answers ICW2's base + n; a
 * non-specific EOI (OCW2 0x20) clears the highest-priority ISR bit. Imports nothing from src/.
 */
export class I8259Model {
  private lines = 0;
  irr = 0;
  isr = 0;
  imr = 0;
  readonly seen = new Map<string, number>();

  constructor(readonly base: number) {}

  saw(what: string): void {
    this.seen.set(what, (this.seen.get(what) ?? 0) + 1);
  }

  setLine(irq: number, high: boolean): void {
    const bit = 1 << irq;
    const was = (this.lines & bit) !== 0;
    if (high && !was) {
      this.irr |= bit;
      this.saw('edge');
    }
    if (!high && was && (this.irr & bit) !== 0) {
      this.irr &= ~bit;
      this.saw('withdrawn before INTA');
    }
    this.lines = high ? this.lines | bit : this.lines & ~bit;
  }

  /** The IR that INT is raised for, or -1. */
  requesting(): number {
    const pending = this.irr & ~this.imr & 0xff;
    for (let ir = 0; ir < 8; ir++) {
      if ((this.isr & (1 << ir)) !== 0) return -1; // in service at this level or above: nothing below it interrupts
      if ((pending & (1 << ir)) !== 0) return ir;
    }
    return -1;
  }

  /** INTA while INT is raised: the vector; the request moves to ISR. */
  acknowledge(): number | null {
    const ir = this.requesting();
    if (ir < 0) return null;
    this.irr &= ~(1 << ir);
    this.isr |= 1 << ir;
    if ((this.imr & ~(1 << ir) & this.irr) !== 0) this.saw('acknowledged with a masked request pending');
    return this.base + ir;
  }

  eoi(): void {
    for (let ir = 0; ir < 8; ir++) {
      if ((this.isr & (1 << ir)) !== 0) {
        this.isr &= ~(1 << ir);
        this.saw('EOI');
        return;
      }
    }
  }
}
