/**
 * "restore(save(x)) gives the same future trace": after a guest has booted and programmed
 * remapped interrupts, a snapshot restored later reproduces, hop for hop, what the machine did after the snapshot
 * was taken — including the IOMMU's caches and fault records, the I/O APIC's Remote IRR and the LAPICs' IRR/ISR.
 */
import { describe, expect, it } from 'vitest';
import { bootGuest } from '../../src/testing.ts';
import type { TraceHop } from '../../src/core/events.ts';
import { formatHop } from '../../src/machine/trace.ts';

function traceOf(run: () => void, events: { on(e: 'hop', f: (h: TraceHop) => void): unknown; off(e: 'hop', f: (h: TraceHop) => void): unknown }): string[] {
  const lines: string[] = [];
  const f = (h: TraceHop) => lines.push(formatHop(h));
  events.on('hop', f);
  run();
  events.off('hop', f);
  return lines;
}

describe('snapshots', () => {
  for (const iommu of ['intel', 'amd'] as const) {
    it(`restore(snapshot()) replays the same future trace (${iommu} remapping, Linux guest)`, () => {
      const { machine: m, guest } = bootGuest(
        { cpus: 8, iommu: { kind: iommu, dmaTranslation: false }, devices: [{ bdf: '00:03.0', msix: { entries: 2 } }] },
        { os: 'linux' },
      );
      const q = guest.setupInterrupt({ id: 'q', kind: 'msix', device: '00:03.0', vector: 1, cpu: 5 });
      guest.setupInterrupt({ id: 'pin', kind: 'ioapic', pin: 9, trigger: 'level', polarity: 'low', cpu: 3 });
      const snap = m.snapshot();
      const future = () => {
        m.device('00:03.0').signal(1);
        m.ioapic.assert(9);
        guest.handleInterrupt(5);
        m.cpu(3).acknowledge();
      };
      const first = traceOf(future, m.events);
      m.restore(snap);
      const second = traceOf(future, m.events);
      expect(first.length).toBeGreaterThan(5);
      expect(second).toEqual(first);
      expect(q.cpu).toBe(5);
    });
  }
});
