/**
 * Host I/O page-table entries (AMD IOMMU spec §2.2.3 "I/O Page Tables for Host Translations"; Linux
 * amd_iommu_types.h IOMMU_PTE_*, PM_LEVEL_*), 64 bits as two little-endian dwords:
 *
 *   [0] PR (present), [4:1] ignored, [5] A, [6] D, [8:7] ignored, [11:9] Next Level, [51:12] address,
 *   [58:52] reserved, [59] U, [60] FC, [61] IR, [62] IW, [63] reserved.
 *
 * Next Level (NL) in an entry at level L:
 *   0        a leaf: a page of level L's size (4 KiB at level 1, 2 MiB at 2, 1 GiB at 3, ...);
 *   1..L-1   a pointer to a table of that level; NL < L - 1 skips levels, and the input-address bits those levels
 *            would have indexed must be zero (level skipping, §2.2.3);
 *   7        a leaf whose page size is encoded in the address: the run of 1s from address bit 12 upwards, n bits
 *            long, means a page of 2^(13 + n) bytes (Linux PAGE_SIZE_PTE); the page cannot exceed level L's span.
 *   other    (≥ L, not 7) not a valid entry.
 */

export const PTE_PR = 1 << 0;
/** High dword: IR (bit 61), IW (bit 62); reserved 58:52 and 63. */
export const PTE_HI_IR = 1 << 29;
export const PTE_HI_IW = 1 << 30;
export const PTE_HI_RESERVED = (0x07f00000 | (1 << 31)) >>> 0;
export const NL_PAGE_SIZE_ENCODED = 7;

export function pteNextLevel(lo: number): number {
  return (lo >>> 9) & 7;
}

export function pteAddress(lo: number, hi: number): number {
  return (hi & 0xfffff) * 0x1_0000_0000 + ((lo & 0xfffff000) >>> 0);
}

/** Bytes one entry at `level` spans: 4 KiB · 512^(level − 1). */
export function levelSpan(level: number): number {
  return 2 ** (12 + 9 * (level - 1));
}

export function levelIndex(addr: number, level: number): number {
  return Math.floor(addr / levelSpan(level)) % 512;
}

/** Page size of an NL = 7 entry: 2^(13 + n), n = number of consecutive 1s from address bit 12. */
export function encodedPageSize(address: number): number {
  let n = 0;
  let frame = Math.floor(address / 4096);
  while (frame % 2 === 1 && n < 40) {
    n++;
    frame = Math.floor(frame / 2);
  }
  return 2 ** (13 + n);
}
