/**
 * KVM's routing ABI as virt/kvm/irqchip.c (`kvm_set_irq_routing`, `setup_routing_entry`), virt/kvm/eventfd.c
 * (`kvm_irqfd_assign`, `irqfd_wakeup`, `kvm_irq_routing_update`) and virt/lib/irqbypass.c define it: limits
 * KVM_MAX_IRQ_ROUTES = 4096 and KVM_IOAPIC_NUM_PINS = 24, a table replaced whole or not at all, one irqfd per
 * eventfd, producer and consumer paired by eventfd.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.ts';
import { KvmIrqRouting, type BypassProducer, type KvmRoutingEntry } from '../../src/vmm/kvm-irq-routing.ts';

function recorder() {
  const log: string[] = [];
  const routing = new KvmIrqRouting({
    inject: (e) => log.push(e.type === 'msi' ? `inject gsi ${e.gsi} data 0x${e.data.toString(16)}` : `inject gsi ${e.gsi} pin ${e.pin}`),
    paired: (gsi, p) => log.push(`paired gsi ${gsi} ${p.name}`),
    unpaired: (gsi, p) => log.push(`unpaired gsi ${gsi} ${p.name}`),
  });
  return { routing, log };
}

const msi = (gsi: number, data: number): KvmRoutingEntry => ({ gsi, type: 'msi', addressHi: 0, addressLo: 0xfee00000, data });

describe('KVM_SET_GSI_ROUTING', () => {
  it('refuses a bad table whole: the old table stays', () => {
    const { routing } = recorder();
    routing.setRouting([msi(24, 0x41)]);
    const bad: [KvmRoutingEntry[], RegExp][] = [
      [[msi(24, 0x42), msi(4096, 0x43)], /GSI 4096 is not below KVM_MAX_IRQ_ROUTES \(4096\)/],
      [[msi(24, 0x42), { gsi: 1, type: 'ioapic', pin: 24 }], /pin 24 is not below KVM_IOAPIC_NUM_PINS \(24\)/],
      [[msi(24, 0x42), msi(24, 0x44)], /GSI 24 already has an entry/],
      [Array.from({ length: 4097 }, (_, g) => msi(g % 4096, 0x30)), /4097 entries, more than KVM_MAX_IRQ_ROUTES \(4096\)/],
    ];
    for (const [table, why] of bad) {
      expect(() => routing.setRouting(table)).toThrow(UsageError);
      expect(() => routing.setRouting(table)).toThrow(why);
      expect(routing.entries()).toEqual([msi(24, 0x41)]);
    }
  });

  it('a full 4096-GSI replacement reports only the entries that changed', () => {
    const { routing } = recorder();
    const table = Array.from({ length: 4096 }, (_, g) => (g < 24 ? ({ gsi: g, type: 'ioapic', pin: g } as KvmRoutingEntry) : msi(g, 0x20 + (g & 0xff))));
    expect(routing.setRouting(table)).toHaveLength(4096);
    const next = table.map((e) => (e.gsi === 100 || e.gsi === 4095 ? msi(e.gsi, 0xee) : e)).filter((e) => e.gsi !== 300);
    expect(routing.setRouting(next)).toEqual([100, 300, 4095]);
    expect(routing.stats).toEqual({ replacements: 2, changedEntries: 4096 + 3 });
  });
});

describe('irqfds and irqbypass', () => {
  it('an irqfd injects the GSI\'s entry as it is now; a GSI with no entry injects nothing; no irqfd is userspace\'s', () => {
    const { routing, log } = recorder();
    const fd = {};
    routing.setRouting([msi(24, 0x41)]);
    routing.assignIrqfd(24, fd);
    expect(routing.signal(fd)).toBe(true);
    routing.setRouting([msi(24, 0x51)]);
    routing.signal(fd);
    routing.setRouting([]);
    expect(routing.signal(fd)).toBe(true);
    expect(routing.signal({})).toBe(false);
    expect(log).toEqual(['inject gsi 24 data 0x41', 'inject gsi 24 data 0x51']);
  });

  it('one irqfd per eventfd (EBUSY)', () => {
    const { routing } = recorder();
    const fd = {};
    routing.assignIrqfd(24, fd);
    expect(() => routing.assignIrqfd(25, fd)).toThrow(/already an irqfd \(GSI 24\)/);
  });

  it('producer and consumer pair by eventfd, in either order; a route change on a paired GSI is passed on; either side leaving unpairs', () => {
    const { routing, log } = recorder();
    const fdA = {};
    const fdB = {};
    const a: BypassProducer = { token: fdA, name: 'vfio A' };
    const b: BypassProducer = { token: fdB, name: 'vfio B' };
    routing.setRouting([msi(24, 0x41), msi(25, 0x42)]);
    routing.registerProducer(a); // before its irqfd
    routing.assignIrqfd(24, fdA);
    routing.assignIrqfd(25, fdB);
    routing.registerProducer(b); // after
    routing.registerProducer({ token: {}, name: 'unmatched' });
    expect(routing.pairings()).toEqual([{ gsi: 24, producer: 'vfio A' }, { gsi: 25, producer: 'vfio B' }]);
    routing.setRouting([msi(24, 0x41), msi(25, 0x99)]);
    routing.unregisterProducer(a);
    routing.deassignIrqfd(fdB);
    expect(log).toEqual(['paired gsi 24 vfio A', 'paired gsi 25 vfio B', 'paired gsi 25 vfio B', 'unpaired gsi 24 vfio A', 'unpaired gsi 25 vfio B']);
    expect(routing.pairings()).toEqual([]);
    expect(routing.irqfds()).toEqual([{ gsi: 24, resample: false, paired: false }]);
  });

  it('a resamplefd is signalled when the guest EOIs the line', () => {
    const { routing } = recorder();
    let resampled = 0;
    routing.setRouting([{ gsi: 10, type: 'ioapic', pin: 10 }]);
    routing.assignIrqfd(10, {}, () => resampled++);
    routing.ackIoapicPin(10);
    routing.ackIoapicPin(11);
    expect(resampled).toBe(1);
    expect(routing.irqfds()).toEqual([{ gsi: 10, resample: true, paired: false }]);
  });

  it('an I/O APIC pin irqfd: an edge without a resampler, a held level with one until the guest EOIs the pin', () => {
    // virt/kvm/eventfd.c irqfd_inject: without a resampler kvm_set_irq(…, 1) then (…, 0) under
    // KVM_USERSPACE_IRQ_SOURCE_ID; with one, kvm_set_irq(KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID, gsi, 1) only, and
    // irqfd_resampler_ack sets it to 0 before signalling the resamplefd.
    const log: string[] = [];
    const routing = new KvmIrqRouting({ inject: () => log.push('msi'), paired: () => {}, unpaired: () => {}, setPin: (pin, level) => log.push(`pin ${pin} ${level ? 1 : 0}`) });
    routing.setRouting([{ gsi: 5, type: 'ioapic', pin: 5 }, { gsi: 18, type: 'ioapic', pin: 18 }]);
    const edge = {};
    const level = {};
    routing.assignIrqfd(5, edge);
    routing.assignIrqfd(18, level, () => log.push('resamplefd'));
    routing.signal(edge);
    routing.signal(level);
    routing.signal(level); // one source: still one assertion
    expect(routing.resampleLevel(18)).toBe(true);
    routing.ackIoapicPin(18);
    expect(routing.resampleLevel(18)).toBe(false);
    routing.ackIoapicPin(18); // nothing asserted: the resamplefd is still signalled, no second deassertion
    expect(log).toEqual(['pin 5 1', 'pin 5 0', 'pin 18 1', 'pin 18 0', 'resamplefd', 'resamplefd']);
    // Deassigning the irqfd while its level is held lets the line go (irqfd_resampler_shutdown).
    routing.signal(level);
    routing.deassignIrqfd(level);
    expect(log.slice(-2)).toEqual(['pin 18 1', 'pin 18 0']);
  });
});
