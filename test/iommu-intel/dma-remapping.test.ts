/**
 * VT-d legacy-mode DMA remapping: root/context entries, second-level walks, faults and the caches. Expected values
 * come from the VT-d spec layouts and fault table (chapter 7 / 9 / 10) and Linux's dmar.c strings, not from the model.
 */
import { describe, expect, it } from 'vitest';
import * as Reg from '../../src/iommu-intel/registers.ts';
import { linuxFrcdLine } from '../../src/iommu-intel/linux-log.ts';
import { makeUnit } from './helpers.ts';
import { mapPage, PageAllocator, R, setContext, W } from './dma-tables.ts';

const SID = 0x0300; // 03:00.0
const ROOT = 0x10_0000;
const CTX = 0x10_1000;

function setup(opts: { awBits?: 39 | 48 | 57; aw?: number; tt?: number; fpd?: boolean } = {}) {
  const { unit, host } = makeUnit({ awBits: opts.awBits ?? 48 });
  const m = host.memory;
  const alloc = new PageAllocator(0x20_0000);
  const slpt = alloc.page();
  setContext(m, ROOT, CTX, SID, { did: 5, aw: opts.aw ?? 2, tt: opts.tt, fpd: opts.fpd, slptptr: slpt });
  unit.write(Reg.RTADDR_REG, 8, BigInt(ROOT));
  unit.write(Reg.GCMD_REG, 4, BigInt(Reg.GCMD_SRTP));
  unit.write(Reg.GCMD_REG, 4, BigInt(Reg.GCMD_TE >>> 0));
  const levels = (opts.aw ?? 2) + 2;
  return { unit, host, m, alloc, slpt, levels };
}

/** FRCD[i] as (hi, lo) qwords, read through MMIO as Linux does. */
function frcd(unit: ReturnType<typeof makeUnit>['unit'], i: number): [bigint, bigint] {
  return [unit.read(Reg.FRCD_BASE + 16 * i + 8, 8), unit.read(Reg.FRCD_BASE + 16 * i, 8)];
}

describe('VT-d second-level translation (legacy mode)', () => {
  it('GSTS shows TES and RTPS after SRTP and TE', () => {
    const { unit } = setup();
    expect((unit.globalStatus & (Reg.GSTS_TES | Reg.GSTS_RTPS)) >>> 0).toBe((Reg.GSTS_TES | Reg.GSTS_RTPS) >>> 0);
  });

  it('walks a 4-level table: output = page frame + offset', () => {
    const { unit, m, alloc, slpt, levels } = setup();
    mapPage(m, alloc, slpt, levels, 0x1_2345_6000, 0x7_0000, R | W);
    expect(unit.translateDma(SID, 0x1_2345_6abc, true)).toBe(0x7_0abc);
    expect(unit.translateDma(SID, 0x1_2345_6abc, false)).toBe(0x7_0abc);
  });

  it('walks 3-level (AW=1) and 5-level (AW=3, 57-bit unit) tables', () => {
    const three = setup({ aw: 1 });
    mapPage(three.m, three.alloc, three.slpt, 3, 0x40_0000, 0x9000, R | W);
    expect(three.unit.translateDma(SID, 0x40_0010, true)).toBe(0x9010);
    const five = setup({ awBits: 57, aw: 3 });
    mapPage(five.m, five.alloc, five.slpt, 5, 0x2_0000_0000_0000, 0xa000, R | W);
    expect(five.unit.translateDma(SID, 0x2_0000_0000_0020, false)).toBe(0xa020);
    // CAP.SAGAW of a 57-bit unit: bits 1, 2, 3 (39/48/57-bit) → 0x0e in CAP 12:8; MGAW 56.
    expect(Number((five.unit.capability >> 8n) & 0x1fn)).toBe(0x0e);
    expect(Number((five.unit.capability >> 16n) & 0x3fn)).toBe(56);
  });

  it('2 MiB and 1 GiB super-pages (CAP.SLLPS = 11b)', () => {
    const { unit, m, alloc, slpt, levels } = setup();
    mapPage(m, alloc, slpt, levels, 0x4000_0000, 0x80_0000, R | W, 2);
    expect(unit.translateDma(SID, 0x4012_3456, true)).toBe(0x80_0000 + 0x12_3456);
    mapPage(m, alloc, slpt, levels, 0x80_0000_0000, 0x4000_0000, R, 3);
    expect(unit.translateDma(SID, 0x80_0abc_def0, false)).toBe(0x4000_0000 + 0xabc_def0);
  });

  it('pass-through context (TT = 10b, ECAP.PT = 1): output = input', () => {
    const { unit } = setup({ tt: 2 });
    expect(unit.translateDma(SID, 0x1234_5678, true)).toBe(0x1234_5678);
  });

  it('TE clear: no translation at all', () => {
    const { unit } = setup();
    unit.write(Reg.GCMD_REG, 4, 0n);
    expect(unit.translateDma(SID, 0xdead_0000, true)).toBe(0xdead_0000);
  });
});

