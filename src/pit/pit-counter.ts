/**
 * One counter of the 8254 programmable interval timer (Intel 82C54 data sheet, "Operational Description" and "Modes"),
 * counting CLK edges of pit-clock.ts lazily: nothing runs per tick. What the counter does from the moment a count is
 * loaded is a closed form of the tick number — a *regime* (count N, the tick it was loaded at, and for the periodic
 * modes the phase) — so OUT, the count and the next OUT transition are all computed when asked.
 *
 * Modes (GATE is tied high, as channel 0's and 1's are on a PC):
 * - 0, interrupt on terminal count: OUT low from the mode set; high N ticks after the count is loaded, and stays high.
 *   Writing the first byte of a two-byte count stops counting and drives OUT low at once.
 * - 2, rate generator: OUT high; low for the one tick in which the count is 1, then the count reloads — a rising edge
 *   every N ticks. A count written while counting takes effect at the next reload.
 * - 3, square wave: OUT high for ⌈N/2⌉ ticks and low for ⌊N/2⌋; a new count takes effect at the next half-cycle
 *   boundary.
 * - 4, software-triggered strobe: OUT high; low for one tick when the count reaches zero, once.
 * - 1 and 5 are triggered by a rising edge on GATE, which a tied-high GATE never gives: OUT stays high.
 * A count is loaded into the counting element on the first CLK edge after it is written ("the count is loaded on the
 * next CLK pulse"), so OUT first changes N (mode 0, 2, 3) or N + 1 edges after the write's own tick. Count 0 means
 * 2^16 (binary) or 10^4 (BCD). The data sheet leaves N = 1 in mode 2 illegal; here it holds OUT low.
 *
 * Reading: the counter latch command and the read-back command (status byte: OUT, NULL COUNT, RW, mode, BCD) latch
 * what a later read returns; unlatched reads return the live count. LSB/MSB access follows the RW field, alternating
 * LSB and MSB for RW = 11. In mode 3 the live count decrements by two; for odd N its value follows QEMU's
 * pit_get_count (hw/timer/i8254.c), as the data sheet's description of odd counts does not fix a single reading.
 */

/** No regime loaded (the counter waits for a count, or for a GATE trigger that never comes). */
const NONE = -1;

/** What a counter has been told to count, from tick `from` on. */
interface Regime {
  /** N: 1..65536 (binary) or 1..10000 (BCD); 0 when this regime slot is empty. */
  count: number;
  /** The tick the count was loaded at (mode 3: the start of a high half-cycle; may be after `from`). */
  anchor: number;
  /** First tick this regime governs. */
  from: number;
}

export interface PitCounterState {
  mode: number;
  rw: number;
  bcd: boolean;
  programmed: boolean;
  writeMsbNext: boolean;
  lsb: number;
  readMsbNext: boolean;
  /** Latched count (-1: none) and which byte of it the next read returns. */
  latch: number;
  latchMsbNext: boolean;
  /** Latched status byte (-1: none). */
  status: number;
  /** OUT before the first regime (the level the mode set or the first count byte left). */
  idleOut: boolean;
  /** The counting element's value before the first regime (what it held when counting stopped). */
  held: number;
  current: { count: number; anchor: number; from: number } | null;
  pending: { count: number; anchor: number; from: number } | null;
  /** The count register's last full value (the count a mode 1/5 trigger would load), 1..65536. */
  countRegister: number;
}

function emptyRegime(): Regime {
  return { count: 0, anchor: 0, from: 0 };
}

/** Floor division and modulo for possibly negative offsets. */
function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

function bcdDecode(v: number): number {
  return ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);
}

function bcdEncode(n: number): number {
  return ((Math.floor(n / 1000) % 10) << 12) | ((Math.floor(n / 100) % 10) << 8) | ((Math.floor(n / 10) % 10) << 4) | (n % 10);
}

export class PitCounter {
  /** Mode 0..5 (the control word's M2..M0 with the don't-care bit of 6 and 7 folded). */
  mode = 0;
  /** RW: 1 LSB only, 2 MSB only, 3 LSB then MSB; 0 before any control word. */
  rw = 0;
  bcd = false;
  /** A control word has been written since power-on. */
  programmed = false;
  private writeMsbNext = false;
  private lsb = 0;
  private readMsbNext = false;
  private latch = NONE;
  private latchMsbNext = false;
  private status = NONE;
  private idleOut = false;
  private held = 0;
  private countRegister = 0x10000;
  private readonly current = emptyRegime();
  private readonly pending = emptyRegime();

