/**
 * IOVA ranges an IOMMU reports as not usable for DMA mappings, in the shape of Linux's
 * /sys/kernel/iommu_groups/N/reserved_regions (drivers/iommu/iommu.c iommu_group_show_resv_regions:
 * "0x%016llx 0x%016llx %s", start, end, type). On x86 the interrupt window 0xFEE00000–0xFEEFFFFF is one of them,
 * typed `msi`: requests there are decoded as interrupts before any translation (VT-d spec §3.14; AMD: "accesses to
 * the interrupt address range ... go through the interrupt remapping portion of the IOMMU and not through address
 * translation"), so a mapping there can never be reached by DMA (iommu list, "RMRR device on non-Intel platform", 2023-04-26).
 */

export type ReservedRegionType = 'msi' | 'reserved' | 'direct';

export interface ReservedRegion {
  start: number;
  /** Inclusive. */
  end: number;
  type: ReservedRegionType;
  /** The line Linux's reserved_regions file shows for it. */
  line: string;
}

export const INTERRUPT_WINDOW_START = 0xfee0_0000;
export const INTERRUPT_WINDOW_END = 0xfeef_ffff;

export function reservedRegion(start: number, end: number, type: ReservedRegionType): ReservedRegion {
  const hex = (v: number): string => '0x' + v.toString(16).padStart(16, '0');
  return { start, end, type, line: `${hex(start)} ${hex(end)} ${type}` };
}

/** The x86 interrupt window as Linux reports it (intel_iommu_get_resv_regions / amd_iommu_get_resv_regions: IOMMU_RESV_MSI). */
export function interruptWindowRegion(): ReservedRegion {
  return reservedRegion(INTERRUPT_WINDOW_START, INTERRUPT_WINDOW_END, 'msi');
}