describe('VT-d DMA faults (reason codes of VT-d spec §7.1.3, records of §10.4.14)', () => {
  it('write to a read-only page: reason 0x5, T = 0, FI = page, the Linux line', () => {
    const { unit, host, m, alloc, slpt, levels } = setup();
    mapPage(m, alloc, slpt, levels, 0x5000, 0x9000, R);
    expect(unit.translateDma(SID, 0x5008, true)).toBeNull();
    const [hi, lo] = frcd(unit, 0);
    expect(hi >> 63n).toBe(1n); // F
    expect((hi >> 62n) & 1n).toBe(0n); // T = write
    expect((hi >> 32n) & 0xffn).toBe(5n);
    expect(hi & 0xffffn).toBe(BigInt(SID));
    expect(lo).toBe(0x5000n);
    expect(linuxFrcdLine(hi, lo)).toBe('DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x5000 [fault reason 0x05] PTE Write access is not set');
    expect(host.faults[0].linuxLog).toBe(linuxFrcdLine(hi, lo));
    expect(unit.read(Reg.FSTS_REG, 4) & BigInt(Reg.FSTS_PPF)).toBe(BigInt(Reg.FSTS_PPF));
  });

  it('read of an unmapped page: reason 0x6, T = 1 ("DMA Read")', () => {
    const { unit } = setup();
    expect(unit.translateDma(SID, 0x7777_7000, false)).toBeNull();
    const [hi, lo] = frcd(unit, 0);
    expect((hi >> 62n) & 1n).toBe(1n);
    expect(linuxFrcdLine(hi, lo)).toBe('DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x77777000 [fault reason 0x06] PTE Read access is not set');
    // The same record as 5.14 ("[0x%02x:0x%02x.%d]") and as 5.13 and older print it ("[%s] ... PASID %x fault addr
    // %llx [fault reason %02d]", INVALID_IOASID when the record has no PASID) — core/linux-version.ts.
    expect(linuxFrcdLine(hi, lo, 'hex-bdf')).toBe('DMAR: [DMA Read NO_PASID] Request device [0x03:0x00.0] fault addr 0x77777000 [fault reason 0x06] PTE Read access is not set');
    expect(linuxFrcdLine(hi, lo, 'decimal')).toBe('DMAR: [DMA Read] Request device [03:00.0] PASID ffffffff fault addr 77777000 [fault reason 06] PTE Read access is not set');
  });

  it('root entry not present: 0x1, reported even with FPD = 1 (not qualified)', () => {
    const { unit, m } = setup({ fpd: true });
    m.write64(ROOT + 3 * 16, 0n);
    expect(unit.translateDma(SID, 0x1000, true)).toBeNull();
    expect((frcd(unit, 0)[0] >> 32n) & 0xffn).toBe(1n);
  });

  it('context entry not present: 0x2; FPD = 1 in that entry suppresses it (qualified)', () => {
    const a = setup();
    a.m.write64(CTX, 0n);
    expect(a.unit.translateDma(SID, 0x1000, true)).toBeNull();
    expect((frcd(a.unit, 0)[0] >> 32n) & 0xffn).toBe(2n);
    const b = setup();
    b.m.write64(CTX, 2n); // P = 0, FPD = 1
    expect(b.unit.translateDma(SID, 0x1000, true)).toBeNull();
    expect(frcd(b.unit, 0)[0] >> 63n).toBe(0n); // nothing recorded
    expect(b.host.faults[0].suppressedBy).toBe('context entry FPD');
  });

  it('FPD = 1 in a present context entry suppresses permission faults', () => {
    const { unit, host } = setup({ fpd: true });
    expect(unit.translateDma(SID, 0x3000, true)).toBeNull();
    expect(unit.read(Reg.FSTS_REG, 4)).toBe(0n);
    expect(host.faults[0].recorded).toBe(false);
  });

  it('AW not in SAGAW: invalid context entry 0x3 (AW = 3, 57-bit, on a 48-bit unit)', () => {
    const { unit } = setup({ aw: 3 });
    expect(unit.translateDma(SID, 0x1000, true)).toBeNull();
    expect((frcd(unit, 0)[0] >> 32n) & 0xffn).toBe(3n);
  });

  it('TT = 01b (device-TLB) without ECAP.DT and TT = 11b: 0x3', () => {
    for (const tt of [1, 3]) {
      const { unit } = setup({ tt });
      expect(unit.translateDma(SID, 0x1000, true)).toBeNull();
      expect((frcd(unit, 0)[0] >> 32n) & 0xffn).toBe(3n);
    }
  });

  it('address beyond the 39-bit AGAW of a 3-level context: 0x4', () => {
    const { unit } = setup({ aw: 1 });
    expect(unit.translateDma(SID, 2 ** 39, false)).toBeNull();
    expect((frcd(unit, 0)[0] >> 32n) & 0xffn).toBe(4n);
  });

  it('reserved bits: root 0xA, context 0xB, PS in a level-4 entry 0xC', () => {
    const a = setup();
    a.m.write64(ROOT + 3 * 16, BigInt(CTX) | 1n | 0x10n);
    expect(a.unit.translateDma(SID, 0x1000, true)).toBeNull();
    expect((frcd(a.unit, 0)[0] >> 32n) & 0xffn).toBe(0xan);
    const b = setup();
    // SID 03:00.0 uses entry 0 of the context table: set a reserved bit (bit 104, hi qword bit 40) there.
    b.m.write64(CTX + 8, b.m.read64(CTX + 8) | (1n << 40n));
    expect(b.unit.translateDma(SID, 0x1000, true)).toBeNull();
    expect((frcd(b.unit, 0)[0] >> 32n) & 0xffn).toBe(0xbn);
    const c = setup();
    c.m.write64(c.slpt, 0x50_0000n | R | W | (1n << 7n));
    expect(c.unit.translateDma(SID, 0x1000, true)).toBeNull();
    expect((frcd(c.unit, 0)[0] >> 32n) & 0xffn).toBe(0xcn);
  });

  it('an output address in 0xFEEx_xxxx is blocked with 0xE (VT-d §3.14, LGN.4)', () => {
    const { unit, m, alloc, slpt, levels } = setup();
    mapPage(m, alloc, slpt, levels, 0x6000, 0xfee0_0000, R | W);
    expect(unit.translateDma(SID, 0x6000, true)).toBeNull();
    const [hi, lo] = frcd(unit, 0);
    expect((hi >> 32n) & 0xffn).toBe(0xen);
    // Linux has no string for 0xE: "Unknown", printed with the DMA line.
    expect(linuxFrcdLine(hi, lo)).toBe('DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x6000 [fault reason 0x0e] Unknown');
  });

  it('a DMA fault raises the same fault event as an interrupt fault (FECTL unmasked)', () => {
    const { unit, host } = setup();
    unit.write(Reg.FEDATA_REG, 4, 0x55n);
    unit.write(Reg.FEADDR_REG, 4, 0xfee0_0000n);
    unit.write(Reg.FECTL_REG, 4, 0n);
    unit.translateDma(SID, 0x1000, true);
    expect(host.sent).toEqual([{ addrHi: 0, addrLo: 0xfee0_0000, data: 0x55 }]);
  });
});

