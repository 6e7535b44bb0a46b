/**
 * The 8254's input clock on the machine's nanosecond clock: CLK runs at 1.193182 MHz (the PC's 14.31818 MHz crystal
 * divided by 12; ICH9 datasheet 5.8 "8254 Timers": "the counters use a 1.193 MHz clock"), so its edges fall between
 * nanoseconds. Edge k happens at k · 10^9 / 1 193 182 ns; a counter sees it at the first whole nanosecond at or after
 * that instant. Both conversions are exact integer arithmetic in doubles — the product k · 10^9 would overflow 2^53
 * within hours of simulated time, so the whole seconds are split off first — and allocate nothing.
 */

/** CLK input frequency of every counter, in Hz (Linux PIT_TICK_RATE, QEMU PIT_FREQ). */
export const PIT_HZ = 1_193_182;
const NS_PER_S = 1_000_000_000;

/** How many CLK edges have happened by time `ns` (edges at or before it). */
export function pitTicksAt(ns: number): number {
  const seconds = Math.floor(ns / NS_PER_S);
  const rest = ns - seconds * NS_PER_S;
  // floor(rest · f / 10^9), with rest · f < 1.2·10^15 exact; the division is corrected to the exact floor.
  const product = rest * PIT_HZ;
  let q = Math.floor(product / NS_PER_S);
  if (q * NS_PER_S > product) q--;
  else if ((q + 1) * NS_PER_S <= product) q++;
  return seconds * PIT_HZ + q;
}

/** The first whole nanosecond at or after CLK edge `tick`. */
export function pitEdgeTime(tick: number): number {
  const seconds = Math.floor(tick / PIT_HZ);
  const rest = tick - seconds * PIT_HZ;
  // ceil(rest · 10^9 / f), with rest · 10^9 < 1.2·10^15 exact.
  const product = rest * NS_PER_S;
  let c = Math.ceil(product / PIT_HZ);
  if (c * PIT_HZ < product) c++;
  else if ((c - 1) * PIT_HZ >= product) c--;
  return seconds * NS_PER_S + c;
}
