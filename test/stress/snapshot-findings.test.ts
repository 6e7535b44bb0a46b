/**
 * Stress-campaign findings 3, 4 and 9: snapshots.
 * 3. Every state the machine can reach must snapshot and restore.
 * 4. restore() refuses what no machine can be in, with a UsageError naming the field (never a TypeError), and
 *    changes nothing when it refuses.
 * 9. A snapshot is canonical: snapshot → restore → snapshot gives the same bytes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createMachine, type Machine } from '../../src/machine/machine.ts';
import { UsageError } from '../../src/core/errors.ts';
import type { MachineSnapshot } from '../../src/machine/snapshot.ts';
import { enableLapic, programAmdIrte, programMsix } from '../../bench/program.ts';

const IA32_APIC_BASE = 0x1b;
const X2APIC_ICR = 0x830;
const EN = 1n << 11n;
const EXTD = 1n << 10n;

/** A mutable deep copy of a (frozen) snapshot. */
function editable(s: MachineSnapshot): any {
  return JSON.parse(JSON.stringify(s));
}

function expectRefused(m: Machine, snapshot: unknown, field: RegExp): void {
  const before = JSON.stringify(m.snapshot());
  let error: unknown;
  try {
    m.restore(snapshot as MachineSnapshot);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(UsageError);
  expect((error as Error).message).toMatch(field);
  expect(JSON.stringify(m.snapshot())).toBe(before); // nothing half-applied
}

describe('finding 3: legal states restore', () => {
  it('x2APIC → disabled with a 32-bit ICR destination still in ICR high', () => {
    const m = createMachine({ cpus: 2 });
    const cpu = m.cpu(1);
    cpu.wrmsr(IA32_APIC_BASE, cpu.rdmsr(IA32_APIC_BASE) | EXTD);
    enableLapic(m, 1, true);
    // x2APIC ICR: destination 31:0 in bits 63:32 (SDM 10.12.9); a fixed IPI, vector 0x40, to APIC 0x12345 (absent).
    cpu.wrmsr(X2APIC_ICR, (0x12345n << 32n) | 0x40n);
    // x2APIC → disabled (EN = 0, EXTD = 0) is a legal transition (SDM 10.12.5, Figure 10-27); the ICR keeps its value.
    cpu.wrmsr(IA32_APIC_BASE, cpu.rdmsr(IA32_APIC_BASE) & ~(EN | EXTD));
    const s = m.snapshot();
    expect(() => m.restore(s)).not.toThrow();
    expect(JSON.stringify(m.snapshot())).toBe(JSON.stringify(s));
  });

  it('an Intel queue head left past the end of a queue that IQA then shrank', () => {
    const m = createMachine({ cpus: 1, iommu: { kind: 'intel' } });
    const base = m.firmware.dmar!.registerBase;
    const cpu = m.cpu(0);
    const queue = 0x100000;
    // QS = 1: 512 descriptors. 300 invalidation-wait descriptors with SW (type 5, bit 5) writing to 0x200000.
    cpu.write64(base + 0x90, BigInt(queue) | 1n);
    cpu.write64(base + 0x88, 0n);
    cpu.write32(base + 0x18, 1 << 26); // QIE
    for (let i = 0; i < 300; i++) m.memory.write128(queue + 16 * i, 5n | (1n << 5n), 0x200000n);
    cpu.write32(base + 0x88, 300 * 16);
    expect(cpu.read32(base + 0x80)).toBe(300 * 16);
    // IQA rewritten with QS = 0 (256 descriptors). IQH is read-only and changes only when the unit fetches or when
    // QIE is cleared (VT-d 11.4.9.1 IQH_REG: reset to 0 when queued invalidation is disabled): it
    // keeps 0x12c0, past the new end. The state is legal and must snapshot and restore.
    cpu.write64(base + 0x90, BigInt(queue));
    expect(cpu.read32(base + 0x80)).toBe(300 * 16);
    const s = m.snapshot();
    expect(() => m.restore(s)).not.toThrow();
    expect(cpu.read32(base + 0x80)).toBe(300 * 16);
  });
});

describe('finding 4: restore refuses impossible snapshots with a UsageError naming the field', () => {
  // SDM Vol. 3A Figure 10-20 (IRR, ISR and TMR): bits 15:0 — vectors 0–15 — are reserved in all three registers;
  // an APIC never accepts such a vector (it records "receive illegal vector" instead).
  for (const reg of ['irr', 'isr', 'tmr']) {
    it(`${reg.toUpperCase()} bits for vectors 0–15`, () => {
      const m = createMachine({ cpus: 2 });
      const s = editable(m.snapshot());
      s.devices.cpus[1][reg][0] = 0x8000; // vector 15
      expectRefused(m, s, new RegExp(`lapic1 state\\.${reg}\\[0\\]`));
    });
  }

  it('a memory page beyond the 52-bit physical address space', () => {
    const m = createMachine({ cpus: 1 });
    m.memory.write32(0x1000, 7);
    const s = editable(m.snapshot());
    s.devices.memory[(2 ** 40).toString(16)] = s.devices.memory['1']; // page frame 2^40 starts at 2^52
    expectRefused(m, s, /devices\.memory.*10000000000/);
  });

  it('a snapshot without devices.memory (it would silently wipe RAM)', () => {
    const m = createMachine({ cpus: 1 });
    m.memory.write32(0x5000, 0x1234);
    const s = editable(m.snapshot());
    delete s.devices.memory;
    expectRefused(m, s, /devices\.memory/);
    expect(m.memory.read32(0x5000)).toBe(0x1234);
  });

  it('Intel IRTA with EIME on a unit without EIM (ECAP.EIM = 0: bit 11 is reserved)', () => {
    const m = createMachine({ cpus: 1, iommu: { kind: 'intel', eim: false } });
    for (const field of ['irta', 'irtaLatched']) {
      const s = editable(m.snapshot());
      s.devices.iommu[field] = '0x0000000000100800'; // table 0x100000, EIME
      expectRefused(m, s, new RegExp(`intel-vtd state: ${field} `));
    }
  });

  it('Intel IRTA with reserved bits 10:4 set', () => {
    const m = createMachine({ cpus: 1, iommu: { kind: 'intel' } });
    for (const field of ['irta', 'irtaLatched']) {
      const s = editable(m.snapshot());
      s.devices.iommu[field] = '0x0000000000100010'; // bit 4
      expectRefused(m, s, new RegExp(`intel-vtd state: ${field} `));
    }
  });

  it('malformed input of any shape gives UsageError, never a TypeError, and changes nothing', () => {
    const machines = [
      createMachine({ cpus: 2, devices: [{ bdf: '00:03.0', msix: { entries: 2 } }, { bdf: '00:04.0', msi: { vectors: 2 } }] }),
      createMachine({ cpus: 2, iommu: { kind: 'intel' }, devices: [{ bdf: '00:03.0', msix: { entries: 2 } }] }),
      createMachine({ cpus: 2, iommu: { kind: 'amd' }, devices: [{ bdf: '00:03.0', msix: { entries: 2 } }] }),
    ];
    const amd = machines[2];
    enableLapic(amd, 1, true);
    programAmdIrte(amd, 0x200000, 0x400000, 0x18, 3, 1, 0x40);
    programMsix(amd, '00:03.0', 0, 0xfee00000n, 3);
    amd.device('00:03.0').signal(0); // fills the DTE and IRTE caches, so the snapshot has cache entries
    const junk = fc.constantFrom<unknown>(null, undefined, 0, -1, 1.5, 'x', '0xzz', true, [], {}, [null], { a: 1 }, 2 ** 53);
    for (const m of machines) {
      const good = m.snapshot();
      const paths = leafPaths(good);
      const before = JSON.stringify(good);
      fc.assert(
        fc.property(fc.constantFrom(...paths), junk, (path, value) => {
          const s = editable(good);
          setPath(s, path, value);
          try {
            m.restore(s);
          } catch (e) {
            if (!(e instanceof UsageError)) throw new Error(`${path.join('.')} = ${JSON.stringify(value)}: ${String(e)}`);
            expect(JSON.stringify(m.snapshot())).toBe(before);
            return;
          }
          m.restore(good);
        }),
        { numRuns: 300, seed: 10 },
      );
    }
  });
});

describe('finding 9: AMD snapshots are canonical', () => {
  it('snapshot → restore → snapshot is byte-identical with IRTE cache blocks of several devices', () => {
    const devices = [{ bdf: '00:05.0', msix: { entries: 1 } }, { bdf: '00:03.0', msix: { entries: 1 } }];
    const m = createMachine({ cpus: 2, iommu: { kind: 'amd' }, devices });
    enableLapic(m, 1, true);
    // Both devices share one table; the DTE of 00:05.0 (DeviceID 0x28) is programmed and used first, so its cache
    // block is created before that of 00:03.0 (0x18).
    programAmdIrte(m, 0x200000, 0x400000, 0x28, 3, 1, 0x40);
    programAmdIrte(m, 0x200000, 0x400000, 0x18, 3, 1, 0x40);
    programMsix(m, '00:05.0', 0, 0xfee00000n, 3);
    programMsix(m, '00:03.0', 0, 0xfee00000n, 3);
    m.device('00:05.0').signal(0);
    m.device('00:03.0').signal(0);
    const first = m.snapshot();
    const cache = (first.devices.iommu as { irteCache: { deviceId: number }[] }).irteCache.map((b) => b.deviceId);
    expect(cache).toEqual([0x18, 0x28]); // sorted by DeviceID, not by first use
    m.restore(first);
    expect(JSON.stringify(m.snapshot())).toBe(JSON.stringify(first));
  });
});

/** Every path to a leaf (and to each container) of a JSON value; arrays contribute their first two elements. */
function leafPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) {
    value.slice(0, 2).forEach((v, i) => out.push(...leafPaths(v, [...prefix, i])));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out.push(...leafPaths(v, [...prefix, k]));
  }
  return out.filter((p) => p.length > 0);
}

function setPath(target: any, path: (string | number)[], value: unknown): void {
  let o = target;
  for (const key of path.slice(0, -1)) o = o[key];
  o[path[path.length - 1]] = value;
}