  constructor(readonly index: number) {}

  // ---- Programming ------------------------------------------------------------------------------------------------

  /** A control word for this counter with RW ≠ 00 (a mode set): everything restarts, OUT goes to the mode's level. */
  setMode(controlWord: number, tick: number): void {
    this.settle(tick);
    this.held = this.countAt(tick);
    let mode = (controlWord >> 1) & 7;
    if (mode >= 6) mode -= 4;
    this.mode = mode;
    this.rw = (controlWord >> 4) & 3;
    this.bcd = (controlWord & 1) !== 0;
    this.programmed = true;
    this.writeMsbNext = false;
    this.readMsbNext = false;
    this.latch = NONE;
    this.status = NONE;
    this.current.count = 0;
    this.pending.count = 0;
    // "OUT will be initially low" in mode 0, high in every other mode.
    this.idleOut = mode !== 0;
  }

  /** The counter latch command: the count at this tick, unless a latched count is still unread. */
  latchCount(tick: number): void {
    if (this.latch !== NONE || !this.programmed) return;
    this.settle(tick);
    this.latch = this.encoded(this.countAt(tick));
    this.latchMsbNext = false;
  }

  /** The read-back command's status latch: OUT, NULL COUNT, RW, mode, BCD — unless a status is still unread. */
  latchStatus(tick: number): void {
    if (this.status !== NONE || !this.programmed) return;
    this.settle(tick);
    this.status = (this.outAt(tick) ? 0x80 : 0) | (this.nullCount(tick) ? 0x40 : 0) | (this.rw << 4) | (this.mode << 1) | (this.bcd ? 1 : 0);
  }

  /** A byte written to the counter's port. */
  writeByte(value: number, tick: number): void {
    if (!this.programmed) return; // no control word yet: the RW field is undefined
    this.settle(tick);
    if (this.rw === 3 && !this.writeMsbNext) {
      this.lsb = value;
      this.writeMsbNext = true;
      if (this.mode === 0) {
        // "Writing the first byte disables counting. OUT is set low immediately (no clock pulse required)."
        this.held = this.countAt(tick);
        this.current.count = 0;
        this.pending.count = 0;
        this.idleOut = false;
      }
      return;
    }
    let raw: number;
    if (this.rw === 3) {
      raw = (value << 8) | this.lsb;
      this.writeMsbNext = false;
    } else raw = this.rw === 1 ? value : value << 8;
    this.loadCount(raw, tick);
  }

  /** A full count was written to the count register at tick `tick`. */
  private loadCount(raw: number, tick: number): void {
    const n = this.bcd ? bcdDecode(raw) : raw;
    const count = n === 0 ? (this.bcd ? 10000 : 0x10000) : n;
    this.countRegister = count;
    const load = tick + 1;
    switch (this.mode) {
      case 0:
      case 4:
        // Loaded on the next CLK pulse, counting restarts from it; in mode 0 OUT goes low with the write.
        this.held = this.countAt(tick);
        if (this.mode === 0) this.idleOut = false;
        else this.idleOut = this.outAt(tick);
        this.set(this.current, count, load, load);
        this.pending.count = 0;
        return;
      case 2:
      case 3:
        if (this.current.count === 0) {
          this.set(this.current, count, load, load);
          return;
        }
        this.schedulePending(count, tick);
        return;
      default:
        // Modes 1 and 5 wait for a GATE trigger: the count stays in the count register.
        return;
    }
  }

  /** A new count while modes 2 and 3 are counting: it takes over at the next reload (mode 3: half-cycle boundary). */
  private schedulePending(count: number, tick: number): void {
    const c = this.current;
    const next = tick + 1;
    if (next <= c.from) {
      // The previous count is not loaded yet: the next CLK edge loads whatever the count register holds now.
      this.set(c, count, next, next);
      this.pending.count = 0;
      return;
    }
    const n = c.count;
    // The reload (period start) at or before the next edge; reloads are at anchor + kN.
    const base = c.anchor + floorDiv(next - c.anchor, n) * n;
    if (this.mode === 2) {
      const reload = base === next ? base : base + n;
      this.set(this.pending, count, reload, reload);
      return;
    }
    // Mode 3's half-cycle boundaries: rising at anchor + kN, falling at anchor + kN + ⌈N/2⌉ (none when N = 1).
    const high = Math.ceil(n / 2);
    let boundary: number;
    let rising: boolean;
    if (base === next || high === n) {
      boundary = base === next ? base : base + n;
      rising = true;
    } else if (base + high >= next) {
      boundary = base + high;
      rising = false;
    } else {
      boundary = base + n;
      rising = true;
    }
    // After a falling boundary the low half of the new count comes first: its high half-cycle starts ⌊N'/2⌋ later.
    this.set(this.pending, count, rising ? boundary : boundary + Math.floor(count / 2), boundary);
  }

