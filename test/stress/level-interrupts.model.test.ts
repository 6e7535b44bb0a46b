/**
 * Model-based stress test of level-triggered interrupts on the legacy path: PCI INTx (two functions sharing PIRQH,
 * one behind a bridge on PIRQG, through the ICH9 routing to I/O APIC inputs 16–23, active low) and an ISA level IRQ
 * (IRQ 10, active high by the MADT's override) through I/O APIC redirection entries to two local APICs. Random
 * sequences of line changes, acknowledges, local APIC EOIs (broadcast, or suppressed by SVR bit 12), I/O APIC EOI
 * register writes, masking, re-targeting and snapshot round trips; after each one the Remote IRR bits and every
 * CPU's IRR, ISR and acknowledged vector are compared with an independent model (models/level-interrupt-model.ts,
 * from the 82093AA and ICH9 data sheets and the SDM): delivered once per assertion until EOI, again while the line
 * stays asserted, never lost.
 *
 * Runs: IRQPATH_STRESS_RUNS (default 60 sequences of up to 80 operations); IRQPATH_STRESS_SEED replays a seed.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import type { MachineSnapshot } from '../../src/machine/snapshot.ts';
import { LevelInterruptModel } from './models/level-interrupt-model.ts';
import { stressRuns, stressSeed } from './budget.ts';
import { addReached, campaignStats } from './campaign-stats.ts';

// I/O APIC (82093AA §3.1): index at 0xFEC00000, data at +0x10, EOI register at +0x40 (version 0x20); RTE n at 0x10 + 2n.
const IOREGSEL = 0xfec00000;
const IOWIN = 0xfec00010;
const IOAPIC_EOI = 0xfec00040;
const RTE_REMOTE_IRR = 1 << 14;
const RTE_LEVEL = 1 << 15;
const RTE_ACTIVE_LOW = 1 << 13;
const RTE_MASKED = 1 << 16;
const LAPIC_EOI = 0xfee000b0;
const LAPIC_SVR = 0xfee000f0;
const CPUS = 2;

/** The wires: which I/O APIC input each source drives (ICH9 / QEMU q35 routing, `m.intxRoute` checks it). */
const SOURCES = [
  { id: '00:03.0', pin: 23 },
  { id: '00:07.0', pin: 23 },
  { id: '00:04.0', pin: 22 },
  { id: 'isa10', pin: 10 },
] as const;
/** Each input's vector: 0x61 and 0x62 share priority class 6, so one in service holds the other back. */
const PINS = [
  { pin: 23, vector: 0x61, activeLow: true },
  { pin: 22, vector: 0x62, activeLow: true },
  { pin: 10, vector: 0x83, activeLow: false },
];

interface Real {
  m: Machine;
}

interface ModelState {
  model: LevelInterruptModel;
}

function rteLow(m: Machine, pin: number): number {
  m.cpu(0).write32(IOREGSEL, 0x10 + 2 * pin);
  return m.cpu(0).read32(IOWIN);
}

function writeRte(m: Machine, pin: number, lo: number, hi: number): void {
  const cpu = m.cpu(0);
  cpu.write32(IOREGSEL, 0x11 + 2 * pin);
  cpu.write32(IOWIN, hi);
  cpu.write32(IOREGSEL, 0x10 + 2 * pin);
  cpu.write32(IOWIN, lo);
}

function rteBits(p: (typeof PINS)[number], masked: boolean): number {
  return p.vector | RTE_LEVEL | (p.activeLow ? RTE_ACTIVE_LOW : 0) | (masked ? RTE_MASKED : 0);
}

function setup(start: { suppress: boolean; cpus: number[] }): { model: ModelState; real: Real } {
  const m = createMachine({
    cpus: CPUS,
    devices: [
      { bdf: '00:03.0', intx: 'A' },
      { bdf: '00:07.0', intx: 'A' },
      { bdf: '00:04.0', intx: 'B', behindBridges: [5] },
    ],
  });
  expect([m.intxRoute('00:03.0').gsi, m.intxRoute('00:07.0').gsi, m.intxRoute('00:04.0').gsi]).toEqual([23, 23, 22]);
  const model = new LevelInterruptModel(CPUS, start.suppress);
  // Both local APICs software-enabled (SVR bit 8), with EOI-broadcast suppression (bit 12) when asked; APIC ID = index.
  for (let c = 0; c < CPUS; c++) m.cpu(c).write32(LAPIC_SVR, 0x1ff | (start.suppress ? 1 << 12 : 0));
  PINS.forEach((p, i) => {
    writeRte(m, p.pin, rteBits(p, false), start.cpus[i] << 24);
    model.addPin(p.pin, { vector: p.vector, cpu: start.cpus[i], masked: false });
  });
  return { model: { model }, real: { m } };
}

function bit(words: Uint32Array, v: number): boolean {
  return ((words[v >>> 5] >>> (v & 31)) & 1) === 1;
}

function check(s: ModelState, r: Real, after: string): void {
  const model = s.model;
  for (const p of PINS) {
    expect((rteLow(r.m, p.pin) & RTE_REMOTE_IRR) !== 0, `after ${after}: RTE ${p.pin} Remote IRR`).toBe(model.pins.get(p.pin)!.remoteIrr);
  }
  for (let c = 0; c < CPUS; c++) {
    const lapic = r.m.cpu(c).lapic;
    for (const p of PINS) {
      expect(bit(lapic.irr, p.vector), `after ${after}: CPU ${c} IRR 0x${p.vector.toString(16)}`).toBe(model.irr[c].has(p.vector));
      expect(bit(lapic.isr, p.vector), `after ${after}: CPU ${c} ISR 0x${p.vector.toString(16)}`).toBe(model.isr[c].has(p.vector));
    }
  }
}

