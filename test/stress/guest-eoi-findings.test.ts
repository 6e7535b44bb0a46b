/**
 * Stress-campaign finding 8: the guest model's interrupt entry must keep bounded state. It appended every
 * handled vector to a per-CPU list that was never trimmed (+113 MiB over 10 M interrupts); it now keeps a count per
 * vector and a short history of the most recent vectors.
 */
import { describe, expect, it } from 'vitest';
import { createGuest } from '../../src/guest/create-guest.ts';
import { HANDLED_HISTORY } from '../../src/guest/handled-interrupts.ts';
import { createMachine } from '../../src/machine/machine.ts';

describe('finding 8: the guest keeps bounded per-CPU interrupt records', () => {
  it('after many interrupts the history holds only the most recent vectors, in order, and the counts are exact', () => {
    const m = createMachine({ cpus: 2 });
    const g = createGuest(m, { os: 'linux' });
    g.boot();
    const total = 50_000;
    for (let i = 0; i < total; i++) g.endOfInterrupt(1, 0x30 + (i % 3));
    const recent = g.handledVectors(1);
    expect(recent).toHaveLength(HANDLED_HISTORY);
    // The last HANDLED_HISTORY of the sequence 0x30, 0x31, 0x32, 0x30, … that ended with i = total - 1.
    expect(recent).toEqual(Array.from({ length: HANDLED_HISTORY }, (_, k) => 0x30 + ((total - HANDLED_HISTORY + k) % 3)));
    expect(g.handledCount(1)).toBe(total);
    expect(g.handledCount(1, 0x30)).toBe(Math.ceil(total / 3));
    expect(g.handledCount(1, 0x32)).toBe(Math.floor(total / 3));
    expect(g.handledCount(0)).toBe(0);
    expect(g.handledVectors(0)).toEqual([]);
  });

  it('with fewer interrupts than the history holds, all of them are listed', () => {
    const m = createMachine({ cpus: 1 });
    const g = createGuest(m, { os: 'linux' });
    g.boot();
    g.endOfInterrupt(0, 0x41);
    g.endOfInterrupt(0, 0x42);
    expect(g.handledVectors(0)).toEqual([0x41, 0x42]);
  });
});
