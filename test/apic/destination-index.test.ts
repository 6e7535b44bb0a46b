/**
 * The fast destination index against the slow "ask every APIC" oracle (the two must agree on every message), and the
 * 32768-CPU scale requirement.
 */
import { test as fcTest, fc } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { ApicBus } from '../../src/apic/apic-bus.ts';
import { EventHub } from '../../src/core/events.ts';
import { DeliveryMode, type ApicMessage } from '../../src/msi/interrupt.ts';
import { APIC_BASE_MSR, EN, EXTD, cpusWithIrr, enterX2apic, message, mmioWrite, softwareEnable } from './helpers.ts';

const V = 0x40;

interface CpuSetup {
  mode: 'xapic' | 'x2apic' | 'disabled';
  xapicId: number | null; // null: keep the reset view
  ldr: number;
  cluster: boolean;
}

const cpuSetup = fc.record({
  mode: fc.constantFrom('xapic', 'x2apic', 'disabled'),
  xapicId: fc.option(fc.oneof(fc.integer({ min: 0, max: 7 }), fc.constant(0xff))),
  ldr: fc.integer({ min: 0, max: 0xff }),
  cluster: fc.boolean(),
});

/** Small IDs (to collide with destinations), IDs just above 255, and sparse 32-bit ones. */
const apicId = fc.oneof(
  fc.integer({ min: 0, max: 20 }),
  fc.integer({ min: 0xf0, max: 0x120 }),
  fc.integer({ min: 0, max: 0xfffffffe }),
);

const destination = fc.oneof(
  fc.integer({ min: 0, max: 0x20 }),
  fc.constantFrom(0xff, 0xffffffff, 0x100, 0x00010003, 0x0000000d),
  fc.integer({ min: 0, max: 0xffffffff }),
);

const msgArb = fc.record({
  dest: destination,
  destWidth: fc.constantFrom(8 as const, 32 as const),
  destMode: fc.constantFrom(0, 1),
});

function build(ids: number[], setups: CpuSetup[]): ApicBus {
  const bus = new ApicBus({ apicIds: ids, lowestPriority: 'priority', events: new EventHub(), eoiBroadcast: () => {} });
  bus.lapics.forEach((l, i) => {
    const s = setups[i % setups.length];
    softwareEnable(l);
    if (s.mode === 'x2apic') enterX2apic(l);
    else if (s.mode === 'disabled') l.wrmsr(0x1b, 0xfee00000n);
    else {
      if (s.xapicId !== null) mmioWrite(l, 0x20, s.xapicId << 24);
      if (s.cluster) mmioWrite(l, 0xe0, 0);
      mmioWrite(l, 0xd0, s.ldr << 24);
    }
  });
  return bus;
}

describe('index ≡ oracle', () => {
  fcTest.prop([fc.uniqueArray(apicId, { minLength: 1, maxLength: 24 }), fc.array(cpuSetup, { minLength: 1, maxLength: 8 }), fc.array(msgArb, { minLength: 1, maxLength: 10 })])(
    'a Fixed interrupt reaches exactly the CPUs matchSlow lists',
    (ids, setups, msgs) => {
      const bus = build(ids, setups);
      for (const m of msgs) {
        const msg: ApicMessage = message({ ...m, dest: m.destWidth === 8 ? m.dest & 0xff : m.dest, vector: V });
        const expected = bus.matchSlow(msg);
        const accepted = bus.deliver(msg);
        expect(cpusWithIrr(bus, V)).toEqual(expected);
        expect(accepted).toBe(expected.length);
        for (const l of bus.lapics) l.irr.fill(0);
      }
    },
  );
});

/**
 * One step of a random run: an addressing change on one CPU (through the registers software uses), a software
 * enable change, an INIT, a save/restore round trip, or a delivery checked against the oracle.
 */
