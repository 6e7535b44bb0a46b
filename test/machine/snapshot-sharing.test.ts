/**
 * Snapshots cost what changed: RAM pages are shared copy-on-write between a machine and its snapshots, and a LAPIC
 * state is saved again only when the LAPIC changed. These tests check the sharing by what it must preserve (a snapshot
 * never sees later writes, a restore never lets the machine write into a snapshot) and by the work done (states
 * saved, pages copied), never by time.
 */
import { describe, expect, it, vi } from 'vitest';
import { createMachine } from '../../src/machine/machine.ts';
import { MemoryImage } from '../../src/core/memory.ts';
import { UsageError } from '../../src/core/errors.ts';
import { Lapic } from '../../src/apic/lapic.ts';

const json = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('RAM in a snapshot is shared copy-on-write', () => {
  it('a snapshot keeps the bytes it was taken with while the machine writes on', () => {
    const m = createMachine({ cpus: 2 });
    m.memory.write32(0x5000, 0x11111111);
    const snap = m.snapshot();
    m.memory.write32(0x5000, 0x22222222);
    m.memory.write32(0x9000, 0x33333333);
    const image = snap.devices.memory as MemoryImage;
    expect(image).toBeInstanceOf(MemoryImage);
    expect(image.pageCount).toBe(1);
    expect(new DataView(image.pages.get(5)!.buffer).getUint32(0, true)).toBe(0x11111111);
    m.restore(snap);
    expect(m.memory.read32(0x5000)).toBe(0x11111111);
    expect(m.memory.isTouched(0x9000)).toBe(false);
  });

  it('a write after a restore copies the page instead of changing the snapshot it came from', () => {
    const m = createMachine({ cpus: 1 });
    m.memory.write32(0x5000, 1);
    const snap = m.snapshot();
    m.restore(snap);
    m.memory.write32(0x5000, 2);
    m.memory.write8(0x5004, 0xff);
    expect(m.memory.read32(0x5000)).toBe(2);
    m.restore(snap);
    expect(m.memory.read32(0x5000)).toBe(1);
    expect(m.memory.read8(0x5004)).toBe(0);
  });

  it('two snapshots share the pages nobody wrote in between, and only those', () => {
    const m = createMachine({ cpus: 1 });
    for (let p = 0; p < 8; p++) m.memory.write32(p * 4096, p);
    const a = m.snapshot().devices.memory as MemoryImage;
    m.memory.write32(3 * 4096, 99);
    const b = m.snapshot().devices.memory as MemoryImage;
    const shared = [...a.pages.keys()].filter((pfn) => a.pages.get(pfn) === b.pages.get(pfn));
    expect(shared).toEqual([0, 1, 2, 4, 5, 6, 7]);
  });

  it('serialises to page frame (hex) → base64 and restores from that JSON form', () => {
    const m = createMachine({ cpus: 1 });
    m.memory.write32(0x1_2345_6000, 0xcafef00d);
    const text = JSON.parse(JSON.stringify(m.snapshot()));
    expect(Object.keys(text.devices.memory)).toEqual(['123456']);
    // A 4 KiB page of zeros with 0xcafef00d little-endian at offset 0: base64 of 0d f0 fe ca is "DfD+yg".
    expect(text.devices.memory['123456'].startsWith('DfD+yg')).toBe(true);
    m.memory.write32(0x1_2345_6000, 0);
    m.restore(text);
    expect(m.memory.read32(0x1_2345_6000)).toBe(0xcafef00d);
  });

  it('changesDuring sees a RAM write as the page before and after, and nothing for a no-op', () => {
    const m = createMachine({ cpus: 1 });
    m.memory.write32(0x2000, 5);
    expect(m.changesDuring(() => {})).toEqual([]);
    const changes = m.changesDuring(() => m.memory.write32(0x2000, 6));
    expect(changes.map((c) => c.path)).toEqual(['memory.2']);
    expect(changes[0].before).not.toEqual(changes[0].after);
  });
});

describe('LAPIC states are saved again only for LAPICs that changed', () => {
  it('a second snapshot reuses every unchanged state and saves the one CPU that changed', () => {
    const m = createMachine({ cpus: 64 });
    const first = m.snapshot();
    const save = vi.spyOn(Lapic.prototype, 'save');
    try {
      const second = m.snapshot();
      expect(save).toHaveBeenCalledTimes(0);
      expect(second.devices.cpus.every((s, i) => s === first.devices.cpus[i])).toBe(true);
      m.cpu(7).lapic.tpr = 0x30;
      const third = m.snapshot();
      expect(save).toHaveBeenCalledTimes(1);
      expect(third.devices.cpus.filter((s, i) => s !== first.devices.cpus[i]).length).toBe(1);
      expect((third.devices.cpus[7] as { tpr: number }).tpr).toBe(0x30);
    } finally {
      save.mockRestore();
    }
  });

  it('restoring an older snapshot puts back the CPUs that changed since, comparing each CPU once', () => {
    const m = createMachine({ cpus: 64 });
    const snap = m.snapshot();
    m.cpu(3).lapic.tpr = 0x40;
    m.cpu(60).lapic.tpr = 0x50;
    const restore = vi.spyOn(Lapic.prototype, 'matchesSavedState');
    try {
      m.restore(snap);
      expect(restore).toHaveBeenCalledTimes(64);
    } finally {
      restore.mockRestore();
    }
    expect(m.cpu(3).lapic.tpr).toBe(0);
    expect(m.cpu(60).lapic.tpr).toBe(0);
  });

  it('a restored state is frozen: the snapshot cannot be edited into the machine', () => {
    const m = createMachine({ cpus: 2 });
    const snap = m.snapshot();
    expect(Object.isFrozen(snap.devices.cpus[1])).toBe(true);
    expect(() => {
      (snap.devices.cpus[1] as { tpr: number }).tpr = 0x10;
    }).toThrow(TypeError);
  });
});

describe('strict restore of LAPIC states', () => {
  const bad = (edit: (cpu: Record<string, unknown>) => void) => {
    const m = createMachine({ cpus: 4 });
    m.cpu(2).lapic.tpr = 0x20;
    const text = json(m.snapshot());
    edit(text.devices.cpus[2] as Record<string, unknown>);
    m.cpu(2).lapic.tpr = 0x70;
    const before = json(m.snapshot());
    let error: unknown;
    try {
      m.restore(text);
    } catch (e) {
      error = e;
    }
    expect(json(m.snapshot())).toEqual(before);
    return error;
  };

  it('a state for another CPU index is refused, naming the field', () => {
    const e = bad((s) => (s.cpu = 9));
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toBe('lapic2 state.cpu: state is for CPU 9, this LAPIC is CPU 2');
  });

  it('a field no LAPIC has is refused instead of dropped', () => {
    const e = bad((s) => (s.timerCurrentCount = 5));
    expect((e as Error).message).toBe('lapic2 state.timerCurrentCount: no such field in a LAPIC state');
  });

  it('a field no run state has is refused', () => {
    const e = bad((s) => ((s.run as Record<string, unknown>).halted = true));
    expect((e as Error).message).toBe('lapic2 state.run.halted: no such field in a CPU run state');
  });
});
