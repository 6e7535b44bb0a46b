/** Lowest-priority arbitration policies (SDM 10.6.2.4; KVM kvm_vector_to_index and apic_arb_prio). */
import { describe, expect, test } from 'vitest';
import type { LowestPriorityPolicy } from '../../src/apic/lowest-priority.ts';
import { DeliveryMode, DestMode } from '../../src/msi/interrupt.ts';
import { cpusWithIrr, enableAll, makeBus, message, mmioWrite } from './helpers.ts';

/** CPUs 1, 2, 3 have flat logical bits 1, 2, 3; CPU 0 has none. Logical dest 0x0E addresses {1, 2, 3}. */
function flatBus(policy: LowestPriorityPolicy, apicIds = [0, 1, 2, 3]) {
  const ctx = makeBus(apicIds, policy);
  enableAll(ctx.bus);
  ctx.bus.lapics.forEach((l, i) => i > 0 && mmioWrite(l, 0xd0, (1 << i) << 24));
  return ctx.bus;
}
const lowest = (vector: number, extra = {}) =>
  message({ dest: 0x0e, destMode: DestMode.Logical, deliveryMode: DeliveryMode.LowestPriority, vector, ...extra });

describe("'vector-hash' (KVM)", () => {
  // Members in CPU order: [1, 2, 3]; N = 3.
  for (const [vector, cpu] of [[0x40, 2], [0x41, 3], [0x42, 1]] as const) {
    test(`vector ${vector.toString(16)}: (vector mod 3) = ${vector % 3} picks CPU ${cpu}`, () => {
      const bus = flatBus('vector-hash');
      expect(bus.deliver(lowest(vector))).toBe(1);
      expect(cpusWithIrr(bus, vector)).toEqual([cpu]);
    });
  }

  test('software-disabled CPUs are not counted: {1, 3}, 0x40 mod 2 = 0 picks CPU 1', () => {
    const bus = flatBus('vector-hash');
    mmioWrite(bus.lapics[2], 0xf0, 0xff);
    bus.deliver(lowest(0x40));
    expect(cpusWithIrr(bus, 0x40)).toEqual([1]);
  });
});

describe("'first' (QEMU TCG)", () => {
  test('the first member in CPU order takes it', () => {
    const bus = flatBus('first');
    bus.deliver(lowest(0x40));
    expect(cpusWithIrr(bus, 0x40)).toEqual([1]);
  });
});

describe("'priority' (hardware-like)", () => {
  test('the lowest PPR wins', () => {
    const bus = flatBus('priority');
    mmioWrite(bus.lapics[1], 0x80, 0x40);
    mmioWrite(bus.lapics[2], 0x80, 0x20);
    mmioWrite(bus.lapics[3], 0x80, 0x30);
    bus.deliver(lowest(0x50));
    expect(cpusWithIrr(bus, 0x50)).toEqual([2]);
  });

  test('PPR counts the in-service class, not only TPR', () => {
    const bus = flatBus('priority');
    mmioWrite(bus.lapics[1], 0x80, 0x40);
    mmioWrite(bus.lapics[3], 0x80, 0x30);
    // CPU 2 (TPR 0) is servicing 0x81 → PPR 0x80, the highest.
    bus.deliver(message({ dest: 2, vector: 0x81 }));
    bus.lapics[2].acknowledge();
    bus.deliver(lowest(0x50));
    expect(cpusWithIrr(bus, 0x50)).toEqual([3]);
  });

  test('ties go to the lowest APIC ID', () => {
    const bus = flatBus('priority', [0, 7, 5, 6]);
    bus.deliver(lowest(0x50));
    expect(cpusWithIrr(bus, 0x50)).toEqual([2]); // APIC ID 5
  });

  test('a focus processor (vector already pending) wins over a lower PPR', () => {
    const bus = flatBus('priority');
    mmioWrite(bus.lapics[3], 0x80, 0x30);
    bus.deliver(message({ dest: 3, vector: 0x50 }));
    expect(bus.deliver(lowest(0x50))).toBe(1);
    expect(cpusWithIrr(bus, 0x50)).toEqual([3]);
  });

  test('with focus checking disabled (SVR bit 9) the lowest PPR wins', () => {
    const bus = flatBus('priority');
    mmioWrite(bus.lapics[3], 0xf0, 0x3ff);
    mmioWrite(bus.lapics[3], 0x80, 0x30);
    bus.deliver(message({ dest: 3, vector: 0x50 }));
    bus.deliver(lowest(0x50));
    expect(cpusWithIrr(bus, 0x50)).toEqual([1, 3]);
  });
});

describe('special cases', () => {
  test('physical broadcast with LowestPriority is delivered as Fixed to all (KVM)', () => {
    const bus = flatBus('priority');
    const msg = message({ dest: 0xff, deliveryMode: DeliveryMode.LowestPriority, vector: 0x60 });
    expect(bus.deliver(msg)).toBe(4);
  });

  test('a Fixed logical MSI with RH = 1 is redirected to one CPU (SDM 10.11.1)', () => {
    const bus = flatBus('first');
    const msg = message({ dest: 0x0e, destMode: DestMode.Logical, vector: 0x60, redirectionHint: 1 });
    expect(bus.deliver(msg)).toBe(1);
    expect(cpusWithIrr(bus, 0x60)).toEqual([1]);
  });

  test('with every addressed CPU software-disabled nothing is accepted', () => {
    const bus = flatBus('priority');
    for (const i of [1, 2, 3]) mmioWrite(bus.lapics[i], 0xf0, 0xff);
    expect(bus.deliver(lowest(0x40))).toBe(0);
  });
});
