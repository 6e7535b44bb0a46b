/**
 * Properties of the translation core's route slots: caching routes must be invisible. For any
 * sequence of IRTE rewrites (with or without the invalidation the spec requires), interrupt-entry-cache
 * invalidations and device interrupts, a machine with route caching on delivers exactly what the same machine with
 * route caching off delivers. Everything is programmed through the public API, as a driver would.
 */
import { describe, expect } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import { enableLapic, programMsix } from '../../bench/program.ts';
import * as vtd from '../../src/iommu-intel/registers.ts';

const IRT = 0x10_0000;
const QUEUE = 0x20_0000;
const VTD = 0xfed90000;

type Op =
  | { op: 'rewrite'; index: number; vector: number; cpu: number; present: boolean }
  | { op: 'invalidate'; index: number }
  | { op: 'invalidateAll' }
  | { op: 'signal'; n: number };

function writeIrte(m: Machine, index: number, vector: number, apicId: number, present: boolean): void {
  // Remapped IRTE (VT-d §5): P bit 0, vector 23:16, x2APIC destination 63:32; SVT = 0 (no source check).
  m.cpu(0).write64(IRT + 16 * index, (BigInt(apicId) << 32n) | (BigInt(vector) << 16n) | (present ? 1n : 0n));
  m.cpu(0).write64(IRT + 16 * index + 8, 0n);
}

class QueueDriver {
  private tail = 0;
  constructor(private readonly m: Machine) {
    const cpu = m.cpu(0);
    cpu.write64(VTD + vtd.IQA_REG, BigInt(QUEUE)); // QS = 0: one 4 KiB page, 256 descriptors
    cpu.write32(VTD + vtd.GCMD_REG, vtd.GCMD_QIE);
  }

  /** Interrupt entry cache invalidation descriptor (type 4): G = 1 index-selective with IIDX in 47:32, IM = 0. */
  iec(index: number | null): void {
    const qw0 = index === null ? 4n : 4n | (1n << 4n) | (BigInt(index) << 32n);
    const cpu = this.m.cpu(0);
    cpu.write64(QUEUE + this.tail * 16, qw0);
    cpu.write64(QUEUE + this.tail * 16 + 8, 0n);
    this.tail = (this.tail + 1) % 256;
    cpu.write64(VTD + vtd.IQT_REG, BigInt(this.tail << 4));
  }
}

function build(routeCaching: boolean): { m: Machine; q: QueueDriver; seen: string[] } {
  const m = createMachine({ cpus: 4, iommu: { kind: 'intel', dmaTranslation: false }, devices: [{ bdf: '00:03.0', msix: { entries: 4 } }] });
  m.core.routeCaching = routeCaching;
  for (let c = 0; c < 4; c++) enableLapic(m, c, true);
  const q = new QueueDriver(m);
  for (let i = 0; i < 4; i++) writeIrte(m, i, 0x40 + i, i, true);
  m.cpu(0).write64(VTD + vtd.IRTA_REG, BigInt(IRT) | BigInt(vtd.IRTA_EIME) | 0x3n); // 16 entries
  m.cpu(0).write32(VTD + vtd.GCMD_REG, vtd.GCMD_QIE | vtd.GCMD_SIRTP);
  m.cpu(0).write32(VTD + vtd.GCMD_REG, vtd.GCMD_QIE | vtd.GCMD_IRE);
  // MSI-X entry n: remappable format, handle n, SHV = 0.
  for (let n = 0; n < 4; n++) programMsix(m, '00:03.0', n, 0xfee00000n | (BigInt(n) << 5n) | 0x10n, 0);
  const seen: string[] = [];
  m.events.on('apic_accept', (e) => seen.push(`cpu${e.cpu}:v${e.vector}`));
  m.events.on('iommu_fault', (e) => seen.push(`fault:${e.code}:${e.index}`));
  return { m, q, seen };
}

function apply(t: { m: Machine; q: QueueDriver; seen: string[] }, op: Op): void {
  switch (op.op) {
    case 'rewrite':
      writeIrte(t.m, op.index, op.vector, op.cpu, op.present);
      return;
    case 'invalidate':
      t.q.iec(op.index);
      return;
    case 'invalidateAll':
      t.q.iec(null);
      return;
    case 'signal':
      t.seen.push(`signal ${op.n}`);
      t.m.device('00:03.0').signal(op.n);
      for (let c = 0; c < 4; c++) while (t.m.cpu(c).acknowledge() !== null) t.m.cpu(c).wrmsr(0x80b, 0n);
      return;
  }
}

// Two indices keep collisions between rewrites, invalidations and signals frequent; a global invalidation is rarer
// because it hides every stale route at once.
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('rewrite' as const), index: fc.integer({ min: 0, max: 1 }), vector: fc.integer({ min: 0x20, max: 0xfe }), cpu: fc.integer({ min: 0, max: 3 }), present: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('invalidate' as const), index: fc.integer({ min: 0, max: 1 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'invalidateAll' } as const) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('signal' as const), n: fc.integer({ min: 0, max: 1 }) }) },
);

describe('route slots are invisible', () => {
  test.prop([fc.array(opArb, { minLength: 1, maxLength: 40 })], { numRuns: 100 })(
    'caching on and off deliver the same interrupts and record the same faults',
    (ops) => {
      const cached = build(true);
      const uncached = build(false);
      for (const op of ops) {
        apply(cached, op);
        apply(uncached, op);
      }
      expect(cached.seen).toEqual(uncached.seen);
    },
  );

  test('an IRTE rewrite without invalidation keeps the old route; the invalidation brings the new one (both machines)', () => {
    for (const caching of [true, false]) {
      const t = build(caching);
      apply(t, { op: 'signal', n: 1 });
      apply(t, { op: 'rewrite', index: 1, vector: 0x99, cpu: 3, present: true });
      apply(t, { op: 'signal', n: 1 });
      apply(t, { op: 'invalidate', index: 1 });
      apply(t, { op: 'signal', n: 1 });
      // IRTE 1 started as vector 0x41 → APIC 1 (65 decimal); the rewrite is invisible until IEC index 1 is invalidated.
      expect(t.seen).toEqual(['signal 1', 'cpu1:v65', 'signal 1', 'cpu1:v65', 'signal 1', 'cpu3:v153']);
    }
  });
});