  private set(r: Regime, count: number, anchor: number, from: number): void {
    r.count = count;
    r.anchor = anchor;
    r.from = from;
  }

  /** A pending regime whose time has come replaces the current one. */
  private settle(tick: number): void {
    if (this.pending.count !== 0 && tick >= this.pending.from) {
      this.set(this.current, this.pending.count, this.pending.anchor, this.pending.from);
      this.pending.count = 0;
    }
  }

  // ---- Reading --------------------------------------------------------------------------------------------------

  /** A byte read from the counter's port: status, then latched count, then the live count. */
  readByte(tick: number): number {
    if (this.status !== NONE) {
      const s = this.status;
      this.status = NONE;
      return s;
    }
    if (this.latch !== NONE) {
      const v = this.latch;
      if (this.rw === 3 && !this.latchMsbNext) {
        this.latchMsbNext = true;
        return v & 0xff;
      }
      this.latch = NONE;
      return this.rw === 1 ? v & 0xff : (v >> 8) & 0xff;
    }
    if (!this.programmed) return 0xff;
    this.settle(tick);
    const v = this.encoded(this.countAt(tick));
    if (this.rw === 3) {
      this.readMsbNext = !this.readMsbNext;
      return this.readMsbNext ? v & 0xff : (v >> 8) & 0xff;
    }
    return this.rw === 1 ? v & 0xff : (v >> 8) & 0xff;
  }

  /** The count as the counter presents it: 16 bits, BCD-encoded in BCD mode (2^16 and 10^4 read as 0). */
  private encoded(n: number): number {
    return this.bcd ? bcdEncode(n % 10000) : n & 0xffff;
  }

  /** NULL COUNT: a count was written (or the mode set) and has not been loaded into the counting element yet. */
  private nullCount(tick: number): boolean {
    if (this.pending.count !== 0) return true;
    if (this.current.count === 0) return true;
    return tick < this.current.from;
  }

  /** The counting element's value at `tick` (a number, not yet encoded). */
  countAt(tick: number): number {
    const r = this.pending.count !== 0 && tick >= this.pending.from ? this.pending : this.current;
    if (r.count === 0 || tick < r.from) return this.held;
    const n = r.count;
    const modulus = this.bcd ? 10000 : 0x10000;
    const elapsed = tick - r.anchor;
    switch (this.mode) {
      case 0:
      case 4:
        return (((n - elapsed) % modulus) + modulus) % modulus;
      case 2:
        return n - (((elapsed % n) + n) % n);
      case 3:
        return n - ((((2 * elapsed) % n) + n) % n);
      default:
        return this.held;
    }
  }

  // ---- OUT --------------------------------------------------------------------------------------------------------

  /** OUT at tick `tick`. */
  outAt(tick: number): boolean {
    const r = this.pending.count !== 0 && tick >= this.pending.from ? this.pending : this.current;
    if (r.count === 0 || tick < r.from) return this.idleOut;
    return this.regimeOut(r, tick);
  }

  private regimeOut(r: Regime, tick: number): boolean {
    const n = r.count;
    const elapsed = tick - r.anchor;
    switch (this.mode) {
      case 0:
        return elapsed >= n;
      case 4:
        return elapsed !== n;
      case 2:
        return n === 1 ? false : ((elapsed % n) + n) % n !== n - 1;
      case 3:
        return ((elapsed % n) + n) % n < Math.ceil(n / 2);
      default:
        return true;
    }
  }

  /** The first tick after `tick` at which the regime's own OUT changes, or Infinity. */
  private regimeEdge(r: Regime, tick: number): number {
    const n = r.count;
    switch (this.mode) {
      case 0:
        return tick < r.anchor + n ? r.anchor + n : Infinity;
      case 4:
        if (tick < r.anchor + n) return r.anchor + n;
        return tick < r.anchor + n + 1 ? r.anchor + n + 1 : Infinity;
      case 2: {
        if (n === 1) return Infinity;
        const base = r.anchor + floorDiv(tick - r.anchor, n) * n;
        if (base + n - 1 > tick) return base + n - 1;
        return base + n > tick ? base + n : base + 2 * n - 1;
      }
      case 3: {
        const high = Math.ceil(n / 2);
        if (high === n) return Infinity;
        const base = r.anchor + floorDiv(tick - r.anchor, n) * n;
        if (base + high > tick) return base + high;
        return base + n > tick ? base + n : base + n + high;
      }
      default:
        return Infinity;
    }
  }

