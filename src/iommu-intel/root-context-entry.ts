/**
 * Legacy-mode root and context entries (VT-d spec §9.1 Root Entry, §9.3 Context Entry), read as little-endian
 * dwords. The root table (4 KiB, 256 entries of 128 bits) is indexed by the requester's bus, a context table
 * (4 KiB, 256 entries) by its devfn.
 *
 *   root entry    lo: [0] P, [11:1] reserved, [63:12] CTP (context-table pointer); hi: reserved (legacy mode)
 *   context entry lo: [0] P, [1] FPD, [3:2] TT, [11:4] reserved, [63:12] SLPTPTR
 *                 hi: [2:0] AW, [6:3] ignored, [7] reserved, [23:8] DID, [63:24] reserved
 *
 * Address bits at or above the host address width are reserved too (QEMU VTD_ROOT_ENTRY_RSVD /
 * VTD_CONTEXT_ENTRY_RSVD_LO use ~HAW_MASK; hi 0xffffffffff000080 for the context entry).
 */

export const ROOT_ENTRY_BYTES = 16;
export const CONTEXT_ENTRY_BYTES = 16;

export const ENTRY_P = 1 << 0;
export const CONTEXT_FPD = 1 << 1;
/** Root entry low dword bits 11:1 reserved. */
export const ROOT_LO_RESERVED = 0x00000ffe;
/** Context entry low dword bits 11:4 reserved. */
export const CONTEXT_LO_RESERVED = 0x00000ff0;
/** Context entry high qword: bit 7 and 63:24 reserved → low dword 0xff000080, high dword all. */
export const CONTEXT_HI_LO_RESERVED = 0xff000080;

/** TT (context entry bits 3:2). */
export const TranslationType = {
  /** 00b: untranslated requests are translated through the second-level tables. */
  Untranslated: 0,
  /** 01b: as 00b, plus translation requests / translated requests (device-TLB, ATS): needs ECAP.DT. */
  DeviceTlb: 1,
  /** 10b: untranslated requests pass through (output = input); needs ECAP.PT. */
  PassThrough: 2,
  /** 11b: reserved. */
  Reserved: 3,
} as const;

export function contextTt(lo: number): number {
  return (lo >>> 2) & 3;
}

/** AW (context hi bits 2:0): 0 = 30-bit 2-level, 1 = 39-bit 3-level, 2 = 48-bit 4-level, 3 = 57-bit 5-level, 4 = 64-bit 6-level. */
export function contextAw(hi: number): number {
  return hi & 7;
}

export function contextDid(hi: number): number {
  return (hi >>> 8) & 0xffff;
}

/** Page-table levels for an AW value (AW + 2) and the adjusted guest address width 30 + 9·AW. */
export function levelsForAw(aw: number): number {
  return aw + 2;
}

export function agawForAw(aw: number): number {
  return 30 + 9 * aw;
}

/** A 4 KiB-aligned table address from an entry's low/high dwords (bits 63:12, within the host address width). */
export function tableAddress(lo: number, hi: number, hiAddrMask: number): number {
  return (hi & hiAddrMask) * 0x1_0000_0000 + ((lo & 0xfffff000) >>> 0);
}
