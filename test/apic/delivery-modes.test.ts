/** Delivery modes and the CPU run-state latches (SDM 8.4, 10.4.7.3, 10.6.1). */
import { describe, expect, test } from 'vitest';
import type { ApicAcceptEvent, TraceHop } from '../../src/core/events.ts';
import { DeliveryMode, DestMode } from '../../src/msi/interrupt.ts';
import { cpusWithIrr, enableAll, enterX2apic, hasVector, makeBus, message, mmioRead, mmioWrite } from './helpers.ts';

const to1 = (deliveryMode: number, vector = 0, extra = {}) => message({ dest: 1, deliveryMode, vector, ...extra });

/** Send an IPI from CPU 0 through the xAPIC ICR: high dword first, then the low dword sends. */
function icrSend(bus: ReturnType<typeof makeBus>['bus'], dest: number, lo: number) {
  mmioWrite(bus.lapics[0], 0x310, dest << 24);
  mmioWrite(bus.lapics[0], 0x300, lo);
}

describe('NMI, SMI, ExtINT', () => {
  test('NMI is taken by a software-disabled LAPIC; the latch holds one pending NMI', () => {
    const { bus } = makeBus([0, 1]);
    expect(bus.lapics[1].softwareEnabled).toBe(false);
    expect(bus.deliver(to1(DeliveryMode.NMI))).toBe(1);
    expect(bus.deliver(to1(DeliveryMode.NMI))).toBe(1);
    const run = bus.lapics[1].run;
    expect(run.nmiReceived).toBe(2);
    expect(run.takeNmi()).toBe(true);
    expect(run.takeNmi()).toBe(false);
    expect(cpusWithIrr(bus, 0)).toEqual([]);
  });

  test('SMI is latched, also when software-disabled', () => {
    const { bus } = makeBus([0, 1]);
    expect(bus.deliver(to1(DeliveryMode.SMI))).toBe(1);
    expect(bus.lapics[1].run.smiPending).toBe(true);
  });

  test('ExtINT is latched by a software-enabled LAPIC and refused by a software-disabled one', () => {
    const { bus } = makeBus([0, 1]);
    expect(bus.deliver(to1(DeliveryMode.ExtINT))).toBe(0);
    enableAll(bus);
    expect(bus.deliver(to1(DeliveryMode.ExtINT))).toBe(1);
    expect(bus.lapics[1].run.extIntPending).toBe(true);
  });

  test('a hardware-disabled LAPIC takes nothing, not even NMI', () => {
    const { bus } = makeBus([0, 1]);
    bus.lapics[1].wrmsr(0x1b, 0xfee00000n);
    expect(bus.deliver(to1(DeliveryMode.NMI))).toBe(0);
    expect(bus.lapics[1].run.nmiReceived).toBe(0);
  });

  test('RemoteRead is not supported: nothing is accepted', () => {
    const { bus } = makeBus([0, 1]);
    enableAll(bus);
    expect(bus.deliver(to1(DeliveryMode.RemoteRead, 0x40))).toBe(0);
    expect(cpusWithIrr(bus, 0x40)).toEqual([]);
  });

  test('a level-triggered Fixed de-assert (level 0) is dropped', () => {
    const { bus } = makeBus([0, 1]);
    enableAll(bus);
    expect(bus.deliver(to1(DeliveryMode.Fixed, 0x40, { trigger: 1, level: 0 }))).toBe(0);
    expect(cpusWithIrr(bus, 0x40)).toEqual([]);
  });
});

