/**
 * IA32_APIC_BASE (MSR 0x1B): bit layout and the legal mode transitions (SDM 10.4.4, 10.12.5, Fig. 10-26).
 *
 *   bit 8  BSP    bootstrap processor (set by hardware; irqpath keeps it read-only, see below)
 *   bit 10 EXTD   x2APIC enable
 *   bit 11 EN     global APIC enable
 *   12..MAXPHYADDR-1  APIC base (physical page)
 *   everything else reserved: #GP if set
 */
import { GeneralProtectionFault } from '../core/errors.ts';

export const MSR_IA32_APIC_BASE = 0x1b;

export const APIC_BASE_BSP = 1n << 8n;
export const APIC_BASE_EXTD = 1n << 10n;
export const APIC_BASE_EN = 1n << 11n;
/** irqpath's CPUs report MAXPHYADDR = 52. */
export const MAXPHYADDR = 52n;
export const APIC_BASE_ADDRESS_MASK = ((1n << MAXPHYADDR) - 1n) & ~0xfffn;
export const APIC_BASE_DEFAULT_ADDRESS = 0xfee00000n;
/** Bits 0–7, 9, and MAXPHYADDR..63 (KVM `kvm_apic_set_base`: guest reserved PA bits | 0x2ff). */
export const APIC_BASE_RESERVED = ~(APIC_BASE_ADDRESS_MASK | APIC_BASE_BSP | APIC_BASE_EXTD | APIC_BASE_EN) & ((1n << 64n) - 1n);

/** The LAPIC modes (SDM 10.12.5). 'invalid' (EN=0, EXTD=1) can never be entered: every write to it #GPs. */
export type ApicMode = 'disabled' | 'xapic' | 'x2apic';

export function apicBaseMode(value: bigint): ApicMode | 'invalid' {
  const en = (value & APIC_BASE_EN) !== 0n;
  const extd = (value & APIC_BASE_EXTD) !== 0n;
  if (en) return extd ? 'x2apic' : 'xapic';
  return extd ? 'invalid' : 'disabled';
}

/** Power-up value: EN=1, base 0xFEE00000, BSP on the bootstrap processor (SDM 10.12.5.1). */
export function resetApicBase(isBsp: boolean): bigint {
  return isBsp ? RESET_BSP : RESET_AP;
}
// BigInts are immutable: every LAPIC of a machine can share these two (one fewer heap object per CPU).
const RESET_AP = APIC_BASE_DEFAULT_ADDRESS | APIC_BASE_EN;
const RESET_BSP = RESET_AP | APIC_BASE_BSP;

/**
 * Check a WRMSR to IA32_APIC_BASE and return the mode it selects. Throws {@link GeneralProtectionFault} for reserved
 * bits and for the transitions SDM 10.12.5 forbids:
 *
 *   from \ to   disabled  xAPIC  x2APIC  invalid
 *   disabled       -       OK     #GP     #GP     ("only valid transition from disabled is to xAPIC")
 *   xAPIC          OK      -      OK      #GP
 *   x2APIC         OK     #GP     -       #GP     ("transition from x2APIC mode to xAPIC mode is not valid")
 *
 * This is the guest's view; KVM skips the last two checks for host-initiated writes, which irqpath does not model.
 */
export function checkApicBaseWrite(current: bigint, requested: bigint): ApicMode {
  if (requested < 0n || requested >= 1n << 64n) {
    throw new GeneralProtectionFault(`IA32_APIC_BASE value ${requested} is not a 64-bit value`);
  }
  const reserved = requested & APIC_BASE_RESERVED;
  if (reserved !== 0n) {
    throw new GeneralProtectionFault(`IA32_APIC_BASE reserved bits set: 0x${reserved.toString(16)}`);
  }
  const from = apicBaseMode(current);
  const to = apicBaseMode(requested);
  if (to === 'invalid') throw new GeneralProtectionFault('IA32_APIC_BASE: EN=0 with EXTD=1 is the invalid state');
  if (from === 'disabled' && to === 'x2apic') {
    throw new GeneralProtectionFault('IA32_APIC_BASE: disabled -> x2APIC is not valid (only disabled -> xAPIC is)');
  }
  if (from === 'x2apic' && to === 'xapic') {
    throw new GeneralProtectionFault('IA32_APIC_BASE: x2APIC -> xAPIC is not valid (disable the APIC first)');
  }
  return to;
}

/**
 * The value stored after an accepted write. BSP is set by hardware at reset and is kept as it was: QEMU treats it as
 * read-only (`apic_set_base`); KVM stores the guest's bit. The SDM describes it as an indication, not a control.
 */
export function acceptedApicBase(current: bigint, requested: bigint): bigint {
  return (requested & ~APIC_BASE_BSP) | (current & APIC_BASE_BSP);
}
