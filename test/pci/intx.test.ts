/**
 * INTx routing facts: the bridge swizzle (PCI-to-PCI Bridge Architecture 1.2 table 9-1) and QEMU q35's slot-to-PIRQ
 * table (hw/isa/lpc_ich9.c ich9_cc_init / ich9_cc_update) with the ICH9 PIRQx_ROUT registers (0x60-0x63, 0x68-0x6B).
 */
import { describe, expect, it } from 'vitest';
import { rootBusPin, swizzle } from '../../src/pci/intx.ts';
import { Ich9Lpc } from '../../src/pci/ich9-lpc.ts';

describe('bridge swizzle', () => {
  it('table 9-1: device 0 keeps its pin, device 1 shifts INTA to INTB, device 3 INTB to INTA', () => {
    expect([1, 2, 3, 4].map((p) => swizzle(p, 0))).toEqual([1, 2, 3, 4]);
    expect([1, 2, 3, 4].map((p) => swizzle(p, 1))).toEqual([2, 3, 4, 1]);
    expect([1, 2, 3, 4].map((p) => swizzle(p, 3))).toEqual([4, 1, 2, 3]);
    expect(swizzle(1, 4)).toBe(1); // device 4 wraps around
  });

  it('swizzles once per bridge, innermost first', () => {
    // INTA of device 5 behind a bridge at slot 3: INTB at the bridge.
    expect(rootBusPin(1, 5, [3])).toEqual({ slot: 3, pin: 2 });
    // Two bridges (root slot 2, then device 1 below it), device 2 INTA: INTC at the inner bridge, INTD at the outer.
    expect(rootBusPin(1, 2, [2, 1])).toEqual({ slot: 2, pin: 4 });
    expect(rootBusPin(3, 7, [])).toEqual({ slot: 7, pin: 3 });
  });
});

describe('q35 PIRQ table', () => {
  const lpc = new Ich9Lpc(() => {});
  const name = (slot: number, pin: number) => Ich9Lpc.pirqName(lpc.pirqOf(slot, pin));

  it('ordinary slots use PIRQE-H, swizzled by slot: (slot + pin - 1) mod 4 + 4', () => {
    expect([1, 2, 3, 4].map((p) => name(0, p))).toEqual(['PIRQE', 'PIRQF', 'PIRQG', 'PIRQH']);
    expect([1, 2, 3, 4].map((p) => name(3, p))).toEqual(['PIRQH', 'PIRQE', 'PIRQF', 'PIRQG']);
    expect(name(4, 1)).toBe('PIRQE');
  });

  it('slots 25-29 and 31 follow Dn_IR 0x3210 (INTA-D to PIRQA-D); slot 30 uses PIRQE-H', () => {
    for (const slot of [25, 26, 27, 28, 29, 31]) expect([1, 2, 3, 4].map((p) => name(slot, p))).toEqual(['PIRQA', 'PIRQB', 'PIRQC', 'PIRQD']);
    expect([1, 2, 3, 4].map((p) => name(30, p))).toEqual(['PIRQE', 'PIRQF', 'PIRQG', 'PIRQH']);
  });

  it('PIRQx_ROUT: reset 0x80 (not routed), IRQEN = 0 routes to bits 3:0, reserved IRQs route nowhere', () => {
    const moves: number[][] = [];
    const l = new Ich9Lpc((pirq, from, to) => moves.push([pirq, from, to]));
    expect(l.configRead(0x60, 4)).toBe(0x80808080);
    expect(l.configRead(0x68, 4)).toBe(0x80808080);
    expect(l.picIrqOf(7)).toBe(-1);
    l.configWrite(0x6b, 1, 0x0b); // PIRQH → IRQ11
    expect(l.picIrqOf(7)).toBe(11);
    l.configWrite(0x60, 1, 0x0d); // PIRQA → IRQ13: reserved
    expect(l.picIrqOf(0)).toBe(-1);
    l.configWrite(0x6b, 1, 0x70 | 0x0b); // bits 6:4 are reserved and read 0
    expect(l.configRead(0x6b, 1)).toBe(0x0b);
    expect(moves).toEqual([[7, -1, 11]]);
  });
});
