import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { resolveIntelOptions } from '../../src/iommu-intel/intel-iommu.ts';
import { makeUnit } from './helpers.ts';

const field = (v: bigint, shift: number, bits: number): number => Number((v >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n));

describe('resolveIntelOptions', () => {
  it('fills the documented defaults', () => {
    expect(resolveIntelOptions({ kind: 'intel' })).toMatchObject({
      kind: 'intel',
      base: 0xfed90000,
      awBits: 48,
      dmaTranslation: true,
      interruptRemapping: true,
      eim: true,
      faultRecords: 8,
      postedInterrupts: false,
      queuedInvalidation: true,
      ioapicSourceId: 0xff00,
      ver: '1:0',
      // FRO 0x60 → 0x600, IRO 0x50 → 0x500 (registers.ts).
      frcdOffset: 0x600,
      ivaOffset: 0x500,
      includePciAll: true,
      ioapicScope: true,
    });
  });

  it.each([
    [{ faultRecords: 0 }, 'iommu.faultRecords'],
    [{ faultRecords: 257 }, 'iommu.faultRecords'],
    [{ faultRecords: 2.5 }, 'iommu.faultRecords'],
    [{ awBits: 52 }, 'iommu.awBits'],
    [{ base: 0xfed90010 }, 'iommu.base'],
    [{ ioapicSourceId: 0x10000 }, 'iommu.ioapicSourceId'],
    [{ interruptRemapping: false, eim: true }, 'iommu.eim'],
    [{ interruptRemapping: false, postedInterrupts: true }, 'iommu.postedInterrupts'],
    [{ dmaTranslation: 'no' }, 'iommu.dmaTranslation'],
  ])('rejects %j naming %s', (bad, path) => {
    let error: unknown;
    try {
      resolveIntelOptions({ kind: 'intel', ...(bad as object) });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(path);
  });

  it('EIM follows interruptRemapping when not given', () => {
    expect(resolveIntelOptions({ kind: 'intel', interruptRemapping: false }).eim).toBe(false);
  });
});

describe('VER / CAP / ECAP', () => {
  it('VER reads 1.0 (major in 7:4, minor in 3:0)', () => {
    const { unit } = makeUnit();
    expect(unit.read(0x000, 4)).toBe(0x10n);
  });

  it('awBits 39 decodes like QEMU aw-bits=39 except where this unit differs on purpose', () => {
    // QEMU aw-bits=39 CAP = 0x00d2008c22260206 (VT-d spec §11.4.2): ND 6, SAGAW 0x02 (39-bit), MGAW 38, FRO 0x22, SLLPS 0x3,
    // PSI 1, NFR 0, MAMV 18, DWD 1, DRD 1.
    const qemu = 0x00d2008c22260206n;
    const { unit } = makeUnit({ awBits: 39 });
    const cap = unit.read(0x008, 8);
    for (const [shift, bits] of [[0, 3], [8, 5], [16, 6], [34, 4], [39, 1], [48, 6], [54, 1], [55, 1]] as const) {
      expect(field(cap, shift, bits), `CAP bits ${shift + bits - 1}:${shift}`).toBe(field(qemu, shift, bits));
    }
    expect(field(cap, 8, 5)).toBe(0x02); // only bit 9: 3-level / 39-bit tables
    expect(field(cap, 16, 6)).toBe(38); // MGAW = width - 1
    // FRO and NFR differ from QEMU: QEMU has one record at 0x220 (FRO 0x22, NFR 0); this unit has 8 records
    // (NFR = 8 - 1 = 7) placed at 0x600 (FRO = 0x600 / 16 = 0x60), after the IOTLB registers at 0x500.
    expect(field(qemu, 24, 10)).toBe(0x22);
    expect(field(cap, 24, 10)).toBe(0x60);
    expect(field(qemu, 40, 8)).toBe(0);
    expect(field(cap, 40, 8)).toBe(7);
    expect(field(cap, 59, 1)).toBe(0); // no CAP.PI by default
  });

  it('awBits 48 advertises 39- and 48-bit tables; dmaTranslation false clears SAGAW only', () => {
    // QEMU aw-bits=48: 0x00d2008c222f0606 → SAGAW 0x06, MGAW 47; dma-translation=off → SAGAW 0 (…222f0006).
    const on = makeUnit({ awBits: 48 }).unit.read(0x008, 8);
    const off = makeUnit({ awBits: 48, dmaTranslation: false }).unit.read(0x008, 8);
    expect(field(on, 8, 5)).toBe(0x06);
    expect(field(on, 16, 6)).toBe(47);
    expect(field(off, 8, 5)).toBe(0);
    expect(off).toBe(on & ~(0x1fn << 8n));
  });

  it('ECAP matches QEMU intremap+eim in QI/IR/EIM/PT/MHMV, with IRO = 0x50', () => {
    // QEMU default ECAP 0xf00f5a: QI (1), IR (3), EIM (4), PT (6), IRO 0xF, MHMV 15. Ours: IRO 0x50 → IVA at 0x500.
    const ecap = makeUnit().unit.read(0x010, 8);
    const qemu = 0xf00f5an;
    expect(ecap & ~(0x3ffn << 8n)).toBe(qemu & ~(0x3ffn << 8n));
    expect(field(ecap, 8, 10)).toBe(0x50);
    const noEim = makeUnit({ eim: false }).unit.read(0x010, 8);
    expect(field(noEim, 4, 1)).toBe(0); // QEMU without EIM: 0xf00f4a
    const noIr = makeUnit({ interruptRemapping: false }).unit.read(0x010, 8);
    expect(field(noIr, 3, 1)).toBe(0);
    expect(field(noIr, 20, 4)).toBe(0); // MHMV only with IR (QEMU without IR: 0xf42)
  });

  it('postedInterrupts sets CAP.PI (bit 59)', () => {
    expect(field(makeUnit({ postedInterrupts: true }).unit.read(0x008, 8), 59, 1)).toBe(1);
  });

  it('the MMIO window covers the fault recording registers', () => {
    expect(makeUnit().unit.size).toBe(0x1000); // 0x600 + 8 × 16 = 0x680 → one page
    expect(makeUnit({ faultRecords: 256 }).unit.size).toBe(0x2000); // 0x600 + 256 × 16 = 0x1600 → two pages
  });
});