describe('INIT and SIPI', () => {
  test('INIT-SIPI-SIPI from the BSP starts an AP at vector << 12', () => {
    const { bus } = makeBus([0, 1]);
    const ap = bus.lapics[1];
    expect(ap.runState).toBe('wait-for-sipi');
    icrSend(bus, 1, 0x4500); // INIT, level assert
    icrSend(bus, 1, 0x8500); // INIT level de-assert (trigger level, level 0)
    icrSend(bus, 1, 0x4600 | 0x9a); // StartUp, vector 0x9A
    expect(ap.runState).toBe('running');
    expect(ap.startupVector).toBe(0x9a); // execution starts at 0x9A000
    icrSend(bus, 1, 0x4600 | 0x10); // the second SIPI of the sequence is ignored by a running CPU
    expect(ap.startupVector).toBe(0x9a);
    expect(ap.run.sipiReceived).toBe(2);
    expect(ap.run.initReceived).toBe(1);
  });

  test('a SIPI to a CPU that is not waiting for one is ignored', () => {
    const { bus } = makeBus([0, 1]);
    bus.deliver(message({ dest: 0, deliveryMode: DeliveryMode.StartUp, vector: 0x10 }));
    expect(bus.lapics[0].runState).toBe('running');
    expect(bus.lapics[0].startupVector).toBeNull();
  });

  test('INIT resets the LAPIC but keeps its APIC ID, base and mode (xAPIC)', () => {
    const { bus } = makeBus([0, 1]);
    enableAll(bus);
    const ap = bus.lapics[1];
    mmioWrite(ap, 0x20, 0x05000000);
    mmioWrite(ap, 0x80, 0x20);
    mmioWrite(ap, 0xd0, 0x02000000);
    mmioWrite(ap, 0xe0, 0);
    bus.deliver(message({ dest: 5, vector: 0x40, trigger: 1 }));
    ap.run.startup(0x10); // pretend it was running
    expect(bus.deliver(message({ dest: 5, deliveryMode: DeliveryMode.INIT, level: 1 }))).toBe(1);
    expect(mmioRead(ap, 0x20)).toBe(0x05000000);
    expect(mmioRead(ap, 0x80)).toBe(0);
    expect(mmioRead(ap, 0xd0)).toBe(0);
    expect(mmioRead(ap, 0xe0) >>> 0).toBe(0xffffffff);
    expect(mmioRead(ap, 0xf0)).toBe(0xff);
    expect(hasVector(ap.irr, 0x40)).toBe(false);
    expect(hasVector(ap.tmr, 0x40)).toBe(false);
    expect(mmioRead(ap, 0x350)).toBe(0x10000);
    expect(ap.rdmsr(0x1b)).toBe(0xfee00800n);
    expect(ap.runState).toBe('wait-for-sipi');
  });

  test('INIT keeps x2APIC mode, the x2APIC ID and its LDR', () => {
    const { bus } = makeBus([0, 0x21]);
    const ap = bus.lapics[1];
    enterX2apic(ap);
    bus.deliver(message({ dest: 0x21, destWidth: 32, deliveryMode: DeliveryMode.INIT }));
    expect(ap.mode).toBe('x2apic');
    expect(ap.rdmsr(0x802)).toBe(0x21n);
    expect(ap.rdmsr(0x80d)).toBe(0x00020002n); // cluster 2, bit 1
  });

  test('INIT to the BSP restarts it at the reset vector instead of waiting for SIPI (SDM 8.4.1)', () => {
    const { bus } = makeBus([0, 1]);
    bus.deliver(message({ dest: 0, deliveryMode: DeliveryMode.INIT }));
    expect(bus.lapics[0].runState).toBe('running');
    expect(bus.lapics[0].run.initReceived).toBe(1);
  });

  test('INIT level de-assert does nothing', () => {
    const { bus } = makeBus([0, 1]);
    enableAll(bus);
    mmioWrite(bus.lapics[1], 0x80, 0x20);
    expect(bus.deliver(to1(DeliveryMode.INIT, 0, { trigger: 1, level: 0 }))).toBe(0);
    expect(mmioRead(bus.lapics[1], 0x80)).toBe(0x20);
    expect(bus.lapics[1].run.initReceived).toBe(0);
  });
});

describe('ICR shorthands', () => {
  test('self: only the sender', () => {
    const { bus } = makeBus([0, 1, 2]);
    enableAll(bus);
    icrSend(bus, 2, 0x40000 | 0x4000 | 0xf1);
    expect(cpusWithIrr(bus, 0xf1)).toEqual([0]);
  });

  test('all including self', () => {
    const { bus } = makeBus([0, 1, 2]);
    enableAll(bus);
    icrSend(bus, 0, 0x80000 | 0x4000 | 0xf2);
    expect(cpusWithIrr(bus, 0xf2)).toEqual([0, 1, 2]);
  });

  test('all excluding self', () => {
    const { bus } = makeBus([0, 1, 2]);
    enableAll(bus);
    icrSend(bus, 0, 0xc0000 | 0x4000 | 0xf3);
    expect(cpusWithIrr(bus, 0xf3)).toEqual([1, 2]);
  });

  test('the oracle agrees on shorthands', () => {
    const { bus } = makeBus([0, 1, 2]);
    expect(bus.matchSlow(message({}), 1, 3)).toEqual([0, 2]);
    expect(bus.matchSlow(message({}), 1, 1)).toEqual([1]);
  });

  test('an x2APIC ICR sends a 32-bit destination', () => {
    const { bus } = makeBus([0, 0x300]);
    for (const l of bus.lapics) enterX2apic(l);
    enableAll(bus);
    bus.lapics[0].wrmsr(0x830, (0x300n << 32n) | 0x4055n);
    expect(cpusWithIrr(bus, 0x55)).toEqual([1]);
  });
});

