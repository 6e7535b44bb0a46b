/**
 * Device Table Entry: 256 bits at DevTabBase + DeviceID x 32 (AMD IOMMU spec §2.2.2.1), seen here as eight little-endian
 * dwords d[0..7]. The interrupt half is qword 2 (d4, d5) and qword 3 (d6, d7):
 *
 *   d4: [0] IV, [4:1] IntTabLen, [5] IG, [31:6] IntTableRootPtr address bits 31:6
 *   d5: [19:0] IntTableRootPtr address bits 51:32, [23:20] reserved (183:182 are guest paging mode only on
 *       Rev 3.11 parts with guest translation, which this model does not advertise), [24] InitPass, [25] EIntPass,
 *       [26] NMIPass, [27] reserved, [29:28] IntCtl, [30] Lint0Pass, [31] Lint1Pass
 *   d6: bits 223:192 reserved (vImuEn / GDeviceID exist only with vIOMMU support, not advertised)
 *   d7: bits 245:224 reserved (GuestID likewise), [22] AttrV, [23] Mode0FC, [31:24] SnoopAttr
 *
 * DomainID is bits 79:64 = d2[15:0] (reported in IO_PAGE_FAULT events).
 *
 * The hot-path readers take the dwords as numbers; {@link decodeDte} builds a report object (allocates).
 */

/*
 * The DMA half (AMD IOMMU spec §2.2.2.1 Device Table Entry): qword 0 (d0, d1) and qword 1 (d2, d3):
 *
 *   d0: [0] V, [1] TV, [6:2] reserved, [8:7] HAD, [11:9] Mode (host page-table levels; 0 = no translation),
 *       [31:12] Host Page Table Root Pointer bits 31:12
 *   d1: [19:0] root pointer bits 51:32, [20] PPR, [21] GPRP, [22] GIoV, [23] GV, [25:24] GLX, [28:26] GCR3 TRP,
 *       [29] IR, [30] IW, [31] reserved
 *   d2: [15:0] DomainID, [31:16] GCR3 TRP
 *   d3: [0] I, [1] SE, [2] SA, [4:3] IoCtl, [5] Cache, [6] SD, [7] EX, [9:8] SysMgt, [31:11] GCR3 TRP
 */
export const DTE_D0_V = 1 << 0;
export const DTE_D0_TV = 1 << 1;
/** d0 bits 6:2 reserved (QEMU amdvi's DTE reserved check GENMASK64(6,2) | bit 63). */
export const DTE_D0_RESERVED = 0x7c;
export const DTE_D1_IR = 1 << 29;
export const DTE_D1_IW = 1 << 30;
export const DTE_D1_RESERVED = 1 << 31;
export const DTE_D3_SE = 1 << 1;
export const DTE_D3_SA = 1 << 2;
export const DTE_D3_EX = 1 << 7;

export function dteMode(d0: number): number {
  return (d0 >>> 9) & 7;
}

/** Host page-table root (bits 51:12). */
export function dtePageTableRoot(d0: number, d1: number): number {
  return (d1 & 0xfffff) * 0x1_0000_0000 + ((d0 & 0xfffff000) >>> 0);
}

export const DTE_BYTES = 32;
export const DTE_DWORDS = 8;

export const DTE_D4_IV = 1 << 0;
export const DTE_D4_INT_TAB_LEN_SHIFT = 1;
export const DTE_D4_IG = 1 << 5;
export const DTE_D4_ROOT_LO_MASK = 0xffffffc0;
export const DTE_D5_ROOT_HI_MASK = 0x000fffff;
export const DTE_D5_INIT_PASS = 1 << 24;
export const DTE_D5_EINT_PASS = 1 << 25;
export const DTE_D5_NMI_PASS = 1 << 26;
export const DTE_D5_INT_CTL_SHIFT = 28;
export const DTE_D5_LINT0_PASS = 1 << 30;
export const DTE_D5_LINT1_PASS = 1 << 31;
/** Reserved bits of d5 (DTE bits 183:180 and 187). */
export const DTE_D5_RESERVED = 0x08f00000;
/** Reserved bits of d7 (DTE bits 245:224). */
export const DTE_D7_RESERVED = 0x003fffff;

