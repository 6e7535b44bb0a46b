/**
 * LINT0 / LINT1 through their LVT entries (SDM Vol. 3A 10.5.1): ExtINT is level-sensitive, NMI/SMI/INIT are
 * edge-sensitive, Fixed follows the trigger bit on LINT0 with Remote IRR until the EOI, LINT1 has no level mode,
 * bit 13 selects an active-low input, and a masked entry ignores its pin.
 */
import { describe, expect, test } from 'vitest';
import type { TraceHop } from '../../src/core/events.ts';
import { hasVector, makeBus, mmioRead, mmioWrite, softwareEnable } from './helpers.ts';

const LINT0 = 0x350;
const LINT1 = 0x360;
const EXTINT = 7 << 8;
const NMI = 4 << 8;
const LEVEL = 1 << 15;
const REMOTE_IRR = 1 << 14;
const ACTIVE_LOW = 1 << 13;
const MASKED = 1 << 16;

function setup() {
  const { bus, events } = makeBus([0, 1]);
  for (const l of bus.lapics) softwareEnable(l);
  return { bus, events, bsp: bus.lapics[0], ap: bus.lapics[1] };
}

describe('LINT0 as the 8259 INTR (virtual wire, ExtINT)', () => {
  test('pending while the wire is high, withdrawn when it drops; only unmasked LAPICs see it', () => {
    const { bus, bsp, ap } = setup();
    mmioWrite(bsp, LINT0, EXTINT);
    bus.setLint(0, true);
    expect(bsp.run.extIntPending).toBe(true);
    expect(ap.run.extIntPending).toBe(false); // its LINT0 is masked (reset value)
    bus.setLint(0, false);
    expect(bsp.run.extIntPending).toBe(false);
  });

  test('an entry unmasked while INTR is high takes it at once (level-sensitive)', () => {
    const { bus, bsp } = setup();
    bus.setLint(0, true);
    mmioWrite(bsp, LINT0, EXTINT);
    expect(bsp.run.extIntPending).toBe(true);
  });

  test('after the INTA cycle the latch is taken again while INTR stays high', () => {
    const { bus, bsp } = setup();
    mmioWrite(bsp, LINT0, EXTINT);
    bus.setLint(0, true);
    bsp.extIntAcknowledged();
    expect(bsp.run.extIntPending).toBe(true);
    bus.setLint(0, false);
    bsp.extIntAcknowledged();
    expect(bsp.run.extIntPending).toBe(false);
  });
});

describe('LINT1 as NMI', () => {
  test('a rising edge latches one NMI; a held level no more; masked it is ignored', () => {
    const { bus, bsp } = setup();
    mmioWrite(bsp, LINT1, NMI);
    bus.setLint(1, true);
    bus.setLint(1, true);
    expect(bsp.run.nmiReceived).toBe(1);
    bus.setLint(1, false);
    mmioWrite(bsp, LINT1, NMI | MASKED);
    bus.setLint(1, true);
    expect(bsp.run.nmiReceived).toBe(1);
  });

  test('unmasking while the wire is high is no edge: no NMI', () => {
    const { bus, bsp } = setup();
    bus.setLint(1, true);
    mmioWrite(bsp, LINT1, NMI);
    expect(bsp.run.nmiReceived).toBe(0);
  });

  test('a Fixed LINT1 entry with the level bit is still edge-sensitive (LINT1 has no level mode)', () => {
    const { bus, bsp } = setup();
    mmioWrite(bsp, LINT1, 0x52 | LEVEL);
    bus.setLint(1, true);
    expect(hasVector(bsp.irr, 0x52)).toBe(true);
    expect(hasVector(bsp.tmr, 0x52)).toBe(false);
    expect(mmioRead(bsp, LINT1) & REMOTE_IRR).toBe(0);
  });
});

describe('LINT0 Fixed', () => {
  test('level: IRR and TMR set, Remote IRR until the EOI, re-delivered if still asserted', () => {
    const { bus, bsp } = setup();
    mmioWrite(bsp, LINT0, 0x50 | LEVEL);
    bus.setLint(0, true);
    expect(hasVector(bsp.irr, 0x50)).toBe(true);
    expect(hasVector(bsp.tmr, 0x50)).toBe(true);
    expect(mmioRead(bsp, LINT0)).toBe(0x50 | LEVEL | REMOTE_IRR);
    expect(bsp.acknowledge()).toBe(0x50);
    bsp.eoi();
    expect(mmioRead(bsp, LINT0)).toBe(0x50 | LEVEL | REMOTE_IRR); // still asserted: delivered again
    expect(bsp.acknowledge()).toBe(0x50);
    bus.setLint(0, false);
    bsp.eoi();
    expect(mmioRead(bsp, LINT0)).toBe(0x50 | LEVEL);
    expect(bsp.acknowledge()).toBeNull();
  });

  test('edge: one interrupt per rising edge', () => {
    const { bus, bsp } = setup();
    mmioWrite(bsp, LINT0, 0x51);
    bus.setLint(0, true);
    expect(bsp.acknowledge()).toBe(0x51);
    bsp.eoi();
    bus.setLint(0, true);
    expect(bsp.acknowledge()).toBeNull();
  });

  test('an active-low entry (bit 13) is asserted by a low wire', () => {
    const { bus, bsp } = setup();
    bus.setLint(0, true);
    mmioWrite(bsp, LINT0, 0x51 | ACTIVE_LOW);
    expect(bsp.acknowledge()).toBeNull();
    bus.setLint(0, false);
    expect(bsp.acknowledge()).toBe(0x51);
  });

  test('a local delivery is traced as QEMU apic_local_deliver (LVT index, delivery mode)', () => {
    const { bus, events, bsp } = setup();
    const hops: TraceHop[] = [];
    events.on('hop', (h) => hops.push(h));
    mmioWrite(bsp, LINT1, NMI);
    bus.setLint(1, true);
    expect(hops.filter((h) => h.name === 'apic_local_deliver').map((h) => h.args)).toEqual([[['vector', 4], ['lvt', 4]]]);
  });
});
