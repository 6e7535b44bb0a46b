/**
 * Fault reasons (VT-d spec chapter 7, "Address Translation Faults"; interrupt side §7.1.3 and §5.1) with Linux's exact
 * reason strings (drivers/iommu/intel/dmar.c `dma_remap_fault_reasons[]` and `irq_remap_fault_reasons[]`) and
 * which ones the FPD bit of the entry used (context entry for DMA, IRTE for interrupts) can suppress.
 */

/**
 * Legacy-mode DMA-remapping fault reasons 0x1–0xE (VT-d spec §7.1.3, conditions LRT.x / LCT.x / LGN.x; the values
 * and meanings agree in QEMU's VTDFaultReason and Linux's string table).
 */
export const DmaFaultReason = {
  /** LRT.2: the root entry for the requester's bus has P = 0. */
  RootNotPresent: 0x1,
  /** LCT.2: the context entry for the requester's devfn has P = 0. */
  ContextNotPresent: 0x2,
  /** LCT.4/5: AW not in CAP.SAGAW, TT reserved or not supported (DT/PT), or the SLPTPTR table could not be read. */
  ContextInvalid: 0x3,
  /** LGN.1: input address above 2^X − 1, X = min(CAP.MGAW + 1, the context entry's AGAW). */
  BeyondMgaw: 0x4,
  /** LGN.3 (write): a write through an entry with W = 0 (including a not-present entry, R = W = 0). */
  WriteDenied: 0x5,
  /** LGN.2 (read): a read through an entry with R = 0. */
  ReadDenied: 0x6,
  /** LSL.1: a next-level table referenced by a paging entry could not be read. */
  NextTableInvalid: 0x7,
  /** LRT.1: the root table at RTADDR could not be read. */
  RootTableInvalid: 0x8,
  /** LCT.1: the context table at the root entry's CTP could not be read. */
  ContextTableInvalid: 0x9,
  /** LRT.3: reserved bits set in a present root entry. */
  RootReserved: 0xa,
  /** LCT.3: reserved bits set in a present context entry. */
  ContextReserved: 0xb,
  /** LSL.2: reserved bits set in a second-level entry with R or W set (incl. PS where CAP.SLLPS has no page size). */
  PagingEntryReserved: 0xc,
  /** LCT.6: a translation request or translated request blocked by the context entry's TT (no ATS here). */
  TranslationTypeBlocked: 0xd,
  /**
   * LGN.4: the translation's output address lies in the interrupt address range 0xFEEx_xxxx (VT-d spec §3.14:
   * "Software must not program paging-structure entries to remap any address to the interrupt address range";
   * QEMU VTD_FR_INTERRUPT_ADDR = 0xE).
   */
  OutputInInterruptRange: 0xe,
} as const;

export const FaultReason = {
  /** Reserved field set in the decoded remappable request (address 63:32, data 31:16). */
  RequestReserved: 0x20,
  /** Index beyond the table size, or the IRTE address above the host address width. */
  IndexTooLarge: 0x21,
  IrteNotPresent: 0x22,
  /** Error reading the interrupt-remapping table through IRTA. */
  TableAccessError: 0x23,
  IrteReserved: 0x24,
  CompatBlocked: 0x25,
  SourceIdFailure: 0x26,
  /** Error accessing the posted-interrupt descriptor. */
  PidAccessError: 0x27,
  /** Reserved field set in the posted-interrupt descriptor. */
  PidReserved: 0x28,
} as const;

/** Short names for reports and `TranslationFault.name`. */
const SHORT_NAMES: Record<number, string> = {
  0x1: 'root entry not present',
  0x2: 'context entry not present',
  0x3: 'invalid context entry',
  0x4: 'address beyond MGAW / AGAW',
  0x5: 'write not permitted',
  0x6: 'read not permitted',
  0x7: 'next-level table not accessible',
  0x8: 'root table not accessible',
  0x9: 'context table not accessible',
  0xa: 'reserved bits in root entry',
  0xb: 'reserved bits in context entry',
  0xc: 'reserved bits in second-level entry',
  0xd: 'blocked by context entry TT',
  0xe: 'output address in the interrupt range',
  0x20: 'reserved bits in remappable request',
  0x21: 'interrupt index out of range',
  0x22: 'IRTE not present',
  0x23: 'interrupt remapping table access error',
  0x24: 'reserved bits in IRTE',
  0x25: 'compatibility format blocked',
  0x26: 'source-id verification failed',
  0x27: 'posted-interrupt descriptor access error',
  0x28: 'reserved bits in posted-interrupt descriptor',
};