/** IntTabLen values 1100b–1111b are reserved: at most 2^11 = 2048 entries (VBox IOMMU_DTE_INTR_TAB_LEN_MAX). */
export const INT_TAB_LEN_MAX = 11;

/** IntCtl encodings (XEN IOMMU_DEV_TABLE_INT_CONTROL_*, VBox IOMMU_INTR_CTRL_*). */
export const IntCtl = { TargetAbort: 0, ForwardUnmapped: 1, Remap: 2, Reserved: 3 } as const;
export const INT_CTL_NAMES = ['target-abort', 'forward-unmapped', 'remap', 'reserved'] as const;

export function dteIv(d4: number): boolean {
  return (d4 & DTE_D4_IV) !== 0;
}

export function dteIntTabLen(d4: number): number {
  return (d4 >>> DTE_D4_INT_TAB_LEN_SHIFT) & 0xf;
}

export function dteIg(d4: number): boolean {
  return (d4 & DTE_D4_IG) !== 0;
}

export function dteIntCtl(d5: number): number {
  return (d5 >>> DTE_D5_INT_CTL_SHIFT) & 3;
}

/** Interrupt remapping table physical address (bits 51:6), used in place (Linux DTE_IRQ_PHYS_ADDR_MASK). */
export function dteIntTableRoot(d4: number, d5: number): number {
  return (d5 & DTE_D5_ROOT_HI_MASK) * 0x1_0000_0000 + ((d4 & DTE_D4_ROOT_LO_MASK) >>> 0);
}

export function dteDomainId(d2: number): number {
  return d2 & 0xffff;
}

/** Non-zero when the interrupt half (qwords 2–3) has reserved bits set. */
export function dteInterruptReservedBits(d5: number, d6: number, d7: number): number {
  return (d5 & DTE_D5_RESERVED) | d6 | (d7 & DTE_D7_RESERVED);
}

export interface DecodedDte {
  v: boolean;
  tv: boolean;
  domainId: number;
  iv: boolean;
  intTabLen: number;
  ig: boolean;
  intTableRoot: string;
  initPass: boolean;
  eintPass: boolean;
  nmiPass: boolean;
  intCtl: (typeof INT_CTL_NAMES)[number];
  lint0Pass: boolean;
  lint1Pass: boolean;
  /** The four qwords as Linux's dump_dte_entry prints them ("DTE[i]: %016llx"). */
  qwords: string[];
}

/** Decode a DTE for reports and traces (allocates). */
export function decodeDte(d: ArrayLike<number>): DecodedDte {
  const qwords: string[] = [];
  for (let i = 0; i < 4; i++) {
    const q = (BigInt(d[2 * i + 1] >>> 0) << 32n) | BigInt(d[2 * i] >>> 0);
    qwords.push(q.toString(16).padStart(16, '0'));
  }
  return {
    v: (d[0] & 1) !== 0,
    tv: (d[0] & 2) !== 0,
    domainId: dteDomainId(d[2]),
    iv: dteIv(d[4]),
    intTabLen: dteIntTabLen(d[4]),
    ig: dteIg(d[4]),
    intTableRoot: '0x' + dteIntTableRoot(d[4], d[5]).toString(16),
    initPass: (d[5] & DTE_D5_INIT_PASS) !== 0,
    eintPass: (d[5] & DTE_D5_EINT_PASS) !== 0,
    nmiPass: (d[5] & DTE_D5_NMI_PASS) !== 0,
    intCtl: INT_CTL_NAMES[dteIntCtl(d[5])],
    lint0Pass: (d[5] & DTE_D5_LINT0_PASS) !== 0,
    lint1Pass: (d[5] & DTE_D5_LINT1_PASS) !== 0,
    qwords,
  };
}
