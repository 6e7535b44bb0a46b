/** LAPIC / APIC bus snapshots: JSON round trip, validation, all-or-nothing restore. */
import { describe, expect, test } from 'vitest';
import { UsageError } from '../../src/core/errors.ts';
import { DeliveryMode } from '../../src/msi/interrupt.ts';
import { cpusWithIrr, enableAll, enterX2apic, makeBus, message, mmioRead, mmioWrite } from './helpers.ts';

function busWithHistory() {
  const ctx = makeBus([0, 1, 0x123]);
  enableAll(ctx.bus);
  const [, b, c] = ctx.bus.lapics;
  mmioWrite(b, 0x20, 0x09000000);
  mmioWrite(b, 0x80, 0x20);
  mmioWrite(b, 0xd0, 0x04000000);
  mmioWrite(b, 0x370, 0xe0);
  ctx.bus.deliver(message({ dest: 9, vector: 0x61, trigger: 1 }));
  ctx.bus.deliver(message({ dest: 9, vector: 0x71 }));
  b.acknowledge();
  ctx.bus.deliver(message({ dest: 9, deliveryMode: DeliveryMode.NMI }));
  enterX2apic(c);
  return ctx;
}

describe('save / restore', () => {
  test('a JSON round trip reproduces the state and the future behaviour', () => {
    const a = busWithHistory();
    const json = JSON.parse(JSON.stringify(a.bus.save()));
    const b = makeBus([0, 1, 0x123]);
    b.bus.restore(json);
    expect(b.bus.save()).toEqual(a.bus.save());
    // The restored maps route by the restored IDs: xAPIC ID 9 and x2APIC ID 0x123.
    for (const { bus } of [a, b]) {
      bus.deliver(message({ dest: 9, vector: 0x91 }));
      bus.deliver(message({ dest: 0x123, destWidth: 32, vector: 0x92 }));
    }
    expect(cpusWithIrr(b.bus, 0x91)).toEqual([1]);
    expect(cpusWithIrr(b.bus, 0x92)).toEqual([2]);
    expect(b.bus.lapics[1].acknowledge()).toBe(a.bus.lapics[1].acknowledge());
    expect(mmioRead(b.bus.lapics[1], 0xa0)).toBe(mmioRead(a.bus.lapics[1], 0xa0));
  });

  test('snapshots hold only plain JSON values', () => {
    const state = busWithHistory().bus.save();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    expect(typeof state.lapics[0].apicBase).toBe('string');
  });

  const corruptions: [string, (s: Record<string, unknown>) => void][] = [
    ['wrong version', (s) => (s.version = 2)],
    ['another CPU\'s state', (s) => (s.initialApicId = 7)],
    ['invalid APIC base mode (EN=0, EXTD=1)', (s) => (s.apicBase = '0xfee00400')],
    ['reserved APIC base bit', (s) => (s.apicBase = '0xfee00801')],
    ['TPR above 8 bits', (s) => (s.tpr = 0x100)],
    ['DFR with clear low bits', (s) => (s.dfr = 0)],
    ['IRR word that is not a u32', (s) => ((s.irr as number[])[3] = -1)],
    ['short ISR', (s) => (s.isr = [0])],
    ['bad run state', (s) => ((s.run as Record<string, unknown>).runState = 'halted')],
  ];
  for (const [name, corrupt] of corruptions) {
    test(`restore rejects ${name} and changes nothing`, () => {
      const { bus } = busWithHistory();
      const before = bus.save();
      const bad = JSON.parse(JSON.stringify(before));
      corrupt(bad.lapics[1]);
      expect(() => bus.lapics[1].restore(bad.lapics[1])).toThrow(UsageError);
      expect(() => bus.restore(bad)).toThrow(UsageError);
      expect(bus.save()).toEqual(before);
    });
  }

  test('x2APIC state must keep the ID equal to the initial APIC ID', () => {
    const { bus } = busWithHistory();
    const bad = JSON.parse(JSON.stringify(bus.save()));
    bad.lapics[2].id = 0x124;
    expect(() => bus.restore(bad)).toThrow(/initial APIC ID/);
  });

  test('a bus restore with one bad LAPIC leaves the good ones untouched too', () => {
    const { bus } = busWithHistory();
    const fresh = makeBus([0, 1, 0x123]).bus.save();
    const before = bus.save();
    fresh.lapics[2].tpr = 0x1000;
    expect(() => bus.restore(fresh)).toThrow(UsageError);
    expect(bus.save()).toEqual(before);
  });
});
