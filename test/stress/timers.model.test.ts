/**
 * Model-based stress test of the machine's timers: the LAPIC timer (one-shot and periodic, three divide values,
 * masked and not) and an HPET comparator in periodic mode routed to I/O APIC input 2, under random sequences of
 * simulated time passing, re-programming, masking, starting and stopping the HPET, interrupts taken (acknowledge and
 * EOI) and snapshot round trips — with both timers armed across the snapshot. After each operation the interrupts
 * each timer raised are counted against models/timer-model.ts (the SDM's and the HPET spec's expiry rules) and each
 * pending vector against models/pending-interrupt-model.ts (an edge interrupt coalesces in IRR until acknowledged).
 *
 * Runs: IRQPATH_STRESS_RUNS (default 60 sequences of up to 60 operations); IRQPATH_STRESS_SEED replays a seed.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import { roundTripThroughJson } from './snapshot-round-trip.ts';
import { HpetComparatorModel, LapicTimerModel } from './models/timer-model.ts';
import { PendingInterruptModel } from './models/pending-interrupt-model.ts';
import { stressRuns, stressSeed } from './budget.ts';
import { addReached, campaignStats } from './campaign-stats.ts';

// LAPIC (SDM Table 10-1): LVT timer 0x320, TMICT 0x380, TDCR 0x3E0, SVR 0xF0, EOI 0xB0; LVT bit 16 mask, 17 periodic.
const LAPIC = 0xfee00000;
const LVTT = LAPIC + 0x320;
const TMICT = LAPIC + 0x380;
const TDCR = LAPIC + 0x3e0;
const SVR = LAPIC + 0xf0;
const EOI = LAPIC + 0xb0;
const DIVIDES: [number, number][] = [[0xb, 1], [0x0, 2], [0x1, 4]];
// HPET (spec §2.3): general configuration 0x10, main counter 0xF0, timer 0 configuration 0x100 and comparator 0x108.
const HPET = 0xfed00000;
const HPET_CONFIG = HPET + 0x10;
const HPET_COUNTER = HPET + 0xf0;
const T0_CONFIG = HPET + 0x100;
const T0_COMPARATOR = HPET + 0x108;
const HPET_TICK_NS = 10; // COUNTER_CLK_PERIOD 10^7 fs
const T_INT_ENB = 1n << 2n;
const T_PERIODIC = 1n << 3n;
const T_VAL_SET = 1n << 6n;
const T_ROUTE_2 = 2n << 9n;
const TIMER_VECTOR = 0x40;
const HPET_VECTOR = 0x51;

interface Real {
  m: Machine;
  /** Vectors each interrupt entry saw during the current operation. */
  entries: number[];
}

interface ModelState {
  lapic: LapicTimerModel;
  hpet: HpetComparatorModel;
  pending: PendingInterruptModel;
  now: number;
  lvtt: number;
}

function setup(): { model: ModelState; real: Real } {
  const m = createMachine({ cpus: 1 });
  const real: Real = { m, entries: [] };
  m.cpu(0).lapic.interruptEntry = (v) => real.entries.push(v);
  m.cpu(0).write32(SVR, 0x1ff);
  // I/O APIC RTE 2 (82093AA §3.2.4): vector, fixed, physical APIC 0, edge, active high, unmasked.
  m.cpu(0).write32(0xfec00000, 0x11 + 4);
  m.cpu(0).write32(0xfec00010, 0);
  m.cpu(0).write32(0xfec00000, 0x10 + 4);
  m.cpu(0).write32(0xfec00010, HPET_VECTOR);
  return { model: { lapic: new LapicTimerModel(), hpet: new HpetComparatorModel(HPET_TICK_NS), pending: new PendingInterruptModel(1), now: 0, lvtt: TIMER_VECTOR | (1 << 16) }, real };
}

function check(s: ModelState, r: Real, after: string, expected: { timer: number; hpet: number }): void {
  const count = (v: number) => r.entries.filter((x) => x === v).length;
  expect({ timer: count(TIMER_VECTOR), hpet: count(HPET_VECTOR) }, `after ${after} at ${s.now} ns: interrupts raised`).toEqual(expected);
  for (const v of [TIMER_VECTOR, HPET_VECTOR]) {
    const inIrr = ((r.m.cpu(0).lapic.irr[v >>> 5] >>> (v & 31)) & 1) === 1;
    expect(inIrr, `after ${after}: vector 0x${v.toString(16)} pending`).toBe(s.pending.isPending(0, v));
  }
  r.entries.length = 0;
}

type Cmd = fc.Command<ModelState, Real>;

class Advance implements Cmd {
  constructor(readonly ns: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const from = s.now;
    s.now += this.ns;
    const timerExpired = s.lapic.expirations(from, s.now);
    const timer = s.lapic.masked ? 0 : timerExpired;
    if (timerExpired > 0 && s.lapic.masked) s.pending.saw('expired while masked');
    const hpet = s.hpet.expirations(from, s.now);
    for (let i = 0; i < timer; i++) s.pending.fire(0, TIMER_VECTOR);
    for (let i = 0; i < hpet; i++) s.pending.fire(0, HPET_VECTOR);
    if (timer > 0) s.pending.saw('LAPIC timer interrupt');
    if (hpet > 0) s.pending.saw('HPET interrupt');
    r.m.advance(this.ns);
    check(s, r, this.toString(), { timer, hpet });
  }
  toString = (): string => `advance ${this.ns} ns`;
}

