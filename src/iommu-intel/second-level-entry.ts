/**
 * Second-level paging entries (VT-d spec §9.8, legacy mode), 64 bits as two little-endian dwords:
 *
 *   [0] R, [1] W, [6:2] X / EMT / IPAT (ignored here: no ECAP.SC/ERS/MTS), [7] PS (page size) in level-2/3 entries,
 *   [10:8] ignored, [11] SNP (reserved without ECAP.SC), [HAW-1:12] address, [51:HAW] reserved,
 *   [61:52] ignored, [62] TM (reserved without ECAP.DT), [63] ignored.
 *
 * An entry with R = W = 0 is not present: hardware does not look at its other bits. A present entry with a reserved
 * bit set faults with 0xC. Reserved by level (QEMU vtd_spte_rsvd / vtd_spte_rsvd_large):
 *   level 1 (PTE): bit 11;  level 2 / 3 without PS: bit 11;  level 4 / 5: bits 11 and 7 (no PS there);
 *   level 2 with PS (2 MiB page): bits 20:12 and 11;  level 3 with PS (1 GiB page): bits 29:12 and 11;
 *   PS = 1 at a level whose page size CAP.SLLPS does not advertise is a reserved-bit fault as well.
 */

export const SL_R = 1 << 0;
export const SL_W = 1 << 1;
export const SL_PS = 1 << 7;
const SNP = 1 << 11;
/** TM (bit 62 = high dword bit 30). */
const HI_TM = 1 << 30;

/** Page size in bytes at `level` (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB, ...). */
export function levelPageSize(level: number): number {
  return 2 ** (12 + 9 * (level - 1));
}

/** Index into the table at `level` for input address `addr` (9 bits per level above the 12-bit page offset). */
export function levelIndex(addr: number, level: number): number {
  return Math.floor(addr / levelPageSize(level)) % 512;
}

/**
 * Reserved-bit masks for one unit: the high-dword mask depends on the host address width, and PS is allowed only at
 * the levels CAP.SLLPS names (bit 0 → 2 MiB at level 2, bit 1 → 1 GiB at level 3).
 */
export class SecondLevelFormat {
  /** Address bits held in the high dword (bits HAW-1:32). */
  readonly hiAddrMask: number;
  private readonly hiReserved: number;

  constructor(
    hawBits: number,
    private readonly sllps: number,
  ) {
    this.hiAddrMask = (2 ** (hawBits - 32) - 1) >>> 0;
    // Bits 51:HAW are reserved; 61:52 and 63 are ignored; 62 (TM) is reserved without device-TLB support.
    this.hiReserved = ((0x000fffff & ~this.hiAddrMask) | HI_TM) >>> 0;
  }

  /** True when a present entry at `level` is a leaf (a page), false for a pointer to the next table. */
  isLeaf(lo: number, level: number): boolean {
    return level === 1 || ((lo & SL_PS) !== 0 && (level === 2 || level === 3));
  }

  /** Non-zero when the present entry (R or W set) has reserved bits set at `level`. */
  reserved(lo: number, hi: number, level: number): number {
    let rsvdLo = SNP;
    if (level >= 4) rsvdLo |= SL_PS;
    else if (level >= 2 && lo & SL_PS) {
      const supported = (this.sllps >>> (level - 2)) & 1;
      if (!supported) return SL_PS;
      rsvdLo |= level === 2 ? 0x001ff000 : 0x3ffff000;
    }
    return ((lo & rsvdLo) | (hi & this.hiReserved)) >>> 0;
  }

  /** The address an entry holds (next table or page frame). */
  address(lo: number, hi: number): number {
    return (hi & this.hiAddrMask) * 0x1_0000_0000 + ((lo & 0xfffff000) >>> 0);
  }
}
