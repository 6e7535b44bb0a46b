/**
 * The compatibility matrix on a reduced grid (every axis value appears; 300 vCPUs is where the reported failures show),
 * with the cells the mailing-list threads describe checked by name.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_AXES, matrixCells, renderMatrix, runMatrix, runMatrixCell, scenarioForCell } from '../../src/scenario/matrix.ts';

describe('compatibility matrix', () => {
  const cell = (guest: 'linux' | 'windows', vendor: 'intel' | 'amd', iommu: 'none' | 'intel-ir' | 'intel-full' | 'amd', extension = false, workarounds = false, cpus = 300) =>
    runMatrixCell({ guest, vendor, iommu, extension, workarounds, cpus });

  it('scenario 1 cell: Linux without IR or extension at 300 vCPUs has CPUs above 255 offline', () => {
    const c = cell('linux', 'intel', 'none');
    expect(c.ok).toBe(false);
    expect(c.onlineCpus).toBe(256);
    expect(c.mode).toBe('CPUs>255 offline');
  });

  it('scenario 2/3 cells work: the 15-bit extension, or Intel IR-only', () => {
    expect(cell('linux', 'intel', 'none', true).ok).toBe(true);
    expect(cell('linux', 'intel', 'intel-ir').ok).toBe(true);
  });

  it('scenario 5 cell: Windows on AMD with an Intel IOMMU fails with DMAR fault 0x25', () => {
    expect(cell('windows', 'amd', 'intel-ir').mode).toBe('DMAR fault 0x25');
  });

  it('scenario 7 cell: Windows with no IOMMU scribbles memory; the workaround fixes the MSIs but not an I/O APIC pin above 255', () => {
    expect(cell('windows', 'intel', 'none').mode).toContain('memory write');
    const fixed = cell('windows', 'intel', 'none', false, true);
    expect(fixed.mode).toBe('wrong CPU');
    expect(fixed.result.sources.find((s) => s.source.id === 'pin-high')?.ok).toBe(false);
    expect(fixed.result.sources.filter((s) => s.source.kind !== 'ioapic').every((s) => s.ok)).toBe(true);
  });

  it('scenario 8 cell: Windows on AMD with an AMD IOMMU works, at 64 and at 1024 vCPUs too', () => {
    expect(cell('windows', 'amd', 'amd').ok).toBe(true);
    expect(cell('windows', 'amd', 'amd', false, false, 64).ok).toBe(true);
    expect(cell('windows', 'amd', 'amd', false, false, 1024).ok).toBe(true);
  });

  it('runs a grid and renders one row per combination with the scenario tags', () => {
    const cells = runMatrix({ guests: ['linux', 'windows'], vendors: ['amd'], iommus: ['intel-ir', 'amd'], extension: [false], workarounds: [false], cpus: [64, 300] });
    expect(cells).toHaveLength(8);
    const text = renderMatrix(cells);
    expect(text).toContain('DMAR fault 0x25 [05]');
    expect(text).toContain('ok [08]');
    expect(scenarioForCell({ guest: 'windows', vendor: 'amd', iommu: 'amd', extension: false, workarounds: false, cpus: 300 })).toBe('08');
  });

  it('the default grid has CPUs without x2APIC, at the vCPU counts QEMU allows them (at most 255)', () => {
    const cells = matrixCells();
    // 2 guests × 2 vendors × 4 IOMMUs × 2 × 2 = 64 rows; 4 vCPU counts with x2APIC, 2 (64, 255) without.
    expect(cells).toHaveLength(64 * 4 + 64 * 2);
    const without = cells.filter((c) => c.x2apicCpu === false);
    expect(new Set(without.map((c) => c.cpus))).toEqual(new Set([64, 255]));
    expect(matrixCells({ ...DEFAULT_AXES, x2apicCpu: [true] })).toHaveLength(256);
    expect(() => matrixCells({ ...DEFAULT_AXES, x2apicCpu: ['no' as unknown as boolean] })).toThrow('matrix axes.x2apicCpu: expected a list of true, false');
  });

  it('Linux on 255 CPUs without x2APIC brings every CPU up in xAPIC mode (APIC IDs 0..254 fit 8 bits)', () => {
    const c = runMatrixCell({ guest: 'linux', vendor: 'intel', iommu: 'none', extension: false, workarounds: false, cpus: 255, x2apicCpu: false });
    expect(c.onlineCpus).toBe(255);
    expect(c.result.decisions.x2apic).toBe(false);
    expect(c.ok).toBe(true);
  });

  it('renders the x2APIC column, with n/a where QEMU refuses the machine', () => {
    const cells = runMatrix({ guests: ['linux'], vendors: ['intel'], iommus: ['none'], extension: [true], workarounds: [false], cpus: [64, 300], x2apicCpu: [true, false] });
    expect(cells).toHaveLength(3);
    const text = renderMatrix(cells);
    expect(text).toMatch(/^guest +cpu +x2apic +iommu/);
    expect(text).toMatch(/linux +intel no +none +ext-dest -      \| ok +\| n\/a/);
    expect(text).toContain('Without it QEMU refuses more than 255 vCPUs (n/a).');
  });
});