type Cmd = fc.Command<ModelState, Real>;

class SetLine implements Cmd {
  constructor(readonly source: number, readonly asserted: boolean) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const src = SOURCES[this.source];
    s.model.setLine(src.pin, src.id, this.asserted);
    if (src.id === 'isa10') r.m.setIsaIrq(10, this.asserted);
    else r.m.device(src.id).fn.setIntx(this.asserted);
    check(s, r, this.toString());
  }
  toString = (): string => `${SOURCES[this.source].id} ${this.asserted ? 'asserts' : 'deasserts'} its line`;
}

class Acknowledge implements Cmd {
  constructor(readonly cpu: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const expected = s.model.acknowledge(this.cpu);
    expect(r.m.cpu(this.cpu).acknowledge(), this.toString()).toBe(expected);
    if (expected !== null) s.model.saw('acknowledged');
    check(s, r, this.toString());
  }
  toString = (): string => `CPU ${this.cpu} acknowledges`;
}

class LapicEoi implements Cmd {
  constructor(readonly cpu: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    s.model.eoi(this.cpu);
    r.m.cpu(this.cpu).write32(LAPIC_EOI, 0);
    check(s, r, this.toString());
  }
  toString = (): string => `CPU ${this.cpu} writes its LAPIC EOI`;
}

class DirectedEoi implements Cmd {
  constructor(readonly vector: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    s.model.ioapicEoi(this.vector);
    r.m.cpu(0).write32(IOAPIC_EOI, this.vector);
    check(s, r, this.toString());
  }
  toString = (): string => `I/O APIC EOI register ← 0x${this.vector.toString(16)}`;
}

class Mask implements Cmd {
  constructor(readonly pinIndex: number, readonly masked: boolean) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const p = PINS[this.pinIndex];
    s.model.setMasked(p.pin, this.masked);
    // Read-modify-write of the low dword, as a driver does: Remote IRR is read-only and survives the write.
    r.m.cpu(0).write32(IOREGSEL, 0x10 + 2 * p.pin);
    r.m.cpu(0).write32(IOWIN, (rteLow(r.m, p.pin) & ~RTE_MASKED) | (this.masked ? RTE_MASKED : 0));
    check(s, r, this.toString());
  }
  toString = (): string => `RTE ${PINS[this.pinIndex].pin} ${this.masked ? 'masked' : 'unmasked'}`;
}

class Retarget implements Cmd {
  constructor(readonly pinIndex: number, readonly cpu: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const p = PINS[this.pinIndex];
    s.model.retarget(p.pin, this.cpu);
    r.m.cpu(0).write32(IOREGSEL, 0x11 + 2 * p.pin);
    r.m.cpu(0).write32(IOWIN, this.cpu << 24);
    s.model.saw('retargeted');
    check(s, r, this.toString());
  }
  toString = (): string => `RTE ${PINS[this.pinIndex].pin} → CPU ${this.cpu}`;
}

class SnapshotRoundTrip implements Cmd {
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const snap = JSON.parse(JSON.stringify(r.m.snapshot())) as MachineSnapshot;
    r.m.restore(snap);
    s.model.saw('snapshot round trip');
    check(s, r, this.toString());
  }
  toString = (): string => 'machine snapshot → JSON → restore';
}

const cpu = fc.integer({ min: 0, max: CPUS - 1 });
const pinIndex = fc.integer({ min: 0, max: PINS.length - 1 });
const commands = fc.commands<ModelState, Real>(
  [
    ...Array<fc.Arbitrary<Cmd>>(6).fill(fc.tuple(fc.integer({ min: 0, max: SOURCES.length - 1 }), fc.boolean()).map(([i, a]): Cmd => new SetLine(i, a))),
    ...Array<fc.Arbitrary<Cmd>>(4).fill(cpu.map((c): Cmd => new Acknowledge(c))),
    ...Array<fc.Arbitrary<Cmd>>(4).fill(cpu.map((c): Cmd => new LapicEoi(c))),
    fc.constantFrom(...PINS.map((p) => p.vector), 0x40).map((v): Cmd => new DirectedEoi(v)),
    fc.tuple(pinIndex, fc.integer({ min: 0, max: 3 }).map((n) => n === 0)).map(([i, m]): Cmd => new Mask(i, m)),
    fc.tuple(pinIndex, cpu).map(([i, c]): Cmd => new Retarget(i, c)),
    fc.constant<Cmd>(new SnapshotRoundTrip()),
  ],
  { maxCommands: 80, size: 'max' },
);

const stats = campaignStats('level-interrupts');
const RUNS = 60;

describe('level-triggered INTx and ISA IRQs through the I/O APIC against an independent model (fc.commands)', () => {
  it(`random line / acknowledge / EOI / mask / retarget / snapshot sequences (${stressRuns(RUNS)} runs)`, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(fc.record({ suppress: fc.integer({ min: 0, max: 3 }).map((n) => n === 0), cpus: fc.array(cpu, { minLength: PINS.length, maxLength: PINS.length }) }), commands, (start, cmds) => {
        const s = setup(start);
        try {
          fc.modelRun(() => s, stats.instrumented(cmds));
        } finally {
          addReached(seen, s.model.model.seen);
        }
      }),
      { numRuns: stressRuns(RUNS), seed: stressSeed() },
    );
    stats.coverage(
      'random sequences',
      seen,
      ['sent', 'acknowledged', 'Remote IRR cleared', 'sent again after EOI, line still asserted', 'asserted while Remote IRR set', 'shared line asserted twice', 'sent on unmask', 'held back by a vector in service', 'broadcast suppressed', 'retargeted', 'snapshot round trip'],
      stressRuns(RUNS),
      RUNS,
    );
  }, 600_000);
});
