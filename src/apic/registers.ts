/**
 * Local APIC register offsets (xAPIC MMIO page) and the bit fields irqpath uses.
 * Source: SDM Table 10-1 / 10-6, linux apicdef.h, kvm-unit-tests apic-defs.h.
 */

// --- Register offsets within the 4 KiB xAPIC page -------------------------------------------------------------
export const APIC_ID = 0x020;
export const APIC_LVR = 0x030;
export const APIC_TPR = 0x080;
/** Arbitration priority: xAPIC only; read as 0 (arbitration is not modelled, as in KVM and QEMU). */
export const APIC_APR = 0x090;
export const APIC_PPR = 0x0a0;
export const APIC_EOI = 0x0b0;
/** Remote read: xAPIC only; not supported (reads 0), as in KVM and QEMU. */
export const APIC_RRD = 0x0c0;
export const APIC_LDR = 0x0d0;
export const APIC_DFR = 0x0e0;
export const APIC_SVR = 0x0f0;
export const APIC_ISR = 0x100;
export const APIC_TMR = 0x180;
export const APIC_IRR = 0x200;
export const APIC_ESR = 0x280;
export const APIC_ICR_LO = 0x300;
export const APIC_ICR_HI = 0x310;
export const APIC_LVT_TIMER = 0x320;
export const APIC_LVT_THERMAL = 0x330;
export const APIC_LVT_PMC = 0x340;
export const APIC_LVT_LINT0 = 0x350;
export const APIC_LVT_LINT1 = 0x360;
export const APIC_LVT_ERROR = 0x370;
export const APIC_TMICT = 0x380;
export const APIC_TMCCT = 0x390;
export const APIC_TDCR = 0x3e0;
/** x2APIC only (MSR 0x83F); a reserved offset in xAPIC mode. */
export const APIC_SELF_IPI = 0x3f0;

/** Size of one vector-bitmap register (ISR/TMR/IRR): 8 registers of 32 vectors, 16 bytes apart. */
export const APIC_BITMAP_WORDS = 8;

// --- Version register -------------------------------------------------------------------------------------------
export const APIC_VERSION = 0x14;
/**
 * LVT entries modelled: timer, thermal, PMC, LINT0, LINT1, error (6; no CMCI, as KVM without MCG_CMCI_P), so the
 * max LVT entry index reported in LVR 23:16 is 5.
 */
export const APIC_LVT_COUNT = 6;
/** LVR bit 24: EOI-broadcast suppression (directed EOI) supported; makes SVR bit 12 writable (SDM 10.8.5). */
export const APIC_LVR_DIRECTED_EOI = 1 << 24;
export const APIC_LVR_VALUE = (APIC_VERSION | ((APIC_LVT_COUNT - 1) << 16) | APIC_LVR_DIRECTED_EOI) >>> 0;

// --- Spurious-interrupt vector register -------------------------------------------------------------------------
export const SVR_VECTOR_MASK = 0xff;
export const SVR_APIC_ENABLED = 1 << 8;
export const SVR_FOCUS_DISABLED = 1 << 9;
export const SVR_EOI_BROADCAST_SUPPRESSION = 1 << 12;
/** Bits 9:0 plus bit 12 (KVM's mask with LVR bit 24 set). */
export const SVR_WRITABLE = 0x3ff | SVR_EOI_BROADCAST_SUPPRESSION;
export const SVR_RESET = 0xff;

// --- Destination format / logical destination --------------------------------------------------------------------
export const DFR_MODEL_FLAT = 0xf;
export const DFR_MODEL_CLUSTER = 0x0;
/** Only DFR bits 31:28 are writable; 27:0 read as ones (KVM stores `val | 0x0FFFFFFF`). */
export const DFR_RESERVED_ONES = 0x0fffffff;
export const DFR_RESET = 0xffffffff;
/** xAPIC LDR: logical ID in bits 31:24 (KVM APIC_LDR_MASK). */
export const LDR_XAPIC_MASK = 0xff000000;

