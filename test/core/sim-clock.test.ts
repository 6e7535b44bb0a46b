import { describe, expect, it } from 'vitest';
import { ClockTimer, SimClock } from '../../src/core/sim-clock.ts';
import { UsageError } from '../../src/core/errors.ts';

describe('SimClock: simulated time advanced only explicitly', () => {
  it('fires timers in deadline order with now set to each deadline', () => {
    const clock = new SimClock();
    const fired: [string, number][] = [];
    const make = (name: string) => new ClockTimer((now) => fired.push([name, now]), name);
    const a = make('a');
    const b = make('b');
    const c = make('c');
    clock.arm(a, 300);
    clock.arm(b, 100);
    clock.arm(c, 200);
    clock.advance(250);
    expect(fired).toEqual([['b', 100], ['c', 200]]);
    expect(clock.now).toBe(250);
    expect(clock.nextDeadline).toBe(300);
  });

  it('equal deadlines fire in arming order; a re-armed timer takes its new place', () => {
    const clock = new SimClock();
    const order: string[] = [];
    const ts = ['x', 'y', 'z'].map((n) => new ClockTimer(() => order.push(n), n));
    for (const t of ts) clock.arm(t, 50);
    clock.arm(ts[0], 60);
    clock.advance(100);
    expect(order).toEqual(['y', 'z', 'x']);
  });

  it('a periodic timer that re-arms itself fires every period inside one advance', () => {
    const clock = new SimClock();
    const times: number[] = [];
    const t: ClockTimer = new ClockTimer((now) => {
      times.push(now);
      clock.arm(t, now + 40);
    }, 'periodic');
    clock.arm(t, 40);
    clock.advance(200);
    expect(times).toEqual([40, 80, 120, 160, 200]);
  });

  it('a disarmed timer never fires; disarming twice is harmless', () => {
    const clock = new SimClock();
    let fired = 0;
    const t = new ClockTimer(() => fired++, 't');
    clock.arm(t, 10);
    clock.disarm(t);
    clock.disarm(t);
    clock.advance(100);
    expect(fired).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('keeps heap order over many random arms and disarms', () => {
    const clock = new SimClock();
    const seen: number[] = [];
    const timers = Array.from({ length: 200 }, (_, i) => new ClockTimer((now) => seen.push(now), `t${i}`));
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (const t of timers) clock.arm(t, rnd() % 10000);
    const disarmed = new Set<ClockTimer>();
    for (let i = 0; i < 50; i++) {
      const t = timers[rnd() % 200];
      clock.disarm(t);
      disarmed.add(t);
    }
    clock.advance(10000);
    expect(seen.length).toBe(200 - disarmed.size);
    expect(seen).toEqual(timers.filter((t) => !disarmed.has(t)).map((t) => t.deadline).sort((x, y) => x - y));
    expect([...seen].sort((x, y) => x - y)).toEqual(seen);
  });

  it('refuses a negative, fractional or backwards advance', () => {
    const clock = new SimClock();
    clock.advance(10);
    expect(() => clock.advance(-1)).toThrow(UsageError);
    expect(() => clock.advance(1.5)).toThrow(UsageError);
    expect(() => clock.advanceTo(5)).toThrow(UsageError);
    expect(clock.now).toBe(10);
  });
});
