/**
 * The cascaded 8259 pair of a PC (ICH9 LPC: master at 0x20/0x21, slave at 0xA0/0xA1, the slave's INT on the master's
 * IR2, the master's INT to the CPU's INTR), with the two edge/level control registers ELCR1/ELCR2 at 0x4D0/0x4D1
 * (ICH9 datasheet 13.4.3; IRQ0, 1, 2, 8 and 13 have no ELCR bit: they are always edge, masks 0xF8 and 0xDE).
 *
 * The master's INT goes out through the injected sink: the machine wires it to every LAPIC's LINT0 (virtual-wire
 * mode A, MP spec 3.6.2.2) and to I/O APIC input 0 (virtual-wire mode B; ICH9 13.5 "I/O APIC input 0: cascade from
 * 8259 #1"). A CPU that takes it as ExtINT runs the INTA cycle here ({@link PicPair.acknowledge}) for the vector.
 *
 * Trace hops are QEMU's (hw/intc/i8259.c): pic_set_irq, pic_update_irq, pic_interrupt, pic_ioport_read/write, and
 * x86_pic_interrupt for the INT output (hw/i386/x86.c pic_irq_request). The ELCR has no QEMU event: irqpath_pic_elcr.
 */
import { showValue, UsageError } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import type { PortIoDevice } from '../core/mmio.ts';
import { I8259, validateI8259State, type I8259State, type PicBehaviour } from './i8259.ts';

export const PIC_MASTER_PORT = 0x20;
export const PIC_SLAVE_PORT = 0xa0;
export const ELCR1_PORT = 0x4d0;
export const ELCR2_PORT = 0x4d1;
/** ELCR bits that exist (ICH9 13.4.3): ELCR1 bits 7:3, ELCR2 bits 7:6 and 4:1. */
export const ELCR1_MASK = 0xf8;
export const ELCR2_MASK = 0xde;
/** The master's input the slave's INT drives. */
export const CASCADE_IRQ = 2;
export const PIC_STATE_VERSION = 1;

export interface PicState {
  version: number;
  master: I8259State;
  slave: I8259State;
}

export class PicPair implements PortIoDevice {
  readonly name = 'i8259';
  readonly master: I8259;
  readonly slave: I8259;
  private intr = false;

  constructor(
    readonly behaviour: PicBehaviour,
    /** The master's INT output changed level. */
    private readonly intrSink: (level: boolean) => void,
    private readonly events: EventHub,
  ) {
    if (behaviour !== '8259a' && behaviour !== 'qemu') throw new UsageError(`pic behaviour must be "8259a" or "qemu", got ${showValue(behaviour)}`);
    this.master = new I8259(true, ELCR1_MASK, behaviour);
    this.slave = new I8259(false, ELCR2_MASK, behaviour);
  }

  /** The master's INT output (the CPU's INTR). */
  get output(): boolean {
    return this.intr;
  }

