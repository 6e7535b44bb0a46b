/**
 * The vector matrix's accounting (src/guest/vector-allocator.ts), worked out by hand from kernel/irq/matrix.c:
 * - irq_matrix_reserve_managed takes one vector on every CPU of the mask (matrix_alloc_area with managed = true: the
 *   lowest vector free of allocations, system vectors and other reservations) and lowers that CPU's `available`;
 * - matrix_find_best_cpu (irq_matrix_alloc) takes the CPU with the most available, the lowest among equals;
 * - irq_matrix_alloc_managed: matrix_find_best_cpu_managed keeps replacing its choice while `managed_allocated` is
 *   not greater, so among equals the last CPU of the mask wins; the vector is that CPU's lowest reserved one;
 * - irq_matrix_free of a managed vector leaves the reservation (available unchanged); of another, makes it available.
 */
import { describe, expect, it } from 'vitest';
import { VectorAllocator } from '../../src/guest/vector-allocator.ts';

describe('vector matrix: managed reservations and frees', () => {
  it('a managed reservation takes the lowest free vector of each CPU in the mask and counts as used for the best-CPU choice', () => {
    const m = new VectorAllocator(3);
    expect(m.allocate(0)).toBe(0x21);
    expect(m.reserveManaged([0, 1])).toBe(true); // CPU 0: 0x22, CPU 1: 0x21
    // Available: CPU 0 two fewer, CPU 1 one fewer, CPU 2 none fewer → CPU 2; then CPU 1 and 2 tie → CPU 1.
    expect(m.bestCpu([0, 1, 2])).toBe(2);
    expect(m.allocate(2)).toBe(0x21);
    expect(m.bestCpu([0, 1, 2])).toBe(1);
    // The reserved vector is not handed out as an ordinary one: CPU 1's next ordinary vector is 0x22.
    expect(m.allocate(1)).toBe(0x22);
  });

  it('activating a managed interrupt takes the last CPU of the mask among those with the fewest managed vectors in use', () => {
    const m = new VectorAllocator(4);
    for (let i = 0; i < 2; i++) expect(m.reserveManaged([1, 2])).toBe(true); // 0x21 and 0x22 on CPUs 1 and 2
    expect(m.allocateManaged([1, 2])).toEqual({ cpu: 2, vector: 0x21 });
    expect(m.allocateManaged([1, 2])).toEqual({ cpu: 1, vector: 0x21 });
    expect(m.allocateManaged([1, 2])).toEqual({ cpu: 2, vector: 0x22 });
    expect(m.allocateManaged([1, 2])).toEqual({ cpu: 1, vector: 0x22 });
    expect(m.allocateManaged([1, 2])).toBeNull(); // no reservation left
  });

  it('a freed managed vector stays reserved for its interrupt; a freed ordinary vector is the lowest free again', () => {
    const m = new VectorAllocator(1);
    m.reserveManaged([0]);
    const managed = m.allocateManaged([0])!;
    expect(managed).toEqual({ cpu: 0, vector: 0x21 });
    expect(m.allocate(0)).toBe(0x22);
    m.free(0, 0x21);
    expect(m.isAllocated(0, 0x21)).toBe(false);
    expect(m.allocate(0)).toBe(0x23); // 0x21 is still reserved
    expect(m.allocateManaged([0])).toEqual({ cpu: 0, vector: 0x21 }); // its interrupt gets it back
    m.free(0, 0x22);
    expect(m.allocate(0)).toBe(0x22);
  });

  it('freeing a vector that is not allocated is a usage error naming it', () => {
    const m = new VectorAllocator(2);
    expect(() => m.free(1, 0x40)).toThrow(/0x40 is not allocated on CPU 1/);
  });
});
