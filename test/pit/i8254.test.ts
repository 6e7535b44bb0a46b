/**
 * The 8254 PIT against the Intel 82C54 data sheet: the control word, the counter latch and read-back commands,
 * LSB/MSB access, binary and BCD counting, and modes 0, 2, 3 and 4 — with OUT timed in CLK edges of 1.193182 MHz. A
 * count written during tick k is loaded on edge k + 1 ("loaded on the next CLK pulse"), so with the write at time 0
 * the count is loaded on edge 1, and edge k falls at ⌈k · 10^9 / 1 193 182⌉ ns.
 */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../src/core/sim-clock.ts';
import { EventHub } from '../../src/core/events.ts';
import { Pit } from '../../src/pit/i8254.ts';
import { pitEdgeTime, pitTicksAt, PIT_HZ } from '../../src/pit/pit-clock.ts';

/** A PIT on its own clock, recording every change of counter 0's OUT with the time it happened. */
function pit(): { p: Pit; clock: SimClock; edges: [number, boolean][] } {
  const clock = new SimClock();
  const edges: [number, boolean][] = [];
  const p = new Pit(clock, (level) => edges.push([clock.now, level]), new EventHub());
  return { p, clock, edges };
}

/** Control word: counter, RW (1 LSB, 2 MSB, 3 both), mode, BCD. */
const cw = (counter: number, rw: number, mode: number, bcd = false) => (counter << 6) | (rw << 4) | (mode << 1) | (bcd ? 1 : 0);

function program(p: Pit, mode: number, count: number, counter = 0): void {
  p.ioWrite(0x43, cw(counter, 3, mode));
  p.ioWrite(0x40 + counter, count & 0xff);
  p.ioWrite(0x40 + counter, (count >> 8) & 0xff);
}

function read16(p: Pit, counter = 0): number {
  const lo = p.ioRead(0x40 + counter);
  return lo | (p.ioRead(0x40 + counter) << 8);
}

describe('the CLK input on the nanosecond clock', () => {
  it('1 193 182 edges per second; edge k at the first nanosecond at or after k / 1.193182 MHz', () => {
    expect(PIT_HZ).toBe(1_193_182);
    expect(pitTicksAt(1_000_000_000)).toBe(1_193_182);
    expect(pitEdgeTime(1)).toBe(839); // 838.0953 ns
    expect(pitEdgeTime(1_193_182)).toBe(1_000_000_000);
    expect(pitTicksAt(838)).toBe(0);
    expect(pitTicksAt(839)).toBe(1);
    // Far into simulated time the conversions stay exact: edge 10^12 is at 838 095 110 385 506.99 ns.
    expect(pitEdgeTime(1e12)).toBe(838_095_110_385_507);
    expect(pitTicksAt(838_095_110_385_507)).toBe(1e12);
    expect(pitTicksAt(838_095_110_385_506)).toBe(1e12 - 1);
  });
});

