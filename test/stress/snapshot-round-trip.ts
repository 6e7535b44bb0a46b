/**
 * The snapshot step the stress campaigns share: the machine is saved, serialised to JSON and parsed back the way a
 * user's file would be, restored, and must then save to the very same JSON (nothing lost or changed on the way).
 */
import { expect } from 'vitest';
import type { Machine } from '../../src/machine/machine.ts';
import type { MachineSnapshot } from '../../src/machine/snapshot.ts';

export function roundTripThroughJson(m: Machine): void {
  const before = JSON.stringify(m.snapshot());
  m.restore(JSON.parse(before) as MachineSnapshot);
  expect(JSON.stringify(m.snapshot())).toBe(before);
}
