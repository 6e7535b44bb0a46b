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

  it('reports nothing for equal states', () => {
    expect(diffStates({ a: [1, 2], b: { c: 'x' } }, { a: [1, 2], b: { c: 'x' } })).toEqual([]);
  });
});