describe('mode 2, rate generator (Linux pit_set_periodic: control word 0x34, LATCH = 4773 for HZ = 250)', () => {
  it('OUT goes high at the mode set, low for one CLK when the count reaches 1, and rises every N edges', () => {
    const { p, clock, edges } = pit();
    p.ioWrite(0x43, 0x34);
    expect(edges).toEqual([[0, true]]);
    p.ioWrite(0x40, 4773 & 0xff);
    p.ioWrite(0x40, 4773 >> 8);
    clock.advance(10_000_000);
    // Loaded on edge 1: low at edge 1 + 4772, high at 1 + 4773, low at 1 + 2·4773 − 1, high at 1 + 2·4773.
    expect(edges.slice(1)).toEqual([
      [pitEdgeTime(4773), false],
      [pitEdgeTime(4774), true],
      [pitEdgeTime(9546), false],
      [pitEdgeTime(9547), true],
    ]);
    expect(pitEdgeTime(4774)).toBe(4_001_067);
  });

  it('a count written while counting takes over at the next reload', () => {
    const { p, clock, edges } = pit();
    program(p, 2, 100);
    clock.advance(pitEdgeTime(50)); // mid-period
    p.ioWrite(0x40, 10);
    p.ioWrite(0x40, 0);
    clock.advance(pitEdgeTime(125) - clock.now);
    // The period in progress still ends at edge 101; from there the count is 10: low at 110, high at 111, …
    expect(edges.slice(1).map(([t, l]) => [pitTicksAt(t), l])).toEqual([[100, false], [101, true], [110, false], [111, true], [120, false], [121, true]]);
  });

  it('the counter counts N down to 1 and reloads; count 0 means 65536', () => {
    const { p, clock } = pit();
    program(p, 2, 0);
    clock.advance(pitEdgeTime(1));
    p.ioWrite(0x43, cw(0, 0, 0)); // counter latch
    expect(read16(p)).toBe(0); // 65536 reads as 0
    clock.advance(pitEdgeTime(3) - clock.now);
    p.ioWrite(0x43, cw(0, 0, 0));
    expect(read16(p)).toBe(65534);
  });
});

describe('mode 0, interrupt on terminal count', () => {
  it('OUT low from the mode set; high N edges after the count is loaded, and it stays high', () => {
    const { p, clock, edges } = pit();
    p.ioWrite(0x43, cw(0, 3, 2)); // OUT high first, so the mode 0 control word shows its falling edge
    p.ioWrite(0x43, cw(0, 3, 0));
    expect(edges).toEqual([[0, true], [0, false]]);
    p.ioWrite(0x40, 5);
    p.ioWrite(0x40, 0);
    clock.advance(1_000_000);
    expect(edges.slice(2)).toEqual([[pitEdgeTime(6), true]]);
    // It keeps counting after terminal count: 0xFFFF, 0xFFFE, …
    p.ioWrite(0x43, cw(0, 0, 0));
    expect(read16(p)).toBe((5 - (pitTicksAt(1_000_000) - 1) + 0x10000 * 2) % 0x10000);
  });

  it('writing the first byte of a new count stops counting and drives OUT low at once', () => {
    const { p, clock, edges } = pit();
    program(p, 0, 3);
    clock.advance(pitEdgeTime(10));
    expect(p.output).toBe(true);
    p.ioWrite(0x40, 4);
    expect(p.output).toBe(false);
    const stoppedAt = clock.now;
    clock.advance(pitEdgeTime(100) - clock.now);
    expect(p.output).toBe(false); // no second byte: no count, no terminal count
    p.ioWrite(0x40, 0);
    const written = pitTicksAt(clock.now);
    clock.advance(pitEdgeTime(written + 10) - clock.now);
    expect(edges.filter(([t]) => t > stoppedAt)).toEqual([[pitEdgeTime(written + 1 + 4), true]]);
  });
});

describe('mode 3, square wave', () => {
  it('even N: high N/2 edges, low N/2', () => {
    const { p, clock, edges } = pit();
    program(p, 3, 4);
    clock.advance(pitEdgeTime(12));
    expect(edges.map(([t, l]) => [pitTicksAt(t), l])).toEqual([[0, true], [3, false], [5, true], [7, false], [9, true], [11, false]]);
  });

  it('odd N: high (N + 1)/2 edges, low (N − 1)/2', () => {
    const { p, clock, edges } = pit();
    program(p, 3, 5);
    clock.advance(pitEdgeTime(16));
    expect(edges.map(([t, l]) => [pitTicksAt(t), l])).toEqual([[0, true], [4, false], [6, true], [9, false], [11, true], [14, false], [16, true]]);
  });
});

describe('mode 4, software-triggered strobe (Linux pit_set_oneshot: control word 0x38)', () => {
  it('OUT high; low for one CLK when the count reaches zero, once', () => {
    const { p, clock, edges } = pit();
    p.ioWrite(0x43, 0x38);
    p.ioWrite(0x40, 10);
    p.ioWrite(0x40, 0);
    clock.advance(pitEdgeTime(100));
    expect(edges.map(([t, l]) => [pitTicksAt(t), l])).toEqual([[0, true], [11, false], [12, true]]);
  });
});

