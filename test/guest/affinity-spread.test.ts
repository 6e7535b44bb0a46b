/**
 * Managed queue masks as Linux 6.1's __irq_build_affinity_masks makes them on one node without SMT siblings: the CPUs
 * in order, ncpus / nvec each, the first ncpus % nvec vectors one more (extra_vecs).
 */
import { describe, expect, it } from 'vitest';
import { spreadManagedMasks } from '../../src/guest/linux/affinity-spread.ts';

describe('managed interrupt spreading (irq_create_affinity_masks)', () => {
  it('one queue per CPU when there are as many queues as CPUs', () => {
    expect(spreadManagedMasks([0, 1, 2, 3], 4)).toEqual([[0], [1], [2], [3]]);
  });

  it('fewer queues than CPUs: 8 CPUs over 3 queues are 3 + 3 + 2; 5 over 2 are 3 + 2', () => {
    expect(spreadManagedMasks([0, 1, 2, 3, 4, 5, 6, 7], 3)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7]]);
    expect(spreadManagedMasks([0, 1, 2, 3, 4], 2)).toEqual([[0, 1, 2], [3, 4]]);
    expect(spreadManagedMasks([0, 1, 2], 1)).toEqual([[0, 1, 2]]);
  });

  it('no queue, or more queues than CPUs, is a usage error', () => {
    expect(() => spreadManagedMasks([0, 1], 0)).toThrow(/0 queue vectors over 2 CPUs/);
    expect(() => spreadManagedMasks([0, 1], 3)).toThrow(/3 queue vectors over 2 CPUs/);
  });
});