/** Linux's strings for 0x20..0x26, verbatim (dmar.c `irq_remap_fault_reasons[]`). 0x27+ have none: Linux prints "Unknown". */
const LINUX_IR_REASONS = [
  'Detected reserved fields in the decoded interrupt-remapped request',
  'Interrupt index exceeded the interrupt-remapping table size',
  'Present field in the IRTE entry is clear',
  'Error accessing interrupt-remapping table pointed by IRTA_REG',
  'Detected reserved fields in the IRTE entry',
  'Blocked a compatibility format interrupt request',
  'Blocked an interrupt request due to source-id verification failure',
] as const;

/** Linux's strings for DMA reasons 0x0..0xD, verbatim (dmar.c `dma_remap_fault_reasons[]`); 0xE+ print "Unknown". */
const LINUX_DMA_REASONS = [
  'Software',
  'Present bit in root entry is clear',
  'Present bit in context entry is clear',
  'Invalid context entry',
  'Access beyond MGAW',
  'PTE Write access is not set',
  'PTE Read access is not set',
  'Next page table ptr is invalid',
  'Root table address invalid',
  'Context table ptr is invalid',
  'non-zero reserved fields in RTP',
  'non-zero reserved fields in CTP',
  'non-zero reserved fields in PTE',
  'PCE for translation request specifies blocking',
] as const;

export function faultReasonName(code: number): string {
  return SHORT_NAMES[code] ?? `fault reason 0x${code.toString(16)}`;
}

/**
 * The reason string Linux's `dmar_get_fault_reason` returns for this code, and whether Linux files it as INTR-REMAP:
 * 0x20..0x26 are interrupt reasons, 0x0..0xD DMA reasons, anything else "Unknown" (printed with the DMA line).
 */
export function linuxReasonString(code: number): { text: string; intrRemap: boolean } {
  if (code >= 0x20 && code - 0x20 < LINUX_IR_REASONS.length) return { text: LINUX_IR_REASONS[code - 0x20], intrRemap: true };
  if (code < LINUX_DMA_REASONS.length) return { text: LINUX_DMA_REASONS[code], intrRemap: false };
  return { text: 'Unknown', intrRemap: false };
}

/**
 * "Qualified" faults are the ones IRTE.FPD suppresses: they are detected after the IRTE was read (not present,
 * reserved bits, SID, and the posted-descriptor errors). 0x20, 0x21, 0x23 and 0x25 happen before or without an IRTE
 * and are always reported (QEMU vtd_interrupt_remap_msi: "Even 'not present'"; VBox vtdIrFaultIsQualified adds 0x27/0x28).
 */
export function isQualifiedFault(code: number): boolean {
  return code === 0x22 || code === 0x24 || code === 0x26 || code === 0x27 || code === 0x28;
}

/**
 * DMA faults the context entry's FPD suppresses ("qualified", VT-d spec §7.1.2): everything found at or after the
 * context entry — not present (its FPD is read even with P = 0), invalid, address width, permissions, paging entries,
 * TT blocking, interrupt-range output. Root-table, root-entry, context-table access and context reserved-bit faults
 * happen before a usable context entry exists and are always reported (QEMU `vtd_qualified_faults[]` agrees).
 */
export function isQualifiedDmaFault(code: number): boolean {
  return code === 0x2 || code === 0x3 || code === 0x4 || code === 0x5 || code === 0x6 || code === 0x7 || code === 0xc || code === 0xd || code === 0xe;
}
