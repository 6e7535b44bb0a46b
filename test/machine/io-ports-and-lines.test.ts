/**
 * The I/O port decoder (x86 IN/OUT to 8-bit ISA registers) and the board's wired-OR interrupt lines
 * (PCI 3.0 2.2.6: INTx# is wire-ORed; PIRQ inputs 16-23 are active low, ICH9 13.5.1).
 */
import { describe, expect, it } from 'vitest';
import { IoPortSpace } from '../../src/machine/io-ports.ts';
import { InterruptLines } from '../../src/machine/interrupt-lines.ts';
import { UsageError } from '../../src/core/errors.ts';

describe('I/O ports', () => {
  it('a 16-bit access is two byte accesses, low byte at the lower port; unclaimed ports read 0xFF', () => {
    const ports = new IoPortSpace();
    const seen: [number, number][] = [];
    const regs = new Map<number, number>([[0x70, 0x12], [0x71, 0x34]]);
    ports.claim(0x70, 2, { name: 'rtc', ioRead: (p) => regs.get(p)!, ioWrite: (p, v) => seen.push([p, v]) });
    expect(ports.read(0x70, 2)).toBe(0x3412);
    expect(ports.read(0x71, 2)).toBe(0xff34);
    ports.write(0x70, 2, 0xbeef);
    expect(seen).toEqual([[0x70, 0xef], [0x71, 0xbe]]);
    expect(ports.read(0x80, 4)).toBe(0xffffffff);
  });

  it('refuses a port claimed twice and an access past 0xFFFF', () => {
    const ports = new IoPortSpace();
    const dev = { name: 'a', ioRead: () => 0, ioWrite: () => {} };
    ports.claim(0x20, 2, dev);
    expect(() => ports.claim(0x21, 1, { ...dev, name: 'b' })).toThrow(/already claimed by a/);
    expect(() => ports.read(0xffff, 2)).toThrow(UsageError);
    expect(() => ports.write(0x20, 1, 0x100)).toThrow(UsageError);
  });
});

describe('interrupt lines', () => {
  const setup = () => {
    const pic: [number, boolean][] = [];
    const io: [number, boolean][] = [];
    const lines = new InterruptLines(24, { pic: (irq, high) => pic.push([irq, high]), ioapic: (pin, high) => io.push([pin, high]) });
    return { lines, pic, io };
  };

  it('a shared line changes only on the first assert and the last deassert', () => {
    const { lines, io } = setup();
    lines.gsi(5, true);
    lines.gsi(5, true);
    lines.gsi(5, false);
    expect(io).toEqual([[5, true]]);
    lines.gsi(5, false);
    expect(io).toEqual([[5, true], [5, false]]);
  });

  it('GSIs 16 and up are active low: asserted drives the wire low', () => {
    const { lines, io } = setup();
    lines.gsi(20, true);
    lines.gsi(20, false);
    expect(io).toEqual([[20, false], [20, true]]);
  });

  it('ISA inputs are active high; IRQ2 (the cascade) has no source', () => {
    const { lines, pic } = setup();
    lines.isaIrq(11, true);
    expect(pic).toEqual([[11, true]]);
    expect(() => lines.isaIrq(2, true)).toThrow(UsageError);
  });
});
