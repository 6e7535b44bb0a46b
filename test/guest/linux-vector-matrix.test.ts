/**
 * The Linux model's vectors as kernel/irq/matrix.c and arch/x86/kernel/apic/vector.c hand them out, worked out by
 * hand from those functions:
 * - matrix_alloc_area: the lowest free vector from alloc_start; 0x20 (IRQ_MOVE_CLEANUP_VECTOR) is a system vector,
 *   so device vectors start at 0x21;
 * - ISA_IRQ_VECTOR(0) = 0x30 stays with the timer on CPU 0, and ISA_IRQ_VECTOR(PIC_CASCADE_IR) = 0x32 is a system
 *   vector on every CPU (lapic_assign_system_vectors);
 * - matrix_find_best_cpu: for an interrupt that may go to several CPUs, the CPU with the most vectors available (the
 *   fewest allocated), the lowest-numbered among equals.
 */
import { describe, expect, it } from 'vitest';
import { createGuest, type LinuxGuest } from '../../src/guest/create-guest.ts';
import { createMachine } from '../../src/machine/machine.ts';

const NIC = '00:03.0';
const ALL = [0, 1, 2, 3];

function boot(os: 'linux' | 'windows' = 'linux') {
  const m = createMachine({ cpus: 4, bareMetal: true, cpu: { vendor: 'amd', x2apic: false }, iommu: { kind: 'intel' }, devices: [{ bdf: NIC, msix: { entries: 32 } }] });
  const g = createGuest(m, os === 'linux' ? { os, version: '6.1' } : { os });
  g.boot();
  return g;
}

describe('vector and CPU choice', () => {
  it('CPU 0 holds the timer (0x30) and the DMAR fault vector (0x21); a default-affinity interrupt goes to CPU 1, then 2, 3, then 1 again', () => {
    const g = boot() as LinuxGuest;
    expect(g.timer!.vector).toBe(0x30);
    expect(g.log.decisions.dmarFaultVector).toBe(0x21);
    const got = [0, 1, 2, 3].map((i) => g.setupInterrupt({ id: `q${i}`, kind: 'msix', device: NIC, vector: i, cpu: 0, affinity: ALL }));
    expect(got.map((p) => [p.cpu, p.vector])).toEqual([
      [1, 0x21],
      [2, 0x21],
      [3, 0x21],
      [1, 0x22],
    ]);
  });

  it('on one CPU the vectors run 0x22..0x2f, skip 0x30 (timer) and 0x32 (cascade): 0x31, then 0x33', () => {
    const g = boot();
    const vectors = Array.from({ length: 16 }, (_, i) => g.setupInterrupt({ id: `q${i}`, kind: 'msix', device: NIC, vector: i, cpu: 0 }).vector);
    expect(vectors).toEqual([0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x31, 0x33]);
  });

  it('with noapic the 8259 keeps IRQs 1..15 at ISA_IRQ_VECTOR on CPU 0 (lapic_assign_system_vectors), so CPU 0 goes from 0x2f to 0x40', () => {
    const m = createMachine({ cpus: 1, iommu: { kind: 'intel' }, devices: [{ bdf: NIC, msix: { entries: 32 } }] });
    const g = createGuest(m, { os: 'linux', version: '6.1', cmdline: 'noapic' });
    g.boot();
    // No remapping with noapic (enable_IR_x2apic is skipped): no DMAR fault vector, so CPU 0 starts at 0x21.
    const vectors = Array.from({ length: 16 }, (_, i) => g.setupInterrupt({ id: `q${i}`, kind: 'msix', device: NIC, vector: i, cpu: 0 }).vector);
    expect(vectors).toEqual([0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x40]);
  });

  it('a mask with no online CPU falls back to the online CPUs, and says so', () => {
    const m = createMachine({ cpus: 4, apicIds: [0, 1, 2, 300], iommu: { kind: 'intel', interruptRemapping: false }, devices: [{ bdf: NIC, msix: { entries: 4 } }] });
    const g = createGuest(m, { os: 'linux', version: '6.1' });
    g.boot();
    expect(g.onlineCpus()).toEqual([0, 1, 2]);
    const p = g.setupInterrupt({ id: 'q', kind: 'msix', device: NIC, vector: 0, cpu: 3, affinity: [3] });
    expect(p.cpu).toBe(1);
    expect(p.note).toBe('no CPU of the affinity mask is online; effective affinity CPU 1');
  });

  it('a bad mask is a usage error naming it; the Windows model takes the first online CPU of the mask', () => {
    const g = boot();
    expect(() => g.setupInterrupt({ id: 'q', kind: 'msix', device: NIC, vector: 0, cpu: 0, affinity: [] })).toThrow(/affinity must be a non-empty list of CPU indices 0\.\.3, got \[\]/);
    expect(() => g.setupInterrupt({ id: 'q', kind: 'msix', device: NIC, vector: 0, cpu: 0, affinity: [7] })).toThrow(/affinity/);
    const w = boot('windows');
    expect(w.setupInterrupt({ id: 'q', kind: 'msix', device: NIC, vector: 0, cpu: 0, affinity: [2, 1] }).cpu).toBe(2);
  });
});