class ProgramTimer implements Cmd {
  constructor(readonly periodic: boolean, readonly count: number, readonly divide: number, readonly masked: boolean) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const [tdcr, divide] = DIVIDES[this.divide];
    s.lvtt = TIMER_VECTOR | (this.periodic ? 1 << 17 : 0) | (this.masked ? 1 << 16 : 0);
    s.lapic.masked = this.masked;
    s.lapic.program(s.now, this.count, divide, 1, this.periodic);
    s.pending.saw(this.periodic ? 'periodic' : 'one-shot');
    const cpu = r.m.cpu(0);
    cpu.write32(LVTT, s.lvtt);
    cpu.write32(TDCR, tdcr);
    cpu.write32(TMICT, this.count);
    check(s, r, this.toString(), { timer: 0, hpet: 0 });
  }
  toString = (): string => `LAPIC timer ${this.periodic ? 'periodic' : 'one-shot'} ${this.count} × ${DIVIDES[this.divide][1]}${this.masked ? ', masked' : ''}`;
}

class MaskTimer implements Cmd {
  constructor(readonly masked: boolean) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    s.lvtt = (s.lvtt & ~(1 << 16)) | (this.masked ? 1 << 16 : 0);
    s.lapic.masked = this.masked;
    r.m.cpu(0).write32(LVTT, s.lvtt);
    check(s, r, this.toString(), { timer: 0, hpet: 0 });
  }
  toString = (): string => `LVT timer ${this.masked ? 'masked' : 'unmasked'}`;
}

class StartHpet implements Cmd {
  constructor(readonly period: number) {}
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    // Halt, zero the counter, timer 0 periodic to input 2 (VAL_SET: the comparator write sets the period too), go.
    const cpu = r.m.cpu(0);
    cpu.write64(HPET_CONFIG, 0n);
    cpu.write64(HPET_COUNTER, 0n);
    cpu.write64(T0_CONFIG, T_INT_ENB | T_PERIODIC | T_VAL_SET | T_ROUTE_2);
    cpu.write64(T0_COMPARATOR, BigInt(this.period));
    cpu.write64(HPET_CONFIG, 1n);
    s.hpet.start(s.now, this.period);
    s.pending.saw('HPET started');
    check(s, r, this.toString(), { timer: 0, hpet: 0 });
  }
  toString = (): string => `HPET timer 0 periodic every ${this.period} ticks`;
}

class StopHpet implements Cmd {
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    r.m.cpu(0).write64(HPET_CONFIG, 0n);
    s.hpet.stop();
    check(s, r, this.toString(), { timer: 0, hpet: 0 });
  }
  toString = (): string => 'HPET halted';
}

class Take implements Cmd {
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    const expected = s.pending.highestPending(0);
    const got = r.m.cpu(0).acknowledge();
    expect(got, this.toString()).toBe(expected);
    if (got !== null) {
      r.m.cpu(0).write32(EOI, 0);
      s.pending.handle(0, got);
      s.pending.saw('handled');
    }
    check(s, r, this.toString(), { timer: 0, hpet: 0 });
  }
  toString = (): string => 'CPU 0 takes an interrupt (acknowledge, EOI)';
}

class SnapshotRoundTrip implements Cmd {
  check = (): boolean => true;
  run(s: ModelState, r: Real): void {
    roundTripThroughJson(r.m);
    s.pending.saw('snapshot round trip');
    check(s, r, this.toString(), { timer: 0, hpet: 0 });
  }
  toString = (): string => 'machine snapshot → JSON → restore';
}

const commands = fc.commands<ModelState, Real>(
  [
    ...Array<fc.Arbitrary<Cmd>>(5).fill(fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 4000 })).map((ns): Cmd => new Advance(ns))),
    ...Array<fc.Arbitrary<Cmd>>(2).fill(
      fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 400 }), fc.integer({ min: 0, max: DIVIDES.length - 1 }), fc.integer({ min: 0, max: 4 }).map((n) => n === 0)).map(([p, c, d, m]): Cmd => new ProgramTimer(p, c, d, m)),
    ),
    fc.boolean().map((m): Cmd => new MaskTimer(m)),
    fc.integer({ min: 20, max: 300 }).map((p): Cmd => new StartHpet(p)),
    fc.constant<Cmd>(new StopHpet()),
    ...Array<fc.Arbitrary<Cmd>>(3).fill(fc.constant<Cmd>(new Take())),
    fc.constant<Cmd>(new SnapshotRoundTrip()),
  ],
  { maxCommands: 60, size: 'max' },
);

const stats = campaignStats('timers');
const RUNS = 60;

describe('the LAPIC timer and the HPET against their specs\' expiry rules (fc.commands)', () => {
  it(`random time / program / mask / HPET / take / snapshot sequences (${stressRuns(RUNS)} runs)`, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(commands, (cmds) => {
        const s = setup();
        try {
          fc.modelRun(() => s, stats.instrumented(cmds));
        } finally {
          addReached(seen, s.model.pending.seen);
        }
      }),
      { numRuns: stressRuns(RUNS), seed: stressSeed() },
    );
    stats.coverage('random sequences', seen, ['LAPIC timer interrupt', 'HPET interrupt', 'periodic', 'one-shot', 'expired while masked', 'coalesced', 'handled', 'HPET started', 'snapshot round trip'], stressRuns(RUNS), RUNS);
  }, 600_000);
});
