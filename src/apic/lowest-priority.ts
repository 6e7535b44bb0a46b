/**
 * Lowest-priority arbitration: which one of the addressed LAPICs takes a LowestPriority interrupt (SDM 10.6.2.4).
 * Only hardware- and software-enabled LAPICs take part (SDM 10.4.7.2: a software-disabled APIC refuses LowestPriority).
 *
 * - 'priority' (default, hardware-like, SDM 10.6.2.4 / 10.7.2.6): a focus processor (the vector is already in its
 *   IRR or ISR, and its SVR bit 9 "focus processor checking disabled" is clear) wins; otherwise the lowest PPR
 *   wins. Ties go to the lowest APIC ID. The SDM's P6 rule arbitrates on APR, which also weighs the highest IRR;
 *   irqpath uses PPR (the priority the CPU would actually see) because APR is not modelled. Pentium 4 / Xeon leave
 *   the choice to the chipset ("the concept of a focus processor is not supported").
 * - 'vector-hash' (KVM default, vector_hashing=1): the (vector mod N)-th of the N eligible LAPICs in CPU order.
 * - 'first' (QEMU TCG apic_bus_deliver): the first eligible LAPIC in CPU order.
 */
import type { Lapic } from './lapic.ts';
import { testVector } from './lapic.ts';
import { SVR_FOCUS_DISABLED } from './registers.ts';

export type LowestPriorityPolicy = 'priority' | 'vector-hash' | 'first';

export const LOWEST_PRIORITY_POLICIES: readonly LowestPriorityPolicy[] = ['priority', 'vector-hash', 'first'];

function eligible(lapic: Lapic): boolean {
  return lapic.mode !== 'disabled' && lapic.softwareEnabled;
}

/**
 * Pick one CPU out of `candidates[0..count)` (which this function may reorder); -1 when none is eligible.
 * No allocation.
 */
export function chooseLowestPriority(
  policy: LowestPriorityPolicy,
  lapics: readonly Lapic[],
  candidates: Int32Array,
  count: number,
  vector: number,
): number {
  switch (policy) {
    case 'first':
      return firstInCpuOrder(lapics, candidates, count);
    case 'vector-hash':
      return vectorHash(lapics, candidates, count, vector);
    default:
      return byPriority(lapics, candidates, count, vector);
  }
}

function firstInCpuOrder(lapics: readonly Lapic[], candidates: Int32Array, count: number): number {
  let best = -1;
  for (let i = 0; i < count; i++) {
    const cpu = candidates[i];
    if (eligible(lapics[cpu]) && (best < 0 || cpu < best)) best = cpu;
  }
  return best;
}

function vectorHash(lapics: readonly Lapic[], candidates: Int32Array, count: number, vector: number): number {
  // Keep the eligible CPUs at the front, sort them by CPU index, take the (vector mod N)-th.
  let n = 0;
  for (let i = 0; i < count; i++) {
    const cpu = candidates[i];
    if (eligible(lapics[cpu])) candidates[n++] = cpu;
  }
  if (n === 0) return -1;
  sortAscending(candidates, n);
  return candidates[vector % n];
}

function byPriority(lapics: readonly Lapic[], candidates: Int32Array, count: number, vector: number): number {
  let focus = -1;
  let lowest = -1;
  let lowestPpr = 0x100;
  for (let i = 0; i < count; i++) {
    const cpu = candidates[i];
    const lapic = lapics[cpu];
    if (!eligible(lapic)) continue;
    const id = lapic.physicalId;
    if ((lapic.svr & SVR_FOCUS_DISABLED) === 0 && (testVector(lapic.irr, vector) || testVector(lapic.isr, vector))) {
      if (focus < 0 || id < lapics[focus].physicalId) focus = cpu;
    }
    const ppr = lapic.ppr;
    if (ppr < lowestPpr || (ppr === lowestPpr && id < lapics[lowest].physicalId)) {
      lowest = cpu;
      lowestPpr = ppr;
    }
  }
  return focus >= 0 ? focus : lowest;
}

function siftDown(a: Int32Array, start: number, end: number): void {
  let root = start;
  for (;;) {
    let child = 2 * root + 1;
    if (child >= end) return;
    if (child + 1 < end && a[child + 1] > a[child]) child++;
    if (a[root] >= a[child]) return;
    const t = a[root];
    a[root] = a[child];
    a[child] = t;
    root = child;
  }
}

/** In-place heapsort of a[0..n): no allocation, O(n log n). */
export function sortAscending(a: Int32Array, n: number): void {
  for (let start = (n >> 1) - 1; start >= 0; start--) siftDown(a, start, n);
  for (let end = n - 1; end > 0; end--) {
    const t = a[0];
    a[0] = a[end];
    a[end] = t;
    siftDown(a, 0, end);
  }
}
