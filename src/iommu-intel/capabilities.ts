/**
 * VER, CAP and ECAP (VT-d spec 11.4.1–11.4.3): the field layout, and the values a unit reports when
 * it is configured with friendly options instead of raw `cap`/`ecap`. Values are 64-bit bigints.
 * Fixed fields follow QEMU's model where the options say nothing (ND, PSI, MAMV, DWD/DRD, SLLPS, PT), so a decoded
 * dump looks like a QEMU guest's `cap ... ecap ...` line except where this unit differs on purpose (FRO/NFR/IRO, PI).
 */
import { FRO_UNITS, IRO_UNITS } from './registers.ts';

/** The friendly options the default CAP/ECAP values are built from. */
export interface CapabilityInputs {
  awBits: number;
  dmaTranslation: boolean;
  interruptRemapping: boolean;
  eim: boolean;
  faultRecords: number;
  postedInterrupts: boolean;
}

/** VT-d 1.0, as QEMU reports (bits 7:4 major, 3:0 minor). */
export const VTD_VERSION = 0x10;

// CAP fields
export const CAP_ND_SHIFT = 0n;
export const CAP_SAGAW_SHIFT = 8n;
export const CAP_MGAW_SHIFT = 16n;
export const CAP_FRO_SHIFT = 24n;
export const CAP_SLLPS_SHIFT = 34n;
export const CAP_PSI = 1n << 39n;
export const CAP_NFR_SHIFT = 40n;
export const CAP_MAMV_SHIFT = 48n;
export const CAP_DWD = 1n << 54n;
export const CAP_DRD = 1n << 55n;
export const CAP_PI = 1n << 59n;
/** CAP.ESIRTPS (62): SIRTP also invalidates the interrupt entry cache. */
export const CAP_ESIRTPS = 1n << 62n;
/** Reserved CAP bits (VT-d 11.4.2): 15:13 between SAGAW and MGAW, 38 between SLLPS and PSI. */
export const CAP_RESERVED = (0x7n << 13n) | (1n << 38n);
/**
 * SAGAW bit 1 (value 0x02): 39-bit, 3-level; bit 2 (0x04): 48-bit, 4-level; bit 3 (0x08): 57-bit, 5-level
 * (F DMAR_CAP_SAGAW_3LVL/4LVL/5LVL). Bit n is the context entry's AW value n.
 */
export const SAGAW_39 = 0x02;
export const SAGAW_48 = 0x04;
export const SAGAW_57 = 0x08;
/** CAP.SLLPS default: 2 MiB (bit 0) and 1 GiB (bit 1) second-level pages, as QEMU. */
export const SLLPS = 0x3;
/** CAP.MAMV default: the largest address mask of a page-selective IOTLB invalidation (2^18 pages), as QEMU. */
export const MAMV = 18;
/** ECAP.DT (bit 2): device-TLB support (context TT = 01b). */
export const ECAP_DT = 1n << 2n;

// ECAP fields
export const ECAP_QI = 1n << 1n;
export const ECAP_IR = 1n << 3n;
export const ECAP_EIM = 1n << 4n;
export const ECAP_PT = 1n << 6n;
export const ECAP_IRO_SHIFT = 8n;
export const ECAP_MHMV_SHIFT = 20n;
/** Largest IM an IEC descriptor may use; Linux refuses larger IRTE blocks. */
export const MHMV = 15;
/** Reserved ECAP bits (VT-d 11.4.3): 19:18 between IRO and MHMV. */
export const ECAP_RESERVED = 0x3n << 18n;

/** A CAP/ECAP field as a number. */
export function capField(value: bigint, shift: bigint, bits: number): number {
  return Number((value >> shift) & ((1n << BigInt(bits)) - 1n));
}

export function sagawFor(opts: Pick<CapabilityInputs, 'dmaTranslation' | 'awBits'>): number {
  if (!opts.dmaTranslation) return 0; // the "IR only" trick: no page-table format advertised (QEMU's dma-translation=off;
  // qemu-devel "[PATCH v2 2/4] intel_iommu: Support IR-only mode without DMA translation", 2021-12-09)
  // Every width up to MGAW: a 57-bit unit walks 3-, 4- and 5-level tables (the context entry's AW picks one).
  if (opts.awBits >= 57) return SAGAW_39 | SAGAW_48 | SAGAW_57;
  return opts.awBits >= 48 ? SAGAW_39 | SAGAW_48 : SAGAW_39;
}

export function capabilityValue(opts: CapabilityInputs): bigint {
  let cap = 6n << CAP_ND_SHIFT; // 64K domains, as QEMU
  cap |= BigInt(sagawFor(opts)) << CAP_SAGAW_SHIFT;
  cap |= BigInt(opts.awBits - 1) << CAP_MGAW_SHIFT;
  cap |= BigInt(FRO_UNITS) << CAP_FRO_SHIFT;
  cap |= BigInt(SLLPS) << CAP_SLLPS_SHIFT; // 2 MiB and 1 GiB second-level pages
  cap |= CAP_PSI;
  cap |= BigInt(opts.faultRecords - 1) << CAP_NFR_SHIFT;
  cap |= BigInt(MAMV) << CAP_MAMV_SHIFT;
  cap |= CAP_DWD | CAP_DRD;
  if (opts.postedInterrupts) cap |= CAP_PI;
  // CAP.ESIRTPS (62) stays 0: software must follow SIRTP with a global IEC flush (Linux does), even though this unit
  // also drops its interrupt entry cache on SIRTP.
  return cap;
}

export function extendedCapabilityValue(opts: CapabilityInputs): bigint {
  let ecap = ECAP_QI | ECAP_PT;
  if (opts.interruptRemapping) ecap |= ECAP_IR | (BigInt(MHMV) << ECAP_MHMV_SHIFT);
  if (opts.eim) ecap |= ECAP_EIM;
  ecap |= BigInt(IRO_UNITS) << ECAP_IRO_SHIFT;
  return ecap;
}
