/**
 * A VT-d unit configured from the raw CAP/ECAP a real unit reports. The values are the ones Linux printed on a
 * Skylake-era client ("DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap d2008c40660462 ecap f050da"). Decoded by hand from the VT-d spec's CAP_REG/ECAP_REG layouts (11.4.2, 11.4.3):
 *   cap 0x00d2008c40660462: ND 2, SAGAW 0x04 (48-bit 4-level), MGAW 38 (39-bit), FRO 0x040 (0x400), SLLPS 3,
 *       PSI, NFR 0 (1 record), MAMV 18, DWD, DRD, PI 0.
 *   ecap 0xf050da: QI, IR, EIM, PT, SC, IRO 0x050 (0x500), MHMV 15.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.ts';
import { resolveIntelOptions } from '../../src/iommu-intel/options.ts';
import { createMachine } from '../../src/machine/machine.ts';
import { createGuest } from '../../src/guest/create-guest.ts';

const CAP = 'd2008c40660462';
const ECAP = 'f050da';

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('Intel unit from raw cap/ecap', () => {
  it('derives every governed behaviour from the registers', () => {
    const o = resolveIntelOptions({ kind: 'intel', cap: CAP, ecap: ECAP });
    expect(o).toMatchObject({
      awBits: 39,
      dmaTranslation: true,
      faultRecords: 1,
      frcdOffset: 0x400,
      ivaOffset: 0x500,
      postedInterrupts: false,
      interruptRemapping: true,
      eim: true,
      queuedInvalidation: true,
    });
  });

  it('reports exactly those values and VER through MMIO, and places the one fault record at 0x400', () => {
    const m = createMachine({ cpus: 2, iommu: { kind: 'intel', cap: CAP, ecap: '0xf050da', ver: '1:0' } });
    const cpu = m.cpu(0);
    expect(cpu.read64(0xfed90008)).toBe(0xd2008c40660462n);
    expect(cpu.read64(0xfed90010)).toBe(0xf050dan);
    expect(cpu.read32(0xfed90000)).toBe(0x10);
    // The single FRCD (F bit clear) reads 0 at 0x400; with NFR = 0 there is no second record at 0x410.
    expect(m.iommu!.kind).toBe('intel-vtd');
  });

  it('Linux prints the unit line back as the real kernel did', () => {
    const m = createMachine({ cpus: 2, iommu: { kind: 'intel', cap: CAP, ecap: ECAP } });
    const g = createGuest(m, { os: 'linux' });
    g.boot();
    expect(g.log.has(`DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap ${CAP} ecap ${ECAP}`)).toBe(true);
  });

  it('a bigint works as well as a hex string', () => {
    expect(resolveIntelOptions({ kind: 'intel', cap: 0xd2008c40660462n, ecap: 0xf050dan }).faultRecords).toBe(1);
  });

  it('a friendly option that contradicts the raw value names both', () => {
    const e = configError(() => resolveIntelOptions({ kind: 'intel', cap: CAP, faultRecords: 8 }));
    expect(e.field).toBe('iommu.faultRecords');
    expect(e.reason).toContain('iommu.cap');
    const e2 = configError(() => resolveIntelOptions({ kind: 'intel', ecap: ECAP, eim: false }));
    expect(e2.field).toBe('iommu.eim');
    expect(e2.reason).toContain('iommu.ecap');
    // Agreeing values are fine.
    expect(resolveIntelOptions({ kind: 'intel', cap: CAP, awBits: 39 }).awBits).toBe(39);
  });

  it('rejects reserved bits and combinations the spec forbids', () => {
    // CAP bit 13 (15:13 reserved).
    expect(configError(() => resolveIntelOptions({ kind: 'intel', cap: (0xd2008c40660462n | (1n << 13n)).toString(16) })).field).toBe('iommu.cap');
    // ECAP bit 18 (19:18 reserved).
    expect(configError(() => resolveIntelOptions({ kind: 'intel', ecap: (0xf050dan | (1n << 18n)).toString(16) })).field).toBe('iommu.ecap');
    // IR without QI: 0xf050da with bit 1 cleared. VT-d 11.4.3: IR implementations must support QI.
    expect(configError(() => resolveIntelOptions({ kind: 'intel', ecap: (0xf050dan & ~2n).toString(16) })).reason).toMatch(/QI/);
    // EIM without IR: bits 1 (QI) and 4 (EIM) only, IRO 0x50.
    expect(configError(() => resolveIntelOptions({ kind: 'intel', ecap: '5012' })).reason).toMatch(/EIM/);
    // FRO = 0x050 puts the fault record on top of IVA/IOTLB at 0x500 (ecap IRO 0x50).
    const overlapping = (0xd2008c40660462n & ~(0x3ffn << 24n)) | (0x50n << 24n);
    expect(configError(() => resolveIntelOptions({ kind: 'intel', cap: overlapping.toString(16), ecap: ECAP })).reason).toMatch(/overlap/);
    // Not hex.
    expect(configError(() => resolveIntelOptions({ kind: 'intel', cap: 'xyz' })).field).toBe('iommu.cap');
    // A JSON number loses bits above 2^53: refused for 64-bit registers.
    expect(configError(() => resolveIntelOptions({ kind: 'intel', cap: 0xf050da as unknown as string })).field).toBe('iommu.cap');
  });

  it("QEMU's IRO = 0xF (IVA at 0xF0, IOTLB at 0xF8: free space after PEUADDR_REG 0xEC) is accepted; IRO = 0xE is not", () => {
    // "cap d2008c22260206 ecap f00f4a" and "ecap f00f5a" are what Linux prints in a QEMU 7.2 q35 guest (vtd_init).
    for (const ecap of ['f00f4a', 'f00f5a']) expect(resolveIntelOptions({ kind: 'intel', cap: 'd2008c22260206', ecap }).ivaOffset).toBe(0xf0);
    const e = configError(() => resolveIntelOptions({ kind: 'intel', cap: 'd2008c22260206', ecap: 'f00e4a' }));
    expect(e.field).toBe('iommu.ecap');
    expect(e.reason).toMatch(/IVA\/IOTLB at 0xe0/);
  });

  it('a unit without QI ignores GCMD.QIE, so Linux cannot enable remapping on it', () => {
    // ecap with neither IR nor QI: PT only (bit 6), IRO 0x50.
    const m = createMachine({ cpus: 1, iommu: { kind: 'intel', ecap: '5040' } });
    m.cpu(0).write32(0xfed90018, 1 << 26);
    expect(m.cpu(0).read32(0xfed9001c) & (1 << 26)).toBe(0);
  });
});

describe('Intel unit from raw cap/ecap: fault recording follows NFR and FRO', () => {
  it('one record (NFR = 0) at 0x400 (FRO = 0x40): the second fault overflows with PFO, and Linux finds the record at 0x400', async () => {
    const { linuxReadyUnit, remap, remappableAddress } = await import('./helpers.ts');
    const { unit, driver } = linuxReadyUnit({ cap: CAP, ecap: ECAP });
    // Not-present IRTEs (reason 0x22) from 00:01.1 and 00:01.2.
    expect(remap(unit, 0x0009, remappableAddress(1, true), 0).out.fault?.recorded).toBe(true);
    expect(remap(unit, 0x000a, remappableAddress(2, true), 0).out.fault?.recorded).toBe(false);
    // FSTS: PPF (bit 1) | PFO (bit 0), FRI 0.
    expect(Number(unit.read(0x34, 4))).toBe(3);
    // FRCD 0 high dword at 0x400 + 12: F | FR 0x22.
    expect(Number(unit.read(0x40c, 4))).toBe((0x80000000 | 0x22) >>> 0);
    expect(driver.faultHandler()).toEqual([
      'DMAR: DRHD: handling fault status reg 3',
      'DMAR: [INTR-REMAP] Request device [00:01.1] fault index 0x1 [fault reason 0x22] Present field in the IRTE entry is clear',
    ]);
  });
});