// --- Error status register (linux apic.c error_interrupt_reason[]) ---------------------------------------------
export const ESR_SEND_CHECKSUM = 1 << 0;
export const ESR_RECEIVE_CHECKSUM = 1 << 1;
export const ESR_SEND_ACCEPT = 1 << 2;
export const ESR_RECEIVE_ACCEPT = 1 << 3;
export const ESR_REDIRECTABLE_IPI = 1 << 4;
export const ESR_SEND_ILLEGAL_VECTOR = 1 << 5;
export const ESR_RECEIVE_ILLEGAL_VECTOR = 1 << 6;
export const ESR_ILLEGAL_REGISTER_ADDRESS = 1 << 7;

// --- ICR (SDM 10.6.1) --------------------------------------------------------------------------------------------
export const ICR_VECTOR_MASK = 0xff;
export const ICR_DELIVERY_MODE_SHIFT = 8;
export const ICR_DEST_LOGICAL = 1 << 11;
export const ICR_DELIVERY_STATUS = 1 << 12;
export const ICR_LEVEL_ASSERT = 1 << 14;
export const ICR_TRIGGER_LEVEL = 1 << 15;
export const ICR_SHORTHAND_SHIFT = 18;
export const ICR_SHORTHAND_MASK = 3 << ICR_SHORTHAND_SHIFT;
/** Bits of the low dword that are stored: vector, delivery mode, dest mode, level, trigger, shorthand. */
export const ICR_LO_WRITABLE = 0x000ccfff;
/** xAPIC ICR high: destination in bits 31:24 (KVM stores `val & 0xff000000`). */
export const ICR_HI_XAPIC_MASK = 0xff000000;
/** x2APIC 64-bit ICR reserved bits 31:20, 17:16, 13 (KVM X2APIC_ICR_RESERVED_BITS); #GP if set. */
export const ICR_X2APIC_RESERVED_LO = 0xfff32000;

export const Shorthand = { None: 0, Self: 1, AllIncludingSelf: 2, AllExcludingSelf: 3 } as const;

// --- LVT entries -------------------------------------------------------------------------------------------------
export const LVT_VECTOR_MASK = 0xff;
export const LVT_DELIVERY_MODE_MASK = 0x700;
export const LVT_DELIVERY_STATUS = 1 << 12;
export const LVT_POLARITY = 1 << 13;
export const LVT_REMOTE_IRR = 1 << 14;
export const LVT_TRIGGER_LEVEL = 1 << 15;
export const LVT_MASKED = 1 << 16;
export const LVT_TIMER_MODE_MASK = 3 << 17;
/** Reset value of every LVT entry (SDM 10.12.5.1: 0 with the mask bit set). */
export const LVT_RESET = LVT_MASKED;
/** Per-entry writable bits (KVM apic_lvt_mask); delivery status and remote IRR are read-only status bits. */
export const LVT_WRITABLE: readonly number[] = [
  /* timer   */ LVT_VECTOR_MASK | LVT_MASKED | LVT_TIMER_MODE_MASK,
  /* thermal */ LVT_VECTOR_MASK | LVT_DELIVERY_MODE_MASK | LVT_MASKED,
  /* PMC     */ LVT_VECTOR_MASK | LVT_DELIVERY_MODE_MASK | LVT_MASKED,
  /* LINT0   */ LVT_VECTOR_MASK | LVT_DELIVERY_MODE_MASK | LVT_POLARITY | LVT_TRIGGER_LEVEL | LVT_MASKED,
  /* LINT1   */ LVT_VECTOR_MASK | LVT_DELIVERY_MODE_MASK | LVT_POLARITY | LVT_TRIGGER_LEVEL | LVT_MASKED,
  /* error   */ LVT_VECTOR_MASK | LVT_MASKED,
];
export const LVT_INDEX_ERROR = 5;

// --- Timer ------------------------------------------------------------------------------------------------------
/** TDCR keeps bits 0, 1 and 3 (KVM `val & 0xb`). */
export const TDCR_WRITABLE = 0xb;

/** Vectors 0–15 are illegal for Fixed/LowestPriority interrupts (SDM 10.5.2). */
export const FIRST_LEGAL_VECTOR = 16;
