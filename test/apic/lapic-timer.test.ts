/**
 * The LAPIC timer (SDM Vol. 3A 10.5.4, 10.5.4.1), in the spirit of kvm-unit-tests x86/apic.c (test_apic_timer_one_shot,
 * test_apic_change_mode, test_tsc_deadline_timer). Time is the bus's simulated clock; the bus clock period is 1 ns
 * unless a test says otherwise, so with divide-by-1 one count is one nanosecond.
 */
import { describe, expect, test } from 'vitest';
import { ApicBus } from '../../src/apic/apic-bus.ts';
import type { Lapic } from '../../src/apic/lapic.ts';
import { timerDivide } from '../../src/apic/lapic-timer.ts';
import { EventHub } from '../../src/core/events.ts';
import { SimClock } from '../../src/core/sim-clock.ts';
import { enterX2apic, hasVector, mmioRead, mmioWrite, softwareEnable } from './helpers.ts';

const LVTT = 0x320;
const TMICT = 0x380;
const TMCCT = 0x390;
const TDCR = 0x3e0;
const ESR = 0x280;
const PERIODIC = 1 << 17;
const TSC_DEADLINE = 2 << 17;
const MASKED = 1 << 16;
const DIV1 = 0xb;
const V = 0x40;

function setup(busCycleNs = 1, tscHz = 1_000_000_000) {
  const clock = new SimClock();
  const bus = new ApicBus({ apicIds: [0, 1], lowestPriority: 'priority', events: new EventHub(), eoiBroadcast: () => {}, timing: { clock, busCycleNs, tscHz } });
  const l = bus.lapics[0];
  softwareEnable(l);
  const fired: number[] = [];
  l.interruptEntry = () => fired.push(clock.now);
  return { clock, l, fired };
}

function takeAll(l: Lapic): void {
  while (l.acknowledge() !== null) l.eoi();
}

describe('divide configuration register (SDM Figure 10-10)', () => {
  test('all eight encodings: 2, 4, 8, 16, 32, 64, 128, 1', () => {
    expect([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa, 0xb].map(timerDivide)).toEqual([2, 4, 8, 16, 32, 64, 128, 1]);
  });

  test('the count falls once per divide bus clocks', () => {
    for (const [tdcr, divide] of [[0x0, 2], [0x1, 4], [0x2, 8], [0x3, 16], [0x8, 32], [0x9, 64], [0xa, 128], [0xb, 1]]) {
      const { clock, l } = setup();
      mmioWrite(l, TDCR, tdcr);
      mmioWrite(l, TMICT, 1000);
      clock.advance(10 * divide);
      expect(mmioRead(l, TMCCT)).toBe(990);
      clock.advance(divide - 1);
      expect(mmioRead(l, TMCCT)).toBe(990);
    }
  });

  test('a slower bus clock (10 ns) stretches the count', () => {
    const { clock, l } = setup(10);
    mmioWrite(l, TDCR, 0x0); // divide by 2: 20 ns per count
    mmioWrite(l, TMICT, 50);
    clock.advance(200);
    expect(mmioRead(l, TMCCT)).toBe(40);
  });

  test('changing the divider keeps the current count and continues at the new rate', () => {
    const { clock, l, fired } = setup();
    mmioWrite(l, LVTT, V);
    mmioWrite(l, TDCR, DIV1);
    mmioWrite(l, TMICT, 100);
    clock.advance(40); // 60 left
    mmioWrite(l, TDCR, 0x0); // now 2 ns per count
    expect(mmioRead(l, TMCCT)).toBe(60);
    clock.advance(119);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([160]);
  });
});

