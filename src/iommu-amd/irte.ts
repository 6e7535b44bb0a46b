/**
 * Interrupt Remapping Table Entries (AMD IOMMU spec §2.2.5). The table is per DeviceID; Control.GAEn selects the format.
 *
 * 32-bit IRTE (GAEn = 0), at IRT + index x 4:
 *   [0] RemapEn, [1] SupIOPF, [4:2] IntType (000 Fixed, 001 Arbitrated, others reserved), [5] RqEoi, [6] DM,
 *   [7] GuestMode (must be 0), [15:8] Destination, [23:16] Vector, [31:24] reserved
 *
 * 128-bit IRTE (GAEn = 1), at IRT + index x 16, dwords w0..w3:
 *   GuestMode = 0: w0 as above but [31:8] Destination[23:0]; w1 reserved; w2[7:0] Vector; w3[31:24] Destination[31:24]
 *   GuestMode = 1 (vAPIC): w0 [2] GALogIntr, [5] GAPPIDis, [6] IsRun, [31:8] Destination[23:0]; w1 GATag;
 *                          w2[7:0] guest Vector, bits 115:76 GA Root Ptr (vAPIC backing page [51:12]); w3[31:24] Dest[31:24]
 *
 * Hot-path readers take w0 (and w2, w3) as numbers; the decode* functions build report objects (allocate).
 */

export const IRTE_REMAP_EN = 1 << 0;
export const IRTE_SUP_IOPF = 1 << 1;
export const IRTE_INT_TYPE_SHIFT = 2;
export const IRTE_RQ_EOI = 1 << 5;
export const IRTE_GUEST_MODE = 1 << 7;


export function irteRemapEn(w0: number): boolean {
  return (w0 & IRTE_REMAP_EN) !== 0;
}

export function irteSupIopf(w0: number): boolean {
  return (w0 & IRTE_SUP_IOPF) !== 0;
}

export function irteIntType(w0: number): number {
  return (w0 >>> IRTE_INT_TYPE_SHIFT) & 7;
}

export function irteDestMode(w0: number): number {
  return (w0 >>> 6) & 1;
}

export function irteGuestMode(w0: number): boolean {
  return (w0 & IRTE_GUEST_MODE) !== 0;
}

/** 32-bit IRTE vector, bits 23:16. */
export function irte32Vector(w0: number): number {
  return (w0 >>> 16) & 0xff;
}

/** Destination[7:0] (bits 15:8 in both formats): the xAPIC destination. */
export function irteDest8(w0: number): number {
  return (w0 >>> 8) & 0xff;
}

/** 128-bit IRTE: vector in bits 71:64. */
export function irte128Vector(w2: number): number {
  return w2 & 0xff;
}

/** 128-bit IRTE x2APIC destination: [31:8] of w0 are Destination[23:0], [127:120] Destination[31:24]. */
export function irte128Dest32(w0: number, w3: number): number {
  return (((w0 >>> 8) & 0xffffff) | ((w3 >>> 24) << 24)) >>> 0;
}

/** GuestMode = 1: GALogIntr (bit 2), IsRun (bit 6). */
export const IRTE_GA_LOG_INTR = 1 << 2;
export const IRTE_IS_RUN = 1 << 6;

/**
 * GuestMode = 1: the GA Root Ptr, bits 115:76 = vAPIC backing page [51:12], i.e. dword w2 bits 31:12 and w3 bits 19:0,
 * as a 4 KiB-aligned address (exact as a number below 2^52).
 */
export function irteGaRootPtr(w2: number, w3: number): number {
  return ((w2 & 0xfffff000) >>> 0) + (w3 & 0xfffff) * 0x1_0000_0000;
}

export interface DecodedIrte {
  format: 'irte32' | 'irte128';
  raw: string;
  remapEn: boolean;
  supIopf: boolean;
  guestMode: boolean;
  intType?: number;
  rqEoi?: boolean;
  destMode?: number;
  /** Destination as the entry holds it (8-bit in the 32-bit format, 32-bit in the 128-bit one). */
  destination: number;
  vector: number;
  /** vAPIC (GuestMode = 1) fields. */
  gaLogIntr?: boolean;
  gaPpiDis?: boolean;
  isRun?: boolean;
  gaTag?: number;
  gaRootPtr?: string;
}

export function decodeIrte32(w0: number): DecodedIrte {
  return {
    format: 'irte32',
    raw: '0x' + (w0 >>> 0).toString(16).padStart(8, '0'),
    remapEn: irteRemapEn(w0),
    supIopf: irteSupIopf(w0),
    guestMode: irteGuestMode(w0),
    intType: irteIntType(w0),
    rqEoi: (w0 & IRTE_RQ_EOI) !== 0,
    destMode: irteDestMode(w0),
    destination: irteDest8(w0),
    vector: irte32Vector(w0),
  };
}

export function decodeIrte128(w0: number, w1: number, w2: number, w3: number): DecodedIrte {
  const hi = (BigInt(w3 >>> 0) << 32n) | BigInt(w2 >>> 0);
  const lo = (BigInt(w1 >>> 0) << 32n) | BigInt(w0 >>> 0);
  const base: DecodedIrte = {
    format: 'irte128',
    raw: '0x' + hi.toString(16).padStart(16, '0') + '_' + lo.toString(16).padStart(16, '0'),
    remapEn: irteRemapEn(w0),
    supIopf: irteSupIopf(w0),
    guestMode: irteGuestMode(w0),
    destination: irte128Dest32(w0, w3),
    vector: irte128Vector(w2),
  };
  if (!base.guestMode) {
    base.intType = irteIntType(w0);
    base.rqEoi = (w0 & IRTE_RQ_EOI) !== 0;
    base.destMode = irteDestMode(w0);
    return base;
  }
  // GA Root Ptr: bits 115:76 = hi-qword bits 51:12 → a 4 KiB-aligned backing-page address.
  const gaRoot = (hi >> 12n) & 0xff_ffff_ffffn;
  base.gaLogIntr = (w0 & 4) !== 0;
  base.gaPpiDis = (w0 & 0x20) !== 0;
  base.isRun = (w0 & 0x40) !== 0;
  base.gaTag = w1 >>> 0;
  base.gaRootPtr = '0x' + (gaRoot << 12n).toString(16);
  return base;
}