type Step =
  | { op: 'mode'; cpu: number; to: 'xapic' | 'x2apic' | 'disabled' }
  | { op: 'id'; cpu: number; id: number }
  | { op: 'ldr'; cpu: number; ldr: number }
  | { op: 'dfr'; cpu: number; dfr: number }
  | { op: 'svr'; cpu: number; enable: boolean }
  | { op: 'init'; cpu: number }
  | { op: 'roundTrip' }
  | { op: 'fixed'; msg: { dest: number; destWidth: 8 | 32; destMode: number } }
  | { op: 'nmi'; msg: { dest: number; destWidth: 8 | 32; destMode: number } }
  | { op: 'shorthand'; cpu: number; shorthand: number };

const cpuIndex = fc.nat({ max: 15 });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('mode' as const), cpu: cpuIndex, to: fc.constantFrom('xapic' as const, 'x2apic' as const, 'disabled' as const) }),
  fc.record({ op: fc.constant('id' as const), cpu: cpuIndex, id: fc.oneof(fc.integer({ min: 0, max: 7 }), fc.constant(0xff), fc.nat({ max: 0xff })) }),
  fc.record({ op: fc.constant('ldr' as const), cpu: cpuIndex, ldr: fc.oneof(fc.constantFrom(0, 1, 2, 0x11, 0x12, 0xf1), fc.nat({ max: 0xff })) }),
  // DFR models: flat (0xF), cluster (0x0), and a reserved model that matches nothing.
  fc.record({ op: fc.constant('dfr' as const), cpu: cpuIndex, dfr: fc.constantFrom(0xffffffff, 0x0fffffff, 0x5fffffff) }),
  fc.record({ op: fc.constant('svr' as const), cpu: cpuIndex, enable: fc.boolean() }),
  fc.record({ op: fc.constant('init' as const), cpu: cpuIndex }),
  fc.constant({ op: 'roundTrip' as const }),
  fc.record({ op: fc.constant('fixed' as const), msg: msgArb }),
  fc.record({ op: fc.constant('nmi' as const), msg: msgArb }),
  fc.record({ op: fc.constant('shorthand' as const), cpu: cpuIndex, shorthand: fc.constantFrom(1, 2, 3) }),
);

