/**
 * DTE and IRTE caching (AMD IOMMU spec §2.2.5, §2.4): a change in memory takes effect only after its
 * invalidation command, unless Control.IRTCacheDis; invalidations evict the translation core's routes.
 */
import { describe, expect, it } from 'vitest';
import { buildCommand } from '../../src/iommu-amd/command-buffer.ts';
import { CTRL, LinuxAmdDriver, MMIO } from './helpers.ts';

const DEV_A = 0x0018;
const DEV_B = 0x0020;

describe('IRTE cache', () => {
  it('a changed IRTE takes effect only after INVALIDATE_INTERRUPT_TABLE', () => {
    const d = new LinuxAmdDriver().init();
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 3, { dest: 1, vector: 0x30 });
    expect(d.msi(DEV_A, 3).msg.vector).toBe(0x30); // now cached
    d.writeIrte(DEV_A, 3, { dest: 2, vector: 0x40 }); // memory changed, no invalidation
    expect(d.msi(DEV_A, 3).msg.vector).toBe(0x30);
    d.host.routes.reset();
    d.flushIrt(DEV_A);
    expect(d.host.routes.evicted(DEV_A, 3)).toBe(true);
    expect(d.host.routes.evicted(DEV_B, 3)).toBe(false);
    const r = d.msi(DEV_A, 3);
    expect([r.msg.dest, r.msg.vector]).toEqual([2, 0x40]);
  });

  it("INVALIDATE_INTERRUPT_TABLE of one device leaves another device's cached entries", () => {
    const d = new LinuxAmdDriver().init();
    d.attachTable(DEV_A);
    d.attachTable(DEV_B);
    d.setIrte(DEV_A, 0, { dest: 1, vector: 0x30 });
    d.setIrte(DEV_B, 0, { dest: 1, vector: 0x31 });
    d.msi(DEV_A, 0);
    d.msi(DEV_B, 0);
    d.writeIrte(DEV_B, 0, { dest: 1, vector: 0x51 });
    d.flushIrt(DEV_A);
    expect(d.msi(DEV_B, 0).msg.vector).toBe(0x31);
  });

  it('IRTCacheDis makes every IRTE change visible at once', () => {
    const d = new LinuxAmdDriver({}, { extraControl: CTRL.IRT_CACHE_DIS }).init();
    expect(d.read64(MMIO.CONTROL) & CTRL.IRT_CACHE_DIS).toBe(CTRL.IRT_CACHE_DIS); // support shows by read-back
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 3, { dest: 1, vector: 0x30 });
    expect(d.msi(DEV_A, 3).msg.vector).toBe(0x30);
    d.writeIrte(DEV_A, 3, { dest: 2, vector: 0x40 });
    expect(d.msi(DEV_A, 3).msg.vector).toBe(0x40);
  });
});

describe('DTE cache', () => {
  it('a changed DTE takes effect only after INVALIDATE_DEVTAB_ENTRY', () => {
    const d = new LinuxAmdDriver().init();
    const table = d.attachTable(DEV_A);
    d.setIrte(DEV_A, 0, { dest: 1, vector: 0x30 });
    expect(d.msi(DEV_A, 0).kind).toBe('deliver');
    // IntCtl 10b → 00b in memory only.
    d.writeDteIntr(DEV_A, BigInt(table) | (9n << 1n) | 1n);
    expect(d.msi(DEV_A, 0).kind).toBe('deliver');
    d.host.routes.reset();
    d.queue(buildCommand.invalidateDevtabEntry(DEV_A));
    expect(d.host.routes.evicted(DEV_A, 0xffff)).toBe(true); // the core's pass-through cookie for this DTE
    const r = d.msi(DEV_A, 0);
    expect(r.fault!.name).toBe('INVALID_DEVICE_REQUEST');
  });

  it('INVALIDATE_IOMMU_ALL drops both caches and every route', () => {
    const d = new LinuxAmdDriver().init();
    const table = d.attachTable(DEV_A);
    d.setIrte(DEV_A, 0, { dest: 1, vector: 0x30 });
    d.msi(DEV_A, 0);
    d.writeIrte(DEV_A, 0, { dest: 1, vector: 0x44 });
    d.writeDteIntr(DEV_A, BigInt(table) | (2n << 60n) | (9n << 1n) | 1n | (1n << 58n)); // + NMIPass
    d.host.routes.reset();
    d.queue(buildCommand.invalidateIommuAll());
    expect(d.host.routes.allInvalidations).toBe(1);
    expect(d.msi(DEV_A, 0).msg.vector).toBe(0x44);
    expect(d.passesThrough(DEV_A, 0x400)).toBe(true);
  });

  it('global changes (IommuEn, GAEn, XTEn, DevTabBase) evict every route', () => {
    const d = new LinuxAmdDriver().init();
    d.host.routes.reset();
    d.setControl(d.control & ~CTRL.GA_EN);
    d.setControl(d.control | CTRL.XT_EN);
    d.write64(MMIO.DEV_TAB_BASE, 0x100000n | 0x1ffn);
    d.setControl(d.control & ~CTRL.IOMMU_EN);
    expect(d.host.routes.allInvalidations).toBe(4);
  });

  it('switching GAEn re-reads entries in the new format', () => {
    const d = new LinuxAmdDriver().init();
    d.attachTable(DEV_A);
    d.setIrte(DEV_A, 0, { dest: 1, vector: 0x30 }); // 128-bit layout
    expect(d.msi(DEV_A, 0).msg.vector).toBe(0x30);
    // Under GAEn = 0 the same dword 0 is a 32-bit IRTE: RemapEn, dest 1 in 15:8, vector in 23:16 = 0.
    d.setControl(d.control & ~CTRL.GA_EN);
    expect(d.msi(DEV_A, 0).msg.vector).toBe(0);
  });
});
