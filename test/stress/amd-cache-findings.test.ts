/**
 * Stress-campaign finding 1: the AMD IOMMU's caches and the translation core's route slots.
 *
 * - Control.IRTCacheDis (bit 59) tells the IOMMU not to cache IRTEs; software that sets it stops issuing
 *   INVALIDATE_INTERRUPT_TABLE after IRTE changes (Linux sets it on Raven/Family 17h where the IRTE cache is broken,
 *   amd_iommu_irtcachedis). Every cached copy of an IRTE — the IOMMU's and the routes built from it — must go when
 *   the bit is set.
 * - A lookup with deliverNow = false (a route being precomputed, an inspection) is not a hardware request: it must
 *   not fill the DTE or IRTE cache, or a later interrupt would be served the copy from the time of the inspection
 *   (the Intel unit already behaves this way: see IntelIommu.remap "Only a real request fills the cache").
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../src/machine/machine.ts';
import type { IommuFaultEvent } from '../../src/core/events.ts';
import * as amdvi from '../../src/iommu-amd/registers.ts';
import { enableLapic, programAmdIrte, programMsix } from '../../bench/program.ts';
import { LinuxAmdDriver } from '../iommu-amd/helpers.ts';

const NVME = [{ bdf: '00:03.0', msix: { entries: 2 } }];
const DEV_TAB = 0x200000;
const IRT = 0x400000;
const NVME_DEVID = 0x18; // 00:03.0

function amdMachine() {
  const m = createMachine({ cpus: 2, iommu: { kind: 'amd' }, devices: NVME });
  enableLapic(m, 1, true);
  programAmdIrte(m, DEV_TAB, IRT, NVME_DEVID, 3, 1, 0x40);
  programMsix(m, '00:03.0', 0, 0xfee00000n, 3);
  return m;
}

function setIrtCacheDis(m: ReturnType<typeof createMachine>): void {
  const base = m.firmware.ivrs!.registerBase;
  m.cpu(0).write64(base + amdvi.CONTROL, m.cpu(0).read64(base + amdvi.CONTROL) | amdvi.CTRL_IRT_CACHE_DIS);
}

describe('finding 1: AMD IRTCacheDis evicts the routes built from cached IRTEs', () => {
  it('a route warmed before IRTCacheDis is set does not survive it: the rewritten vector arrives', () => {
    const m = amdMachine();
    m.device('00:03.0').signal(0); // warms the IOMMU's IRTE cache and the source's route slot
    expect(m.cpu(1).acknowledge()).toBe(0x40);
    m.cpu(1).wrmsr(0x80b, 0n);
    setIrtCacheDis(m);
    // 128-bit IRTE 3: vector in bits 71:64 (AMD IOMMU spec §2.2.5). No INVALIDATE_INTERRUPT_TABLE: with IRTCacheDis set the
    // IOMMU reads the entry on every request.
    m.memory.write64(IRT + 16 * 3 + 8, 0x41n);
    m.device('00:03.0').signal(0);
    expect(m.cpu(1).acknowledge()).toBe(0x41);
  });

  it('an entry switched to RemapEn = 0 after IRTCacheDis faults (IO_PAGE_FAULT) instead of delivering the stale route', () => {
    const m = amdMachine();
    m.device('00:03.0').signal(0);
    expect(m.cpu(1).acknowledge()).toBe(0x40);
    m.cpu(1).wrmsr(0x80b, 0n);
    setIrtCacheDis(m);
    const faults: IommuFaultEvent[] = [];
    m.events.on('iommu_fault', (e) => faults.push(e));
    m.memory.write64(IRT + 16 * 3, 0n); // RemapEn (bit 0) = 0
    m.device('00:03.0').signal(0);
    expect(m.cpu(1).acknowledge()).toBeNull();
    // IO_PAGE_FAULT is event code 2 (AMD IOMMU spec §2.5).
    expect(faults.map((f) => [f.unit, f.code])).toEqual([['amd-vi', 2]]);
  });

  it('while IRTCacheDis is set the core caches no route: every rewrite is seen', () => {
    const m = amdMachine();
    setIrtCacheDis(m);
    for (const vector of [0x42, 0x43, 0x44]) {
      m.memory.write64(IRT + 16 * 3 + 8, BigInt(vector));
      m.device('00:03.0').signal(0);
      expect(m.cpu(1).acknowledge()).toBe(vector);
      m.cpu(1).wrmsr(0x80b, 0n);
    }
    expect(m.core.cachedRouteCount()).toBe(0);
  });
});

describe('finding 1: an AMD lookup with deliverNow = false fills no cache', () => {
  it('IRTE: an inspection before a rewrite does not make the next real request see the old entry', () => {
    const d = new LinuxAmdDriver({}, {}).init();
    d.attachTable(NVME_DEVID);
    d.setIrte(NVME_DEVID, 5, { vector: 0x40, dest: 1 });
    expect(d.msi(NVME_DEVID, 5, undefined, false).msg.vector).toBe(0x40); // inspection only
    // Rewritten without INVALIDATE_INTERRUPT_TABLE: nothing was cached, so the first real request reads memory.
    d.setIrte(NVME_DEVID, 5, { vector: 0x41, dest: 1 }, false);
    expect(d.msi(NVME_DEVID, 5).msg.vector).toBe(0x41);
  });

  it('DTE: an inspection before the device table changes does not make the next real request see the old DTE', () => {
    const d = new LinuxAmdDriver({}, {}).init();
    d.attachTable(NVME_DEVID);
    d.setIrte(NVME_DEVID, 5, { vector: 0x40, dest: 1 });
    expect(d.msi(NVME_DEVID, 5, undefined, false).kind).toBe('deliver');
    // DTE qword 2 rewritten to IntCtl = 01b (forward unmapped), no INVALIDATE_DEVTAB_ENTRY: the request must pass
    // through untranslated because the DTE was never cached.
    d.writeDteIntr(NVME_DEVID, (1n << 60n) | (9n << 1n) | 1n | BigInt(d.tables.get(NVME_DEVID)!));
    expect(d.passesThrough(NVME_DEVID, 5)).toBe(true);
  });

  it('a real request still fills the caches (the rewrite without invalidation stays invisible)', () => {
    const d = new LinuxAmdDriver({}, {}).init();
    d.attachTable(NVME_DEVID);
    d.setIrte(NVME_DEVID, 5, { vector: 0x40, dest: 1 });
    expect(d.msi(NVME_DEVID, 5).msg.vector).toBe(0x40);
    d.setIrte(NVME_DEVID, 5, { vector: 0x41, dest: 1 }, false);
    expect(d.msi(NVME_DEVID, 5).msg.vector).toBe(0x40);
  });
});
