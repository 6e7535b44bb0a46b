/**
 * The 8254 programmable interval timer of a PC (Intel 82C54 data sheet; ICH9 datasheet 13.3 "Timer I/O Registers"):
 * three counters at I/O ports 0x40–0x42 and the control word register at 0x43, clocked at 1.193182 MHz on the
 * machine's simulated clock (pit-clock.ts). Counter 0's OUT is ISA IRQ0 — the 8259's IR0 and, through the MADT's
 * interrupt source override, I/O APIC input 2 — the interrupt Linux's check_timer (arch/x86/kernel/apic/io_apic.c)
 * looks for. Counters 1 and 2 count the same way; their OUT pins (DRAM refresh, the speaker) reach no interrupt.
 *
 * Control word (port 0x43): SC1:SC0 select the counter (11 = read-back command), RW1:RW0 the access (00 = counter
 * latch command, 01 LSB, 10 MSB, 11 LSB then MSB), M2:M0 the mode, bit 0 BCD. Read-back (SC = 11): bit 5 = 0 latches
 * the counts, bit 4 = 0 the status bytes, of the counters whose bits 3:1 are set. Port 0x43 is write-only.
 *
 * Counting is lazy (pit-counter.ts) and counter 0 arms one clock event for its next OUT transition only, so a running
 * PIT costs two events per period and nothing per tick; no allocation per interrupt. QEMU's i8254.c has no trace
 * events, so the hops are irqpath_pit_*.
 */
import { UsageError } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import type { PortIoDevice } from '../core/mmio.ts';
import { ClockTimer, type SimClock } from '../core/sim-clock.ts';
import { pitEdgeTime, pitTicksAt } from './pit-clock.ts';
import { checkPitCounterState, PitCounter, type PitCounterState } from './pit-counter.ts';

export const PIT_COUNTER0_PORT = 0x40;
export const PIT_CONTROL_PORT = 0x43;
/** Ports 0x40..0x43. */
export const PIT_PORT_COUNT = 4;
export const PIT_STATE_VERSION = 1;

export interface PitState {
  version: number;
  counters: PitCounterState[];
  /** Counter 0's OUT as last driven onto IRQ0. */
  out0: boolean;
}

export class Pit implements PortIoDevice {
  readonly name = 'i8254';
  readonly counters: readonly PitCounter[] = [new PitCounter(0), new PitCounter(1), new PitCounter(2)];
  private out0 = false;
  private readonly event: ClockTimer;

  constructor(
    private readonly clock: SimClock,
    /** Counter 0's OUT changed level: ISA IRQ0. */
    private readonly irq0: (level: boolean) => void,
    private readonly events: EventHub,
  ) {
    this.event = new ClockTimer((now) => this.transition(now), 'pit counter 0');
  }

  /** Counter 0's OUT pin now. */
  get output(): boolean {
    return this.out0;
  }

  private get tick(): number {
    return pitTicksAt(this.clock.now);
  }

  ioRead(port: number): number {
    const index = port - PIT_COUNTER0_PORT;
    // The control word register cannot be read (82C54: "the Control Word Register ... cannot be read").
    const value = index >= 0 && index < 3 ? this.counters[index].readByte(this.tick) : 0xff;
    if (this.events.active) this.events.hop('irqpath_pit_read', [['port', port], ['val', value]]);
    return value;
  }

  ioWrite(port: number, value: number): void {
    if (this.events.active) this.events.hop('irqpath_pit_write', [['port', port], ['val', value]]);
    const tick = this.tick;
    if (port === PIT_CONTROL_PORT) this.controlWord(value, tick);
    else if (port >= PIT_COUNTER0_PORT && port < PIT_CONTROL_PORT) this.counters[port - PIT_COUNTER0_PORT].writeByte(value, tick);
    this.update(tick);
  }

  private controlWord(value: number, tick: number): void {
    const select = value >> 6;
    if (select === 3) {
      // Read-back: bit 5 = 0 latches counts, bit 4 = 0 latches status, bits 3:1 select counters 2:0.
      for (let i = 0; i < 3; i++) {
        if ((value & (2 << i)) === 0) continue;
        if ((value & 0x20) === 0) this.counters[i].latchCount(tick);
        if ((value & 0x10) === 0) this.counters[i].latchStatus(tick);
      }
      return;
    }
    const counter = this.counters[select];
    if ((value & 0x30) === 0) counter.latchCount(tick);
    else counter.setMode(value, tick);
  }

  /** Drive IRQ0 to counter 0's OUT and arm the clock for its next transition. */
  private update(tick: number): void {
    const c = this.counters[0];
    this.drive(c.outAt(tick));
    const next = c.nextTransition(tick);
    if (next === Infinity) this.clock.disarm(this.event);
    else this.clock.arm(this.event, pitEdgeTime(next));
  }

  private transition(now: number): void {
    this.update(pitTicksAt(now));
  }

  private drive(level: boolean): void {
    if (level === this.out0) return;
    this.out0 = level;
    if (this.events.active) this.events.hop('irqpath_pit_out', [['counter', 0], ['level', level ? 1 : 0]]);
    this.irq0(level);
  }

  save(): PitState {
    return { version: PIT_STATE_VERSION, counters: this.counters.map((c) => c.save()), out0: this.out0 };
  }

  /**
   * Validate, load and re-arm. Drives no line: the machine restores the wires itself (their counts include OUT). A
   * snapshot taken before the PIT was modelled has no state for it: pass undefined for a PIT nobody programmed.
   */
  restore(state: unknown): void {
    if (state === undefined) {
      this.load({ version: PIT_STATE_VERSION, counters: [0, 1, 2].map((i) => new PitCounter(i).save()), out0: false });
      return;
    }
    const bad = (why: string): never => {
      throw new UsageError(`pit state.${why}`);
    };
    if (typeof state !== 'object' || state === null) return bad('state: expected an object');
    const s = state as Record<string, unknown>;
    if (s.version !== PIT_STATE_VERSION) bad(`version: expected ${PIT_STATE_VERSION}, got ${JSON.stringify(s.version)}`);
    if (!Array.isArray(s.counters) || s.counters.length !== 3) bad('counters: expected 3 counter states');
    (s.counters as unknown[]).forEach((c, i) => {
      const why = checkPitCounterState(c);
      if (why !== null) bad(`counters[${i}].${why}`);
    });
    if (typeof s.out0 !== 'boolean') bad('out0: expected true or false');
    this.load(state as PitState);
  }

  private load(s: PitState): void {
    s.counters.forEach((c, i) => this.counters[i].load(c));
    this.out0 = s.out0;
    const next = this.counters[0].nextTransition(this.tick);
    if (next === Infinity) this.clock.disarm(this.event);
    else this.clock.arm(this.event, pitEdgeTime(next));
  }
}