describe('VT-d caches: a changed entry is used only after its invalidation', () => {
  it('IOTLB: an unmapped PTE keeps translating until a page-selective invalidation (queued descriptor)', () => {
    const { unit, m, alloc, slpt, levels } = setup();
    const pte = mapPage(m, alloc, slpt, levels, 0x8000, 0xa000, R | W);
    expect(unit.translateDma(SID, 0x8004, true)).toBe(0xa004);
    m.write64(pte, 0n); // unmap in memory
    expect(unit.translateDma(SID, 0x8004, true)).toBe(0xa004); // stale, as on hardware
    // QI: IOTLB descriptor, G = 11b (page-selective), DID 5; qw1 ADDR 0x8000, AM 0; then a wait descriptor.
    const queue = 0x30_0000;
    m.write64(queue, 0x2n | (3n << 4n) | (5n << 16n));
    m.write64(queue + 8, 0x8000n);
    unit.write(Reg.IQA_REG, 8, BigInt(queue));
    unit.write(Reg.GCMD_REG, 4, BigInt((Reg.GCMD_TE | Reg.GCMD_QIE) >>> 0));
    unit.write(Reg.IQT_REG, 8, 0x10n);
    expect(unit.read(Reg.IQH_REG, 8)).toBe(0x10n);
    expect(unit.translateDma(SID, 0x8004, true)).toBeNull();
  });

  it('IOTLB: a remapped PTE is used after a register-based domain-selective invalidation, not before', () => {
    const { unit, m, alloc, slpt, levels } = setup();
    const pte = mapPage(m, alloc, slpt, levels, 0x8000, 0xa000, R | W);
    expect(unit.translateDma(SID, 0x8000, false)).toBe(0xa000);
    m.write64(pte, 0xb000n | R | W);
    expect(unit.translateDma(SID, 0x8000, false)).toBe(0xa000);
    // IOTLB_REG: IVT (63), IIRG = 10b domain (61:60), DID 5 (47:32).
    unit.write(Reg.IOTLB_REG, 8, (1n << 63n) | (2n << 60n) | (5n << 32n));
    const done = unit.read(Reg.IOTLB_REG, 8);
    expect(done >> 63n).toBe(0n); // IVT cleared: completed
    expect((done >> 57n) & 3n).toBe(2n); // IAIG = domain-selective
    expect(unit.translateDma(SID, 0x8000, false)).toBe(0xb000);
  });

  it('a fault is not cached: fixing a not-present PTE needs no invalidation', () => {
    const { unit, m, alloc, slpt, levels } = setup();
    expect(unit.translateDma(SID, 0xc000, true)).toBeNull();
    mapPage(m, alloc, slpt, levels, 0xc000, 0xd000, R | W);
    expect(unit.translateDma(SID, 0xc000, true)).toBe(0xd000);
  });

  it('context cache: a cleared context entry keeps its domain until CCMD device-selective invalidation', () => {
    const { unit, m, alloc, slpt, levels } = setup();
    mapPage(m, alloc, slpt, levels, 0x8000, 0xa000, R | W);
    expect(unit.translateDma(SID, 0x8000, true)).toBe(0xa000);
    m.write64(CTX, 0n);
    m.write64(CTX + 8, 0n);
    expect(unit.translateDma(SID, 0x8000, true)).toBe(0xa000);
    // CCMD: ICC (63), CIRG = 11b device (62:61), SID 31:16, DID 15:0.
    unit.write(Reg.CCMD_REG, 8, (1n << 63n) | (3n << 61n) | (BigInt(SID) << 16n) | 5n);
    expect((unit.read(Reg.CCMD_REG, 8) >> 59n) & 3n).toBe(3n); // CAIG
    expect(unit.translateDma(SID, 0x8000, true)).toBeNull();
    expect((frcd(unit, 0)[0] >> 32n) & 0xffn).toBe(2n);
  });

  it('save/restore carries the caches: a stale translation survives a snapshot', () => {
    const { unit, m, alloc, slpt, levels } = setup();
    const pte = mapPage(m, alloc, slpt, levels, 0x8000, 0xa000, R | W);
    unit.translateDma(SID, 0x8000, true);
    m.write64(pte, 0n);
    const state = JSON.parse(JSON.stringify(unit.save()));
    const other = makeUnit({ awBits: 48 });
    for (const page of m.touchedPages()) other.host.memory.loadPage(page, m.pageBytes(page)!);
    other.unit.restore(state);
    expect(other.unit.translateDma(SID, 0x8000, true)).toBe(0xa000);
  });
});