  /**
   * Drive ISA IRQ line `irq` (0–15): 0–7 are the master's IR0–IR7, 8–15 the slave's. IRQ2 is the cascade input, which
   * no ISA device drives (the ISA bus's IRQ2 pin is wired to IRQ9 on a PC/AT).
   */
  setIrq(irq: number, level: boolean): void {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15) throw new UsageError(`pic.setIrq: IRQ ${showValue(irq)} does not exist (0..15)`);
    if (irq === CASCADE_IRQ) throw new UsageError('pic.setIrq: IRQ2 is the cascade input from the slave 8259 (an ISA device on IRQ2 is wired to IRQ9)');
    if (typeof level !== 'boolean') throw new UsageError(`pic.setIrq: level must be true or false, got ${showValue(level)}`);
    const chip = irq < 8 ? this.master : this.slave;
    if (this.events.active) this.events.hop('pic_set_irq', [['master', chip.master ? 1 : 0], ['irq', irq & 7], ['level', level ? 1 : 0]]);
    chip.setLine(irq & 7, level);
    this.update();
  }

  /** Whether ISA IRQ `irq`'s input is high. */
  isHigh(irq: number): boolean {
    const chip = irq < 8 ? this.master : this.slave;
    return (chip.lines & (1 << (irq & 7))) !== 0;
  }

  /**
   * The INTA cycle (data sheet "Interrupt Sequence", 8086 mode): the master resolves priority and, for a cascade
   * input, the slave supplies the vector. With nothing requesting, a chip answers with its IR7 vector and sets no ISR
   * bit (the data sheet's default IR7: Linux's spurious IRQ 7 / 15); a spurious slave interrupt still leaves the
   * master's IR2 in service.
   */
  acknowledge(): number {
    const { master, slave } = this;
    let irq = master.pendingIrq();
    let vector: number;
    if (irq < 0) {
      irq = 7;
      vector = master.vectorBase | 7;
    } else if (this.isCascade(irq)) {
      master.acknowledge(irq);
      const n = slave.pendingIrq();
      if (n < 0) {
        irq = 15;
        vector = slave.vectorBase | 7;
      } else {
        slave.acknowledge(n);
        irq = 8 + n;
        vector = slave.vectorBase | n;
      }
    } else {
      master.acknowledge(irq);
      vector = master.vectorBase | irq;
    }
    if (this.events.active) this.events.hop('pic_interrupt', [['irq', irq], ['intno', vector]]);
    this.update();
    return vector;
  }

  private isCascade(irq: number): boolean {
    return !this.master.singleMode && (this.master.icw3 & (1 << irq)) !== 0;
  }

  // ---- Port I/O -----------------------------------------------------------------------------------------------------

  ioRead(port: number): number {
    let value: number;
    if (port === ELCR1_PORT) value = this.master.elcr;
    else if (port === ELCR2_PORT) value = this.slave.elcr;
    else {
      const chip = this.chipAt(port);
      if (chip === null) return 0xff;
      value = chip.read(port & 1);
      if (this.events.active) this.events.hop('pic_ioport_read', [['master', chip.master ? 1 : 0], ['addr', BigInt(port & 1)], ['val', value]]);
      this.update(); // a poll read is an acknowledge
      return value;
    }
    return value;
  }

  ioWrite(port: number, value: number): void {
    const v = value & 0xff;
    if (port === ELCR1_PORT || port === ELCR2_PORT) {
      const chip = port === ELCR1_PORT ? this.master : this.slave;
      if (this.events.active) this.events.hop('irqpath_pic_elcr', [['port', port], ['val', v & chip.elcrMask]]);
      chip.writeElcr(v);
    } else {
      const chip = this.chipAt(port);
      if (chip === null) return;
      if (this.events.active) this.events.hop('pic_ioport_write', [['master', chip.master ? 1 : 0], ['addr', BigInt(port & 1)], ['val', v]]);
      chip.write(port & 1, v);
    }
    this.update();
  }

  private chipAt(port: number): I8259 | null {
    if ((port & ~1) === PIC_MASTER_PORT) return this.master;
    if ((port & ~1) === PIC_SLAVE_PORT) return this.slave;
    return null;
  }

  /** Propagate the slave's INT to the master's IR2 and the master's INT to the sink. */
  private update(): void {
    const { master, slave } = this;
    const slaveOut = slave.output;
    if (((master.lines >> CASCADE_IRQ) & 1) !== Number(slaveOut)) master.setLine(CASCADE_IRQ, slaveOut);
    const out = master.output;
    if (this.events.active) {
      for (const chip of [master, slave]) {
        this.events.hop('pic_update_irq', [['master', chip.master ? 1 : 0], ['imr', chip.imr], ['irr', chip.irr], ['padd', chip.priorityAdd]]);
      }
    }
    if (out === this.intr) return;
    this.intr = out;
    if (this.events.active) this.events.hop('x86_pic_interrupt', [['irqn', 0], ['level', out ? 1 : 0]]);
    this.intrSink(out);
  }

  // ---- State ----------------------------------------------------------------------------------------------------------

  save(): PicState {
    return { version: PIC_STATE_VERSION, master: this.master.save(), slave: this.slave.save() };
  }

  /** Validate, then load; changes nothing on bad input. Sends nothing: the INT level is recomputed silently. */
  restore(state: unknown): void {
    if (typeof state !== 'object' || state === null) throw new UsageError('pic state: expected an object');
    const s = state as Record<string, unknown>;
    if (s.version !== PIC_STATE_VERSION) throw new UsageError(`pic state.version: expected ${PIC_STATE_VERSION}, got ${JSON.stringify(s.version)}`);
    const master = validateI8259State(s.master, 'pic state.master', ELCR1_MASK);
    const slave = validateI8259State(s.slave, 'pic state.slave', ELCR2_MASK);
    this.master.load(master);
    this.slave.load(slave);
    this.intr = this.master.output;
  }
}
