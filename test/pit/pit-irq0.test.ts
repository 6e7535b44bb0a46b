/**
 * The PIT's counter 0 on a q35 machine: its OUT is ISA IRQ0, which reaches the 8259's IR0 and — through the MADT's
 * interrupt source override IRQ0 → GSI 2 — I/O APIC input 2: the two paths Linux's check_timer
 * (arch/x86/kernel/apic/io_apic.c) tries. The HPET's legacy replacement route takes IRQ0 over and cuts the PIT off.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import { enableLapic } from '../../bench/program.ts';
import { pitEdgeTime } from '../../src/pit/pit-clock.ts';

/** Linux's pit_set_periodic (drivers/clocksource/i8253.c): control word 0x34, then LATCH = 4773 (HZ = 250). */
function pitPeriodic(m: Machine, latch = 4773): void {
  const cpu = m.cpu(0);
  cpu.out8(0x43, 0x34);
  cpu.out8(0x40, latch & 0xff);
  cpu.out8(0x40, latch >> 8);
}

/** RTE 2 → CPU 0, fixed, edge, active high, `vector`, unmasked. */
function timerRte(m: Machine, vector: number): void {
  const cpu = m.cpu(0);
  cpu.write32(0xfec00000, 0x10 + 2 * 2 + 1);
  cpu.write32(0xfec00010, 0);
  cpu.write32(0xfec00000, 0x10 + 2 * 2);
  cpu.write32(0xfec00010, vector);
}

/** Linux's init_8259A(0) (arch/x86/kernel/i8259.c): ICW1 0x11, vector bases 0x30 and 0x38, cascade on IR2, 8086 mode. */
function init8259(m: Machine, imrMaster: number): void {
  const cpu = m.cpu(0);
  for (const [port, value] of [[0x21, 0xff], [0xa1, 0xff], [0x20, 0x11], [0x21, 0x30], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x38], [0xa1, 0x02], [0xa1, 0x01], [0x21, imrMaster]]) {
    cpu.out8(port, value);
  }
}

const irr = (m: Machine, vector: number) => ((m.cpu(0).lapic.irr[vector >>> 5] >>> (vector & 31)) & 1) === 1;

describe('PIT counter 0 → IRQ0 → I/O APIC input 2', () => {
  it('a rate-generator period of 4773 CLKs raises vector 0x30 on CPU 0 once per period', () => {
    const m = createMachine({ cpus: 2 });
    enableLapic(m, 0, false);
    timerRte(m, 0x30);
    pitPeriodic(m);
    // The mode set drives OUT high: IRQ0's first rising edge, an interrupt at once.
    expect(irr(m, 0x30)).toBe(true);
    expect(m.cpu(0).acknowledge()).toBe(0x30);
    m.cpu(0).write32(0xfee000b0, 0);
    m.advance(pitEdgeTime(4774) - 1);
    expect(irr(m, 0x30)).toBe(false);
    m.advance(1); // OUT rises on CLK edge 1 + 4773
    expect(irr(m, 0x30)).toBe(true);
  });

  it('the HPET legacy replacement route cuts the PIT off IRQ0 (and gives it back when cleared)', () => {
    const m = createMachine({ cpus: 1 });
    enableLapic(m, 0, false);
    timerRte(m, 0x30);
    m.cpu(0).write64(0xfed00010, 2n); // LEG_RT_CNF, counter halted: timer 0 owns IRQ0 but never fires
    pitPeriodic(m);
    m.advance(50_000_000);
    expect(irr(m, 0x30)).toBe(false);
    m.cpu(0).write64(0xfed00010, 0n);
    // In mode 2 OUT is high but for one CLK per period: handing IRQ0 back is a rising edge.
    expect(irr(m, 0x30)).toBe(true);
  });
});

describe('PIT counter 0 → IRQ0 → 8259 IR0 → LINT0 (virtual wire, ExtINT)', () => {
  it('the INTA cycle answers ISA_IRQ_VECTOR(0) = 0x30', () => {
    const m = createMachine({ cpus: 1 });
    enableLapic(m, 0, false);
    m.cpu(0).write32(0xfee00350, 0x700); // LVT LINT0: ExtINT, unmasked
    init8259(m, 0xfa); // IR0 and the cascade unmasked
    pitPeriodic(m);
    expect(m.cpu(0).acknowledgeExtInt()).toBe(0x30);
    m.cpu(0).out8(0x20, 0x60); // specific EOI for IR0 (Linux mask_and_ack_8259A)
    expect(m.cpu(0).acknowledgeExtInt()).toBe(null);
    m.advance(pitEdgeTime(4774));
    expect(m.cpu(0).acknowledgeExtInt()).toBe(0x30);
  });

  it('IR0 masked in the IMR: the request waits in the IRR, nothing reaches the CPU', () => {
    const m = createMachine({ cpus: 1 });
    enableLapic(m, 0, false);
    m.cpu(0).write32(0xfee00350, 0x700);
    init8259(m, 0xfb);
    pitPeriodic(m);
    m.advance(10_000_000);
    expect(m.cpu(0).acknowledgeExtInt()).toBe(null);
    m.cpu(0).out8(0x20, 0x0a); // OCW3: read IRR
    expect(m.cpu(0).in8(0x20) & 1).toBe(1);
  });
});
