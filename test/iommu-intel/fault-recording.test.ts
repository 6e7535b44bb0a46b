import { describe, expect, it } from 'vitest';
import type { IntelIommu } from '../../src/iommu-intel/intel-iommu.ts';
import { linuxReadyUnit, remap, remappableAddress } from './helpers.ts';

const FRO = 0x600;
const FSTS = 0x34;
const FECTL = 0x38;
const PFO = 1;
const PPF = 2;
const IM = 0x80000000;
const IP = 0x40000000;

const r32 = (u: IntelIommu, off: number) => Number(u.read(off, 4));

/** A not-present IRTE fault (0x22) from requester 00:01.<n> at index n: table entries are all zero. */
function faultFrom(unit: IntelIommu, n: number) {
  return remap(unit, 0x0008 + (n & 7) + ((n >> 3) << 8), remappableAddress(n, true), 0).out;
}

describe('fault recording registers', () => {
  it('fill round-robin; FSTS shows PPF and FRI = the oldest pending record', () => {
    const { unit } = linuxReadyUnit();
    for (let n = 1; n <= 3; n++) faultFrom(unit, n);
    expect(r32(unit, FSTS)).toBe(PPF); // FRI 0
    for (let i = 0; i < 3; i++) {
      expect(r32(unit, FRO + 16 * i + 12)).toBe((0x80000000 | 0x22) >>> 0); // F | FR 0x22
      expect(r32(unit, FRO + 16 * i + 4)).toBe((i + 1) << 16); // FI 63:48 = index
    }
    expect(r32(unit, FRO + 16 * 3 + 12)).toBe(0);
  });

  it("Linux's dmar_fault loop works unchanged and recording continues round-robin", () => {
    const { unit, driver } = linuxReadyUnit();
    for (let n = 1; n <= 3; n++) faultFrom(unit, n);
    expect(driver.faultHandler()).toEqual([
      'DMAR: DRHD: handling fault status reg 2',
      'DMAR: [INTR-REMAP] Request device [00:01.1] fault index 0x1 [fault reason 0x22] Present field in the IRTE entry is clear',
      'DMAR: [INTR-REMAP] Request device [00:01.2] fault index 0x2 [fault reason 0x22] Present field in the IRTE entry is clear',
      'DMAR: [INTR-REMAP] Request device [00:01.3] fault index 0x3 [fault reason 0x22] Present field in the IRTE entry is clear',
    ]);
    expect(r32(unit, FSTS)).toBe(0);
    faultFrom(unit, 4);
    // The next record goes into FRCD 3: FSTS = FRI 3 (15:8) | PPF = 0x302, and Linux prints "reg 302".
    expect(r32(unit, FSTS)).toBe(0x302);
    expect(driver.faultHandler()).toEqual([
      'DMAR: DRHD: handling fault status reg 302',
      'DMAR: [INTR-REMAP] Request device [00:01.4] fault index 0x4 [fault reason 0x22] Present field in the IRTE entry is clear',
    ]);
  });

  it('overflow: with every register full the fault is dropped and PFO set; then nothing is recorded until PFO is cleared', () => {
    const { unit, host, driver } = linuxReadyUnit(); // 8 records
    for (let n = 1; n <= 8; n++) expect(faultFrom(unit, n).fault?.recorded).toBe(true);
    expect(faultFrom(unit, 9).fault?.recorded).toBe(false);
    expect(r32(unit, FSTS)).toBe(PPF | PFO);
    expect(host.faults[8]).toMatchObject({ recorded: false, suppressedBy: 'fault recording registers full (PFO set)' });
    // Clearing one F makes room, but PFO still blocks recording.
    unit.write(FRO + 12, 4, 0x80000000n);
    expect(faultFrom(unit, 10).fault?.recorded).toBe(false);
    expect(host.faults[9].suppressedBy).toBe('FSTS.PFO already set');
    // Linux's loop starts at FRI = 0 (latched when PPF was set: spec FSTS_REG.FRI), whose F was already cleared out of
    // band, so it stops at once and only writes PFO|PPF|PRO: PFO clears, records 1..7 stay pending.
    expect(driver.faultHandler()).toEqual(['DMAR: DRHD: handling fault status reg 3']);
    expect(r32(unit, FSTS)).toBe(PPF);
    // Recording resumes round-robin at the free FRCD 0 (PPF already set: FRI stays 0), and the next handler run
    // walks 0..7 and clears everything.
    expect(faultFrom(unit, 11).fault?.recorded).toBe(true);
    expect(r32(unit, FRO + 4)).toBe(11 << 16);
    expect(driver.faultHandler()).toHaveLength(1 + 8);
    expect(r32(unit, FSTS)).toBe(0);
  });

  it('FRI is latched when PPF goes 0 → 1 and does not move while PPF stays set', () => {
    // VT-d spec FSTS_REG.FRI: "the index (from base) of the fault recording register to which the first pending fault
    // was recorded when the PPF field was Set by hardware"; PPF: "The FRI field is updated by hardware whenever the PPF
    // field is Set by hardware". Records 0, 1, 2 → FRI 0. Clearing record 0 leaves PPF = 1 (records 1, 2), so FRI
    // stays 0; a fourth fault (record 3) does not set PPF anew, so FRI is still 0.
    const { unit } = linuxReadyUnit();
    for (let n = 1; n <= 3; n++) faultFrom(unit, n);
    unit.write(FRO + 12, 4, 0x80000000n);
    expect(r32(unit, FSTS)).toBe(PPF); // FRI 0 (15:8), PPF
    faultFrom(unit, 4);
    expect(r32(unit, FSTS)).toBe(PPF);
    // Service everything: PPF = 0. The next fault goes to record 4 and sets PPF again → FRI = 4.
    for (let i = 1; i <= 3; i++) unit.write(FRO + 16 * i + 12, 4, 0x80000000n);
    expect(r32(unit, FSTS)).toBe(0);
    faultFrom(unit, 5);
    expect(r32(unit, FSTS)).toBe((4 << 8) | PPF);
  });

  it('F can be cleared with a qword write at +8 as well as a dword write at +12', () => {
    const { unit } = linuxReadyUnit();
    faultFrom(unit, 1);
    unit.write(FRO + 8, 8, 1n << 63n);
    expect(r32(unit, FSTS)).toBe(0);
    expect(r32(unit, FRO + 12)).toBe(0x22); // the record's content stays, F is clear
  });

  it('the record fields are read-only', () => {
    const { unit } = linuxReadyUnit();
    faultFrom(unit, 1);
    unit.write(FRO, 8, 0n);
    unit.write(FRO + 8, 4, 0xffffn);
    expect(r32(unit, FRO + 4)).toBe(1 << 16);
    expect(r32(unit, FRO + 8)).toBe(0x0009);
  });
});

