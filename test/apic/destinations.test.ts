/** Destination matching (SDM 10.6.2; KVM kvm_apic_mda for 8-bit destinations in x2APIC mode; choices documented in src/apic/destination-match.ts). */
import { describe, expect, test } from 'vitest';
import { DestMode } from '../../src/msi/interrupt.ts';
import { cpusWithIrr, enableAll, enterX2apic, makeBus, message, mmioWrite } from './helpers.ts';

const V = 0x40;
const phys8 = (dest: number) => message({ dest, vector: V });
const logical8 = (dest: number) => message({ dest, vector: V, destMode: DestMode.Logical });
const phys32 = (dest: number) => message({ dest, destWidth: 32, vector: V });
const logical32 = (dest: number) => message({ dest, destWidth: 32, vector: V, destMode: DestMode.Logical });

function xapicBus(ids = [0, 1, 2, 3]) {
  const ctx = makeBus(ids);
  enableAll(ctx.bus);
  return ctx.bus;
}

function x2apicBus(ids: number[]) {
  const ctx = makeBus(ids);
  for (const l of ctx.bus.lapics) enterX2apic(l);
  enableAll(ctx.bus);
  return ctx.bus;
}

describe('xAPIC physical', () => {
  test('dest 2 reaches APIC ID 2 only', () => {
    const bus = xapicBus();
    expect(bus.deliver(phys8(2))).toBe(1);
    expect(cpusWithIrr(bus, V)).toEqual([2]);
  });

  test('0xFF is a broadcast to every CPU', () => {
    const bus = xapicBus();
    expect(bus.deliver(phys8(0xff))).toBe(4);
    expect(cpusWithIrr(bus, V)).toEqual([0, 1, 2, 3]);
  });

  test('an absent ID reaches nobody and reports the loss', () => {
    const { bus, events } = makeBus([0, 1, 2, 3]);
    enableAll(bus);
    const lost: string[] = [];
    events.on('interrupt_lost', (e) => lost.push(e.reason));
    expect(bus.deliver(phys8(9))).toBe(0);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toContain('no LAPIC matches');
  });

  test('the writable xAPIC ID is what matches (ID register 31:24)', () => {
    const bus = xapicBus();
    mmioWrite(bus.lapics[3], 0x20, 0x07000000);
    bus.deliver(phys8(7));
    expect(cpusWithIrr(bus, V)).toEqual([3]);
    bus.lapics[3].irr.fill(0);
    expect(bus.deliver(phys8(3))).toBe(0);
  });

  test('two CPUs sharing an xAPIC ID both accept (kvm-unit-tests test_aliased_xapic_physical_ipi)', () => {
    const bus = xapicBus();
    mmioWrite(bus.lapics[1], 0x20, 0);
    expect(bus.deliver(phys8(0))).toBe(2);
    expect(cpusWithIrr(bus, V)).toEqual([0, 1]);
  });
});

describe('xAPIC logical flat (DFR 0xF)', () => {
  function flatBus() {
    const bus = xapicBus();
    bus.lapics.forEach((l, i) => mmioWrite(l, 0xd0, (1 << i) << 24));
    return bus;
  }

  test('dest 0x05 reaches the CPUs with logical bits 0 and 2', () => {
    const bus = flatBus();
    expect(bus.deliver(logical8(0x05))).toBe(2);
    expect(cpusWithIrr(bus, V)).toEqual([0, 2]);
  });

  test('a CPU with several LDR bits accepts once', () => {
    const bus = flatBus();
    mmioWrite(bus.lapics[0], 0xd0, 0x03000000);
    expect(bus.deliver(logical8(0x03))).toBe(2); // CPUs 0 (0b11) and 1 (0b10)
  });

  test('0xFF is a broadcast, even to a CPU whose LDR is 0', () => {
    const bus = flatBus();
    mmioWrite(bus.lapics[3], 0xd0, 0);
    expect(bus.deliver(logical8(0x08))).toBe(0);
    expect(bus.deliver(logical8(0xff))).toBe(4);
  });
});

describe('xAPIC logical cluster (DFR 0x0)', () => {
  function clusterBus() {
    const bus = xapicBus();
    const ldrs = [0x11, 0x12, 0x21, 0xf1];
    bus.lapics.forEach((l, i) => {
      mmioWrite(l, 0xe0, 0);
      mmioWrite(l, 0xd0, ldrs[i] << 24);
    });
    return bus;
  }

  test('cluster 1, mask 0b0011 reaches the two CPUs of cluster 1', () => {
    const bus = clusterBus();
    bus.deliver(logical8(0x13));
    expect(cpusWithIrr(bus, V)).toEqual([0, 1]);
  });

  test('cluster 2, mask 0b0001 reaches cluster 2 only (not bit 0 of cluster 1)', () => {
    const bus = clusterBus();
    bus.deliver(logical8(0x21));
    expect(cpusWithIrr(bus, V)).toEqual([2]);
  });

  test('cluster 0xF is an ordinary cluster (KVM): 0xF1 reaches only the CPU in cluster 15', () => {
    const bus = clusterBus();
    bus.deliver(logical8(0xf1));
    expect(cpusWithIrr(bus, V)).toEqual([3]);
  });

  test('0xFF is a broadcast to every cluster', () => {
    expect(clusterBus().deliver(logical8(0xff))).toBe(4);
  });
});

