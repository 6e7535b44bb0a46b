/**
 * Interrupt-remapping fault reasons (reference §7) with Linux's exact reason strings
 * (drivers/iommu/intel/dmar.c `irq_remap_fault_reasons[]`, L-dm) and which ones the IRTE's FPD bit can suppress.
 */
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

/** Linux's strings for 0x20..0x26, verbatim (L-dm). 0x27+ have none: Linux prints "Unknown". */
const LINUX_IR_REASONS = [
  'Detected reserved fields in the decoded interrupt-remapped request',
  'Interrupt index exceeded the interrupt-remapping table size',
  'Present field in the IRTE entry is clear',
  'Error accessing interrupt-remapping table pointed by IRTA_REG',
  'Detected reserved fields in the IRTE entry',
  'Blocked a compatibility format interrupt request',
  'Blocked an interrupt request due to source-id verification failure',
] as const;

export function faultReasonName(code: number): string {
  return SHORT_NAMES[code] ?? `fault reason 0x${code.toString(16)}`;
}

/** The reason string Linux's `dmar_get_fault_reason` returns for this code, and whether Linux files it as INTR-REMAP. */
export function linuxReasonString(code: number): { text: string; intrRemap: boolean } {
  if (code >= 0x20 && code - 0x20 < LINUX_IR_REASONS.length) return { text: LINUX_IR_REASONS[code - 0x20], intrRemap: true };
  return { text: 'Unknown', intrRemap: false };
}

/**
 * "Qualified" faults are the ones IRTE.FPD suppresses: they are detected after the IRTE was read (not present,
 * reserved bits, SID, and the posted-descriptor errors). 0x20, 0x21, 0x23 and 0x25 happen before or without an IRTE
 * and are always reported (QEMU Q-c "Even 'not present'"; VBox vtdIrFaultIsQualified adds 0x27/0x28).
 */
export function isQualifiedFault(code: number): boolean {
  return code === 0x22 || code === 0x24 || code === 0x26 || code === 0x27 || code === 0x28;
}