describe('fault event', () => {
  function programEvent(unit: IntelIommu, driver: { writel(v: number, off: number): void }) {
    // Linux dmar_msi_write for x2APIC destination 0x1234, vector 0xF0: FEDATA = data, FEADDR = address_lo with
    // dest 7:0 = 0x34 in 19:12, FEUADDR = address_hi with dest 31:8 in 31:8.
    driver.writel(0xf0, 0x3c);
    driver.writel(0xfee34000, 0x40);
    driver.writel(0x00001200, 0x44);
    void unit;
  }

  it('is sent with FEDATA/FEADDR/FEUADDR when a fault sets PPF from clear, once per servicing round', () => {
    const { unit, host, driver } = linuxReadyUnit();
    programEvent(unit, driver);
    driver.writel(0, FECTL); // unmask
    faultFrom(unit, 1);
    expect(host.sent).toEqual([{ addrHi: 0x1200, addrLo: 0xfee34000, data: 0xf0 }]);
    faultFrom(unit, 2); // PPF already set: "not treated as a new interrupt condition"
    expect(host.sent).toHaveLength(1);
    driver.faultHandler();
    faultFrom(unit, 3);
    expect(host.sent).toHaveLength(2);
    expect(r32(unit, FECTL)).toBe(0);
  });

  it('masked: IP stays pending and the message goes out when IM is cleared', () => {
    const { unit, host, driver } = linuxReadyUnit();
    programEvent(unit, driver);
    faultFrom(unit, 1);
    expect(r32(unit, FECTL)).toBe((IM | IP) >>> 0);
    expect(host.sent).toEqual([]);
    driver.writel(0, FECTL);
    expect(host.sent).toEqual([{ addrHi: 0x1200, addrLo: 0xfee34000, data: 0xf0 }]);
    expect(r32(unit, FECTL)).toBe(0);
  });

  it('masked: servicing every status field clears IP, so unmasking later sends nothing', () => {
    const { unit, host, driver } = linuxReadyUnit();
    programEvent(unit, driver);
    faultFrom(unit, 1);
    driver.faultHandler();
    expect(r32(unit, FECTL)).toBe(IM);
    driver.writel(0, FECTL);
    expect(host.sent).toEqual([]);
  });

  it('overflow is not an interrupt condition, and a fault arriving while PFO is set raises none', () => {
    const { unit, host, driver } = linuxReadyUnit();
    programEvent(unit, driver);
    driver.writel(0, FECTL);
    for (let n = 1; n <= 9; n++) faultFrom(unit, n);
    expect(host.sent).toHaveLength(1); // only the first record
  });

  it('without ECAP.EIM the message carries no upper address', () => {
    const { unit, host, driver } = linuxReadyUnit({ eim: false }, false);
    programEvent(unit, driver);
    driver.writel(0, FECTL);
    faultFrom(unit, 1);
    expect(host.sent).toEqual([{ addrHi: 0, addrLo: 0xfee34000, data: 0xf0 }]);
  });

  it('emits vtd_frr_new and vtd_irq_generate hops', () => {
    const { unit, host, driver } = linuxReadyUnit();
    programEvent(unit, driver);
    driver.writel(0, FECTL);
    faultFrom(unit, 1);
    const names = host.hops.map((h) => h.name);
    expect(names).toContain('vtd_irq_generate');
    const frr = host.hops.find((h) => h.name === 'vtd_frr_new');
    // hi = F (127) | FR 0x22 (103:96) | SID 0x0009; lo = index 1 << 48.
    expect(frr?.args).toEqual([['index', 0], ['hi', 0x8000002200000009n], ['lo', 0x1000000000000n]]);
  });
});
