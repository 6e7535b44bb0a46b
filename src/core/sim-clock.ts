/**
 * The machine's simulated clock: nanoseconds since power-on, advanced only explicitly (`advance(ns)`), never by the
 * wall clock. Timer devices (the LAPIC timer, the HPET comparators) own one {@link ClockTimer} each and arm it for an
 * absolute time; `advance` fires them in time order, with `now` set to each timer's own deadline while it runs, so a
 * periodic timer that re-arms itself inside the window fires again in the same call.
 *
 * The pending timers sit in a binary min-heap keyed by deadline (ties in arming order): advancing to the next
 * deadline costs O(log n) in the armed timers and never looks at an idle device. Arming, re-arming and firing
 * allocate nothing (each timer records its own heap position).
 */
import { showValue, UsageError } from './errors.ts';

/** One timer source. The owner keeps it and re-arms it; the clock only orders them. */
export class ClockTimer {
  /** Absolute deadline in ns; meaningful while armed. */
  deadline = 0;
  /** Position in the clock's heap, -1 when not armed. */
  heapIndex = -1;
  /** Arming order, the tie-break between equal deadlines (first armed fires first). */
  sequence = 0;

  constructor(
    /** What runs at the deadline; `now` is the deadline. May re-arm this timer or arm others. */
    readonly fire: (now: number) => void,
    /** For diagnostics: "lapic0 timer", "hpet timer 1". */
    readonly name: string,
  ) {}

  get armed(): boolean {
    return this.heapIndex >= 0;
  }
}

/** Longest single advance: 2^53 ns (≈ 104 days) keeps every time an exact integer. */
const MAX_TIME = Number.MAX_SAFE_INTEGER;

export class SimClock {
  private time = 0;
  private readonly heap: ClockTimer[] = [];
  private nextSequence = 0;

  /** Nanoseconds since power-on. */
  get now(): number {
    return this.time;
  }

  /** Number of armed timers (diagnostics and tests). */
  get pending(): number {
    return this.heap.length;
  }

  /** Deadline of the earliest armed timer, or null. */
  get nextDeadline(): number | null {
    return this.heap.length === 0 ? null : this.heap[0].deadline;
  }

  /** Arm (or re-arm) `timer` for absolute time `at` ns. A deadline in the past fires at the next advance. */
  arm(timer: ClockTimer, at: number): void {
    timer.deadline = at;
    timer.sequence = this.nextSequence++;
    if (timer.heapIndex >= 0) {
      this.siftUp(timer.heapIndex);
      this.siftDown(timer.heapIndex);
      return;
    }
    timer.heapIndex = this.heap.length;
    this.heap.push(timer);
    this.siftUp(timer.heapIndex);
  }

  /** Disarm `timer`; nothing happens if it is not armed. */
  disarm(timer: ClockTimer): void {
    const i = timer.heapIndex;
    if (i < 0) return;
    const last = this.heap.pop()!;
    timer.heapIndex = -1;
    if (last === timer) return;
    this.heap[i] = last;
    last.heapIndex = i;
    this.siftUp(i);
    this.siftDown(last.heapIndex);
  }

  /** Move time forward by `ns` (a non-negative integer), firing every timer whose deadline falls in the window. */
  advance(ns: number): void {
    if (typeof ns !== 'number' || !Number.isInteger(ns) || ns < 0) throw new UsageError(`clock.advance: ns must be a non-negative integer, got ${showValue(ns)}`);
    if (this.time + ns > MAX_TIME) throw new UsageError(`clock.advance: ${ns} ns would pass 2^53 ns since power-on`);
    this.runUntil(this.time + ns);
  }

  /** Move time forward to absolute time `t` ns (not earlier than now). */
  advanceTo(t: number): void {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < this.time || t > MAX_TIME) {
      throw new UsageError(`clock.advanceTo: ${showValue(t)} is not an integer time between now (${this.time} ns) and 2^53 ns`);
    }
    this.runUntil(t);
  }

  /** Set the time without firing anything: for restoring a snapshot (its timers are re-armed by their owners). */
  restoreTime(t: number): void {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > MAX_TIME) throw new UsageError(`clock: time ${showValue(t)} is not an integer 0..2^53 ns`);
    this.time = t;
  }

  private runUntil(end: number): void {
    const heap = this.heap;
    while (heap.length > 0 && heap[0].deadline <= end) {
      const timer = heap[0];
      this.disarm(timer);
      // A deadline armed in the past fires now, not back in time.
      if (timer.deadline > this.time) this.time = timer.deadline;
      timer.fire(this.time);
    }
    this.time = end;
  }

  private less(a: ClockTimer, b: ClockTimer): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.sequence < b.sequence);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const t = heap[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(t, heap[parent])) break;
      heap[i] = heap[parent];
      heap[i].heapIndex = i;
      i = parent;
    }
    heap[i] = t;
    t.heapIndex = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const t = heap[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.less(heap[r], heap[l]) ? r : l;
      if (!this.less(heap[child], t)) break;
      heap[i] = heap[child];
      heap[i].heapIndex = i;
      i = child;
    }
    heap[i] = t;
    t.heapIndex = i;
  }
}
