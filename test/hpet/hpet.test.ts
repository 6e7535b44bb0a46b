/**
 * The HPET, per the IA-PC HPET specification 1.0a (register layout 2.3, legacy replacement 2.3.9.2.x, FSB 2.3.9.7),
 * with QEMU q35's parameters: 100 MHz (COUNTER_CLK_PERIOD 10^7 fs), 3 comparators, vendor 8086, revision 1 — the
 * "ACPI: HPET id: 0x8086a201 base: 0xfed00000" a q35 guest's Linux prints.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import type { MachineConfig } from '../../src/core/config-types.ts';
import type { TraceHop } from '../../src/core/events.ts';
import { enableLapic, programAmdIrte } from '../../bench/program.ts';

const HPET = 0xfed00000;
const CONFIG = HPET + 0x10;
const STATUS = HPET + 0x20;
const COUNTER = HPET + 0xf0;
const tconf = (n: number) => HPET + 0x100 + 0x20 * n;
const tcmp = (n: number) => HPET + 0x108 + 0x20 * n;
const tfsb = (n: number) => HPET + 0x110 + 0x20 * n;
const ENABLE = 1n;
const LEGACY = 2n;
const INT_LEVEL = 1n << 1n;
const INT_ENB = 1n << 2n;
const PERIODIC = 1n << 3n;
const VAL_SET = 1n << 6n;
const FSB_EN = 1n << 14n;
const route = (pin: number) => BigInt(pin) << 9n;

function machine(config: Partial<MachineConfig> = {}): Machine {
  const m = createMachine({ cpus: 2, ...config });
  enableLapic(m, 0, false);
  return m;
}

/** RTE `pin` → CPU 0 (physical APIC ID 0), fixed, `vector`, edge or level, active high. */
function rte(m: Machine, pin: number, vector: number, level = false): void {
  const cpu = m.cpu(0);
  cpu.write32(0xfec00000, 0x10 + 2 * pin + 1);
  cpu.write32(0xfec00010, 0);
  cpu.write32(0xfec00000, 0x10 + 2 * pin);
  cpu.write32(0xfec00010, vector | (level ? 1 << 15 : 0));
}

const irr = (m: Machine, vector: number) => ((m.cpu(0).lapic.irr[vector >>> 5] >>> (vector & 31)) & 1) === 1;

describe('HPET registers (spec 2.3.4-2.3.9)', () => {
  it('capabilities: period 10^7 fs, vendor 8086, LEG_RT_CAP, 64-bit counter, 3 timers, revision 1', () => {
    const m = machine();
    expect(m.cpu(0).read64(HPET)).toBe(0x00989680_8086a201n);
    expect(m.firmware.hpet.eventTimerBlockId).toBe(0x8086a201);
  });

  it('timer configuration: route capability 2, 8, 16-23 in 63:32; 64-bit, periodic and FSB capable', () => {
    const m = machine();
    expect(m.cpu(0).read64(tconf(0))).toBe(0x00ff0104_00008030n);
  });

  it('hpetTimers: 8 comparators read NUM_TIM_CAP 7', () => {
    const m = machine({ legacy: { hpetTimers: 8 } });
    expect(m.cpu(0).read32(HPET) & 0x1f00).toBe(7 << 8);
  });

  it('the main counter runs at 100 MHz only while ENABLE_CNF is set, and keeps its value when halted', () => {
    const m = machine();
    const cpu = m.cpu(0);
    m.advance(1000);
    expect(cpu.read64(COUNTER)).toBe(0n);
    cpu.write64(CONFIG, ENABLE);
    m.advance(1005);
    expect(cpu.read64(COUNTER)).toBe(100n);
    cpu.write64(CONFIG, 0n);
    m.advance(1000);
    expect(cpu.read64(COUNTER)).toBe(100n);
  });

  it('an unsupported route is not kept (spec 2.3.9.1: it reads back what it was)', () => {
    const m = machine();
    m.cpu(0).write64(tconf(2), route(17));
    m.cpu(0).write64(tconf(2), route(3)); // input 3 is not in the capability
    expect(Number((m.cpu(0).read64(tconf(2)) >> 9n) & 0x1fn)).toBe(17);
  });
});