/** Apply `s` to the bus; for deliveries, check the CPUs reached against the oracle. */
function applyStep(bus: ApicBus, events: EventHub, s: Step): void {
  const lapics = bus.lapics;
  const lapic = 'cpu' in s ? lapics[s.cpu % lapics.length] : null;
  switch (s.op) {
    case 'mode': {
      // Only the transitions SDM 10.12.5 allows: disabled ↔ xAPIC, xAPIC → x2APIC, x2APIC → disabled.
      const base = lapic!.rdmsr(APIC_BASE_MSR);
      const from = lapic!.mode;
      if (s.to === 'x2apic' && from === 'xapic') lapic!.wrmsr(APIC_BASE_MSR, base | EN | EXTD);
      else if (s.to === 'xapic' && from === 'disabled') lapic!.wrmsr(APIC_BASE_MSR, base | EN);
      else if (s.to === 'disabled' && from !== 'disabled') lapic!.wrmsr(APIC_BASE_MSR, base & ~(EN | EXTD));
      return;
    }
    // MMIO writes reach the register only in xAPIC mode (ignored otherwise, like the MMIO hole).
    case 'id':
      return mmioWrite(lapic!, 0x20, s.id << 24);
    case 'ldr':
      return mmioWrite(lapic!, 0xd0, s.ldr << 24);
    case 'dfr':
      return mmioWrite(lapic!, 0xe0, s.dfr);
    case 'svr':
      if (lapic!.mode === 'x2apic') lapic!.wrmsr(0x80f, s.enable ? 0x1ffn : 0xffn);
      else mmioWrite(lapic!, 0xf0, s.enable ? 0x1ff : 0xff);
      return;
    case 'init':
      lapic!.acceptInit();
      return;
    case 'roundTrip':
      bus.restore(bus.save());
      return;
    case 'fixed': {
      const msg = message({ ...s.msg, dest: s.msg.destWidth === 8 ? s.msg.dest & 0xff : s.msg.dest, vector: V });
      // A Fixed interrupt is taken by the matching CPUs that are also software-enabled (SDM 10.4.7.2).
      const expected = bus.matchSlow(msg).filter((cpu) => lapics[cpu].softwareEnabled);
      expect(bus.deliver(msg)).toBe(expected.length);
      expect(cpusWithIrr(bus, V)).toEqual(expected);
      for (const l of lapics) l.irr.fill(0);
      return;
    }
    case 'nmi': {
      // NMI is taken by every hardware-enabled CPU the destination names, software-enabled or not.
      const msg = message({ ...s.msg, dest: s.msg.destWidth === 8 ? s.msg.dest & 0xff : s.msg.dest, deliveryMode: DeliveryMode.NMI });
      const before = lapics.map((l) => l.run.nmiReceived);
      const expected = bus.matchSlow(msg);
      // Traced, so that an index listing a CPU the oracle does not (say, a disabled one that refuses) shows: the
      // bus then reports "refused" where it must report that no LAPIC matches.
      const lost: string[] = [];
      const onLost = (e: { reason: string }) => lost.push(e.reason);
      events.on('interrupt_lost', onLost);
      bus.deliver(msg);
      events.off('interrupt_lost', onLost);
      expect(lapics.filter((l, i) => l.run.nmiReceived !== before[i]).map((l) => l.cpu)).toEqual(expected);
      if (expected.length === 0) expect(lost).toEqual([expect.stringContaining('no LAPIC matches the destination')]);
      else expect(lost).toEqual([]);
      return;
    }
    case 'shorthand': {
      // An ICR write with a shorthand (fixed, edge, assert), from a CPU whose APIC can write its ICR.
      if (lapic!.mode === 'disabled') return;
      const lo = (s.shorthand << 18) | 0x4000 | V;
      const expected = bus.matchSlow(message({}), lapic!.cpu, s.shorthand).filter((cpu) => lapics[cpu].softwareEnabled);
      if (lapic!.mode === 'x2apic') lapic!.wrmsr(0x830, BigInt(lo));
      else mmioWrite(lapic!, 0x300, lo);
      expect(cpusWithIrr(bus, V)).toEqual(expected);
      for (const l of lapics) l.irr.fill(0);
      return;
    }
  }
}

describe('index ≡ oracle under per-CPU changes', () => {
  // Mostly small IDs, so that random destinations name them; lengths at their maximum size (fast-check keeps
  // arrays short by default, and a change only shows when a later message depends on it).
  const smallId = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 20 }) }, { weight: 1, arbitrary: apicId });
  fcTest.prop([fc.uniqueArray(smallId, { minLength: 1, maxLength: 16, size: 'max' }), fc.array(step, { minLength: 1, maxLength: 80, size: 'max' })])(
    'random addressing changes interleaved with deliveries reach exactly the CPUs matchSlow lists',
    (ids, steps) => {
      const events = new EventHub();
      const bus = new ApicBus({ apicIds: ids, lowestPriority: 'priority', events, eoiBroadcast: () => {} });
      bus.lapics.forEach(softwareEnable);
      // Build every part of the index before the first change, so that changes go through the per-CPU updates.
      applyStep(bus, events, { op: 'nmi', msg: { dest: 0xff, destWidth: 8, destMode: 0 } });
      applyStep(bus, events, { op: 'nmi', msg: { dest: 0x01, destWidth: 8, destMode: 1 } });
      for (const s of steps) applyStep(bus, events, s);
    },
  );
});

