/**
 * The MC146818A RTC against its data sheet: the periodic rates of register A (RS = 1, 2 → 256, 128 Hz; RS = 3..15 →
 * 32768 >> (RS − 1) Hz), the update-ended and alarm interrupts of register B, register C's flags (set whatever the
 * enables, cleared by reading, IRQ8 held until then), SET, BCD/binary and 12/24-hour formats — and on a q35 machine,
 * IRQ8 to I/O APIC input 8, cut off by the HPET's legacy replacement route.
 */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../src/core/sim-clock.ts';
import { EventHub } from '../../src/core/events.ts';
import { Mc146818 } from '../../src/rtc/mc146818.ts';
import { createMachine } from '../../src/machine/machine.ts';
import { enableLapic } from '../../bench/program.ts';

function rtc(): { r: Mc146818; clock: SimClock; edges: [number, boolean][]; read: (i: number) => number; write: (i: number, v: number) => void } {
  const clock = new SimClock();
  const edges: [number, boolean][] = [];
  const r = new Mc146818(clock, (level) => edges.push([clock.now, level]), new EventHub());
  const read = (i: number) => {
    r.ioWrite(0x70, i);
    return r.ioRead(0x71);
  };
  const write = (i: number, v: number) => {
    r.ioWrite(0x70, i);
    r.ioWrite(0x71, v);
  };
  return { r, clock, edges, read, write };
}

/** ⌈k · 10^9 / 32768⌉: the nanosecond of the k-th 32.768 kHz edge. */
const tick = (k: number) => Math.ceil((k * 1e9) / 32768);

describe('periodic interrupt (register A RS, register B PIE)', () => {
  const rates: [number, number][] = [
    [1, 128], // 256 Hz: 3.90625 ms
    [2, 256], // 128 Hz: 7.8125 ms
    [3, 4], // 8192 Hz: 122.0703125 µs
    [6, 32], // 1024 Hz: 976.5625 µs
    [15, 16384], // 2 Hz: 500 ms
  ];
  for (const [rs, ticks] of rates) {
    it(`RS = ${rs}: a period of ${ticks} ticks of 32.768 kHz`, () => {
      const { clock, edges, write } = rtc();
      write(0x0a, 0x20 | rs);
      write(0x0b, 0x42); // PIE, 24-hour
      clock.advance(tick(ticks) - 1);
      expect(edges).toEqual([]);
      clock.advance(1);
      expect(edges).toEqual([[tick(ticks), true]]);
    });
  }

  it('IRQ8 stays asserted until register C is read; the read returns IRQF | PF and releases it', () => {
    const { clock, edges, read, write } = rtc();
    write(0x0b, 0x42); // RS = 6 from the firmware's 0x26
    clock.advance(tick(32 * 5)); // five periods: one interrupt, the line held since
    expect(edges).toEqual([[tick(32), true]]);
    expect(read(0x0c)).toBe(0xc0);
    expect(edges[1]).toEqual([tick(32 * 5), false]);
    expect(read(0x0c)).toBe(0x00);
    clock.advance(tick(32 * 6) - clock.now);
    expect(edges[2]).toEqual([tick(32 * 6), true]);
  });

  it('PF is set without PIE, with no interrupt', () => {
    const { clock, edges, read } = rtc();
    clock.advance(10_000_000);
    expect(read(0x0c)).toBe(0x40);
    expect(edges).toEqual([]);
  });

  it('divider chain held in reset (DV = 11x): no periods; leaving it, the first update comes 500 ms later', () => {
    const { clock, edges, read, write } = rtc();
    write(0x0a, 0x66);
    write(0x0b, 0x12); // UIE
    clock.advance(3_000_000_000);
    expect(read(0x0c)).toBe(0x00);
    write(0x0a, 0x26);
    const released = clock.now;
    clock.advance(500_000_000);
    expect(edges).toEqual([[released + 500_000_000, true]]);
  });
});

