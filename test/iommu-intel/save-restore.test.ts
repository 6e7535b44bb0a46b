import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.ts';
import { IntelIommu } from '../../src/iommu-intel/intel-iommu.ts';
import { linuxReadyUnit, makeHost, remap, remappableAddress, remappedIrte, TABLE_BASE, writeIrte } from './helpers.ts';

const DEV = 0x0318;

function busyUnit() {
  const ready = linuxReadyUnit();
  const { unit, host, driver } = ready;
  writeIrte(host.memory, TABLE_BASE, 5, remappedIrte({ vector: 0x41, dest: 300, x2apic: true }));
  remap(unit, DEV, remappableAddress(5, true), 0); // cached
  remap(unit, DEV, remappableAddress(9, true), 0); // fault 0x22 in FRCD 0
  driver.writel(0xf0, 0x3c);
  driver.writel(0xfee34000, 0x40);
  driver.writel(0x1200, 0x44);
  return ready;
}

function allRegisters(unit: IntelIommu): bigint[] {
  const out: bigint[] = [];
  for (let off = 0; off < unit.size; off += 4) out.push(unit.read(off, 4));
  return out;
}

describe('save / restore', () => {
  it('a JSON round trip restores every register, the fault records and the IEC', () => {
    const { unit } = busyUnit();
    const state = JSON.parse(JSON.stringify(unit.save()));
    const host2 = makeHost();
    const copy = new IntelIommu({ kind: 'intel' }, host2);
    copy.restore(state);
    expect(allRegisters(copy)).toEqual(allRegisters(unit));
    expect(copy.save()).toEqual(unit.save());
    // The cached IRTE 5 came back with the snapshot: host2's memory is empty, yet index 5 still remaps.
    expect(remap(copy, DEV, remappableAddress(5, true), 0).out.msg).toMatchObject({ vector: 0x41, dest: 300, destWidth: 32 });
    expect(host2.invalidations).toEqual([{ kind: 'all' }]);
  });

  it('restore rejects bad input with a message naming the field and changes nothing', () => {
    const { unit } = busyUnit();
    const before = unit.save();
    const cases: [string, (s: Record<string, unknown>) => void][] = [
      ['version', (s) => (s.version = 2)],
      ['gsts', (s) => (s.gsts = 1)],
      ['fault.records', (s) => ((s.fault as { records: unknown[] }).records = [])],
      ['fault.records[0].reason', (s) => ((s.fault as { records: { reason: number }[] }).records[0].reason = 300)],
      ['queue.head', (s) => ((s.queue as { head: number }).head = 0x80000)], // QH is bits 18:4 of IQH
      ['iec[0].irte', (s) => ((s.iec as { irte: string }[])[0].irte = 'zz')],
      ['irta', (s) => (s.irta = 12)],
    ];
    for (const [path, mutate] of cases) {
      const bad = JSON.parse(JSON.stringify(before));
      mutate(bad);
      let error: unknown;
      try {
        unit.restore(bad);
      } catch (e) {
        error = e;
      }
      expect(error, path).toBeInstanceOf(UsageError);
      expect((error as Error).message).toContain(path);
      expect(unit.save()).toEqual(before);
    }
  });

  it('the latched FSTS.FRI survives a round trip', () => {
    // Records 0 and 1 pending (FRI 0); software clears record 0: PPF stays set, FRI stays 0 (spec FSTS_REG.FRI is
    // latched when PPF is set), although the oldest pending record is now 1.
    const { unit } = busyUnit(); // fault 0x22 in FRCD 0
    remap(unit, DEV, remappableAddress(10, true), 0); // FRCD 1
    unit.write(0x600 + 12, 4, 0x80000000n);
    expect(Number(unit.read(0x34, 4))).toBe(0x2);
    const copy = new IntelIommu({ kind: 'intel' }, makeHost());
    copy.restore(JSON.parse(JSON.stringify(unit.save())));
    expect(Number(copy.read(0x34, 4))).toBe(0x2);
    // A snapshot without the field (older format) restores FRI as the oldest pending record.
    const old = JSON.parse(JSON.stringify(unit.save()));
    delete old.fault.fri;
    copy.restore(old);
    expect(Number(copy.read(0x34, 4))).toBe(0x102);
  });

  it('restore refuses a snapshot taken with a different number of fault records', () => {
    const { unit } = busyUnit();
    const other = new IntelIommu({ kind: 'intel', faultRecords: 4 }, makeHost());
    expect(() => other.restore(unit.save())).toThrow(/faultRecords/);
  });
});

describe('DMA path', () => {
  it('passes DMA through with SAGAW = 0 even when software sets TE', () => {
    const { unit } = linuxReadyUnit({ dmaTranslation: false });
    unit.write(0x18, 4, BigInt((1 << 31) >>> 0));
    expect(unit.translateDma(DEV, 0x1234_5000, true)).toBe(0x1234_5000);
  });
});