  /** The first tick after `tick` at which OUT changes, or Infinity when it never will without software. */
  nextTransition(tick: number): number {
    let best = Infinity;
    const c = this.current;
    const p = this.pending;
    if (c.count !== 0) {
      best = this.earlier(c.from, tick, best);
      const e = this.regimeEdge(c, Math.max(tick, c.from));
      if (p.count === 0 || e < p.from) best = this.earlier(e, tick, best);
    }
    if (p.count !== 0) {
      best = this.earlier(p.from, tick, best);
      best = this.earlier(this.regimeEdge(p, Math.max(tick, p.from)), tick, best);
    }
    return best;
  }

  /** `t` when it is a real OUT transition after `tick` and earlier than `best`; else `best`. */
  private earlier(t: number, tick: number, best: number): number {
    return t > tick && t < best && this.outAt(t) !== this.outAt(t - 1) ? t : best;
  }

  // ---- State ------------------------------------------------------------------------------------------------------

  save(): PitCounterState {
    const regime = (r: Regime) => (r.count === 0 ? null : { count: r.count, anchor: r.anchor, from: r.from });
    return {
      mode: this.mode,
      rw: this.rw,
      bcd: this.bcd,
      programmed: this.programmed,
      writeMsbNext: this.writeMsbNext,
      lsb: this.lsb,
      readMsbNext: this.readMsbNext,
      latch: this.latch,
      latchMsbNext: this.latchMsbNext,
      status: this.status,
      idleOut: this.idleOut,
      held: this.held,
      current: regime(this.current),
      pending: regime(this.pending),
      countRegister: this.countRegister,
    };
  }

  /** Load a state already checked by {@link checkPitCounterState}. */
  load(s: PitCounterState): void {
    this.mode = s.mode;
    this.rw = s.rw;
    this.bcd = s.bcd;
    this.programmed = s.programmed;
    this.writeMsbNext = s.writeMsbNext;
    this.lsb = s.lsb;
    this.readMsbNext = s.readMsbNext;
    this.latch = s.latch;
    this.latchMsbNext = s.latchMsbNext;
    this.status = s.status;
    this.idleOut = s.idleOut;
    this.held = s.held;
    this.countRegister = s.countRegister;
    const put = (r: Regime, v: PitCounterState['current']) => (v === null ? (r.count = 0) : this.set(r, v.count, v.anchor, v.from));
    put(this.current, s.current);
    put(this.pending, s.pending);
  }
}

/** Why `s` is not a counter state (the field and the reason), or null when it is one. */
export function checkPitCounterState(s: unknown): string | null {
  if (typeof s !== 'object' || s === null) return 'expected an object';
  const o = s as Record<string, unknown>;
  const int = (k: string, min: number, max: number): string | null => {
    const v = o[k];
    return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : `${k}: expected an integer ${min}..${max}`;
  };
  const bool = (k: string): string | null => (typeof o[k] === 'boolean' ? null : `${k}: expected true or false`);
  const regime = (k: string): string | null => {
    const v = o[k];
    if (v === null) return null;
    if (typeof v !== 'object' || v === null) return `${k}: expected null or { count, anchor, from }`;
    const r = v as Record<string, unknown>;
    const ok = [r.anchor, r.from].every((x) => typeof x === 'number' && Number.isSafeInteger(x)) && typeof r.count === 'number' && Number.isInteger(r.count) && r.count >= 1 && r.count <= 0x10000;
    return ok ? null : `${k}: expected { count 1..65536, anchor, from (ticks) }`;
  };
  return (
    int('mode', 0, 5) ?? int('rw', 0, 3) ?? bool('bcd') ?? bool('programmed') ?? bool('writeMsbNext') ?? int('lsb', 0, 0xff) ?? bool('readMsbNext') ??
    int('latch', -1, 0xffff) ?? bool('latchMsbNext') ?? int('status', -1, 0xff) ?? bool('idleOut') ?? int('held', 0, 0x10000) ??
    regime('current') ?? regime('pending') ?? int('countRegister', 1, 0x10000)
  );
}