describe('time of day, update-ended and alarm interrupts', () => {
  it('starts at 2000-01-01 00:00:00, a Saturday, in BCD; counts whole seconds at the updates', () => {
    const { clock, read } = rtc();
    expect([0, 2, 4, 6, 7, 8, 9, 0x32].map(read)).toEqual([0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20]);
    clock.advance(3661 * 1e9 - 1);
    expect([read(0), read(2), read(4)]).toEqual([0x00, 0x01, 0x01]);
    clock.advance(1);
    expect([read(0), read(2), read(4)]).toEqual([0x01, 0x01, 0x01]);
  });

  it('binary and 12-hour formats: 13:05:09 reads 0x81 (PM, 1 o\'clock) in BCD and 0x81, 5, 9 in binary', () => {
    const { read, write } = rtc();
    write(0x0b, 0x80 | 0x02); // SET while writing
    write(4, 0x13);
    write(2, 0x05);
    write(0, 0x09);
    write(0x0b, 0x00); // 12-hour, BCD
    expect([read(4), read(2), read(0)]).toEqual([0x81, 0x05, 0x09]);
    write(0x0b, 0x04); // 12-hour, binary
    expect([read(4), read(2), read(0)]).toEqual([0x81, 5, 9]);
  });

  it('UIE: an update-ended interrupt every second; C reads IRQF | UF', () => {
    const { clock, edges, read, write } = rtc();
    write(0x0a, 0x20); // no periodic rate
    write(0x0b, 0x12);
    clock.advance(1e9);
    expect(edges).toEqual([[1e9, true]]);
    expect(read(0x0c)).toBe(0x90);
  });

  it('SET stops the updates and clears UIE', () => {
    const { clock, read, write } = rtc();
    write(0x0b, 0x12);
    write(0x0b, 0x92);
    expect(read(0x0b)).toBe(0x82);
    clock.advance(5e9);
    expect(read(0)).toBe(0x00);
    expect(read(0x0c) & 0x10).toBe(0);
  });

  it('AIE: the alarm at 00:00:05 fires at the fifth update; alarm bytes 0xC0 and up match every second', () => {
    const { clock, edges, read, write } = rtc();
    write(0x0a, 0x20);
    write(1, 0x05);
    write(3, 0x00);
    write(5, 0x00);
    write(0x0b, 0x22);
    clock.advance(6e9);
    expect(edges).toEqual([[5e9, true]]);
    expect(read(0x0c)).toBe(0xb0); // IRQF, AF, and UF (set at every update whatever UIE says)
    write(1, 0xc0);
    write(3, 0xc0);
    write(5, 0xc0);
    clock.advance(1e9);
    expect(edges[edges.length - 1]).toEqual([7e9, true]);
  });

  it('UIP reads 1 in the 244 µs before an update', () => {
    const { clock, read } = rtc();
    clock.advance(1e9 - 300_000);
    expect(read(0x0a) & 0x80).toBe(0);
    clock.advance(100_000);
    expect(read(0x0a) & 0x80).toBe(0x80);
  });
});

describe('IRQ8 on a q35 machine', () => {
  function machine() {
    const m = createMachine({ cpus: 1 });
    enableLapic(m, 0, false);
    const cpu = m.cpu(0);
    // RTE 8: vector 0x38, edge, active high, CPU 0 (ISA IRQ8 has no MADT override).
    cpu.write32(0xfec00000, 0x10 + 2 * 8 + 1);
    cpu.write32(0xfec00010, 0);
    cpu.write32(0xfec00000, 0x10 + 2 * 8);
    cpu.write32(0xfec00010, 0x38);
    cpu.out8(0x70, 0x0b);
    cpu.out8(0x71, 0x42); // PIE at the firmware's 1024 Hz
    return m;
  }
  const irr38 = (m: ReturnType<typeof createMachine>) => ((m.cpu(0).lapic.irr[1] >>> 24) & 1) === 1;

  it('a handler that does not read register C gets one interrupt and no more', () => {
    const m = machine();
    m.advance(tick(32));
    expect(m.cpu(0).acknowledge()).toBe(0x38);
    m.cpu(0).write32(0xfee000b0, 0);
    m.advance(10_000_000);
    expect(irr38(m)).toBe(false);
    // Reading C (rtc_cmos's cmos_interrupt does) releases IRQ8; the next period is an edge again.
    m.cpu(0).out8(0x70, 0x0c);
    expect(m.cpu(0).in8(0x71)).toBe(0xc0);
    m.advance(tick(32 * 12) - m.clock.now);
    expect(irr38(m)).toBe(true);
  });

  it('the HPET legacy replacement route takes IRQ8 from the RTC', () => {
    const m = machine();
    m.cpu(0).write64(0xfed00010, 2n);
    m.advance(50_000_000);
    expect(irr38(m)).toBe(false);
  });
});