describe('events', () => {
  test('apic_deliver_irq hop with QEMU argument names, and one apic_accept per accepting LAPIC', () => {
    const { bus, events } = makeBus([0, 1, 2]);
    enableAll(bus);
    const hops: TraceHop[] = [];
    const accepts: ApicAcceptEvent[] = [];
    events.on('hop', (h) => hops.push(h));
    events.on('apic_accept', (a) => accepts.push(a));
    const flow = events.beginFlow();
    bus.deliver(message({ dest: 0x06, destMode: DestMode.Logical, vector: 0x33, trigger: 1 }));
    // flat LDRs are 0 at reset, so set them: CPU1 bit 1, CPU2 bit 2 → dest 0x06 reaches both.
    expect(accepts).toHaveLength(0);
    mmioWrite(bus.lapics[1], 0xd0, 0x02000000);
    mmioWrite(bus.lapics[2], 0xd0, 0x04000000);
    bus.deliver(message({ dest: 0x06, destMode: DestMode.Logical, vector: 0x33, trigger: 1 }));
    expect(hops[1]).toEqual({
      flow,
      name: 'apic_deliver_irq',
      args: [['dest', 6], ['dest_mode', 1], ['delivery_mode', 0], ['vector', 0x33], ['trigger_mode', 1]],
    });
    expect(accepts.map((a) => [a.cpu, a.apicId, a.vector, a.flow])).toEqual([[1, 1, 0x33, flow], [2, 2, 0x33, flow]]);
  });
});

describe('IPIs are edge-triggered (SDM Vol 3A 10.6.1) and lowest priority is refused in x2APIC mode', () => {
  test('an ICR Fixed IPI with the trigger-mode bit set is delivered as edge: no TMR bit, no EOI broadcast', () => {
    const { bus, eois: broadcasts } = makeBus([0, 1]);
    enableAll(bus);
    // 0xC000 | 0x61: level assert (bit 14) + trigger level (bit 15), Fixed, vector 0x61. SDM 10.6.1: Trigger Mode
    // "is ignored for all other delivery modes" than INIT level de-assert → the receiver latches it as edge.
    icrSend(bus, 1, 0xc000 | 0x61);
    const ap = bus.lapics[1];
    expect(hasVector(ap.irr, 0x61)).toBe(true);
    expect(hasVector(ap.tmr, 0x61)).toBe(false);
    expect(ap.acknowledge()).toBe(0x61);
    mmioWrite(ap, 0xb0, 0);
    expect(broadcasts).toEqual([]);
  });

  test('a Fixed IPI with level 0 and trigger level is not a de-assert: it is delivered (Level is ignored too)', () => {
    const { bus } = makeBus([0, 1]);
    enableAll(bus);
    icrSend(bus, 1, 0x8000 | 0x62);
    expect(cpusWithIrr(bus, 0x62)).toEqual([1]);
    expect(hasVector(bus.lapics[1].tmr, 0x62)).toBe(false);
  });

  test('INIT level de-assert keeps its meaning: the AP is not reset', () => {
    const { bus } = makeBus([0, 1]);
    icrSend(bus, 1, 0x8500);
    expect(bus.lapics[1].run.initReceived).toBe(0);
  });

  test('an x2APIC lowest-priority IPI is not sent and sets ESR bit 4 (Redirectable IPI)', () => {
    const { bus } = makeBus([0, 1]);
    for (const l of bus.lapics) enterX2apic(l);
    enableAll(bus);
    // ICR: lowest priority (delivery mode 001b → bits 10:8 = 0x100), physical, vector 0x70, to x2APIC ID 1.
    bus.lapics[0].wrmsr(0x830, (1n << 32n) | 0x4170n);
    expect(cpusWithIrr(bus, 0x70)).toEqual([]);
    bus.lapics[0].wrmsr(0x828, 0n); // an ESR write latches the errors detected since the last one (SDM 10.5.3)
    expect(bus.lapics[0].rdmsr(0x828)).toBe(0x10n);
  });

  test('an xAPIC lowest-priority IPI is still sent', () => {
    const { bus } = makeBus([0, 1]);
    enableAll(bus);
    icrSend(bus, 1, 0x4100 | 0x71);
    expect(cpusWithIrr(bus, 0x71)).toEqual([1]);
  });
});
