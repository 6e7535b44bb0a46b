import { describe, expect, it } from 'vitest';
import { diffStates } from '../../src/machine/state-diff.ts';

describe('register-state diffs', () => {
  it('names exactly the leaves that changed', () => {
    const before = { cpus: [{ irr: [0, 0], tpr: 0 }, { irr: [0, 0], tpr: 0 }], ioapic: { rte: ['0x10000', '0x10000'] } };
    const after = { cpus: [{ irr: [0, 0x20000], tpr: 0 }, { irr: [0, 0], tpr: 0x20 }], ioapic: { rte: ['0x10000', '0x8031'] } };
    const changes = diffStates(before, after);
    expect(changes).toEqual(
      expect.arrayContaining([
        { path: 'cpus.0.irr.1', before: 0, after: 0x20000 },
        { path: 'cpus.1.tpr', before: 0, after: 0x20 },
        { path: 'ioapic.rte.1', before: '0x10000', after: '0x8031' },
      ]),
    );
    expect(changes).toHaveLength(3);
  });

  it('names added and removed keys and array entries, with undefined on the side that lacks them', () => {
    const before: unknown = { iec: [{ index: 1 }], faults: { a: 1 } };
    const after: unknown = { iec: [{ index: 1 }, { index: 7 }], faults: { b: 2 } };
    expect(diffStates(before, after)).toEqual([
      { path: 'iec.1', before: undefined, after: { index: 7 } },
      { path: 'faults.a', before: 1, after: undefined },
      { path: 'faults.b', before: undefined, after: 2 },
    ]);
    expect(diffStates(after, before)).toEqual([
      { path: 'iec.1', before: { index: 7 }, after: undefined },
      { path: 'faults.b', before: 2, after: undefined },
      { path: 'faults.a', before: undefined, after: 1 },
    ]);
  });

  it('a leaf that changes kind (number to array) is one change, not a walk into it', () => {
    expect(diffStates<unknown>({ x: 1 }, { x: [1] })).toEqual([{ path: 'x', before: 1, after: [1] }]);
  });

  it('reports nothing for equal states', () => {
    expect(diffStates({ a: [1, 2], b: { c: 'x' } }, { a: [1, 2], b: { c: 'x' } })).toEqual([]);
  });
});
