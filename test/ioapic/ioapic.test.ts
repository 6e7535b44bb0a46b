/**
 * I/O APIC behaviour, following kvm-unit-tests x86/ioapic.c and the RTE rules of the 82093AA datasheet §3.2.4.
 * The guest side is played by MMIO writes; the CPU side (EOI) by calling eoiBroadcast as the LAPIC would.
 *
 * Message encodings used below (SDM 10.11; QEMU ioapic_entry_parse): address = 0xFEE00000 | RTE[63:48] << 4 | RTE[11] << 2;
 * data = vector | delivery mode << 8 | trigger << 15.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, UsageError } from '../../src/core/errors.ts';
import { EventHub, type InterruptLostEvent, type TraceHop } from '../../src/core/events.ts';
import { IOAPIC_EOI, IOREGSEL, IOWIN, Ioapic } from '../../src/ioapic/ioapic.ts';
import { RecordingDma } from './recording-dma.ts';

const SOURCE_ID = 0xf0f8; // an arbitrary requester ID, checked to be carried by every message
const MASK = 1 << 16;
const LEVEL = 1 << 15;
const REMOTE_IRR = 1 << 14;
const ACTIVE_LOW = 1 << 13;
const DELIVS = 1 << 12;
const LOGICAL = 1 << 11;

let hub: EventHub;
let dma: RecordingDma;
let io: Ioapic;

function make(version: 0x11 | 0x20 = 0x20, pins = 24): Ioapic {
  return new Ioapic({ pins, version, id: 0, sourceId: SOURCE_ID }, dma, hub);
}

function writeReg(index: number, value: number): void {
  io.write(IOREGSEL, 4, BigInt(index));
  io.write(IOWIN, 4, BigInt(value >>> 0));
}

function readReg(index: number): number {
  io.write(IOREGSEL, 4, BigInt(index));
  return Number(io.read(IOWIN, 4));
}

function setRte(pin: number, lo: number, hi = 0): void {
  writeReg(0x11 + 2 * pin, hi);
  writeReg(0x10 + 2 * pin, lo);
}

function rteLo(pin: number): number {
  return readReg(0x10 + 2 * pin);
}

beforeEach(() => {
  hub = new EventHub();
  dma = new RecordingDma();
  io = make();
});

describe('I/O APIC registers', () => {
  it('version register is read-only and reports version | max redirection entry << 16', () => {
    // 24 pins → maximum redirection entry 23 = 0x17 in bits 23:16.
    expect(readReg(0x01)).toBe(0x00170020);
    writeReg(0x01, ~0x00170020);
    expect(readReg(0x01)).toBe(0x00170020);
    io = make(0x11, 8);
    expect(readReg(0x01)).toBe(0x00070011);
  });

  it('only ID bits 27:24 are writable', () => {
    const before = readReg(0x00);
    writeReg(0x00, ~before);
    expect((readReg(0x00) ^ before) >>> 0).toBe(0x0f000000);
  });

  it('arbitration ID follows the ID and ignores writes', () => {
    writeReg(0x00, 0x0f000000);
    expect(readReg(0x02)).toBe(0x0f000000);
    writeReg(0x02, 0);
    expect(readReg(0x02)).toBe(0x0f000000);
  });

  it('every RTE is masked at reset', () => {
    for (let pin = 0; pin < 24; pin++) expect(io.readRte(pin)).toBe(0x10000n);
  });

  it('an out-of-range index reads all ones and ignores writes', () => {
    expect(readReg(0x03)).toBe(0xffffffff);
    expect(readReg(0x10 + 2 * 24)).toBe(0xffffffff); // RTE 24 does not exist on a 24-pin I/O APIC
    writeReg(0x10 + 2 * 24, 0);
    expect(readReg(0x10 + 2 * 24)).toBe(0xffffffff);
  });

  it('IOREGSEL reads back the 8-bit index', () => {
    io.write(IOREGSEL, 4, 0x1234n);
    expect(io.read(IOREGSEL, 4)).toBe(0x34n);
  });

  it('IOWIN accesses narrower than 32 bits are ignored', () => {
    io.write(IOREGSEL, 4, 0x10n);
    io.write(IOWIN, 2, 0x0030n);
    expect(io.readRte(0)).toBe(0x10000n);
    expect(io.read(IOWIN, 2)).toBe(0n);
  });

  it('remote IRR and delivery status are read-only', () => {
    setRte(0, 0x30 | REMOTE_IRR | DELIVS | LEVEL);
    expect(rteLo(0)).toBe(0x30 | LEVEL); // neither bit can be set by software
    io.assert(0); // delivered: Remote IRR now set by hardware
    expect(rteLo(0) & REMOTE_IRR).toBe(REMOTE_IRR);
    setRte(0, 0x30 | LEVEL); // writing 0 to bit 14 does not clear it
    expect(rteLo(0) & REMOTE_IRR).toBe(REMOTE_IRR);
  });

  it('the high dword supplies address bits 19:4, including the 15-bit extension in RTE 55:49', () => {
    // High (0x12<<24)|(0x01<<17) → RTE 63:48 = 0x1202 → address 0xFEE00000 | 0x1202<<4 = 0xFEE12020.
    setRte(3, 0x41, (0x12 << 24) | (0x01 << 17));
    io.pulse(3);
    expect(dma.messages.map((m) => [m.addrHi, m.addrLo >>> 0, m.data])).toEqual([[0, 0xfee12020, 0x41]]);
  });

  it('destination mode goes to address bit 2 and polarity is not propagated', () => {
    setRte(4, 0x42 | LOGICAL | ACTIVE_LOW | (1 << 8), 0x0d000000);
    io.pulse(4);
    // dest 0x0d → address bits 19:12; logical → bit 2; delivery mode 1 → data bit 8; polarity nowhere.
    expect(dma.messages.map((m) => [m.addrLo >>> 0, m.data])).toEqual([[0xfee0d004, 0x142]]);
  });

  it('rejects a bad configuration with the field named', () => {
    expect(() => new Ioapic({ pins: 121, version: 0x20, id: 0, sourceId: 0 }, dma, hub)).toThrow(ConfigError);
    expect(() => new Ioapic({ pins: 24, version: 0x12 as 0x20, id: 0, sourceId: 0 }, dma, hub)).toThrow(/ioapic.version/);
    expect(() => new Ioapic({ pins: 24, version: 0x20, id: 16, sourceId: 0 }, dma, hub)).toThrow(/ioapic.id/);
  });

  it('a bad pin number is a usage error', () => {
    expect(() => io.setLine(24, true)).toThrow(UsageError);
    expect(() => io.assert(-1)).toThrow(/pin -1 does not exist/);
    expect(() => io.readRte(1.5)).toThrow(UsageError);
  });
});

describe('edge-triggered pins', () => {
  it('a deasserted→asserted edge sends exactly one message with the I/O APIC source-id', () => {
    setRte(0x0e, 0x76);
    io.pulse(0x0e);
    expect(dma.messages).toHaveLength(1);
    const m = dma.messages[0];
    expect([m.sourceId, m.addrHi, m.addrLo >>> 0, m.data]).toEqual([SOURCE_ID, 0, 0xfee00000, 0x76]);
  });

  it('a line held asserted does not send again', () => {
    setRte(1, 0x31);
    io.assert(1);
    io.assert(1);
    io.setLine(1, true);
    expect(dma.messages).toHaveLength(1);
  });

  it('a masked edge is lost, not latched', () => {
    setRte(0x0e, 0x76 | MASK);
    io.pulse(0x0e);
    expect(dma.messages).toHaveLength(0);
    setRte(0x0e, 0x76); // unmask: nothing was held pending
    expect(dma.messages).toHaveLength(0);
    io.pulse(0x0e);
    expect(dma.messages).toHaveLength(1);
  });

  it('a masked edge is reported as lost to listeners', () => {
    const hops: string[] = [];
    const lost: InterruptLostEvent[] = [];
    hub.on('hop', (h: TraceHop) => hops.push(h.name));
    hub.on('interrupt_lost', (e) => lost.push(e));
    setRte(2, 0x50 | MASK);
    io.pulse(2);
    expect(hops).toContain('irqpath_ioapic_masked_edge_lost');
    expect(lost.map((e) => e.source)).toEqual(['ioapic pin 2']);
  });

  it('two pulsed edge pins each send once', () => {
    setRte(0x0f, 0x66);
    setRte(0x0e, 0x78);
    io.pulse(0x0f);
    io.pulse(0x0e);
    expect(dma.messages.map((m) => m.data)).toEqual([0x66, 0x78]);
  });
});

describe('level-triggered pins', () => {
  const LEVEL_DATA = 0x8077; // vector 0x77 | trigger (bit 15)

  it('an asserted level pin sends once and sets Remote IRR; the EOI clears it', () => {
    setRte(0x0e, 0x77 | LEVEL);
    io.assert(0x0e);
    expect(dma.messages.map((m) => m.data)).toEqual([LEVEL_DATA]);
    expect(rteLo(0x0e) & REMOTE_IRR).toBe(REMOTE_IRR);
    io.deassert(0x0e);
    io.eoiBroadcast(0x77);
    expect(rteLo(0x0e) & REMOTE_IRR).toBe(0);
    expect(dma.messages).toHaveLength(1);
  });

  it('a re-assert while Remote IRR is set coalesces', () => {
    setRte(0x0e, 0x77 | LEVEL);
    io.assert(0x0e);
    io.deassert(0x0e); // the ISR lowers the line ...
    io.assert(0x0e); // ... and raises it again before EOI
    io.deassert(0x0e);
    io.eoiBroadcast(0x77); // the line is low at EOI: nothing more
    expect(dma.messages).toHaveLength(1);
  });

  it('sequential level interrupts each deliver', () => {
    setRte(0x0e, 0x77 | LEVEL);
    for (let i = 0; i < 2; i++) {
      io.assert(0x0e);
      io.deassert(0x0e);
      io.eoiBroadcast(0x77);
    }
    expect(dma.messages).toHaveLength(2);
  });

  it('an EOI with the line still asserted delivers again', () => {
    setRte(0x0e, 0x77 | LEVEL);
    io.assert(0x0e);
    io.eoiBroadcast(0x77); // line still high → treated as a new interrupt
    expect(dma.messages).toHaveLength(2);
    expect(rteLo(0x0e) & REMOTE_IRR).toBe(REMOTE_IRR);
    io.deassert(0x0e);
    io.eoiBroadcast(0x77);
    expect(dma.messages).toHaveLength(2);
    expect(rteLo(0x0e) & REMOTE_IRR).toBe(0);
  });

  it('an EOI for another vector leaves Remote IRR alone', () => {
    setRte(5, 0x77 | LEVEL);
    io.assert(5);
    io.eoiBroadcast(0x78);
    expect(rteLo(5) & REMOTE_IRR).toBe(REMOTE_IRR);
  });

  it('a level asserted while masked is delivered on unmask', () => {
    setRte(0x0e, 0x77 | LEVEL | MASK);
    io.assert(0x0e);
    expect(dma.messages).toHaveLength(0);
    setRte(0x0e, 0x77 | LEVEL);
    expect(dma.messages.map((m) => m.data)).toEqual([LEVEL_DATA]);
    expect(rteLo(0x0e) & REMOTE_IRR).toBe(REMOTE_IRR);
  });

  it('a level that went away while masked is not delivered on unmask', () => {
    setRte(0x0e, 0x77 | LEVEL | MASK);
    io.pulse(0x0e);
    setRte(0x0e, 0x77 | LEVEL);
    expect(dma.messages).toHaveLength(0);
  });

  it('masking in the ISR, EOI, then unmask with the line high delivers a second time', () => {
    setRte(0x0e, 0x77 | LEVEL);
    io.assert(0x0e);
    setRte(0x0e, 0x77 | LEVEL | MASK);
    io.eoiBroadcast(0x77); // clears Remote IRR, but the pin is masked
    expect(dma.messages).toHaveLength(1);
    setRte(0x0e, 0x77 | LEVEL);
    expect(dma.messages).toHaveLength(2);
  });

  it('masking preserves Remote IRR', () => {
    setRte(6, 0x60 | LEVEL);
    io.assert(6);
    setRte(6, 0x60 | LEVEL | MASK);
    expect(rteLo(6) & REMOTE_IRR).toBe(REMOTE_IRR);
  });

  it('rewriting an RTE as edge clears Remote IRR', () => {
    setRte(7, 0x61 | LEVEL);
    io.assert(7);
    expect(rteLo(7) & REMOTE_IRR).toBe(REMOTE_IRR);
    setRte(7, 0x61 | MASK); // Linux's EOI simulation: mask + edge ...
    expect(rteLo(7) & REMOTE_IRR).toBe(0);
    io.deassert(7);
    setRte(7, 0x61 | LEVEL); // ... then level again
    expect(dma.messages).toHaveLength(1);
  });

  it('rewriting the destination while Remote IRR is set keeps it, and the EOI still clears it', () => {
    // kvm-unit-tests test_ioapic_self_reconfigure: an EOI after rerouting must still clear Remote IRR.
    setRte(0x0d, 0x64 | LEVEL);
    io.assert(0x0d);
    writeReg(0x11 + 2 * 0x0d, 0x01000000);
    expect(rteLo(0x0d) & REMOTE_IRR).toBe(REMOTE_IRR);
    io.deassert(0x0d);
    io.eoiBroadcast(0x64);
    expect(rteLo(0x0d) & REMOTE_IRR).toBe(0);
  });

  it('Remote IRR stays set when nobody EOIs (a message lost downstream leaves the pin stuck)', () => {
    setRte(8, 0x70 | LEVEL);
    io.assert(8);
    io.deassert(8);
    io.assert(8);
    expect(dma.messages).toHaveLength(1);
    expect(rteLo(8) & REMOTE_IRR).toBe(REMOTE_IRR);
  });
});

describe('the EOI register', () => {
  it('version 0x20: writing the vector clears Remote IRR on level RTEs with that vector only', () => {
    setRte(1, 0x90 | LEVEL);
    setRte(2, 0x91 | LEVEL);
    io.assert(1);
    io.assert(2);
    io.deassert(1);
    io.write(IOAPIC_EOI, 4, 0x90n);
    expect(rteLo(1) & REMOTE_IRR).toBe(0);
    expect(rteLo(2) & REMOTE_IRR).toBe(REMOTE_IRR);
  });

  it('version 0x20: the EOI register does not touch an edge RTE that holds Remote IRR', () => {
    // Only reachable through a restored state (a guest write as edge clears the bit).
    const state = io.save();
    state.redirection[3] = '0x' + (0x92 | REMOTE_IRR).toString(16).padStart(16, '0');
    io.restore(state);
    io.write(IOAPIC_EOI, 4, 0x92n);
    expect(rteLo(3) & REMOTE_IRR).toBe(REMOTE_IRR);
  });

  it('version 0x20: an EOI-register write re-delivers a still-asserted line', () => {
    setRte(1, 0x90 | LEVEL);
    io.assert(1);
    io.write(IOAPIC_EOI, 4, 0x90n);
    expect(dma.messages).toHaveLength(2);
  });

  it('version 0x11 has no EOI register: the write is ignored', () => {
    io = make(0x11);
    setRte(1, 0x90 | LEVEL);
    io.assert(1);
    io.deassert(1);
    io.write(IOAPIC_EOI, 4, 0x90n);
    expect(rteLo(1) & REMOTE_IRR).toBe(REMOTE_IRR);
  });
});

describe('polarity', () => {
  it('an active-low pin is asserted by driving the line low', () => {
    setRte(9, 0x55 | LEVEL | ACTIVE_LOW);
    io.setLine(9, true); // electrically high = inactive
    expect(dma.messages).toHaveLength(0);
    io.setLine(9, false); // electrically low = asserted
    expect(dma.messages.map((m) => m.data)).toEqual([0x8055]);
    expect(io.isAsserted(9)).toBe(true);
  });

  it('assert/deassert honour polarity', () => {
    setRte(9, 0x55 | LEVEL | ACTIVE_LOW);
    io.assert(9);
    expect(io.isAsserted(9)).toBe(true);
    io.deassert(9);
    expect(io.isAsserted(9)).toBe(false);
    io.eoiBroadcast(0x55);
    expect(dma.messages).toHaveLength(1);
  });

  it('an active-low edge pin fires on the falling edge', () => {
    setRte(10, 0x56 | ACTIVE_LOW);
    io.setLine(10, true);
    expect(dma.messages).toHaveLength(0);
    io.setLine(10, false);
    expect(dma.messages).toHaveLength(1);
    io.setLine(10, true); // rising edge = deassert
    expect(dma.messages).toHaveLength(1);
  });

  it('a line never driven is idle at its inactive level, whatever the polarity', () => {
    setRte(11, 0x57 | LEVEL | ACTIVE_LOW);
    expect(io.isAsserted(11)).toBe(false);
    expect(dma.messages).toHaveLength(0);
  });
});

describe('routing slots and events', () => {
  it('each pin sends with its own reused route slot', () => {
    setRte(0, 0x30);
    setRte(1, 0x31);
    io.pulse(0);
    io.pulse(1);
    io.pulse(0);
    const [a, b, c] = dma.messages;
    expect(a.slot).toBe(c.slot);
    expect(a.slot).not.toBe(b.slot);
    expect(a.slot).toBe(io.routeSlot(0));
  });

  it('emits QEMU-named hops for a level interrupt and its EOI', () => {
    setRte(0x0e, 0x77 | LEVEL);
    const hops: [string, unknown][] = [];
    hub.on('hop', (h: TraceHop) => hops.push([h.name, Object.fromEntries(h.args)]));
    io.assert(0x0e);
    io.deassert(0x0e);
    io.eoiBroadcast(0x77);
    expect(hops).toEqual([
      ['ioapic_set_irq', { vector: 0x0e, level: 1 }],
      ['ioapic_set_remote_irr', { n: 0x0e }],
      ['ioapic_set_irq', { vector: 0x0e, level: 0 }],
      ['ioapic_eoi_broadcast', { vector: 0x77 }],
      ['ioapic_clear_remote_irr', { n: 0x0e, vector: 0x77 }],
    ]);
  });

  it('reports register accesses as ioapic_mem_write / ioapic_mem_read', () => {
    const hops: [string, unknown][] = [];
    hub.on('hop', (h: TraceHop) => hops.push([h.name, Object.fromEntries(h.args)]));
    io.write(IOREGSEL, 4, 1n);
    io.read(IOWIN, 4);
    expect(hops).toEqual([
      ['ioapic_mem_write', { addr: 0n, regsel: 0, size: 4, val: 1 }],
      ['ioapic_mem_read', { addr: 0x10n, regsel: 1, size: 4, val: 0x00170020 }],
    ]);
  });

  it('each line change starts a new interrupt flow', () => {
    setRte(0, 0x30);
    const before = hub.currentFlow;
    io.pulse(0);
    expect(hub.currentFlow).toBe(before + 2);
  });
});

describe('save and restore', () => {
  it('restore(save()) gives the same future behaviour', () => {
    setRte(0x0e, 0x77 | LEVEL, 0x01000000);
    setRte(2, 0x40 | ACTIVE_LOW);
    writeReg(0x00, 0x05000000);
    io.assert(0x0e); // Remote IRR set, line high
    const state = JSON.parse(JSON.stringify(io.save()));
    const dma2 = new RecordingDma();
    const copy = new Ioapic({ pins: 24, version: 0x20, id: 0, sourceId: SOURCE_ID }, dma2, new EventHub());
    copy.restore(state);
    expect(copy.save()).toEqual(io.save());
    for (const [dev, bus] of [[io, dma], [copy, dma2]] as const) {
      bus.clear();
      dev.eoiBroadcast(0x77); // line still high → re-delivered
      dev.setLine(2, false); // active low edge
    }
    expect(dma2.messages.map((m) => [m.addrLo, m.data])).toEqual(dma.messages.map((m) => [m.addrLo, m.data]));
    expect(dma.messages.map((m) => [m.addrLo >>> 0, m.data])).toEqual([[0xfee01000, 0x8077], [0xfee00000, 0x40]]);
  });

  it('restore rejects a bad state and changes nothing', () => {
    setRte(0, 0x30 | LEVEL);
    const good = io.save();
    const before = JSON.stringify(good);
    const broken = [
      { ...good, version: 2 },
      { ...good, pins: 8 },
      { ...good, ioapicVersion: 0x11 },
      { ...good, id: 16 },
      { ...good, redirection: good.redirection.slice(1) },
      { ...good, redirection: good.redirection.map((r, i) => (i === 5 ? 'zz' : r)) },
      { ...good, redirection: good.redirection.map((r, i) => (i === 0 ? '0x1000' : r)) }, // delivery status set
      { ...good, lines: good.lines.map((l, i) => (i === 3 ? 2 : l)) },
    ];
    for (const state of broken) {
      expect(() => io.restore(state as never)).toThrow(UsageError);
      expect(JSON.stringify(io.save())).toBe(before);
    }
  });
});

describe('the hypervisor EOI hook (levelEoiNotify)', () => {
  // QEMU hw/intc/ioapic.c ioapic_eoi_broadcast calls kvm_resample_fd_notify(n) for every level entry with the EOI's
  // vector before it looks at Remote IRR; KVM's kvm_ioapic_update_eoi_one calls the ack notifiers before clearing it.
  it('is told of each level entry with the vector, before Remote IRR is cleared; a line it re-asserts is delivered again', () => {
    setRte(5, 0x45 | LEVEL);
    setRte(6, 0x45); // edge, same vector: not told
    setRte(7, 0x46 | LEVEL); // other vector: not told
    const seen: [number, number][] = [];
    io.levelEoiNotify = (pin) => {
      seen.push([pin, rteLo(pin) & REMOTE_IRR]);
      // A resampler: drop the line, then (the device still pending) raise it again.
      io.deassert(pin);
      io.assert(pin);
    };
    io.assert(5);
    expect(dma.messages).toHaveLength(1);
    io.eoiBroadcast(0x45);
    expect(seen).toEqual([[5, REMOTE_IRR]]);
    // Coalesced while Remote IRR was set, delivered again once it was cleared.
    expect(dma.messages).toHaveLength(2);
    expect(rteLo(5) & REMOTE_IRR).toBe(REMOTE_IRR);
  });
});