describe('one-shot mode', () => {
  test('interrupts once when the count reaches zero; TMCCT then stays 0', () => {
    const { clock, l, fired } = setup();
    mmioWrite(l, LVTT, V);
    mmioWrite(l, TDCR, DIV1);
    mmioWrite(l, TMICT, 100);
    expect(mmioRead(l, TMCCT)).toBe(100);
    clock.advance(99);
    expect(mmioRead(l, TMCCT)).toBe(1);
    expect(hasVector(l.irr, V)).toBe(false);
    clock.advance(1);
    expect(hasVector(l.irr, V)).toBe(true);
    expect(mmioRead(l, TMCCT)).toBe(0);
    clock.advance(1000);
    expect(fired).toEqual([100]);
  });

  test('writing TMICT again restarts the count; writing 0 stops the timer', () => {
    const { clock, l, fired } = setup();
    mmioWrite(l, LVTT, V);
    mmioWrite(l, TDCR, DIV1);
    mmioWrite(l, TMICT, 100);
    clock.advance(50);
    mmioWrite(l, TMICT, 100);
    clock.advance(99);
    expect(fired).toEqual([]);
    mmioWrite(l, TMICT, 0);
    clock.advance(1000);
    expect(fired).toEqual([]);
    expect(mmioRead(l, TMCCT)).toBe(0);
  });

  test('the mask inhibits the interrupt, not the count', () => {
    const { clock, l } = setup();
    mmioWrite(l, LVTT, V | MASKED);
    mmioWrite(l, TDCR, DIV1);
    mmioWrite(l, TMICT, 100);
    clock.advance(30);
    expect(mmioRead(l, TMCCT)).toBe(70);
    clock.advance(100);
    expect(hasVector(l.irr, V)).toBe(false);
    expect(mmioRead(l, TMCCT)).toBe(0);
  });

  test('an illegal timer vector (0-15) sets Receive Illegal Vector in ESR and no IRR bit (SDM 10.5.3)', () => {
    const { clock, l } = setup();
    mmioWrite(l, LVTT, 0x05);
    mmioWrite(l, TDCR, DIV1);
    mmioWrite(l, TMICT, 10);
    clock.advance(10);
    expect(l.irr.every((w) => w === 0)).toBe(true);
    mmioWrite(l, ESR, 0);
    expect(mmioRead(l, ESR)).toBe(0x40);
  });
});

describe('periodic mode', () => {
  test('reloads from TMICT and interrupts every TMICT counts', () => {
    const { clock, l, fired } = setup();
    mmioWrite(l, LVTT, V | PERIODIC);
    mmioWrite(l, TDCR, DIV1);
    mmioWrite(l, TMICT, 100);
    clock.advance(350);
    expect(fired).toEqual([100, 200, 300]);
    expect(mmioRead(l, TMCCT)).toBe(50);
  });

  test('periodic → one-shot while counting: the count runs out once more, then stops', () => {
    const { clock, l, fired } = setup();
    mmioWrite(l, LVTT, V | PERIODIC);
    mmioWrite(l, TDCR, DIV1);
    mmioWrite(l, TMICT, 100);
    clock.advance(150);
    mmioWrite(l, LVTT, V);
    clock.advance(500);
    expect(fired).toEqual([100, 200]);
    expect(mmioRead(l, TMCCT)).toBe(0);
  });

  test('a masked periodic timer keeps reloading; unmasked, it interrupts at the next zero', () => {
    const { clock, l, fired } = setup();
    mmioWrite(l, LVTT, V | PERIODIC | MASKED);
    mmioWrite(l, TDCR, DIV1);
    mmioWrite(l, TMICT, 100);
    clock.advance(250);
    expect(fired).toEqual([]);
    expect(mmioRead(l, TMCCT)).toBe(50);
    mmioWrite(l, LVTT, V | PERIODIC);
    clock.advance(50);
    expect(fired).toEqual([300]);
  });
});

