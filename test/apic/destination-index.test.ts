/**
 * The fast destination index against the slow "ask every APIC" oracle (design.md: "APIC map ≡ slow scan"), and the
 * 32768-CPU scale requirement.
 */
import { test as fcTest, fc } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { ApicBus } from '../../src/apic/apic-bus.ts';
import { EventHub } from '../../src/core/events.ts';
import type { ApicMessage } from '../../src/msi/interrupt.ts';
import { cpusWithIrr, enterX2apic, message, mmioWrite, softwareEnable } from './helpers.ts';

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
  test('a 32768-CPU bus is created in well under 1 s and delivers to the last APIC ID', () => {
    const ids = Array.from({ length: 32768 }, (_, i) => i);
    const start = performance.now();
    const bus = new ApicBus({ apicIds: ids, lowestPriority: 'priority', events: new EventHub(), eoiBroadcast: () => {} });
    const created = performance.now() - start;
    expect(created).toBeLessThan(1000);
    const last = bus.lapics[32767];
    enterX2apic(last); // ID 32767 does not fit an xAPIC ID
    softwareEnable(last);
    const msg = message({ dest: 32767, destWidth: 32, vector: 0x41 });
    expect(bus.deliver(msg)).toBe(1);
    expect(last.irr[0x41 >>> 5]).toBe(1 << (0x41 & 31));
    // Warm deliveries must not scan the CPUs: 100000 deliveries to one CPU in well under a second.
    const t0 = performance.now();
    for (let i = 0; i < 100_000; i++) bus.deliver(msg);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
