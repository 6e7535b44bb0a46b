/**
 * Acceptance, INTA acknowledge, EOI and errors (SDM 10.5.3, 10.6.1, 10.8).
 */
import { describe, expect, test } from 'vitest';
import { DeliveryMode } from '../../src/msi/interrupt.ts';
import { enableAll, enterX2apic, hasVector, makeBus, message, mmioRead, mmioWrite, softwareEnable } from './helpers.ts';

/** Fixed interrupt to physical xAPIC ID `dest`. */
function fixed(dest: number, vector: number, trigger = 0) {
  return message({ dest, vector, trigger, deliveryMode: DeliveryMode.Fixed });
}

function setup() {
  const ctx = makeBus([0, 1]);
  enableAll(ctx.bus);
  return { ...ctx, l: ctx.bus.lapics[1] };
}

describe('acknowledge (INTA)', () => {
  test('the highest vector is taken first; a lower class waits until EOI', () => {
    const { bus, l } = setup();
    for (const v of [0x31, 0x61, 0x45]) bus.deliver(fixed(1, v));
    expect(l.acknowledge()).toBe(0x61);
    // PPR is now 0x60: 0x45 (class 0x40) is not above it.
    expect(l.acknowledge()).toBeNull();
    l.eoi();
    expect(l.acknowledge()).toBe(0x45);
    expect(l.acknowledge()).toBeNull(); // PPR 0x40 blocks 0x31
    l.eoi();
    expect(l.acknowledge()).toBe(0x31);
  });

  test('an interrupt of the same priority class as the one in service does not nest', () => {
    const { bus, l } = setup();
    bus.deliver(fixed(1, 0x61));
    expect(l.acknowledge()).toBe(0x61);
    bus.deliver(fixed(1, 0x62));
    expect(l.acknowledge()).toBeNull();
  });

  test('a higher class nests and EOI retires the highest in-service vector first', () => {
    const { bus, l } = setup();
    bus.deliver(fixed(1, 0x41));
    expect(l.acknowledge()).toBe(0x41);
    bus.deliver(fixed(1, 0x81));
    expect(l.acknowledge()).toBe(0x81);
    l.eoi();
    expect(hasVector(l.isr, 0x81)).toBe(false);
    expect(hasVector(l.isr, 0x41)).toBe(true);
  });

  test('TPR blocks vectors whose class is not above it', () => {
    const { bus, l } = setup();
    mmioWrite(l, 0x80, 0x50);
    bus.deliver(fixed(1, 0x51));
    expect(l.acknowledge()).toBeNull();
    bus.deliver(fixed(1, 0x61));
    expect(l.acknowledge()).toBe(0x61);
  });

  test('acknowledge with an empty IRR returns null', () => {
    expect(setup().l.acknowledge()).toBeNull();
  });

  test('acknowledge moves the vector from IRR to ISR', () => {
    const { bus, l } = setup();
    bus.deliver(fixed(1, 0x90));
    l.acknowledge();
    expect(hasVector(l.irr, 0x90)).toBe(false);
    expect(hasVector(l.isr, 0x90)).toBe(true);
    expect(mmioRead(l, 0x100 + (0x90 >>> 5) * 0x10)).toBe(1 << (0x90 & 31));
  });
});

describe('TMR', () => {
  test('a level interrupt sets TMR, an edge one on the same vector clears it (kvm-unit-tests ioapic tmr)', () => {
    const { bus, l } = setup();
    bus.deliver(fixed(1, 0x79, 1));
    expect(hasVector(l.tmr, 0x79)).toBe(true);
    l.acknowledge();
    l.eoi();
    expect(hasVector(l.tmr, 0x79)).toBe(true); // EOI does not clear TMR
    bus.deliver(fixed(1, 0x79, 0));
    expect(hasVector(l.tmr, 0x79)).toBe(false);
  });
});

describe('EOI', () => {
  test('EOI of a level vector is broadcast to the I/O APICs', () => {
    const { bus, l, eois } = setup();
    bus.deliver(fixed(1, 0x85, 1));
    l.acknowledge();
    l.eoi();
    expect(eois).toEqual([0x85]);
  });

  test('EOI of an edge vector is not broadcast', () => {
    const { bus, l, eois } = setup();
    bus.deliver(fixed(1, 0x85, 0));
    l.acknowledge();
    mmioWrite(l, 0xb0, 0);
    expect(eois).toEqual([]);
    expect(hasVector(l.isr, 0x85)).toBe(false);
  });

  test('directed EOI: with SVR bit 12 set a level EOI is not broadcast', () => {
    const { bus, l, eois } = setup();
    mmioWrite(l, 0xf0, 0x11ff);
    bus.deliver(fixed(1, 0x85, 1));
    l.acknowledge();
    l.eoi();
    expect(eois).toEqual([]);
    expect(hasVector(l.isr, 0x85)).toBe(false);
  });

  test('an EOI with nothing in service is harmless', () => {
    const { l, eois } = setup();
    expect(() => l.eoi()).not.toThrow();
    expect(eois).toEqual([]);
  });

  test('x2APIC EOI (WRMSR 0x80B, 0) retires the in-service vector', () => {
    const { bus, l, eois } = setup();
    enterX2apic(l);
    bus.deliver(message({ dest: 1, destWidth: 32, vector: 0x70, trigger: 1 }));
    l.acknowledge();
    l.wrmsr(0x80b, 0n);
    expect(eois).toEqual([0x70]);
  });
});

describe('ESR', () => {
  test('a received vector below 16 is refused and latched into ESR bit 6 only on the next ESR write', () => {
    const { bus, l } = setup();
    expect(bus.deliver(fixed(1, 5))).toBe(0);
    expect(l.irr.every((w) => w === 0)).toBe(true);
    expect(mmioRead(l, 0x280)).toBe(0);
    mmioWrite(l, 0x280, 0);
    expect(mmioRead(l, 0x280)).toBe(0x40);
    mmioWrite(l, 0x280, 0);
    expect(mmioRead(l, 0x280)).toBe(0);
  });

  test('an ICR send with vector below 16 sets send illegal vector (bit 5) and reaches nobody', () => {
    const { bus } = setup();
    const sender = bus.lapics[0];
    mmioWrite(sender, 0x310, 1 << 24);
    mmioWrite(sender, 0x300, 0x4003); // fixed, assert, vector 3
    mmioWrite(sender, 0x280, 0);
    expect(mmioRead(sender, 0x280)).toBe(0x20);
    mmioWrite(bus.lapics[1], 0x280, 0);
    expect(mmioRead(bus.lapics[1], 0x280)).toBe(0);
  });

  test('the first error raises the unmasked LVT Error vector; the next one waits for an ESR write to re-arm', () => {
    const { bus, l } = setup();
    mmioWrite(l, 0x370, 0xe0);
    bus.deliver(fixed(1, 3));
    expect(l.acknowledge()).toBe(0xe0);
    l.eoi();
    bus.deliver(fixed(1, 4));
    expect(hasVector(l.irr, 0xe0)).toBe(false);
    mmioWrite(l, 0x280, 0);
    bus.deliver(fixed(1, 4));
    expect(hasVector(l.irr, 0xe0)).toBe(true);
  });

  test('x2APIC: WRMSR ESR 0 latches the errors', () => {
    const { bus, l } = setup();
    enterX2apic(l);
    softwareEnable(l);
    bus.deliver(message({ dest: 1, destWidth: 32, vector: 2 }));
    l.wrmsr(0x828, 0n);
    expect(l.rdmsr(0x828)).toBe(0x40n);
  });
});