describe('aliased xAPIC IDs (one chain of CPUs per ID)', () => {
  test('CPUs leave and join a shared ID in any order; each ID reaches exactly its CPUs', () => {
    const bus = new ApicBus({ apicIds: [0, 1, 2, 3], lowestPriority: 'priority', events: new EventHub(), eoiBroadcast: () => {} });
    const nmiTo = (dest: number) => {
      const before = bus.lapics.map((l) => l.run.nmiReceived);
      bus.deliver(message({ dest, deliveryMode: DeliveryMode.NMI }));
      return bus.lapics.filter((l, i) => l.run.nmiReceived !== before[i]).map((l) => l.cpu);
    };
    expect(nmiTo(0)).toEqual([0]); // builds the index
    for (const cpu of [2, 0, 3, 1]) mmioWrite(bus.lapics[cpu], 0x20, 5 << 24); // all four answer to xAPIC ID 5
    expect(nmiTo(5)).toEqual([0, 1, 2, 3]);
    mmioWrite(bus.lapics[1], 0x20, 6 << 24); // from the middle of the chain
    mmioWrite(bus.lapics[2], 0x20, 7 << 24); // then the CPU that followed it
    expect(nmiTo(5)).toEqual([0, 3]);
    mmioWrite(bus.lapics[0], 0x20, 6 << 24); // the head
    expect([nmiTo(5), nmiTo(6), nmiTo(7)]).toEqual([[3], [0, 1], [2]]);
    bus.lapics[3].wrmsr(APIC_BASE_MSR, 0xfee00000n); // hardware-disable the last one
    expect(nmiTo(5)).toEqual([]);
  });
});

describe('what a change costs (counts of O(CPUs) rebuilds)', () => {
  /** APIC IDs 0..254: each reachable by an 8-bit physical destination (255 is the xAPIC broadcast). */
  const CPUS = 255;
  const x2Bus = () => {
    const bus = new ApicBus({ apicIds: Array.from({ length: CPUS }, (_, i) => i), lowestPriority: 'priority', events: new EventHub(), eoiBroadcast: () => {} });
    bus.deliver(message({ dest: 0, vector: V }));
    return bus;
  };

  test('bringing up every CPU with physical IPIs rebuilds nothing after the first lookup', () => {
    const bus = x2Bus();
    for (const l of bus.lapics) {
      // What an OS does per AP: INIT and STARTUP to its ID, then the AP enters x2APIC mode and software-enables.
      expect(bus.deliver(message({ dest: l.cpu, deliveryMode: DeliveryMode.INIT, trigger: 1, level: 1 }))).toBe(1);
      expect(bus.deliver(message({ dest: l.cpu, deliveryMode: DeliveryMode.StartUp, vector: 0x9a }))).toBe(1);
      enterX2apic(l);
      softwareEnable(l);
      expect(bus.deliver(message({ dest: l.cpu, destWidth: 32, vector: V }))).toBe(1);
    }
    expect(bus.indexRebuilds).toEqual({ full: 1, broadcast: 0, xapicLogical: 0 });
    // The first broadcast after the mode changes builds the broadcast lists once; the next one reuses them.
    expect(bus.deliver(message({ dest: 0xffffffff, destWidth: 32, vector: V }))).toBe(CPUS);
    expect(bus.deliver(message({ dest: 0xffffffff, destWidth: 32, vector: V + 1 }))).toBe(CPUS);
    expect(bus.indexRebuilds).toEqual({ full: 1, broadcast: 1, xapicLogical: 0 });
  });

  test('SVR writes and INITs that leave the addressing registers as they were invalidate nothing', () => {
    const bus = x2Bus();
    for (const l of bus.lapics) enterX2apic(l);
    bus.deliver(message({ dest: 0xffffffff, destWidth: 32, deliveryMode: DeliveryMode.NMI }));
    bus.deliver(message({ dest: 0x11, destMode: 1, deliveryMode: DeliveryMode.NMI }));
    const before = bus.indexRebuilds;
    for (const l of bus.lapics) {
      softwareEnable(l);
      l.wrmsr(0x80f, 0xffn); // software-disable again
      l.acceptInit(); // x2APIC mode survives INIT, and so does the LDR derived from the ID (SDM 10.4.7.3)
    }
    bus.deliver(message({ dest: 0xffffffff, destWidth: 32, deliveryMode: DeliveryMode.NMI }));
    bus.deliver(message({ dest: 0x11, destMode: 1, deliveryMode: DeliveryMode.NMI }));
    expect(bus.indexRebuilds).toEqual(before);
  });

  test('an xAPIC LDR write rebuilds the logical slots once, at the next logical message', () => {
    const bus = x2Bus();
    const l = bus.lapics[3];
    mmioWrite(l, 0xd0, 0x08 << 24); // flat logical ID bit 3
    mmioWrite(l, 0xd0, 0x04 << 24); // then bit 2
    expect(bus.indexRebuilds.xapicLogical).toBe(0);
    expect(bus.deliver(message({ dest: 0x04, destMode: 1, deliveryMode: DeliveryMode.NMI }))).toBe(1);
    expect(bus.deliver(message({ dest: 0x08, destMode: 1, deliveryMode: DeliveryMode.NMI }))).toBe(0);
    expect(bus.indexRebuilds.xapicLogical).toBe(1);
    // INIT returns that LDR to 0 (SDM 10.4.7.3): a real change, seen at the next logical message.
    l.acceptInit();
    expect(bus.deliver(message({ dest: 0x04, destMode: 1, deliveryMode: DeliveryMode.NMI }))).toBe(0);
    expect(bus.indexRebuilds).toEqual({ full: 1, broadcast: 0, xapicLogical: 2 });
  });
});

