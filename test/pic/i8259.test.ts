/**
 * The 8259 pair, checked against the Intel 8259A data sheet ("Interrupt Sequence", "Programming the 8259A",
 * "Operation of the 8259A") and the ICH9 datasheet's ELCR (13.4.3). The guest programs it as Linux's init_8259A does:
 * ICW1 0x11 (edge, cascade, ICW4), ICW2 0x30 / 0x38, ICW3 0x04 (slave on IR2) / 0x02 (slave ID 2), ICW4 0x01
 * (8086 mode, normal EOI).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { EventHub, type TraceHop } from '../../src/core/events.ts';
import { UsageError } from '../../src/core/errors.ts';
import { PicPair } from '../../src/pic/pic-pair.ts';
import type { PicBehaviour } from '../../src/pic/i8259.ts';

let hub: EventHub;
let pic: PicPair;
let intr: boolean[];

function make(behaviour: PicBehaviour = '8259a', icw4 = 0x01, masterIcw4 = icw4): PicPair {
  intr = [];
  const p = new PicPair(behaviour, (level) => intr.push(level), hub);
  for (const [base, vector, icw3, four] of [[0x20, 0x30, 0x04, masterIcw4], [0xa0, 0x38, 0x02, icw4]] as const) {
    p.ioWrite(base, 0x11);
    p.ioWrite(base + 1, vector);
    p.ioWrite(base + 1, icw3);
    p.ioWrite(base + 1, four);
  }
  return p;
}

const readIsr = (base: number) => (pic.ioWrite(base, 0x0b), pic.ioRead(base));
const readIrr = (base: number) => (pic.ioWrite(base, 0x0a), pic.ioRead(base));
const edge = (irq: number) => (pic.setIrq(irq, true), pic.setIrq(irq, false));

beforeEach(() => {
  hub = new EventHub();
  pic = make();
});

describe('8259A interrupt sequence', () => {
  it('an edge on IR1 raises INT; INTA returns ICW2 base | 1, sets ISR1 and clears IRR1', () => {
    pic.setIrq(1, true);
    expect(pic.output).toBe(true);
    expect(intr).toEqual([true]);
    expect(pic.acknowledge()).toBe(0x31);
    expect(readIsr(0x20)).toBe(0x02);
    expect(readIrr(0x20)).toBe(0x00);
    expect(pic.output).toBe(false);
  });

  it('a lower-priority request waits for the EOI of the one in service; a higher one nests', () => {
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x33);
    pic.setIrq(5, true);
    expect(pic.output).toBe(false); // IR5 is below IR3 in service
    pic.setIrq(0, true);
    expect(pic.output).toBe(true); // IR0 is above it
    expect(pic.acknowledge()).toBe(0x30);
    expect(readIsr(0x20)).toBe(0x09);
    pic.ioWrite(0x20, 0x20); // non-specific EOI: the highest in service, IR0
    expect(readIsr(0x20)).toBe(0x08);
    expect(pic.output).toBe(false);
    pic.ioWrite(0x20, 0x20);
    expect(pic.output).toBe(true);
    expect(pic.acknowledge()).toBe(0x35);
  });

  it('IRQ12 cascades through master IR2: the slave supplies vector 0x38 | 4, both chips record it in service', () => {
    pic.setIrq(12, true);
    expect(pic.output).toBe(true);
    expect(pic.acknowledge()).toBe(0x3c);
    expect(readIsr(0x20)).toBe(0x04);
    expect(readIsr(0xa0)).toBe(0x10);
  });

  it('an edge request withdrawn before INTA answers with the default IR7 and sets no ISR bit (8259A)', () => {
    edge(5);
    expect(intr).toEqual([true, false]);
    expect(pic.acknowledge()).toBe(0x37);
    expect(readIsr(0x20)).toBe(0);
  });

  it('QEMU behaviour: an edge stays requested after the line drops', () => {
    pic = make('qemu');
    edge(5);
    expect(pic.output).toBe(true);
    expect(pic.acknowledge()).toBe(0x35);
  });

  it('a slave with nothing to say at INTA answers IR7 (spurious IRQ 15) while the master keeps IR2 in service', () => {
    pic = make('qemu'); // the master IR2 request must outlive the slave's, which only the QEMU latch allows here
    edge(12);
    pic.ioWrite(0xa1, 0x10); // mask IRQ12 on the slave: its INT drops, the master's IR2 edge stays latched
    expect(pic.acknowledge()).toBe(0x3f);
    expect(readIsr(0x20)).toBe(0x04);
    expect(readIsr(0xa0)).toBe(0x00);
  });

  it('INTA with nothing pending at all returns the master IR7 vector', () => {
    expect(pic.acknowledge()).toBe(0x37);
  });
});

describe('8259A programming', () => {
  it('OCW1 masks an input: IRR still records it, INT stays low, the IMR reads back at A0 = 1', () => {
    pic.ioWrite(0x21, 0x10);
    pic.setIrq(4, true);
    expect(pic.ioRead(0x21)).toBe(0x10);
    expect(readIrr(0x20)).toBe(0x10);
    expect(pic.output).toBe(false);
    pic.ioWrite(0x21, 0x00);
    expect(pic.output).toBe(true);
  });

  it('specific EOI (0x60 | L) clears exactly ISR bit L', () => {
    pic.setIrq(6, true);
    pic.acknowledge();
    pic.setIrq(1, true);
    pic.acknowledge();
    expect(readIsr(0x20)).toBe(0x42);
    pic.ioWrite(0x20, 0x66);
    expect(readIsr(0x20)).toBe(0x02);
  });

  it('automatic EOI (ICW4 AEOI) leaves nothing in service after INTA', () => {
    pic = make('8259a', 0x03);
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x33);
    expect(readIsr(0x20)).toBe(0);
  });

  it('rotate on non-specific EOI makes the serviced level the lowest priority', () => {
    pic.setIrq(1, true);
    pic.acknowledge();
    pic.ioWrite(0x20, 0xa0); // rotate on non-specific EOI: IR1 lowest, IR2 highest
    pic.setIrq(0, true);
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x33);
    // OCW2 read back through pic_update_irq's priority: IR1 bottom means IR2 first
    expect(pic.master.priorityAdd).toBe(2);
  });

  it('set priority (0xC0 | L) makes L the bottom priority level', () => {
    pic.ioWrite(0x20, 0xc4); // IR4 bottom, IR5 top
    pic.setIrq(0, true);
    pic.setIrq(6, true);
    expect(pic.acknowledge()).toBe(0x36);
  });

  it('rotate in automatic EOI mode rotates at each INTA', () => {
    pic = make('8259a', 0x03);
    pic.ioWrite(0x20, 0x80); // set rotate in AEOI
    pic.setIrq(0, true);
    expect(pic.acknowledge()).toBe(0x30);
    pic.setIrq(0, false);
    pic.setIrq(0, true);
    pic.setIrq(6, true);
    pic.ioWrite(0x20, 0x00); // OCW2 000: clear rotate in AEOI (the priorities stay where they are)
    expect(pic.acknowledge()).toBe(0x36); // IR0 went to the bottom: IR6 now beats it
  });

  it('the poll command acknowledges the highest request and returns it with bit 7 set', () => {
    pic.setIrq(6, true);
    pic.ioWrite(0x20, 0x0c); // OCW3 P = 1
    expect(pic.ioRead(0x20)).toBe(0x86);
    expect(readIsr(0x20)).toBe(0x40);
    pic.ioWrite(0x20, 0x0c);
    expect(pic.ioRead(0x20)).toBe(0x00); // nothing requesting: I = 0
  });

  it('special mask mode lets a lower level in while the masked level is in service', () => {
    pic.setIrq(3, true);
    pic.acknowledge();
    pic.setIrq(5, true);
    expect(pic.output).toBe(false);
    pic.ioWrite(0x21, 0x08); // mask IR3
    pic.ioWrite(0x20, 0x68); // OCW3 ESMM + SMM
    expect(pic.output).toBe(true);
    expect(pic.acknowledge()).toBe(0x35);
    pic.ioWrite(0x20, 0x48); // ESMM, SMM = 0: reset special mask
    expect(pic.master.specialMask).toBe(false);
  });

  it('special fully nested mode passes a higher slave request while the master has IR2 in service', () => {
    pic = make('8259a', 0x01, 0x11);
    pic.setIrq(12, true);
    expect(pic.acknowledge()).toBe(0x3c);
    pic.setIrq(10, true);
    expect(pic.output).toBe(true);
    expect(pic.acknowledge()).toBe(0x3a);
  });

  it('without special fully nested mode the same slave request waits for the master EOI', () => {
    pic.setIrq(12, true);
    pic.acknowledge();
    pic.setIrq(10, true);
    expect(pic.output).toBe(false);
  });

  it('ICW1 clears the IMR and the edge latches and selects IRR for reading; the ISR survives (data sheet), QEMU clears it', () => {
    pic.setIrq(4, true);
    pic.acknowledge();
    pic.ioWrite(0x21, 0xff);
    pic.setIrq(6, true);
    pic.ioWrite(0x20, 0x0b);
    pic.ioWrite(0x20, 0x11);
    pic.ioWrite(0x21, 0x30);
    pic.ioWrite(0x21, 0x04);
    pic.ioWrite(0x21, 0x01);
    expect(pic.ioRead(0x21)).toBe(0);
    expect(pic.ioRead(0x20)).toBe(0); // IRR selected, IR6's edge forgotten
    expect(readIsr(0x20)).toBe(0x10);
    pic = make('qemu');
    pic.setIrq(4, true);
    pic.acknowledge();
    pic.ioWrite(0x20, 0x11);
    expect(readIsr(0x20)).toBe(0);
  });

  it('ICW1 without IC4 and with SNGL skips ICW3 and ICW4: the next A0 = 1 write is OCW1', () => {
    pic.ioWrite(0x20, 0x12); // SNGL, no IC4
    pic.ioWrite(0x21, 0x40);
    pic.ioWrite(0x21, 0x5a);
    expect(pic.ioRead(0x21)).toBe(0x5a);
    expect(pic.master.vectorBase).toBe(0x40);
  });
});

describe('ELCR (ICH9 4D0h/4D1h)', () => {
  it('keeps only the bits that exist: ELCR1 0xF8, ELCR2 0xDE', () => {
    pic.ioWrite(0x4d0, 0xff);
    pic.ioWrite(0x4d1, 0xff);
    expect(pic.ioRead(0x4d0)).toBe(0xf8);
    expect(pic.ioRead(0x4d1)).toBe(0xde);
  });

  it('a level input stays requested while high, re-requests after EOI and goes away when the line drops', () => {
    pic.ioWrite(0x4d1, 0x08); // IRQ11 level
    pic.setIrq(11, true);
    expect(pic.acknowledge()).toBe(0x3b);
    expect(readIrr(0xa0)).toBe(0x08); // still high
    pic.ioWrite(0xa0, 0x20);
    pic.ioWrite(0x20, 0x20);
    expect(pic.output).toBe(true); // the line is still asserted: a new request
    pic.setIrq(11, false);
    expect(readIrr(0xa0)).toBe(0);
    expect(pic.output).toBe(false);
  });

  it('an edge input held high requests once', () => {
    pic.setIrq(9, true);
    pic.acknowledge();
    pic.ioWrite(0xa0, 0x20);
    pic.ioWrite(0x20, 0x20);
    expect(pic.output).toBe(false);
  });
});

describe('PicPair API, state and trace', () => {
  it('refuses IRQ2 (the cascade) and IRQs outside 0..15', () => {
    expect(() => pic.setIrq(2, true)).toThrow(/cascade/);
    expect(() => pic.setIrq(16, true)).toThrow(UsageError);
  });

  it('save/restore round-trips and refuses a bad state without changing anything', () => {
    pic.setIrq(12, true);
    pic.acknowledge();
    const saved = pic.save();
    const other = make();
    other.restore(JSON.parse(JSON.stringify(saved)));
    expect(other.save()).toEqual(saved);
    expect(() => other.restore({ ...saved, slave: { ...saved.slave, elcr: 0x01 } })).toThrow(/elcr/);
    expect(() => other.restore({ ...saved, master: { ...saved.master, vectorBase: 0x31 } })).toThrow(/vectorBase/);
    expect(other.save()).toEqual(saved);
  });

  it('traces with QEMU\'s i8259 event names', () => {
    const hops: TraceHop[] = [];
    hub.on('hop', (h) => hops.push(h));
    pic.setIrq(1, true);
    pic.acknowledge();
    const names = hops.map((h) => h.name);
    expect(names).toContain('pic_set_irq');
    expect(names).toContain('x86_pic_interrupt');
    expect(hops.find((h) => h.name === 'pic_interrupt')!.args).toEqual([['irq', 1], ['intno', 0x31]]);
  });
});
