/**
 * Model-based stress test of the 8259A pair's master in virtual-wire mode A (its INT on LINT0, ExtINT): random
 * sequences of ISA IRQ line changes (IRQ 1, 3, 4, 5, 6: edge-triggered, the ELCR's reset value), IMR writes,
 * interrupt acknowledges through the CPU (the INTA cycle), non-specific EOIs and snapshot round trips, each compared
 * with models/i8259-model.ts (the 8259A data sheet): IRR and ISR as OCW3 reads them, the vector each INTA answers,
 * and whether the CPU sees an ExtINT at all.
 *
 * Runs: IRQPATH_STRESS_RUNS (default 60 sequences of up to 60 operations); IRQPATH_STRESS_SEED replays a seed.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import { roundTripThroughJson } from './snapshot-round-trip.ts';
import { I8259Model } from './models/i8259-model.ts';
import { stressRuns, stressSeed } from './budget.ts';
import { addReached, campaignStats } from './campaign-stats.ts';

const MASTER_CMD = 0x20;
const MASTER_DATA = 0x21;
const BASE = 0x30;
const IRQS = [1, 3, 4, 5, 6];
/** IRQ 2 is the cascade: left unmasked and idle, it never requests. */
const CASCADE = 1 << 2;

interface Real {
  m: Machine;
}

interface ModelState {
  pic: I8259Model;
}

function setup(): { model: ModelState; real: Real } {
  const m = createMachine({ cpus: 1 });
  const cpu = m.cpu(0);
  // Linux init_8259A: ICW1 0x11 (edge, cascade, ICW4), ICW2 vector base, ICW3 the slave on IR2, ICW4 8086 mode.
  for (const [port, v] of [[0x20, 0x11], [0x21, BASE], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x38], [0xa1, 0x02], [0xa1, 0x01]]) cpu.out8(port, v);
  cpu.out8(MASTER_DATA, 0); // OCW1: every master input unmasked
  cpu.write32(0xfee000f0, 0x1ff); // SVR: LAPIC software-enabled
  cpu.write32(0xfee00350, 0x700); // LVT LINT0: ExtINT, unmasked (virtual-wire mode A)
  return { model: { pic: new I8259Model(BASE) }, real: { m } };
}

/** OCW3 read register command (RR = 1, RIS selects ISR), then read the command port. */
function readReg(m: Machine, isr: boolean): number {
  m.cpu(0).out8(MASTER_CMD, isr ? 0x0b : 0x0a);
  return m.cpu(0).in8(MASTER_CMD);
}

function check(s: ModelState, r: Real, after: string): void {
  expect(readReg(r.m, false) & ~CASCADE, `after ${after}: IRR`).toBe(s.pic.irr & ~CASCADE);
  expect(readReg(r.m, true), `after ${after}: ISR`).toBe(s.pic.isr);
  expect(r.m.cpu(0).lapic.run.extIntPending, `after ${after}: INT on LINT0`).toBe(s.pic.requesting() >= 0);
}

type Cmd = fc.Command<ModelState, Real>;

class SetLine implements Cmd {
  constructor(readonly irq: number, readonly high: boolean) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    s.pic.setLine(this.irq, this.high);
    r.m.setIsaIrq(this.irq, this.high);
    check(s, r, this.toString());
  }
  toString = (): string => `IRQ ${this.irq} ${this.high ? 'high' : 'low'}`;
}

class SetMask implements Cmd {
  constructor(readonly imr: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    s.pic.imr = this.imr & ~CASCADE;
    r.m.cpu(0).out8(MASTER_DATA, s.pic.imr);
    s.pic.saw('IMR written');
    check(s, r, this.toString());
  }
  toString = (): string => `IMR ← 0x${(this.imr & ~CASCADE).toString(16)}`;
}

class Inta implements Cmd {
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const expected = s.pic.acknowledge();
    expect(r.m.cpu(0).acknowledgeExtInt(), this.toString()).toBe(expected);
    if (expected !== null) s.pic.saw('acknowledged');
    check(s, r, this.toString());
  }
  toString = (): string => 'CPU 0 takes the ExtINT (INTA)';
}

class Eoi implements Cmd {
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    s.pic.eoi();
    r.m.cpu(0).out8(MASTER_CMD, 0x20);
    check(s, r, this.toString());
  }
  toString = (): string => 'non-specific EOI';
}

class SnapshotRoundTrip implements Cmd {
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    roundTripThroughJson(r.m);
    s.pic.saw('snapshot round trip');
    check(s, r, this.toString());
  }
  toString = (): string => 'machine snapshot → JSON → restore';
}

const commands = fc.commands<ModelState, Real>(
  [
    ...Array<fc.Arbitrary<Cmd>>(6).fill(fc.tuple(fc.constantFrom(...IRQS), fc.boolean()).map(([i, h]): Cmd => new SetLine(i, h))),
    fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xff })).map((v): Cmd => new SetMask(v)),
    ...Array<fc.Arbitrary<Cmd>>(3).fill(fc.constant<Cmd>(new Inta())),
    ...Array<fc.Arbitrary<Cmd>>(2).fill(fc.constant<Cmd>(new Eoi())),
    fc.constant<Cmd>(new SnapshotRoundTrip()),
  ],
  { maxCommands: 60, size: 'max' },
);

const stats = campaignStats('i8259');
const RUNS = 60;

describe('the 8259A master in virtual-wire mode against the data sheet (fc.commands)', () => {
  it(`random line / IMR / INTA / EOI / snapshot sequences (${stressRuns(RUNS)} runs)`, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(commands, (cmds) => {
        const s = setup();
        try {
          fc.modelRun(() => s, stats.instrumented(cmds));
        } finally {
          addReached(seen, s.model.pic.seen);
        }
      }),
      { numRuns: stressRuns(RUNS), seed: stressSeed() },
    );
    stats.coverage('random sequences', seen, ['edge', 'withdrawn before INTA', 'acknowledged', 'acknowledged with a masked request pending', 'EOI', 'IMR written', 'snapshot round trip'], stressRuns(RUNS), RUNS);
  }, 600_000);
});