describe('oracle spot checks (values from the SDM rules, not from the index)', () => {
  test('x2APIC cluster 1 bits 0-1 are IDs 16 and 17', () => {
    const bus = build([0, 16, 17, 18], [{ mode: 'x2apic', xapicId: null, ldr: 0, cluster: false }]);
    expect(bus.matchSlow(message({ dest: 0x00010003, destWidth: 32, destMode: 1 }))).toEqual([1, 2]);
  });

  test('dense table for compact IDs, Map for sparse 32-bit IDs', () => {
    const x2 = [{ mode: 'x2apic' as const, xapicId: null, ldr: 0, cluster: false }];
    expect(build([0, 1, 2, 300], x2).physicalIndexIsDense).toBe(true);
    expect(build([0, 0x80000000], x2).physicalIndexIsDense).toBe(false);
  });
});

describe('scale', () => {
  test('a 32768-CPU bus builds its index once, on first use, and delivers to the last APIC ID', () => {
    const ids = Array.from({ length: 32768 }, (_, i) => i);
    const bus = new ApicBus({ apicIds: ids, lowestPriority: 'priority', events: new EventHub(), eoiBroadcast: () => {} });
    // Creating the bus builds no index: the one O(CPUs) pass waits for the first message.
    expect(bus.indexRebuilds).toEqual({ full: 0, broadcast: 0, xapicLogical: 0 });
    const last = bus.lapics[32767];
    enterX2apic(last); // ID 32767 does not fit an xAPIC ID
    softwareEnable(last);
    const msg = message({ dest: 32767, destWidth: 32, vector: 0x41 });
    expect(bus.deliver(msg)).toBe(1);
    expect(last.irr[0x41 >>> 5]).toBe(1 << (0x41 & 31));
    expect(bus.indexRebuilds).toEqual({ full: 1, broadcast: 0, xapicLogical: 0 });
  });

  test('a warm physical delivery on a 32768-CPU bus looks at one LAPIC, never at the others', () => {
    const ids = Array.from({ length: 32768 }, (_, i) => i);
    const bus = new ApicBus({ apicIds: ids, lowestPriority: 'priority', events: new EventHub(), eoiBroadcast: () => {} });
    const last = bus.lapics[32767];
    enterX2apic(last);
    softwareEnable(last);
    const msg = message({ dest: 32767, destWidth: 32, vector: 0x41 });
    bus.deliver(msg); // first use: the one full rebuild
    // Count every read of a LAPIC through the bus's CPU table: a delivery that scanned the CPUs would read 32768.
    let reads = 0;
    const counted = new Proxy(bus.lapics, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver);
      },
    });
    Object.defineProperty(bus, 'lapics', { value: counted });
    let accepted = 0;
    for (let i = 0; i < 100_000; i++) accepted += bus.deliver(msg);
    expect(accepted).toBe(100_000);
    expect(reads).toBe(100_000);
    expect(bus.indexRebuilds).toEqual({ full: 1, broadcast: 0, xapicLogical: 0 });
  });
});