describe('TSC-deadline mode (SDM 10.5.4.1)', () => {
  const MSR = 0x6e0;

  test('interrupts when the TSC reaches IA32_TSC_DEADLINE, which then reads 0', () => {
    const { clock, l, fired } = setup(1, 2_500_000_000); // 2.5 TSC ticks per ns
    mmioWrite(l, LVTT, V | TSC_DEADLINE);
    clock.advance(1000); // TSC 2500
    l.wrmsr(MSR, 5000n); // due at 2000 ns
    expect(l.rdmsr(MSR)).toBe(5000n);
    clock.advance(999);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([2000]);
    expect(l.rdmsr(MSR)).toBe(0n);
  });

  test('a deadline already passed fires at once; writing 0 disarms', () => {
    const { clock, l, fired } = setup();
    mmioWrite(l, LVTT, V | TSC_DEADLINE);
    clock.advance(100);
    l.wrmsr(MSR, 50n);
    expect(fired).toEqual([100]);
    l.wrmsr(MSR, 500n);
    l.wrmsr(MSR, 0n);
    clock.advance(1000);
    expect(fired).toEqual([100]);
  });

  test('TMICT writes are ignored and TMCCT reads 0 in TSC-deadline mode', () => {
    const { l } = setup();
    mmioWrite(l, LVTT, V | TSC_DEADLINE);
    mmioWrite(l, TMICT, 1234);
    expect(mmioRead(l, TMICT)).toBe(0);
    expect(mmioRead(l, TMCCT)).toBe(0);
  });

  test('outside TSC-deadline mode the MSR reads 0 and ignores writes', () => {
    const { clock, l, fired } = setup();
    mmioWrite(l, LVTT, V);
    l.wrmsr(MSR, 10n);
    expect(l.rdmsr(MSR)).toBe(0n);
    clock.advance(100);
    expect(fired).toEqual([]);
  });

  test('a restored deadline is re-armed, not fired during the restore', () => {
    const a = setup();
    mmioWrite(a.l, LVTT, V | TSC_DEADLINE);
    a.l.wrmsr(MSR, 500n);
    const state = JSON.parse(JSON.stringify(a.l.save()));
    const b = setup();
    b.clock.restoreTime(800); // already past the deadline
    b.l.restore(state);
    expect(b.fired).toEqual([]);
    b.clock.advance(0);
    expect(b.fired).toEqual([800]);
    expect(b.l.rdmsr(MSR)).toBe(0n);
  });

  test('a transition out of TSC-deadline mode disarms the timer and clears the deadline', () => {
    const { clock, l, fired } = setup();
    mmioWrite(l, LVTT, V | TSC_DEADLINE);
    l.wrmsr(MSR, 100n);
    mmioWrite(l, LVTT, V);
    mmioWrite(l, LVTT, V | TSC_DEADLINE);
    expect(l.rdmsr(MSR)).toBe(0n);
    clock.advance(1000);
    expect(fired).toEqual([]);
  });

  test('a transition into TSC-deadline mode stops a one-shot count and zeroes TMICT', () => {
    const { clock, l, fired } = setup();
    mmioWrite(l, LVTT, V);
    mmioWrite(l, TDCR, DIV1);
    mmioWrite(l, TMICT, 100);
    mmioWrite(l, LVTT, V | TSC_DEADLINE);
    expect(mmioRead(l, TMICT)).toBe(0);
    clock.advance(1000);
    expect(fired).toEqual([]);
  });
});

describe('x2APIC access and state', () => {
  test('TMICT, TMCCT and TDCR through MSRs 0x838, 0x839, 0x83E', () => {
    const { clock, l, fired } = setup();
    enterX2apic(l);
    l.wrmsr(0x832, BigInt(V)); // LVT timer
    l.wrmsr(0x83e, 0x3n); // divide by 16
    l.wrmsr(0x838, 10n);
    clock.advance(80);
    expect(l.rdmsr(0x839)).toBe(5n);
    clock.advance(80);
    expect(fired).toEqual([160]);
  });

  test('INIT stops the timer', () => {
    const { clock, l, fired } = setup();
    mmioWrite(l, LVTT, V);
    mmioWrite(l, TMICT, 100);
    l.acceptInit();
    clock.advance(10_000);
    expect(fired).toEqual([]);
  });

  test('a saved running timer restores onto another LAPIC and fires at the same time', () => {
    const a = setup();
    mmioWrite(a.l, LVTT, V | PERIODIC);
    mmioWrite(a.l, TDCR, DIV1);
    mmioWrite(a.l, TMICT, 100);
    a.clock.advance(130);
    const state = JSON.parse(JSON.stringify(a.l.save()));
    const b = setup();
    b.clock.restoreTime(130);
    b.l.restore(state);
    expect(mmioRead(b.l, TMCCT)).toBe(70);
    b.clock.advance(200);
    expect(b.fired).toEqual([200, 300]);
    takeAll(b.l);
    expect(() => b.l.restore({ ...state, timer: { ...state.timer, baseTime: -1 } })).toThrow(/timer.baseTime/);
  });
});