describe('reading the counters', () => {
  it('LSB-only and MSB-only access read and write one byte', () => {
    const { p, clock } = pit();
    p.ioWrite(0x43, cw(1, 1, 2)); // counter 1, LSB only: count 0x20
    p.ioWrite(0x41, 0x20);
    p.ioWrite(0x43, cw(2, 2, 2)); // counter 2, MSB only: count 0x0300
    p.ioWrite(0x42, 0x03);
    clock.advance(pitEdgeTime(5));
    expect(p.ioRead(0x41)).toBe(0x20 - 4); // loaded on edge 1, four edges since
    expect(p.ioRead(0x42)).toBe(0x02); // 0x0300 − 4 = 0x02FC: the MSB
  });

  it('a latched count holds while the counter runs; a second latch before it is read is ignored', () => {
    const { p, clock } = pit();
    program(p, 2, 1000);
    clock.advance(pitEdgeTime(11));
    p.ioWrite(0x43, 0x00);
    clock.advance(pitEdgeTime(500) - clock.now);
    p.ioWrite(0x43, 0x00); // ignored: the first latch is unread
    expect(read16(p)).toBe(990);
    expect(read16(p)).toBe(1000 - 499); // the live count
  });

  it('read-back: status (OUT, NULL COUNT, RW, mode, BCD) before the count', () => {
    const { p, clock } = pit();
    p.ioWrite(0x43, cw(0, 3, 3));
    p.ioWrite(0x43, 0xe2); // read-back, status only, counter 0
    expect(p.ioRead(0x40)).toBe(0x80 | 0x40 | 0x30 | (3 << 1)); // OUT high, null count: no count yet
    p.ioWrite(0x40, 8);
    p.ioWrite(0x40, 0);
    clock.advance(pitEdgeTime(2));
    p.ioWrite(0x43, 0xc2); // count and status, counter 0
    expect(p.ioRead(0x40)).toBe(0x80 | 0x30 | (3 << 1)); // loaded: NULL COUNT clear
    expect(read16(p)).toBe(8 - 2); // one edge since the load on edge 1, decrementing by two
  });

  it('BCD: the count is four decimal digits and reads back in BCD', () => {
    const { p, clock } = pit();
    p.ioWrite(0x43, cw(0, 3, 0, true));
    p.ioWrite(0x40, 0x00);
    p.ioWrite(0x40, 0x10); // 1000 decimal
    clock.advance(pitEdgeTime(11));
    p.ioWrite(0x43, 0x00);
    expect(read16(p)).toBe(0x0990);
  });

  it('the control word register reads nothing; a counter never programmed reads 0xFF', () => {
    const { p } = pit();
    expect(p.ioRead(0x43)).toBe(0xff);
    expect(p.ioRead(0x40)).toBe(0xff);
  });
});

describe('save and restore', () => {
  it('a running counter resumes its period after a round trip', () => {
    const { p, clock, edges } = pit();
    program(p, 2, 50);
    clock.advance(pitEdgeTime(70));
    const saved = JSON.parse(JSON.stringify(p.save()));
    const other = pit();
    other.clock.restoreTime(clock.now);
    other.p.restore(saved);
    other.clock.advance(pitEdgeTime(120) - clock.now);
    clock.advance(pitEdgeTime(120) - clock.now);
    expect(other.edges).toEqual(edges.filter(([t]) => t > pitEdgeTime(70)));
  });

  it('a malformed state is refused with the field named', () => {
    const { p } = pit();
    const s = p.save();
    expect(() => p.restore({ ...s, counters: [{ ...s.counters[0], mode: 9 }, s.counters[1], s.counters[2]] })).toThrow(/counters\[0\]\.mode/);
  });
});
