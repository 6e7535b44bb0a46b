/**
 * An AMD IOMMU configured from the raw EFR/EFR2 a real unit reports. Values are ones Linux printed on real hosts
 * (test/fixtures/dmesg-*.txt hold the published lines): 0x206d73ef22254ade (XTSup, GASup, GAMSup), 0x58f77ef22294a5a
 * (GAMSup set but GASup clear). Bits by the AMD IOMMU spec's EFR layout (§3.4).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { resolveAmdOptions } from '../../src/iommu-amd/options.ts';
import { createMachine } from '../../src/machine/machine.ts';

describe('AMD unit from raw efr/efr2', () => {
  it('0x206d73ef22254ade: XTSup (bit 2), GASup (bit 7), IASup (bit 6), HATS 01b (4-level, DMA translation on)', () => {
    const o = resolveAmdOptions({ kind: 'amd', efr: '0x206d73ef22254ade' });
    expect(o).toMatchObject({ xt: true, ga: true, iaSup: true, dmaTranslation: true, intRemap2k: false });
  });

  it('0x58f77ef22294a5a: no XTSup, no GASup — XT and GA control bits stay unwritable', () => {
    const m = createMachine({ cpus: 2, iommu: { kind: 'amd', efr: '58f77ef22294a5a', efr2: '0' } });
    const cpu = m.cpu(0);
    expect(cpu.read64(0xfed80030)).toBe(0x58f77ef22294a5an);
    expect(cpu.read64(0xfed801a0)).toBe(0n);
    // Control: set GAEn (17) and XTEn (50); neither sticks on a unit without GASup / XTSup.
    cpu.write64(0xfed80018, (1n << 17n) | (1n << 50n));
    expect(cpu.read64(0xfed80018) & ((1n << 17n) | (1n << 50n))).toBe(0n);
  });

  it('a friendly option that contradicts EFR names both; reserved NumIntRemapSup values are refused', () => {
    let e: unknown;
    try {
      resolveAmdOptions({ kind: 'amd', efr: '58f77ef22294a5a', xt: true });
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).field).toBe('iommu.xt');
    expect((e as ConfigError).reason).toContain('iommu.efr');
    expect(() => resolveAmdOptions({ kind: 'amd', efr2: '0x200' })).toThrow(/NumIntRemapSup/);
    expect(resolveAmdOptions({ kind: 'amd', efr2: '0x100' }).intRemap2k).toBe(true);
  });

  it('EFR bit 6 clear: IASup false (the command decoder then refuses INVALIDATE_IOMMU_ALL)', () => {
    expect(resolveAmdOptions({ kind: 'amd', efr: '0x284' }).iaSup).toBe(false);
  });
});