describe('x2APIC physical', () => {
  test('a 32-bit destination matches the 32-bit x2APIC ID', () => {
    const bus = x2apicBus([0, 1, 16, 17, 0x100]);
    bus.deliver(phys32(0x100));
    expect(cpusWithIrr(bus, V)).toEqual([4]);
  });

  test('0xFFFFFFFF is a broadcast', () => {
    const bus = x2apicBus([0, 1, 16, 17, 0x100]);
    expect(bus.deliver(phys32(0xffffffff))).toBe(5);
  });

  test('an ID above 2^31 matches (sparse Map index)', () => {
    const bus = x2apicBus([0, 0xfffffffe]);
    expect(bus.physicalIndexIsDense).toBe(false);
    bus.deliver(phys32(0xfffffffe));
    expect(cpusWithIrr(bus, V)).toEqual([1]);
  });
});

describe('x2APIC logical (cluster)', () => {
  const ids = [0, 1, 2, 3, 16, 17, 18];

  test('0x0001_0003 reaches APIC IDs 16 and 17', () => {
    const bus = x2apicBus(ids);
    bus.deliver(logical32(0x00010003));
    expect(cpusWithIrr(bus, V).map((c) => ids[c])).toEqual([16, 17]);
  });

  test('0x0000_0003 reaches APIC IDs 0 and 1', () => {
    const bus = x2apicBus(ids);
    bus.deliver(logical32(0x00000003));
    expect(cpusWithIrr(bus, V).map((c) => ids[c])).toEqual([0, 1]);
  });

  test('0xFFFFFFFF is a broadcast', () => {
    expect(x2apicBus(ids).deliver(logical32(0xffffffff))).toBe(7);
  });
});

describe('8-bit destinations aimed at x2APIC-mode CPUs', () => {
  test('logical 0x0D is cluster 0, mask 0b1101: APIC IDs 0, 2, 3 (kvm-unit-tests ioapic logical test)', () => {
    const bus = x2apicBus([0, 1, 2, 3]);
    expect(bus.deliver(logical8(0x0d))).toBe(3);
    expect(cpusWithIrr(bus, V)).toEqual([0, 2, 3]);
  });

  test('physical 0xFF is APIC ID 255, not a broadcast', () => {
    const bus = x2apicBus([0, 1, 0xff]);
    expect(bus.deliver(phys8(0xff))).toBe(1);
    expect(cpusWithIrr(bus, V)).toEqual([2]);
  });

  test('physical dest matches the x2APIC ID', () => {
    const bus = x2apicBus([0, 1, 2]);
    bus.deliver(phys8(1));
    expect(cpusWithIrr(bus, V)).toEqual([1]);
  });
});

describe('32-bit destinations aimed at xAPIC-mode CPUs', () => {
  test('physical dest below 0x100 matches the xAPIC ID', () => {
    const bus = xapicBus();
    bus.deliver(phys32(2));
    expect(cpusWithIrr(bus, V)).toEqual([2]);
  });

  test('physical 0x102 does not alias to xAPIC ID 2', () => {
    expect(xapicBus().deliver(phys32(0x102))).toBe(0);
  });

  test('logical (other than broadcast) matches no xAPIC-mode CPU', () => {
    const bus = xapicBus();
    bus.lapics.forEach((l, i) => mmioWrite(l, 0xd0, (1 << i) << 24));
    expect(bus.deliver(logical32(0x0000000f))).toBe(0);
    expect(bus.deliver(logical32(0xffffffff))).toBe(4);
  });
});

describe('enable state', () => {
  test('a hardware-disabled LAPIC is not reached by a broadcast', () => {
    const bus = xapicBus();
    bus.lapics[2].wrmsr(0x1b, 0xfee00000n);
    bus.deliver(phys8(0xff));
    expect(cpusWithIrr(bus, V)).toEqual([0, 1, 3]);
  });

  test('a software-disabled LAPIC refuses Fixed interrupts', () => {
    const bus = xapicBus();
    mmioWrite(bus.lapics[1], 0xf0, 0xff);
    expect(bus.deliver(phys8(0xff))).toBe(3);
    expect(cpusWithIrr(bus, V)).toEqual([0, 2, 3]);
  });

  test('a mode change is seen by the next delivery (maps rebuilt)', () => {
    const bus = xapicBus([0, 1, 0x120]);
    expect(bus.deliver(phys32(0x120))).toBe(0); // xAPIC mode: only the low 8 bits (0x20) are its ID
    enterX2apic(bus.lapics[2]);
    expect(bus.deliver(phys32(0x120))).toBe(1);
  });
});