describe('interrupt routing', () => {
  it('legacy replacement: timer 0 reaches I/O APIC input 2 (ISA IRQ0), timer 1 input 8', () => {
    const m = machine();
    const cpu = m.cpu(0);
    rte(m, 2, 0x30);
    rte(m, 8, 0x38);
    cpu.write64(tconf(0), INT_ENB);
    cpu.write64(tcmp(0), 100n);
    cpu.write64(tconf(1), INT_ENB);
    cpu.write64(tcmp(1), 300n);
    cpu.write64(CONFIG, ENABLE | LEGACY);
    m.advance(999);
    expect(irr(m, 0x30)).toBe(false);
    m.advance(1);
    expect(irr(m, 0x30)).toBe(true);
    expect(irr(m, 0x38)).toBe(false);
    m.advance(2000);
    expect(irr(m, 0x38)).toBe(true);
  });

  it('legacy replacement also reaches the 8259: timer 0 on IRQ0', () => {
    const m = machine();
    const cpu = m.cpu(0);
    for (const [port, v] of [[0x20, 0x11], [0x21, 0x30], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x38], [0xa1, 0x02], [0xa1, 0x01]]) cpu.out8(port, v);
    cpu.write64(tconf(0), INT_ENB);
    cpu.write64(tcmp(0), 10n);
    cpu.write64(CONFIG, ENABLE | LEGACY);
    m.advance(100);
    // The edge was withdrawn again (an edge-triggered HPET output pulses); read it through the INTA of the latched
    // request under QEMU's latch, and as the data sheet's default IR7 otherwise.
    expect(m.pic.acknowledge()).toBe(0x37);
    const q = machine({ legacy: { pic: 'qemu' } });
    for (const [port, v] of [[0x20, 0x11], [0x21, 0x30], [0x21, 0x04], [0x21, 0x01]]) q.cpu(0).out8(port, v);
    q.cpu(0).write64(tconf(0), INT_ENB);
    q.cpu(0).write64(tcmp(0), 10n);
    q.cpu(0).write64(CONFIG, ENABLE | LEGACY);
    q.advance(100);
    expect(q.pic.acknowledge()).toBe(0x30);
  });

  it('a level timer holds its I/O APIC input and Tn_INT_STS until software writes 1 to the status bit', () => {
    const m = machine();
    const cpu = m.cpu(0);
    rte(m, 20, 0x50, true);
    // GSI 20 is a PCI PIRQ input, active low: program the RTE's polarity bit as Linux does for PIRQs.
    cpu.write32(0xfec00000, 0x10 + 40);
    cpu.write32(0xfec00010, 0x50 | (1 << 15) | (1 << 13));
    cpu.write64(tconf(2), INT_ENB | INT_LEVEL | route(20));
    cpu.write64(tcmp(2), 5n);
    cpu.write64(CONFIG, ENABLE);
    m.advance(50);
    expect(cpu.read64(STATUS)).toBe(4n);
    expect(m.ioapic.isAsserted(20)).toBe(true);
    expect(irr(m, 0x50)).toBe(true);
    cpu.write64(STATUS, 4n);
    expect(cpu.read64(STATUS)).toBe(0n);
    expect(m.ioapic.isAsserted(20)).toBe(false);
  });

  it('periodic: Tn_VAL_SET_CNF sets the comparator, the next write the period; fires every period', () => {
    const m = machine();
    const cpu = m.cpu(0);
    const hops: TraceHop[] = [];
    m.events.on('hop', (h) => h.name === 'irqpath_hpet_timer_fire' && hops.push(h));
    cpu.write64(tconf(0), INT_ENB | PERIODIC | VAL_SET | route(2));
    cpu.write64(tcmp(0), 100n);
    cpu.write64(tcmp(0), 100n);
    cpu.write64(CONFIG, ENABLE);
    m.advance(3500); // 350 ticks
    expect(hops.length).toBe(3);
    expect(cpu.read64(tcmp(0))).toBe(400n);
  });

  it('FSB delivery: FSB_INT_VAL written to FSB_INT_ADDR as a message with the HPET source-id (DMAR scope)', () => {
    const m = machine({ iommu: { kind: 'intel', hpet: { id: 0, sourceId: 0x00f8 } } });
    const cpu = m.cpu(0);
    const routes: TraceHop[] = [];
    m.events.on('hop', (h) => h.name === 'irqpath_msi_route' && routes.push(h));
    cpu.write64(tfsb(1), (0xfee00000n << 32n) | 0x41n);
    cpu.write64(tconf(1), INT_ENB | FSB_EN);
    cpu.write64(tcmp(1), 1n);
    cpu.write64(CONFIG, ENABLE);
    m.advance(10);
    expect(routes.map((h) => h.args[0])).toEqual([['sid', 0x00f8]]);
    expect(irr(m, 0x41)).toBe(true);
  });

  it('FSB delivery through AMD-Vi interrupt remapping: the IVRS HPET DeviceID selects the DTE and IRTE', () => {
    const m = machine({ iommu: { kind: 'amd', hpet: { id: 0, deviceId: '00:14.2' } } });
    const cpu = m.cpu(0);
    const deviceId = (0x14 << 3) | 2;
    programAmdIrte(m, 0x100000, 0x200000, deviceId, 5, 0, 0x62);
    // Remapped MSI data: the IRTE index in bits 10:0 (AMD IOMMU spec 2.2.5.x); the address stays in the window.
    cpu.write64(tfsb(2), (0xfee00000n << 32n) | 5n);
    cpu.write64(tconf(2), INT_ENB | FSB_EN);
    cpu.write64(tcmp(2), 1n);
    cpu.write64(CONFIG, ENABLE);
    m.advance(10);
    expect(irr(m, 0x62)).toBe(true);
  });

  it('a snapshot keeps a running comparator: restored, it fires at the same time', () => {
    const m = machine();
    const cpu = m.cpu(0);
    rte(m, 2, 0x30);
    cpu.write64(tconf(0), INT_ENB);
    cpu.write64(tcmp(0), 100n);
    cpu.write64(CONFIG, ENABLE | LEGACY);
    m.advance(400);
    const snap = m.snapshot();
    m.advance(1000);
    expect(irr(m, 0x30)).toBe(true);
    m.restore(snap);
    expect(irr(m, 0x30)).toBe(false);
    expect(m.clock.now).toBe(400);
    m.advance(599);
    expect(irr(m, 0x30)).toBe(false);
    m.advance(1);
    expect(irr(m, 0x30)).toBe(true);
  });
});

describe('HPET snapshots and level lines', () => {
  it('a restored level timer still holds its line once, and clearing its status releases it', () => {
    const m = machine();
    const cpu = m.cpu(0);
    cpu.write64(tconf(2), INT_ENB | INT_LEVEL | route(20));
    cpu.write64(tcmp(2), 5n);
    cpu.write64(CONFIG, ENABLE);
    m.advance(50);
    expect(m.ioapic.isAsserted(20)).toBe(false); // RTE 20 masked and active high: the low wire reads idle
    expect(m.lines.gsiAsserted(20)).toBe(true);
    const snap = m.snapshot();
    m.restore(snap);
    expect(m.lines.gsiAsserted(20)).toBe(true);
    cpu.write64(STATUS, 4n);
    expect(m.lines.gsiAsserted(20)).toBe(false);
    // The same snapshot on a fresh machine of the same configuration: one source on the wire, not two.
    const fresh = machine();
    fresh.restore(snap);
    expect(fresh.lines.gsiAsserted(20)).toBe(true);
    fresh.cpu(0).write64(STATUS, 4n);
    expect(fresh.lines.gsiAsserted(20)).toBe(false);
  });
});
